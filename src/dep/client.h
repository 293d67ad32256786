// A client of Apple's device enrollment API ("Device Assignment" / ABM API at
// https://mdmenrollment.apple.com), on libcurl.
//
// Authentication: an OAuth 1.0a (HMAC-SHA1) signed GET /session returns an auth_session_token;
// every other call carries it as X-ADM-Auth-Session together with X-Server-Protocol-Version. A 401,
// or a 403 whose body says FORBIDDEN (an expired session), re-authenticates once and retries; 429
// and 503 are retried after Retry-After (seconds), with exponential backoff when absent, at most
// `max_retries` times. A session token refreshed by the server (X-ADM-Auth-Session on a reply) is
// adopted.
//
// Errors: UNAVAILABLE for transport failures and retries exhausted; UNAUTHENTICATED when a new
// session still fails; FAILED_PRECONDITION "EXPIRED_CURSOR"/"INVALID_CURSOR" for cursor errors
// (IsCursorError); INVALID_ARGUMENT for other 4xx and for unparsable replies; INTERNAL for 5xx.
// Thread-safe (one session shared by all calls).
#ifndef CUSTOS_DEP_CLIENT_H_
#define CUSTOS_DEP_CLIENT_H_

#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/random.h"
#include "base/status.h"
#include "base/time.h"
#include "storage/dep_store.h"

namespace custos::dep {

inline constexpr std::string_view kServerProtocolVersion = "3";

struct AbmClientOptions {
  std::string base_url = "https://mdmenrollment.apple.com";
  Clock* clock = Clock::Real();
  Random* random = Random::Secure();
  int max_retries = 3;                 // for 429/503/transport errors
  Duration max_backoff{120};           // cap of one wait
  Duration timeout{60};                // one HTTP exchange
  // How the client waits before a retry (tests pass a recorder instead of sleeping).
  std::function<void(Duration)> sleep;
};

// One raw reply of the API (for the proxy endpoint).
struct AbmResponse {
  long status = 0;
  std::string body;
  std::string content_type;
  std::string retry_after;
};

// One page of devices/fetch or devices/sync.
struct DevicePage {
  nlohmann::json devices = nlohmann::json::array();
  std::string cursor;
  bool more_to_follow = false;
  std::string fetched_until;
  std::string raw;  // the reply body, for webhook events
};

// True for the FAILED_PRECONDITION the client returns on EXPIRED_CURSOR / INVALID_CURSOR.
bool IsCursorError(const Status& status);

class AbmClient {
 public:
  AbmClient(DepTokens tokens, AbmClientOptions options);

  // GET /session now (also done lazily by every call).
  Status Authenticate();

  // An authenticated call with session handling and retries; any HTTP status is returned as-is
  // (non-2xx included) once retries are done. `path` starts with '/' and may carry a query.
  StatusOr<AbmResponse> Do(std::string_view method, std::string_view path, std::string_view body);

  // Do() + JSON decoding, non-2xx mapped to a Status as described above.
  StatusOr<nlohmann::json> CallJson(std::string_view method, std::string_view path,
                                    const nlohmann::json* body);

  StatusOr<nlohmann::json> Account();                                    // GET /account
  StatusOr<DevicePage> FetchDevices(std::string_view cursor, int limit);  // POST /server/devices
  StatusOr<DevicePage> SyncDevices(std::string_view cursor, int limit);   // POST /devices/sync
  StatusOr<nlohmann::json> DeviceDetails(const std::vector<std::string>& serials);  // POST /devices
  StatusOr<nlohmann::json> DefineProfile(const nlohmann::json& profile);  // POST /profile
  StatusOr<nlohmann::json> GetProfile(std::string_view profile_uuid);     // GET /profile?profile_uuid=
  StatusOr<nlohmann::json> AssignProfile(std::string_view profile_uuid,
                                         const std::vector<std::string>& serials);  // PUT /profile/devices
  StatusOr<nlohmann::json> RemoveProfile(const std::vector<std::string>& serials);  // DELETE /profile/devices
  StatusOr<nlohmann::json> DisownDevices(const std::vector<std::string>& serials);  // POST /devices/disown

  // Session authentications done so far (tests).
  int sessions_started() const;

 private:
  StatusOr<AbmResponse> Exchange(std::string_view method, const std::string& url,
                                 std::string_view body, const std::vector<std::string>& headers);
  StatusOr<std::string> SessionToken(bool force_new);
  StatusOr<DevicePage> DevicesCall(std::string_view path, std::string_view cursor, int limit);
  void Wait(Duration d);

  DepTokens tokens_;
  AbmClientOptions options_;
  mutable std::mutex mu_;
  std::string session_;
  int sessions_started_ = 0;
};

}  // namespace custos::dep

#endif  // CUSTOS_DEP_CLIENT_H_
