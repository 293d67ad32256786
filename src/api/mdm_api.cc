#include "api/mdm_api.h"

#include <spdlog/spdlog.h>

#include <limits>
#include <unordered_set>

#include "api/auth.h"
#include "api/query.h"
#include "api/push_api.h"
#include "base/encoding.h"
#include "base/time.h"
#include "mdm/plist_util.h"

namespace custos::api {
namespace {

constexpr size_t kMaxIds = 100000;

std::optional<std::string> OptTime(const std::optional<Time>& t) {
  if (!t.has_value()) return std::nullopt;
  return FormatRfc3339(*t);
}

nlohmann::json NullableTime(const std::optional<Time>& t) {
  auto s = OptTime(t);
  return s.has_value() ? nlohmann::json(*s) : nlohmann::json(nullptr);
}

}  // namespace

nlohmann::json EnrollmentToJson(const MdmEnrollmentRecord& e) {
  return {{"id", e.id},
          {"type", e.type},
          {"enabled", e.enabled},
          {"serial", e.serial_number},
          {"hardware_attested", e.hardware_attested},  // issue 7: identity from device-attest-01
          {"device_id", e.device_id},
          {"parent_id", e.parent_id},
          {"user_id", e.user_id},
          {"user_short_name", e.user_short_name},
          {"user_long_name", e.user_long_name},
          {"topic", e.topic},
          {"has_push_token", !e.push_token_hex.empty()},
          {"token_unregistered", e.token_unregistered},
          {"token_update_tally", e.token_update_tally},
          {"last_seen", NullableTime(e.last_seen)},
          {"created_at", FormatRfc3339(e.created_at)},
          {"updated_at", FormatRfc3339(e.updated_at)}};
}

nlohmann::json QueueEntryToJson(const MdmQueueEntry& q) {
  nlohmann::json j = {{"command_uuid", q.command_uuid},
                      {"enrollment_id", q.enrollment_id},
                      {"request_type", q.request_type},
                      {"status", q.status},
                      {"active", q.active},
                      {"priority", q.priority},
                      {"queued_at", FormatRfc3339(q.queued_at)},
                      {"sent_at", NullableTime(q.sent_at)},
                      {"result_at", NullableTime(q.result_at)},
                      {"expires_at", NullableTime(q.expires_at)}};
  if (!q.result.empty()) {
    auto plist = mdm::Plist::Parse(q.result);
    if (plist.ok()) {
      auto json = mdm::PlistToJson(plist->get());
      if (json.ok()) j["result"] = *std::move(json);
    }
    j["result_plist"] = Base64Encode(q.result);
  }
  if (!q.error_chain_json.empty()) {
    auto chain = nlohmann::json::parse(q.error_chain_json, nullptr, /*allow_exceptions=*/false);
    if (!chain.is_discarded()) j["error_chain"] = std::move(chain);
  }
  return j;
}

namespace {

// Renders a JSON page; when it is full, X-Next-After names the cursor of the next page.
http::Response Page(nlohmann::json items, int64_t limit, std::string next_after) {
  bool full = static_cast<int64_t>(items.size()) == limit;
  http::Response r = http::Response::Json(200, items);
  if (full) r.headers.Set("X-Next-After", std::move(next_after));
  return r;
}

http::Response ListEnrollments(mdm::MdmService* mdm, const http::Request& r) {
  MdmEnrollmentFilter f;
  auto limit = IntQuery(r, "limit", 100, 1, 10000);
  if (!limit.ok()) return http::Response::Error(limit.status());
  auto enabled = BoolQuery(r, "enabled");
  if (!enabled.ok()) return http::Response::Error(enabled.status());
  f.limit = *limit;
  f.enabled = *enabled;
  f.type = std::string(r.Query("type").value_or(""));
  f.serial_number = std::string(r.Query("serial").value_or(""));
  f.device_id = std::string(r.Query("device_id").value_or(""));
  f.after_id = std::string(r.Query("after").value_or(""));
  if (auto ids = r.Query("id"); ids.has_value()) f.ids = SplitIds(*ids);
  auto list = mdm->ListEnrollments(f);
  if (!list.ok()) return http::Response::Error(list.status());
  nlohmann::json out = nlohmann::json::array();
  for (const auto& e : *list) out.push_back(EnrollmentToJson(e));
  return Page(std::move(out), f.limit, list->empty() ? "" : list->back().id);
}

http::Response GetEnrollment(mdm::MdmService* mdm, const http::Request& r) {
  auto e = mdm->GetEnrollment(r.PathParam("id"));
  if (!e.ok()) return http::Response::Error(e.status());
  return http::Response::Json(200, EnrollmentToJson(*e));
}

http::Response ListCommands(mdm::MdmService* mdm, const http::Request& r) {
  MdmQueueFilter f;
  f.enrollment_id = std::string(r.PathParam("id"));
  auto limit = IntQuery(r, "limit", 100, 1, 10000);
  if (!limit.ok()) return http::Response::Error(limit.status());
  auto active = BoolQuery(r, "active");
  if (!active.ok()) return http::Response::Error(active.status());
  f.limit = *limit;
  f.active_only = active->value_or(false);
  auto after = IntQuery(r, "after", 0, 0, std::numeric_limits<int64_t>::max());
  if (!after.ok()) return http::Response::Error(after.status());
  f.after_seq = *after;
  // An unknown enrollment is 404, not an empty list.
  auto e = mdm->GetEnrollment(f.enrollment_id);
  if (!e.ok()) return http::Response::Error(e.status());
  auto list = mdm->ListCommands(f);
  if (!list.ok()) return http::Response::Error(list.status());
  nlohmann::json out = nlohmann::json::array();
  for (const auto& q : *list) out.push_back(QueueEntryToJson(q));
  return Page(std::move(out), f.limit, list->empty() ? "" : std::to_string(list->back().seq));
}

http::Response DeleteCommands(mdm::MdmService* mdm, const http::Request& r) {
  std::string_view uuid = r.PathParam("uuid");
  auto n = mdm->DeleteQueued(r.PathParam("id"), uuid);
  if (!n.ok()) return http::Response::Error(n.status());
  if (!uuid.empty() && *n == 0) {
    return http::Response::Error(NotFoundError("command " + std::string(uuid) +
                                               " is not queued for " +
                                               std::string(r.PathParam("id"))));
  }
  return http::Response::Json(200, nlohmann::json{{"deleted", *n}});
}

http::Response GetCommand(mdm::MdmService* mdm, const http::Request& r) {
  auto c = mdm->GetCommand(r.PathParam("uuid"));
  if (!c.ok()) return http::Response::Error(c.status());
  MdmQueueFilter f;
  f.command_uuid = c->command_uuid;
  f.limit = 10000;
  auto entries = mdm->ListCommands(f);
  if (!entries.ok()) return http::Response::Error(entries.status());
  nlohmann::json results = nlohmann::json::array();
  for (const auto& q : *entries) results.push_back(QueueEntryToJson(q));
  return http::Response::Json(200, nlohmann::json{{"command_uuid", c->command_uuid},
                                                  {"request_type", c->request_type},
                                                  {"priority", c->priority},
                                                  {"created_at", FormatRfc3339(c->created_at)},
                                                  {"expires_at", NullableTime(c->expires_at)},
                                                  {"payload", c->payload},
                                                  {"results", std::move(results)}});
}

StatusOr<mdm::EnqueueRequest> ParseEnqueueJson(const std::string& text) {
  nlohmann::json body = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) {
    return InvalidArgumentError("body must be a JSON object");
  }
  mdm::EnqueueRequest req;
  auto ids = body.find("enrollment_ids");
  if (ids == body.end() || !ids->is_array() || ids->empty()) {
    return InvalidArgumentError("enrollment_ids must be a non-empty array of strings");
  }
  if (ids->size() > kMaxIds) {
    return InvalidArgumentError("at most " + std::to_string(kMaxIds) + " enrollment_ids");
  }
  for (const auto& id : *ids) {
    if (!id.is_string() || id.get<std::string>().empty()) {
      return InvalidArgumentError("enrollment_ids must be a non-empty array of strings");
    }
    req.enrollment_ids.push_back(id.get<std::string>());
  }
  auto str = [&](const char* key, std::string* out) -> Status {
    auto it = body.find(key);
    if (it == body.end() || it->is_null()) return OkStatus();
    if (!it->is_string()) return InvalidArgumentError(std::string(key) + " must be a string");
    *out = it->get<std::string>();
    return OkStatus();
  };
  RETURN_IF_ERROR(str("request_type", &req.request_type));
  RETURN_IF_ERROR(str("raw_command", &req.raw_command));
  RETURN_IF_ERROR(str("command_uuid", &req.command_uuid));
  if (req.request_type.empty() == req.raw_command.empty()) {
    return InvalidArgumentError("give exactly one of request_type (with params) or raw_command");
  }
  if (auto it = body.find("params"); it != body.end()) req.params = *it;
  if (auto it = body.find("priority"); it != body.end() && !it->is_null()) {
    if (!it->is_number_integer()) return InvalidArgumentError("priority must be an integer");
    req.priority = it->get<int64_t>();
  }
  std::string expires;
  RETURN_IF_ERROR(str("expires_at", &expires));
  if (!expires.empty()) {
    ASSIGN_OR_RETURN(Time t, ParseRfc3339(expires));
    req.expires_at = t;
  }
  if (auto it = body.find("no_push"); it != body.end() && !it->is_null()) {
    if (!it->is_boolean()) return InvalidArgumentError("no_push must be true or false");
    req.no_push = it->get<bool>();
  }
  return req;
}

http::Response PostCommand(mdm::MdmService* mdm, const http::Request& r) {
  auto req = ParseEnqueueJson(r.body);
  if (!req.ok()) return http::Response::Error(req.status());
  auto result = mdm->Enqueue(*req);
  if (!result.ok()) return http::Response::Error(result.status());
  return http::Response::Json(201, nlohmann::json{{"command_uuid", result->command_uuid},
                                                  {"request_type", result->request_type},
                                                  {"queued", result->queued},
                                                  {"unknown", result->unknown},
                                                  {"push_requested", result->push_requested}});
}

// NanoMDM's PUT /v1/enqueue/{ids}.
http::Response NanoEnqueue(mdm::MdmService* mdm, push::PushService* push,
                           const MdmApiOptions& options, const http::Request& r) {
  std::vector<std::string> ids = SplitIds(r.PathParam("ids"));
  nlohmann::json result = nlohmann::json::object();
  const bool no_push = !r.Query("nopush").value_or("").empty();
  if (no_push) result["no_push"] = true;
  if (ids.empty() || ids.size() > kMaxIds) {
    result["command_error"] = "getting enrollment ids: between 1 and " + std::to_string(kMaxIds) +
                              " comma-separated IDs are required";
    return http::Response::Json(400, result);
  }
  if (r.body.empty()) {
    // NanoMDM: no command means push only (and nothing at all with nopush is an error).
    if (no_push) {
      result["command_error"] = "must enqueue or push";
      return http::Response::Json(500, result);
    }
    if (push == nullptr) {
      result["push_error"] = "push service unavailable";
      return http::Response::Json(500, result);
    }
    auto pushed = push->PushNow(ids, options.push_timeout);
    if (!pushed.ok()) {
      result["push_error"] = pushed.status().message();
    } else {
      nlohmann::json status = nlohmann::json::object();
      AddNanoMdmPushResults(*pushed, status);
      if (!status.empty()) result["status"] = std::move(status);
    }
    return http::Response::Json(NanoMdmResultCode(result, ids.size()), result);
  }
  mdm::EnqueueRequest req;
  req.enrollment_ids = ids;
  req.raw_command = r.body;
  const bool sync_push = !no_push && push != nullptr && ids.size() <= options.sync_push_limit;
  req.no_push = no_push || sync_push;  // a synchronous push is sent below instead
  auto enq = mdm->Enqueue(req);
  if (!enq.ok()) {
    result["command_error"] = enq.status().message();
    int code = enq.status().code() == StatusCode::kInvalidArgument ||
                       enq.status().code() == StatusCode::kAlreadyExists
                   ? 400
                   : 500;
    if (code == 500) spdlog::warn("NanoMDM enqueue: {}", enq.status().ToString());
    return http::Response::Json(code, result);
  }
  result["command_uuid"] = enq->command_uuid;
  result["request_type"] = enq->request_type;
  nlohmann::json status = nlohmann::json::object();
  for (const auto& id : enq->unknown) {
    status[id]["command_error"] = "unknown enrollment ID " + id;
  }
  if (!no_push && !enq->queued.empty()) {
    if (push == nullptr) {
      result["push_error"] = "push service unavailable";
    } else if (sync_push) {
      auto pushed = push->PushNow(enq->queued, options.push_timeout);
      if (!pushed.ok()) {
        result["push_error"] = pushed.status().message();
      } else {
        AddNanoMdmPushResults(*pushed, status);
      }
    }
  }
  if (!status.empty()) result["status"] = std::move(status);
  return http::Response::Json(NanoMdmResultCode(result, ids.size()), result);
}

}  // namespace

std::vector<std::string> SplitIds(std::string_view ids) {
  std::vector<std::string> out;
  std::unordered_set<std::string_view> seen;
  size_t start = 0;
  while (start <= ids.size()) {
    size_t comma = ids.find(',', start);
    if (comma == std::string_view::npos) comma = ids.size();
    std::string_view id = ids.substr(start, comma - start);
    if (!id.empty() && seen.insert(id).second) out.emplace_back(id);
    start = comma + 1;
  }
  return out;
}

void AddMdmApiRoutes(http::Router& router, mdm::MdmService* mdm, push::PushService* push,
                     const std::string& api_key, MdmApiOptions options) {
  router.Add("GET", "/v1/enrollments", RequireApiKey(api_key, [mdm](const http::Request& r) {
               return ListEnrollments(mdm, r);
             }));
  router.Add("GET", "/v1/enrollments/{id}", RequireApiKey(api_key, [mdm](const http::Request& r) {
               return GetEnrollment(mdm, r);
             }));
  router.Add("GET", "/v1/enrollments/{id}/commands",
             RequireApiKey(api_key, [mdm](const http::Request& r) { return ListCommands(mdm, r); }));
  router.Add("DELETE", "/v1/enrollments/{id}/commands",
             RequireApiKey(api_key, [mdm](const http::Request& r) { return DeleteCommands(mdm, r); }));
  router.Add("DELETE", "/v1/enrollments/{id}/commands/{uuid}",
             RequireApiKey(api_key, [mdm](const http::Request& r) { return DeleteCommands(mdm, r); }));
  router.Add("GET", "/v1/commands/{uuid}",
             RequireApiKey(api_key, [mdm](const http::Request& r) { return GetCommand(mdm, r); }));
  router.Add("POST", "/v1/commands",
             RequireApiKey(api_key, [mdm](const http::Request& r) { return PostCommand(mdm, r); }));
  router.Add("PUT", "/v1/enqueue/{ids}",
             RequireApiKey(api_key, [mdm, push, options](const http::Request& r) {
               return NanoEnqueue(mdm, push, options, r);
             }));
}

}  // namespace custos::api
