#include "dep/client.h"

#include <curl/curl.h>

#include <algorithm>
#include <charconv>
#include <thread>

#include "base/encoding.h"
#include "base/logging.h"
#include "dep/oauth1.h"

namespace custos::dep {
namespace {

size_t WriteBody(char* data, size_t size, size_t n, void* out) {
  auto* s = static_cast<std::string*>(out);
  constexpr size_t kMaxReply = 64 * 1024 * 1024;
  if (s->size() + size * n > kMaxReply) return 0;  // abort: ABM never sends this much
  s->append(data, size * n);
  return size * n;
}

struct HeaderSink {
  std::string content_type;
  std::string retry_after;
  std::string session;
};

size_t WriteHeader(char* data, size_t size, size_t n, void* out) {
  auto* h = static_cast<HeaderSink*>(out);
  std::string_view line(data, size * n);
  size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string name(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.remove_suffix(1);
    if (name == "content-type") h->content_type = value;
    if (name == "retry-after") h->retry_after = value;
    if (name == "x-adm-auth-session") h->session = value;
  }
  return size * n;
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* s) const { curl_slist_free_all(s); }
};

bool IsForbiddenSession(const AbmResponse& r) {
  return r.status == 401 || (r.status == 403 && r.body.find("FORBIDDEN") != std::string::npos);
}

std::string Trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\n' || s.front() == '\r' || s.front() == '"')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '"')) s.remove_suffix(1);
  return std::string(s.substr(0, 200));
}

StatusOr<nlohmann::json> DecodeReply(std::string_view method, std::string_view path,
                                     const AbmResponse& r) {
  std::string what = "ABM " + std::string(method) + " " + std::string(path) + ": " +
                     std::to_string(r.status) + " " + Trimmed(r.body);
  if (r.status == 400 && (r.body.find("EXPIRED_CURSOR") != std::string::npos ||
                          r.body.find("INVALID_CURSOR") != std::string::npos)) {
    return FailedPreconditionError(what);
  }
  if (r.status == 401 || r.status == 403) return UnauthenticatedError(what);
  if (r.status == 429 || r.status == 503) return UnavailableError(what);
  if (r.status >= 500) return InternalError(what);
  if (r.status < 200 || r.status >= 300) return InvalidArgumentError(what);
  if (r.body.empty()) return nlohmann::json::object();
  nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_discarded()) return InvalidArgumentError("ABM " + std::string(path) + ": reply is not JSON");
  return j;
}

}  // namespace

bool IsCursorError(const Status& status) {
  return status.code() == StatusCode::kFailedPrecondition &&
         (status.message().find("EXPIRED_CURSOR") != std::string::npos ||
          status.message().find("INVALID_CURSOR") != std::string::npos);
}

AbmClient::AbmClient(DepTokens tokens, AbmClientOptions options)
    : tokens_(std::move(tokens)), options_(std::move(options)) {
  static std::once_flag curl_init;
  std::call_once(curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  while (!options_.base_url.empty() && options_.base_url.back() == '/') options_.base_url.pop_back();
}

int AbmClient::sessions_started() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sessions_started_;
}

void AbmClient::Wait(Duration d) {
  if (options_.sleep) {
    options_.sleep(d);
  } else {
    std::this_thread::sleep_for(d);
  }
}

StatusOr<AbmResponse> AbmClient::Exchange(std::string_view method, const std::string& url,
                                          std::string_view body,
                                          const std::vector<std::string>& headers) {
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return InternalError("curl_easy_init failed");
  std::unique_ptr<curl_slist, SlistDeleter> list;
  for (const std::string& h : headers) {
    curl_slist* next = curl_slist_append(list.get(), h.c_str());
    if (next == nullptr) return InternalError("curl_slist_append failed");
    list.release();
    list.reset(next);
  }
  AbmResponse reply;
  HeaderSink sink;
  std::string method_str(method);
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_CUSTOMREQUEST, method_str.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, list.get());
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, static_cast<long>(options_.timeout.count()));
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERFUNCTION, WriteHeader);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERDATA, &sink);
  curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  if (method != "GET" && method != "HEAD") {
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  CURLcode rc = curl_easy_perform(curl.get());
  if (rc != CURLE_OK) {
    return UnavailableError("ABM " + method_str + " " + url + ": " + curl_easy_strerror(rc));
  }
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &reply.status);
  reply.content_type = sink.content_type;
  reply.retry_after = sink.retry_after;
  if (!sink.session.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!session_.empty()) session_ = sink.session;  // the server refreshed the session
  }
  return reply;
}

StatusOr<std::string> AbmClient::SessionToken(bool force_new) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!force_new && !session_.empty()) return session_;
  }
  const std::string url = options_.base_url + "/session";
  std::string nonce = HexEncode(options_.random->Bytes(16));
  std::string auth = OAuthAuthorizationHeader("GET", url, tokens_,
                                              ToUnixSeconds(options_.clock->Now()), nonce);
  std::vector<std::string> headers = {"Authorization: " + auth,
                                      "X-Server-Protocol-Version: " + std::string(kServerProtocolVersion),
                                      "User-Agent: custos", "Accept: application/json"};
  StatusOr<AbmResponse> r = NotFoundError("unset");
  for (int attempt = 0;; ++attempt) {
    r = Exchange("GET", url, "", headers);
    if (r.ok() && r->status != 429 && r->status != 503) break;
    if (attempt >= options_.max_retries) break;
    Wait(std::min(options_.max_backoff, Duration(1 << std::min(attempt, 6))));
  }
  if (!r.ok()) return r.status();
  if (r->status == 401 || r->status == 403) {
    return UnauthenticatedError("ABM refused the OAuth tokens (" + std::to_string(r->status) +
                                " " + Trimmed(r->body) + ")");
  }
  if (r->status != 200) {
    return UnavailableError("ABM /session answered " + std::to_string(r->status));
  }
  nlohmann::json j = nlohmann::json::parse(r->body, nullptr, false);
  if (!j.is_object() || !j.contains("auth_session_token") || !j["auth_session_token"].is_string()) {
    return InvalidArgumentError("ABM /session: no auth_session_token in the reply");
  }
  std::lock_guard<std::mutex> lock(mu_);
  session_ = j["auth_session_token"].get<std::string>();
  ++sessions_started_;
  return session_;
}

Status AbmClient::Authenticate() { return SessionToken(true).status(); }

StatusOr<AbmResponse> AbmClient::Do(std::string_view method, std::string_view path,
                                    std::string_view body) {
  if (path.empty() || path[0] != '/') return InvalidArgumentError("ABM path must start with '/'");
  const std::string url = options_.base_url + std::string(path);
  bool reauthenticated = false;
  int retries = 0;
  bool force_new = false;
  for (;;) {
    ASSIGN_OR_RETURN(std::string session, SessionToken(force_new));
    force_new = false;
    std::vector<std::string> headers = {
        "X-ADM-Auth-Session: " + session,
        "X-Server-Protocol-Version: " + std::string(kServerProtocolVersion),
        "Content-Type: application/json;charset=UTF8", "Accept: application/json",
        "User-Agent: custos"};
    StatusOr<AbmResponse> r = Exchange(method, url, body, headers);
    if (!r.ok()) {
      if (retries++ >= options_.max_retries) return r.status();
      Wait(std::min(options_.max_backoff, Duration(1 << std::min(retries, 6))));
      continue;
    }
    if (IsForbiddenSession(*r) && !reauthenticated) {
      reauthenticated = true;
      force_new = true;
      continue;
    }
    if ((r->status == 429 || r->status == 503) && retries < options_.max_retries) {
      ++retries;
      Duration wait(1 << std::min(retries, 6));
      int64_t seconds = 0;
      auto [ptr, ec] = std::from_chars(r->retry_after.data(),
                                       r->retry_after.data() + r->retry_after.size(), seconds);
      if (ec == std::errc() && ptr == r->retry_after.data() + r->retry_after.size() && seconds >= 0) {
        wait = Duration(seconds);
      }
      Wait(std::min(options_.max_backoff, wait));
      continue;
    }
    return r;
  }
}

StatusOr<nlohmann::json> AbmClient::CallJson(std::string_view method, std::string_view path,
                                             const nlohmann::json* body) {
  std::string text = body ? body->dump() : "";
  ASSIGN_OR_RETURN(AbmResponse r, Do(method, path, text));
  return DecodeReply(method, path, r);
}

StatusOr<nlohmann::json> AbmClient::Account() { return CallJson("GET", "/account", nullptr); }

StatusOr<DevicePage> AbmClient::DevicesCall(std::string_view path, std::string_view cursor,
                                            int limit) {
  nlohmann::json body = nlohmann::json::object();
  if (!cursor.empty()) body["cursor"] = std::string(cursor);
  if (limit > 0) body["limit"] = limit;
  std::string text = body.dump();
  ASSIGN_OR_RETURN(AbmResponse r, Do("POST", path, text));
  ASSIGN_OR_RETURN(nlohmann::json j, DecodeReply("POST", path, r));
  if (!j.is_object()) return InvalidArgumentError("ABM " + std::string(path) + ": reply is not a JSON object");
  DevicePage page;
  page.raw = r.body;
  if (auto it = j.find("devices"); it != j.end() && it->is_array()) page.devices = *it;
  if (auto it = j.find("cursor"); it != j.end() && it->is_string()) page.cursor = *it;
  if (auto it = j.find("more_to_follow"); it != j.end() && it->is_boolean()) page.more_to_follow = *it;
  if (auto it = j.find("fetched_until"); it != j.end() && it->is_string()) page.fetched_until = *it;
  return page;
}

StatusOr<DevicePage> AbmClient::FetchDevices(std::string_view cursor, int limit) {
  return DevicesCall("/server/devices", cursor, limit);
}

StatusOr<DevicePage> AbmClient::SyncDevices(std::string_view cursor, int limit) {
  return DevicesCall("/devices/sync", cursor, limit);
}

StatusOr<nlohmann::json> AbmClient::DeviceDetails(const std::vector<std::string>& serials) {
  nlohmann::json body = {{"devices", serials}};
  return CallJson("POST", "/devices", &body);
}

StatusOr<nlohmann::json> AbmClient::DefineProfile(const nlohmann::json& profile) {
  return CallJson("POST", "/profile", &profile);
}

StatusOr<nlohmann::json> AbmClient::GetProfile(std::string_view profile_uuid) {
  return CallJson("GET", "/profile?profile_uuid=" + OAuthPercentEncode(profile_uuid), nullptr);
}

StatusOr<nlohmann::json> AbmClient::AssignProfile(std::string_view profile_uuid,
                                                  const std::vector<std::string>& serials) {
  nlohmann::json body = {{"profile_uuid", std::string(profile_uuid)}, {"devices", serials}};
  return CallJson("PUT", "/profile/devices", &body);
}

StatusOr<nlohmann::json> AbmClient::RemoveProfile(const std::vector<std::string>& serials) {
  nlohmann::json body = {{"devices", serials}};
  return CallJson("DELETE", "/profile/devices", &body);
}

StatusOr<nlohmann::json> AbmClient::DisownDevices(const std::vector<std::string>& serials) {
  nlohmann::json body = {{"devices", serials}};
  return CallJson("POST", "/devices/disown", &body);
}

}  // namespace custos::dep
