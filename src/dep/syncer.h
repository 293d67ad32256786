// Device sync of one DEP name with Apple Business Manager (Apple "Fetch Devices" POST
// /server/devices and "Sync Devices" POST /devices/sync): first a fetch, page by page until
// more_to_follow is false, then periodic syncs from the cursor. The cursor is persisted after
// every page, so a restart resumes where it stopped. An EXPIRED_CURSOR or INVALID_CURSOR answer
// forgets the cursor and restarts with a fetch (once per round).
//
// Every device is stored (DepStore::UpsertDevice) with what ABM reported, including op_type and
// op_date from syncs: these are the serials custos knows came from ABM. With [dep]
// default_profile_uuid set, newly seen devices without a profile get it assigned. With an event
// sink, each page is published as "dep.FetchDevices" / "dep.SyncDevices" (its JSON body).
#ifndef CUSTOS_DEP_SYNCER_H_
#define CUSTOS_DEP_SYNCER_H_

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "base/status.h"
#include "base/time.h"
#include "dep/service.h"
#include "mdm/hooks.h"

namespace custos::dep {

struct SyncStats {
  int fetch_pages = 0;
  int sync_pages = 0;
  int devices = 0;       // device entries received
  int new_devices = 0;   // not stored before
  int assigned = 0;      // default profile assigned
  bool restarted = false;  // cursor expired/invalid: restarted with a fetch
};

// ISO 8601 / RFC 3339 time from ABM JSON, or nullopt.
std::optional<Time> ParseAbmTime(const nlohmann::json& device, const char* key);

// The DepDeviceRecord for one entry of an ABM devices array (missing fields stay empty).
// INVALID_ARGUMENT when it has no serial_number.
StatusOr<DepDeviceRecord> DeviceFromJson(std::string_view dep_name, const nlohmann::json& device,
                                         Time now);

class Syncer {
 public:
  // `service` (and its storage) and `sink` (may be null) must outlive the syncer.
  Syncer(DepService* service, std::string name, mdm::EventSink* sink, int page_limit = 1000);
  ~Syncer();  // Stop()

  // One round as described above. Errors from ABM or storage; the cursor of the pages already
  // stored is kept.
  StatusOr<SyncStats> RunOnce();

  // Runs RunOnce now and then every `interval` on a thread, until Stop().
  void Start(Duration interval);
  void Stop();

 private:
  Status StorePage(const DevicePage& page, bool fetch, bool fetch_done, AbmClient& client,
                   SyncStats& stats);

  DepService* service_;
  std::string name_;
  mdm::EventSink* sink_;
  int page_limit_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// One Syncer thread per DEP name that has tokens; names added later are picked up within a minute.
class SyncManager {
 public:
  SyncManager(DepService* service, mdm::EventSink* sink, Duration interval);
  ~SyncManager();  // Stop()
  void Start();
  void Stop();

 private:
  void Scan();
  DepService* service_;
  mdm::EventSink* sink_;
  Duration interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
  std::map<std::string, std::unique_ptr<Syncer>> syncers_;
};

}  // namespace custos::dep

#endif  // CUSTOS_DEP_SYNCER_H_
