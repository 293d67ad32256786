// Admin API for MDM (issue 4, "Admin API and CLI"), JSON under /v1/, every route behind the API
// key (api/auth.h). Two families:
//
// custos' own API:
//   GET    /v1/enrollments?type=&serial=&device_id=&enabled=true|false&id=A,B&limit=&after=
//          -> 200 [ {id, type, enabled, serial, device_id, parent_id, user_short_name, topic,
//                    token_update_tally, token_unregistered, has_push_token, last_seen,
//                    created_at, updated_at}, ... ]   (ordered by id; when the page is full,
//                    header X-Next-After holds the value to pass as `after` for the next page)
//   GET    /v1/enrollments/{id}                     -> 200 {same fields} | 404
//   GET    /v1/enrollments/{id}/commands?active=true&limit=&after=
//          -> 200 [ {command_uuid, request_type, status, active, priority, queued_at, sent_at,
//                    result_at, expires_at, result (the device's report as JSON),
//                    result_plist (base64), error_chain}, ... ]  (enqueue order; X-Next-After)
//   DELETE /v1/enrollments/{id}/commands            -> 200 {"deleted": n}  (every queued command)
//   DELETE /v1/enrollments/{id}/commands/{uuid}     -> 200 {"deleted": 1} | 404 when not queued
//   GET    /v1/commands/{uuid}  -> 200 {command_uuid, request_type, priority, created_at,
//                                       expires_at, payload (XML plist text), results: [...]}
//   POST   /v1/commands  {enrollment_ids: [...], request_type, params?, command_uuid?, priority?,
//                         expires_at? (RFC 3339), no_push?}  or  {enrollment_ids, raw_command
//                         (plist text), ...}
//          -> 201 {command_uuid, request_type, queued: [...], unknown: [...], push_requested}
//
// NanoMDM's API, same paths, bodies and JSON (micromdm/nanomdm http/api, api/types.go), so
// NanoMDM tooling works unchanged:
//   PUT    /v1/enqueue/{id,id,...}[?nopush=1]   body: a raw command plist
//          -> {"status": {ID: {"push_result": apns-id} | {"push_error": "..."} |
//                              {"command_error": "..."}}, "no_push": true?,
//              "command_uuid": ..., "request_type": ..., "push_error"?, "command_error"?}
//          with 200 (all succeeded), 207 (some failed), 500 (all failed, or a top-level error).
//          Deviations: a malformed plist is 400 (NanoMDM: 500); an unknown enrollment ID gets a
//          per-ID command_error. With at most `sync_push_limit` IDs the push is sent at once and
//          its apns-id reported, as NanoMDM does; above that it is queued to the push service
//          (asynchronous) and no per-ID push_result is reported.
//   GET|POST /v1/push/{id,id,...}   (push_api.h)
#ifndef CUSTOS_API_MDM_API_H_
#define CUSTOS_API_MDM_API_H_

#include <chrono>
#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

#include "http/router.h"
#include "mdm/service.h"
#include "push/service.h"

namespace custos::api {

struct MdmApiOptions {
  // Synchronous push (with apns-id in the reply) for NanoMDM enqueues up to this many IDs.
  size_t sync_push_limit = 100;
  std::chrono::milliseconds push_timeout{10000};
};

// Registers the routes above behind `api_key`. `mdm` must outlive the router; `push` may be null
// (no pushes are then sent by /v1/enqueue and its results report "push service unavailable").
void AddMdmApiRoutes(http::Router& router, mdm::MdmService* mdm, push::PushService* push,
                     const std::string& api_key, MdmApiOptions options = {});

// The JSON forms above, shared with the CLI (`custos device list --json`, `command list --json`).
nlohmann::json EnrollmentToJson(const MdmEnrollmentRecord& enrollment);
nlohmann::json QueueEntryToJson(const MdmQueueEntry& entry);

// Splits NanoMDM's comma-separated ID list (empty elements dropped).
std::vector<std::string> SplitIds(std::string_view ids);

}  // namespace custos::api

#endif  // CUSTOS_API_MDM_API_H_
