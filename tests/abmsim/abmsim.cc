#include "abmsim.h"

#include <charconv>

#include "base/config.h"
#include "base/random.h"
#include "dep/oauth1.h"

namespace custos::abmsim {
namespace {

http::Response Plain(int status, const std::string& body) { return http::Response::Text(status, body); }

struct Cursor {
  int epoch = 0;
  char kind = 'f';  // 'f' fetch position in devices, 's' sync position in events
  size_t pos = 0;
};

std::string FormatCursor(const Cursor& c) {
  return "E" + std::to_string(c.epoch) + ":" + c.kind + ":" + std::to_string(c.pos);
}

bool ParseCursor(const std::string& s, Cursor* c) {
  if (s.size() < 6 || s[0] != 'E') return false;
  size_t a = s.find(':');
  if (a == std::string::npos || a + 3 >= s.size() || s[a + 2] != ':') return false;
  auto r1 = std::from_chars(s.data() + 1, s.data() + a, c->epoch);
  c->kind = s[a + 1];
  auto r2 = std::from_chars(s.data() + a + 3, s.data() + s.size(), c->pos);
  return r1.ec == std::errc() && r2.ec == std::errc() && r2.ptr == s.data() + s.size() &&
         (c->kind == 'f' || c->kind == 's');
}

}  // namespace

StatusOr<std::unique_ptr<AbmSimulator>> AbmSimulator::Start(DepTokens tokens) {
  std::unique_ptr<AbmSimulator> sim(new AbmSimulator());
  sim->tokens_ = std::move(tokens);
  sim->router_ = std::make_unique<http::Router>();
  AbmSimulator* self = sim.get();
  for (const char* method : {"GET", "POST", "PUT", "DELETE"}) {
    sim->router_->Add(method, "/*", [self](const http::Request& r) { return self->Handle(r); });
  }
  HttpConfig http;
  http.access_log = false;
  ServerConfig server;
  server.listen = "127.0.0.1:0";
  server.threads = 2;
  TlsConfig tls;
  ASSIGN_OR_RETURN(sim->server_, http::HttpServer::Create(http, server, tls, sim->router_.get(),
                                                          Random::Secure(), &sim->registry_));
  RETURN_IF_ERROR(sim->server_->Start());
  sim->base_url_ = "http://127.0.0.1:" + std::to_string(sim->server_->ports().http);
  return sim;
}

AbmSimulator::~AbmSimulator() {
  if (server_) server_->Stop();
}

void AbmSimulator::AddDevice(const std::string& serial, const std::string& model) {
  std::lock_guard<std::mutex> lock(mu_);
  nlohmann::json d = {{"serial_number", serial},
                      {"description", model + " 13.3 SPACE GRAY"},
                      {"model", model},
                      {"os", "OSX"},
                      {"device_family", "Mac"},
                      {"color", "SPACE GRAY"},
                      {"profile_status", "empty"},
                      {"device_assigned_by", "apple-dep@acme.co"},
                      {"device_assigned_date", "2017-10-16T01:55:30Z"}};
  if (devices_.count(serial) == 0) order_.push_back(serial);
  devices_[serial] = d;
  nlohmann::json e = d;
  e["op_type"] = "added";
  e["op_date"] = "2018-09-08T17:28:18Z";
  events_.push_back(e);
}

void AbmSimulator::ExpireSessions(bool forbidden) {
  std::lock_guard<std::mutex> lock(mu_);
  expired_forbidden_ = forbidden;
  for (const auto& s : live_sessions_) expired_sessions_.insert(s);
  live_sessions_.clear();
}

void AbmSimulator::ExpireCursors() {
  std::lock_guard<std::mutex> lock(mu_);
  ++cursor_epoch_;
}

void AbmSimulator::Fail429(int n, int retry_after) {
  std::lock_guard<std::mutex> lock(mu_);
  fail429_ = n;
  retry_after_ = retry_after;
}

int AbmSimulator::sessions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sessions_;
}
int AbmSimulator::bad_signatures() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bad_signatures_;
}
int AbmSimulator::missing_protocol_version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return missing_version_;
}
int AbmSimulator::calls(const std::string& path) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = calls_.find(path);
  return it == calls_.end() ? 0 : it->second;
}
nlohmann::json AbmSimulator::device(const std::string& serial) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = devices_.find(serial);
  return it == devices_.end() ? nlohmann::json() : it->second;
}

http::Response AbmSimulator::Session(const http::Request& r) {
  auto header = r.Header("Authorization");
  bool ok = false;
  if (header) {
    auto params = dep::ParseOAuthHeader(*header);
    if (params.ok() && (*params)["realm"] == "ADM" &&
        (*params)["oauth_consumer_key"] == tokens_.consumer_key &&
        (*params)["oauth_token"] == tokens_.access_token &&
        (*params)["oauth_signature_method"] == "HMAC-SHA1" && !(*params)["oauth_nonce"].empty() &&
        !(*params)["oauth_timestamp"].empty()) {
      std::string expected = dep::OAuthSignature("GET", base_url_ + "/session", *params,
                                                 tokens_.consumer_secret, tokens_.access_secret);
      ok = expected == (*params)["oauth_signature"];
    }
  }
  if (!ok) {
    ++bad_signatures_;
    return Plain(401, "UNAUTHORIZED");
  }
  ++sessions_;
  std::string token = "sess-" + std::to_string(++session_counter_);
  live_sessions_.insert(token);
  return http::Response::Json(200, nlohmann::json{{"auth_session_token", token}});
}

nlohmann::json AbmSimulator::DevicesResult(const nlohmann::json& body, const std::string& profile_uuid,
                                           bool remove, bool disown) {
  nlohmann::json result = nlohmann::json::object();
  if (!body.contains("devices") || !body["devices"].is_array()) return result;
  for (const auto& s : body["devices"]) {
    if (!s.is_string()) continue;
    std::string serial = s.get<std::string>();
    auto it = devices_.find(serial);
    if (it == devices_.end()) {
      result[serial] = "NOT_ACCESSIBLE";
      continue;
    }
    nlohmann::json e = it->second;
    if (disown) {
      devices_.erase(it);
      order_.erase(std::remove(order_.begin(), order_.end(), serial), order_.end());
      e["op_type"] = "deleted";
    } else {
      it->second["profile_status"] = remove ? "empty" : "assigned";
      it->second["profile_uuid"] = remove ? "" : profile_uuid;
      if (!remove) it->second["profile_assign_time"] = "2018-09-08T16:49:09Z";
      e = it->second;
      e["op_type"] = "modified";
    }
    e["op_date"] = "2018-09-08T17:41:29Z";
    events_.push_back(e);
    result[serial] = "SUCCESS";
  }
  return result;
}

http::Response AbmSimulator::Devices(const std::string& path, const nlohmann::json& body) {
  int limit = 1000;
  if (body.contains("limit") && body["limit"].is_number_integer()) limit = body["limit"].get<int>();
  if (limit <= 0 || limit > 1000) limit = 1000;
  Cursor c;
  bool fetch = path == "/server/devices";
  if (body.contains("cursor") && body["cursor"].is_string()) {
    if (!ParseCursor(body["cursor"].get<std::string>(), &c)) return Plain(400, "INVALID_CURSOR");
    if (c.epoch != cursor_epoch_) return Plain(400, "EXPIRED_CURSOR");
  } else if (!fetch) {
    return Plain(400, "INVALID_CURSOR");
  } else {
    c = Cursor{cursor_epoch_, 'f', 0};
  }
  nlohmann::json out = {{"devices", nlohmann::json::array()}, {"fetched_until", "2018-09-08T17:28:18Z"}};
  Cursor next{cursor_epoch_, c.kind, c.pos};
  if (fetch) {
    if (c.kind != 'f') c = Cursor{cursor_epoch_, 'f', 0};  // a fetch from a sync cursor restarts
    size_t end = std::min(order_.size(), c.pos + static_cast<size_t>(limit));
    for (size_t i = c.pos; i < end; ++i) out["devices"].push_back(devices_[order_[i]]);
    bool more = end < order_.size();
    out["more_to_follow"] = more;
    next = more ? Cursor{cursor_epoch_, 'f', end} : Cursor{cursor_epoch_, 's', events_.size()};
  } else {
    if (c.kind != 's') return Plain(400, "INVALID_CURSOR");
    size_t end = std::min(events_.size(), c.pos + static_cast<size_t>(limit));
    for (size_t i = c.pos; i < end; ++i) out["devices"].push_back(events_[i]);
    out["more_to_follow"] = end < events_.size();
    next = Cursor{cursor_epoch_, 's', end};
  }
  out["cursor"] = FormatCursor(next);
  return http::Response::Json(200, out);
}

http::Response AbmSimulator::Handle(const http::Request& r) {
  std::lock_guard<std::mutex> lock(mu_);
  if (r.path == "/session" && r.method == "GET") return Session(r);
  if (!r.Header("X-Server-Protocol-Version")) ++missing_version_;
  std::string session(r.Header("X-ADM-Auth-Session").value_or(""));
  if (live_sessions_.count(session) == 0) {
    if (expired_sessions_.count(session) != 0 && expired_forbidden_) {
      return http::Response::Json(403, nlohmann::json{{"code", "FORBIDDEN"}, {"message", "session expired"}});
    }
    return Plain(401, "UNAUTHORIZED");
  }
  if (fail429_ > 0) {
    --fail429_;
    http::Response resp = Plain(429, "TOO_MANY_REQUESTS");
    resp.headers.Set("Retry-After", std::to_string(retry_after_));
    return resp;
  }
  ++calls_[r.path];
  nlohmann::json body = r.body.empty() ? nlohmann::json::object()
                                       : nlohmann::json::parse(r.body, nullptr, false);
  if (body.is_discarded()) return Plain(400, "MALFORMED_REQUEST_BODY");
  if (r.method == "GET" && r.path == "/account") {
    return http::Response::Json(200, nlohmann::json{{"server_name", "dev"},
                                                    {"server_uuid", kServerUuid},
                                                    {"facilitator_id", "apple-dep@acme.co"},
                                                    {"admin_id", "apple-dep@acme.co"},
                                                    {"org_name", "Acme, Inc"},
                                                    {"org_email", "apple-dep@acme.co"},
                                                    {"org_id", "6666666"},
                                                    {"org_type", "org"},
                                                    {"org_version", "v2"}});
  }
  if (r.method == "POST" && (r.path == "/server/devices" || r.path == "/devices/sync")) {
    return Devices(r.path, body);
  }
  if (r.method == "POST" && r.path == "/devices") {
    nlohmann::json out = {{"devices", nlohmann::json::object()}};
    if (body.contains("devices") && body["devices"].is_array()) {
      for (const auto& s : body["devices"]) {
        if (!s.is_string()) continue;
        auto it = devices_.find(s.get<std::string>());
        nlohmann::json d = it == devices_.end() ? nlohmann::json{{"serial_number", s}} : it->second;
        d["response_status"] = it == devices_.end() ? "NOT_FOUND" : "SUCCESS";
        out["devices"][s.get<std::string>()] = d;
      }
    }
    return http::Response::Json(200, out);
  }
  if (r.method == "POST" && r.path == "/profile") {
    if (!body.contains("profile_name") || !body.contains("url")) return Plain(400, "CONFIG_NAME_REQUIRED");
    std::string uuid = "P" + std::to_string(profiles_.size() + 1) + "0000000000000000000000000000000";
    uuid.resize(32);
    nlohmann::json p = body;
    p["profile_uuid"] = uuid;
    profiles_[uuid] = p;
    nlohmann::json out = {{"profile_uuid", uuid}, {"devices", DevicesResult(body, uuid, false, false)}};
    return http::Response::Json(200, out);
  }
  if (r.method == "GET" && r.path == "/profile") {
    auto q = r.Query("profile_uuid");
    auto it = q ? profiles_.find(std::string(*q)) : profiles_.end();
    if (it == profiles_.end()) return Plain(400, "PROFILE_NOT_FOUND");
    return http::Response::Json(200, it->second);
  }
  if (r.path == "/profile/devices" && (r.method == "PUT" || r.method == "POST")) {
    std::string uuid = body.value("profile_uuid", "");
    if (profiles_.count(uuid) == 0) return Plain(400, "PROFILE_NOT_FOUND");
    return http::Response::Json(200, nlohmann::json{{"profile_uuid", uuid},
                                                    {"devices", DevicesResult(body, uuid, false, false)}});
  }
  if (r.path == "/profile/devices" && r.method == "DELETE") {
    return http::Response::Json(200, nlohmann::json{{"devices", DevicesResult(body, "", true, false)}});
  }
  if (r.method == "POST" && r.path == "/devices/disown") {
    return http::Response::Json(200, nlohmann::json{{"devices", DevicesResult(body, "", false, true)}});
  }
  return Plain(404, "NOT_FOUND");
}

}  // namespace custos::abmsim
