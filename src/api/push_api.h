// Admin API for APNs push and push certificates (issue 4, "APNs push", "Admin API and CLI"),
// every route behind the API key (api/auth.h).
//
// NanoMDM's endpoints (micromdm/nanomdm http/api: api.go, pushcert.go, api/types.go):
//   GET|POST /v1/push/{id,id,...}
//          -> {"status": {ID: {"push_result": "<apns-id>"} | {"push_error": "..."}}} with 200
//             (all delivered), 207 (some failed) or 500 (all failed). Waits for APNs' answers at
//             most `push_timeout`; a push still in flight then is reported without push_result.
//   PUT    /v1/pushcert   body: PEM certificate and unencrypted private key, concatenated
//          (`cat push.pem push.key | curl -T - .../v1/pushcert`)
//          -> 200 {"topic": "...", "not_after": "<RFC 3339>"} | 400 {"error": "..."}
//   GET    /v1/pushcert?topic=T   -> 200 {"topic", "not_after"} | 400 (no topic) | 404
//
// custos' own:
//   GET    /v1/pushcerts  -> 200 [ {topic, subject, sha256, not_before, not_after, key_encrypted,
//                                   updated_at, expires_in_days}, ... ]
//   POST   /v1/pushcerts  {"cert_pem", "key_pem", "password"?} or {"p12": base64, "password"}
//          -> 201 {same fields as one list element}
#ifndef CUSTOS_API_PUSH_API_H_
#define CUSTOS_API_PUSH_API_H_

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "http/router.h"
#include "push/service.h"

namespace custos::api {

// Adds NanoMDM's per-ID push results to `status` (a JSON object keyed by enrollment ID): a
// push_result on success, a push_error otherwise, nothing for a push still pending. Returns how
// many IDs failed.
size_t AddNanoMdmPushResults(const std::vector<push::EnrollmentPushResult>& results,
                             nlohmann::json& status);

// NanoMDM's HTTP status for an APIResult: 500 on a top-level error or when every ID failed, 207
// when some did, 200 otherwise.
int NanoMdmResultCode(const nlohmann::json& result, size_t id_count);

// The JSON form of one installed certificate (GET /v1/pushcerts), shared with the CLI.
nlohmann::json PushCertToJson(const push::PushCertInfo& cert, Time now);

// Registers the routes above behind `api_key`. `push` must outlive the router.
void AddPushApiRoutes(http::Router& router, push::PushService* push, const std::string& api_key,
                      std::chrono::milliseconds push_timeout = std::chrono::milliseconds(10000));

}  // namespace custos::api

#endif  // CUSTOS_API_PUSH_API_H_
