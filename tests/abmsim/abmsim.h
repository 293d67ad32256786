// An Apple Business Manager (device enrollment API) simulator for tests, on custos' own HTTP
// server, listening on 127.0.0.1 only. It speaks what custos' ABM client needs, with reply bodies
// shaped like Apple's (../shared/vectors/micromdm/dep/testdata/*.json):
//   GET /session            OAuth 1.0a HMAC-SHA1 signature checked against the tokens given
//   GET /account            server_uuid, org details
//   POST /server/devices    fetch, paged by cursor and limit
//   POST /devices/sync      sync of changes (op_type added/modified/deleted) since a cursor
//   POST /devices           device details
//   POST /profile, GET /profile?profile_uuid=, PUT|DELETE /profile/devices, POST /devices/disown
// Every call but /session needs a live X-ADM-Auth-Session and X-Server-Protocol-Version.
// Failure injection: ExpireSessions (next call 401, or 403 "FORBIDDEN"), ExpireCursors
// (400 "EXPIRED_CURSOR"), Fail429 (429 with Retry-After).
#ifndef CUSTOS_TESTS_ABMSIM_ABMSIM_H_
#define CUSTOS_TESTS_ABMSIM_ABMSIM_H_

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "http/router.h"
#include "http/server.h"
#include "storage/dep_store.h"

namespace custos::abmsim {

inline constexpr char kServerUuid[] = "6666ED66666666666666666666666666";

class AbmSimulator {
 public:
  // Starts listening on 127.0.0.1 (a free port). `tokens` are what a correct client signs with.
  static StatusOr<std::unique_ptr<AbmSimulator>> Start(DepTokens tokens);
  ~AbmSimulator();

  std::string base_url() const { return base_url_; }

  // Adds a device to the organisation (seen by fetch, and as op_type "added" by sync).
  void AddDevice(const std::string& serial, const std::string& model = "MacBook Pro");
  // The next call with a session issued so far gets 401, or 403 "FORBIDDEN" when `forbidden`.
  void ExpireSessions(bool forbidden);
  // Every cursor issued so far answers 400 EXPIRED_CURSOR.
  void ExpireCursors();
  // The next `n` calls (any path but /session) get 429 with Retry-After: `retry_after` seconds.
  void Fail429(int n, int retry_after);

  // Observations.
  int sessions() const;         // successful /session calls
  int bad_signatures() const;   // /session calls refused
  int calls(const std::string& path) const;  // calls to `path` (after auth)
  int missing_protocol_version() const;
  nlohmann::json device(const std::string& serial) const;  // null when unknown

 private:
  AbmSimulator() = default;
  http::Response Handle(const http::Request& r);
  http::Response Session(const http::Request& r);
  http::Response Devices(const std::string& path, const nlohmann::json& body);
  nlohmann::json DevicesResult(const nlohmann::json& body, const std::string& profile_uuid, bool remove, bool disown);

  DepTokens tokens_;
  std::string base_url_;
  std::unique_ptr<http::Router> router_;
  std::unique_ptr<http::HttpServer> server_;
  metrics::Registry registry_;

  mutable std::mutex mu_;
  std::set<std::string> live_sessions_;
  int session_counter_ = 0;
  bool expired_forbidden_ = false;
  std::set<std::string> expired_sessions_;
  int cursor_epoch_ = 1;
  int fail429_ = 0;
  int retry_after_ = 0;
  std::vector<std::string> order_;               // serials in fetch order
  std::map<std::string, nlohmann::json> devices_;
  std::vector<nlohmann::json> events_;           // sync log
  std::map<std::string, nlohmann::json> profiles_;
  int sessions_ = 0;
  int bad_signatures_ = 0;
  int missing_version_ = 0;
  std::map<std::string, int> calls_;
};

}  // namespace custos::abmsim

#endif  // CUSTOS_TESTS_ABMSIM_ABMSIM_H_
