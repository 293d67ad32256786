#include "api/policy_api.h"

#include <limits>

#include "api/auth.h"
#include "api/query.h"

namespace custos::api {
namespace {

using http::Response;

Response GetPolicy(policy::EnrollmentPolicy* policy) {
  auto on = policy->RequireHardwareAttestation();
  if (!on.ok()) return Response::Error(on.status());
  return Response::Json(200, PolicyJson(*on));
}

Response PutPolicy(policy::EnrollmentPolicy* policy, const http::Request& r) {
  nlohmann::json body = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object() || !body.contains("require_hardware_attestation") ||
      !body["require_hardware_attestation"].is_boolean()) {
    return Response::Error(InvalidArgumentError(
        "body must be {\"require_hardware_attestation\": true|false}"));
  }
  Status st = policy->SetRequireHardwareAttestation(body["require_hardware_attestation"].get<bool>(),
                                                    "api");
  if (!st.ok()) return Response::Error(st);
  return GetPolicy(policy);
}

Response ListRefusals(policy::RefusalRecorder* refusals, const http::Request& r) {
  EnrollmentRefusalFilter f;
  auto limit = IntQuery(r, "limit", 100, 1, 10000);
  if (!limit.ok()) return Response::Error(limit.status());
  auto after = IntQuery(r, "after", 0, 0, std::numeric_limits<int64_t>::max());
  if (!after.ok()) return Response::Error(after.status());
  f.limit = *limit;
  f.after_id = *after;
  f.serial = std::string(r.Query("serial").value_or(""));
  auto list = refusals->List(f);
  if (!list.ok()) return Response::Error(list.status());
  nlohmann::json out = nlohmann::json::array();
  for (const auto& rec : *list) out.push_back(policy::RefusalToJson(rec));
  Response resp = Response::Json(200, out);
  if (static_cast<int64_t>(list->size()) == f.limit) {
    resp.headers.Set("X-Next-After", std::to_string(list->back().id));
  }
  return resp;
}

Response Eligibility(policy::EnrollmentPolicy* policy, const http::Request& r) {
  policy::DeviceFacts facts{std::string(r.Query("serial").value_or("")),
                            std::string(r.Query("product").value_or("")),
                            std::string(r.Query("os_version").value_or(""))};
  auto e = policy->Evaluate(facts);
  if (!e.ok()) return Response::Error(e.status());
  return Response::Json(200, nlohmann::json{{"eligible", e->eligible}, {"reason", e->reason}});
}

}  // namespace

std::string EligibilityRuleText() {
  return "A device is eligible for a hardware-attested (ACME device-attest-01) identity when its "
         "serial number is known from Apple Business Manager and it is an iPhone with an A11 chip "
         "or later (iPhone10,x and later) or an iPad with an A12 chip or later (iPad8,x and later) "
         "on iOS/iPadOS 16 or later, or a Mac with Apple silicon (MacBookAir10+, MacBookPro17+, "
         "Macmini9+, iMac21+, Mac13+) on macOS 14 or later.";
}

nlohmann::json PolicyJson(bool require_hardware_attestation) {
  return {{"require_hardware_attestation", require_hardware_attestation},
          {"eligibility_rule", EligibilityRuleText()}};
}

void AddPolicyApiRoutes(http::Router& router, policy::EnrollmentPolicy* policy,
                        policy::RefusalRecorder* refusals, const std::string& api_key) {
  router.Add("GET", "/v1/policy",
             RequireApiKey(api_key, [policy](const http::Request&) { return GetPolicy(policy); }));
  router.Add("PUT", "/v1/policy", RequireApiKey(api_key, [policy](const http::Request& r) {
               return PutPolicy(policy, r);
             }));
  router.Add("GET", "/v1/policy/eligibility",
             RequireApiKey(api_key, [policy](const http::Request& r) { return Eligibility(policy, r); }));
  router.Add("GET", "/v1/enrollment-refusals",
             RequireApiKey(api_key, [refusals](const http::Request& r) {
               return ListRefusals(refusals, r);
             }));
}

}  // namespace custos::api
