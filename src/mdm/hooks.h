// What the MDM service tells the rest of custos, as two narrow interfaces, so that the service
// (src/mdm/service.*), the push service (src/push/) and the webhook sender (src/webhook/) depend
// on this header and not on one another.
//
// Both are fire-and-forget: the service calls them after its transaction committed and never
// waits for them; a device's response is never delayed by a push or a webhook.
#ifndef CUSTOS_MDM_HOOKS_H_
#define CUSTOS_MDM_HOOKS_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/time.h"

namespace custos::mdm {

// One event in MicroMDM's webhook vocabulary. `topic` is "mdm.Authenticate", "mdm.TokenUpdate",
// "mdm.CheckOut", "mdm.UserAuthenticate", "mdm.SetBootstrapToken", "mdm.GetBootstrapToken",
// "mdm.DeclarativeManagement", "mdm.GetToken" for check-ins and "mdm.Connect" for command
// results (Idle polls included, as MicroMDM does); DEP uses "dep.FetchDevices"/"dep.SyncDevices".
struct MdmEvent {
  std::string topic;
  std::string event_id;  // unique per event (a UUID)
  Time created_at;
  std::string enrollment_id;
  std::string udid;         // device UDID ("" for a user channel without one)
  std::string user_id;      // UserID of a user channel, else ""
  std::string enrollment_user_id;  // EnrollmentUserID (User Enrollment), else ""
  std::string raw_payload;  // the request body exactly as the device sent it (plist bytes)
  // mdm.Connect only:
  std::string command_uuid;
  std::string status;       // "Idle", "Acknowledged", "Error", "CommandFormatError", "NotNow"
  // dep.* only: the JSON body of the ABM response that caused the event.
  std::string json_payload;
};

class EventSink {
 public:
  virtual ~EventSink() = default;
  // Queues `event` for delivery and returns at once. Never blocks on the network.
  virtual void Publish(MdmEvent event) = 0;
};

// Publishes every event to each of several sinks in the order they were added (server.cc: the
// webhook sender, the posture service, ...). Add every sink before serving; Publish is then
// thread-safe as long as the sinks' are.
class FanOutEventSink : public EventSink {
 public:
  void Add(EventSink* sink) {
    if (sink != nullptr) sinks_.push_back(sink);
  }
  bool empty() const { return sinks_.empty(); }
  void Publish(MdmEvent event) override {
    for (size_t i = 0; i + 1 < sinks_.size(); ++i) sinks_[i]->Publish(event);
    if (!sinks_.empty()) sinks_.back()->Publish(std::move(event));
  }

 private:
  std::vector<EventSink*> sinks_;
};

// Wakes enrollments over APNs. Implemented by the push service; the MDM service calls it after an
// enqueue committed (unless the caller asked for no push).
class PushTrigger {
 public:
  virtual ~PushTrigger() = default;
  // Queues one push per enrollment (bursts for one enrollment coalesce into one push) and
  // returns at once. Enrollments without a push token, or unregistered, are skipped and logged.
  virtual void PushEnrollments(std::vector<std::string> enrollment_ids) = 0;
};

}  // namespace custos::mdm

#endif  // CUSTOS_MDM_HOOKS_H_
