// Test helpers for the MDM service and handler tests: check-in and report plists, fake
// identities, and recording fakes of EventSink, PushTrigger, TokenService and the
// DeclarativeManagement forwarder.
#ifndef CUSTOS_MDM_SERVICE_TEST_UTIL_H_
#define CUSTOS_MDM_SERVICE_TEST_UTIL_H_

#include <mutex>
#include <string>
#include <vector>

#include "base/encoding.h"
#include "mdm/hooks.h"
#include "mdm/service.h"

namespace custos::mdm::testutil {

inline std::string S(const std::string& key, const std::string& value) {
  return "<key>" + key + "</key><string>" + value + "</string>";
}
inline std::string D(const std::string& key, const std::string& bytes) {
  return "<key>" + key + "</key><data>" + Base64Encode(bytes) + "</data>";
}
inline std::string B(const std::string& key, bool value) {
  return "<key>" + key + "</key>" + (value ? "<true/>" : "<false/>");
}
inline std::string Xml(const std::string& dict_body) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>" + dict_body +
         "</dict></plist>\n";
}

inline const std::string kTopic = "com.apple.mgmt.External.test";

// A check-in of `type` for `udid` (and a user channel when `user_id` is set).
inline std::string Message(const std::string& type, const std::string& udid,
                           const std::string& user_id = "", const std::string& extra = "") {
  std::string body = S("MessageType", type) + S("UDID", udid) + S("Topic", kTopic);
  if (!user_id.empty()) body += S("UserID", user_id) + S("UserShortName", "short-" + user_id);
  return Xml(body + extra);
}
inline std::string Authenticate(const std::string& udid) {
  return Message("Authenticate", udid, "",
                 S("SerialNumber", "SERIAL-" + udid) + S("Model", "iPhone14,2") +
                     S("OSVersion", "17.1"));
}
inline std::string TokenUpdate(const std::string& udid, const std::string& user_id = "") {
  return Message("TokenUpdate", udid, user_id,
                 D("Token", "token-" + udid) + S("PushMagic", "magic-" + udid) +
                     D("UnlockToken", "unlock"));
}
inline std::string Report(const std::string& udid, const std::string& status,
                          const std::string& uuid = "", const std::string& extra = "",
                          const std::string& user_id = "") {
  std::string body = S("UDID", udid) + S("Status", status);
  if (!uuid.empty()) body += S("CommandUUID", uuid);
  if (!user_id.empty()) body += S("UserID", user_id);
  return Xml(body + extra);
}

// A fake verified identity named `name`.
inline VerifiedDevice Cert(const std::string& name) {
  VerifiedDevice d;
  d.cert_sha256 = HexEncode("sha256-of-" + name);
  d.serial_hex = HexEncode("serial-" + name);
  d.source = "test";
  return d;
}

class RecordingSink : public EventSink {
 public:
  void Publish(MdmEvent event) override {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back(std::move(event));
  }
  std::mutex mu;
  std::vector<MdmEvent> events;
};

class RecordingPush : public PushTrigger {
 public:
  void PushEnrollments(std::vector<std::string> ids) override {
    std::lock_guard<std::mutex> lock(mu);
    batches.push_back(std::move(ids));
  }
  std::mutex mu;
  std::vector<std::vector<std::string>> batches;
};

class FakeTokenService : public TokenService {
 public:
  StatusOr<std::string> GetToken(const TokenRequest& request) override {
    return "jwt-for-" + request.device_id;
  }
};

class FakeForwarder : public DeclarativeManagementForwarder {
 public:
  StatusOr<std::string> Forward(const DeclarativeManagementRequest& request) override {
    requests.push_back(request);
    return std::string("{\"SyncTokens\":{}}");
  }
  std::vector<DeclarativeManagementRequest> requests;
};

}  // namespace custos::mdm::testutil

#endif  // CUSTOS_MDM_SERVICE_TEST_UTIL_H_
