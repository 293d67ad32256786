#include "api/renewal_api.h"

#include <cstdint>
#include <limits>

#include "api/auth.h"
#include "api/query.h"
#include "base/time.h"

namespace custos::api {
namespace {

http::Response List(mdm::RenewalJob* job, const http::Request& r) {
  RenewalRequestFilter f;
  auto limit = IntQuery(r, "limit", 100, 1, 10000);
  if (!limit.ok()) return http::Response::Error(limit.status());
  auto after = IntQuery(r, "after", 0, 0, std::numeric_limits<int64_t>::max());
  if (!after.ok()) return http::Response::Error(after.status());
  f.limit = *limit;
  f.after_id = *after;
  f.enrollment_id = std::string(r.Query("enrollment_id").value_or(""));
  f.status = std::string(r.Query("status").value_or(""));
  if (!f.status.empty() && f.status != kRenewalPending && f.status != kRenewalCompleted &&
      f.status != kRenewalFailed) {
    return http::Response::Error(
        InvalidArgumentError("status must be pending, completed or failed"));
  }
  auto list = job->ListRequests(f);
  if (!list.ok()) return http::Response::Error(list.status());
  nlohmann::json out = nlohmann::json::array();
  for (const auto& q : *list) out.push_back(RenewalRequestToJson(q));
  http::Response resp = http::Response::Json(200, out);
  if (static_cast<int64_t>(list->size()) == f.limit && !list->empty()) {
    resp.headers.Set("X-Next-After", std::to_string(list->back().id));
  }
  return resp;
}

http::Response Run(mdm::RenewalJob* job, const http::Request& r) {
  bool dry_run = false;
  std::optional<Time> at;
  if (!r.body.empty()) {
    nlohmann::json body = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded() || !body.is_object()) {
      return http::Response::Error(InvalidArgumentError("body must be a JSON object"));
    }
    if (auto it = body.find("dry_run"); it != body.end()) {
      if (!it->is_boolean()) return http::Response::Error(InvalidArgumentError("dry_run must be a boolean"));
      dry_run = it->get<bool>();
    }
    if (auto it = body.find("at"); it != body.end()) {
      if (!it->is_string()) {
        return http::Response::Error(InvalidArgumentError("at must be an RFC 3339 time"));
      }
      auto t = ParseRfc3339(it->get<std::string>());
      if (!t.ok()) return http::Response::Error(t.status());
      at = *t;
    }
  }
  auto result = job->RunOnce(at, dry_run);
  if (!result.ok()) return http::Response::Error(result.status());
  return http::Response::Json(200, RenewalRunToJson(*result));
}

}  // namespace

nlohmann::json RenewalRequestToJson(const RenewalRequestRecord& q) {
  return {{"id", q.id},
          {"enrollment_id", q.enrollment_id},
          {"old_serial", q.old_serial},
          {"old_not_after", FormatRfc3339(q.old_not_after)},
          {"identity_kind", q.identity_kind},
          {"command_uuid", q.command_uuid},
          {"status", q.status},
          {"reason", q.reason},
          {"new_serial", q.new_serial},
          {"requested_at", FormatRfc3339(q.requested_at)},
          {"completed_at", q.completed_at ? nlohmann::json(FormatRfc3339(*q.completed_at))
                                          : nlohmann::json(nullptr)}};
}

nlohmann::json RenewalRunToJson(const mdm::RenewalRunResult& result) {
  nlohmann::json renewals = nlohmann::json::array();
  for (const auto& a : result.actions) {
    renewals.push_back({{"enrollment_id", a.enrollment_id},
                        {"serial", a.serial_hex},
                        {"not_after", FormatRfc3339(a.not_after)},
                        {"current_kind", a.current_kind},
                        {"identity", a.identity},
                        {"reason", a.reason},
                        {"command_uuid", a.command_uuid},
                        {"request_id", a.request_id},
                        {"attempts", a.attempts},
                        {"error", a.error},
                        {"skipped", a.skipped}});
  }
  return {{"at", FormatRfc3339(result.at)},
          {"dry_run", result.dry_run},
          {"queued", result.queued},
          {"failed", result.failed},
          {"skipped", result.skipped},
          {"renewals", std::move(renewals)}};
}

void AddRenewalApiRoutes(http::Router& router, mdm::RenewalJob* job, const std::string& api_key) {
  router.Add("GET", "/v1/renewals", RequireApiKey(api_key, [job](const http::Request& r) {
               return List(job, r);
             }));
  router.Add("POST", "/v1/renewals/run", RequireApiKey(api_key, [job](const http::Request& r) {
               return Run(job, r);
             }));
}

}  // namespace custos::api
