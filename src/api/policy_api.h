// Admin API of the enrollment policy (issue 7, "The setting"). All routes sit behind the API key
// (api/auth.h).
//   GET /v1/policy                      {"require_hardware_attestation": bool,
//                                       "eligibility_rule": text}
//   PUT /v1/policy                      body {"require_hardware_attestation": bool}; replies as GET
//                                       (400 for another body)
//   GET /v1/enrollment-refusals[?serial=S&after=ID&limit=N]
//                                       refused enrollment attempts, oldest first:
//                                       [{id, serial, udid, stage, reason, detail, created_at}];
//                                       a full page sets X-Next-After
//   GET /v1/policy/eligibility?serial=S&product=P&os_version=V
//                                       the eligibility verdict {eligible, reason} for a device
#ifndef CUSTOS_API_POLICY_API_H_
#define CUSTOS_API_POLICY_API_H_

#include <string>

#include <nlohmann/json.hpp>

#include "http/router.h"
#include "policy/enforcement.h"
#include "policy/policy.h"

namespace custos::api {

// Registers the routes above. `policy` and `refusals` must outlive the router.
void AddPolicyApiRoutes(http::Router& router, policy::EnrollmentPolicy* policy,
                        policy::RefusalRecorder* refusals, const std::string& api_key);

// The one-paragraph statement of the eligibility rule (API and `custos policy show`).
std::string EligibilityRuleText();

// GET /v1/policy's JSON for the effective setting (shared with `custos policy show --json`).
nlohmann::json PolicyJson(bool require_hardware_attestation);

}  // namespace custos::api

#endif  // CUSTOS_API_POLICY_API_H_
