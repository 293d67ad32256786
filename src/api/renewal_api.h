// Admin API of identity renewal over MDM (issue 7, "Identity renewal"; mdm/renewal.h). All routes
// sit behind the API key (api/auth.h).
//   GET  /v1/renewals[?enrollment_id=ID&status=pending|completed|failed&after=N&limit=N]
//        the recorded renewal attempts, oldest first: [{id, enrollment_id, old_serial,
//        old_not_after, identity_kind, command_uuid, status, reason, new_serial, requested_at,
//        completed_at}]; a full page sets X-Next-After
//   POST /v1/renewals/run  body (optional) {"dry_run": bool, "at": RFC 3339}
//        one run of the renewal job now, or selecting as of `at` (an administrator's preview of a
//        future date with dry_run, or a test moving time without waiting); replies 200
//        {at, dry_run, queued, failed, renewals: [{enrollment_id, serial, not_after, current_kind,
//        identity, reason, command_uuid, request_id, attempts, error}]}
#ifndef CUSTOS_API_RENEWAL_API_H_
#define CUSTOS_API_RENEWAL_API_H_

#include <string>

#include <nlohmann/json.hpp>

#include "http/router.h"
#include "mdm/renewal.h"

namespace custos::api {

// Registers the routes above. `job` must outlive the router.
void AddRenewalApiRoutes(http::Router& router, mdm::RenewalJob* job, const std::string& api_key);

// The JSON forms above (shared with `custos renewal list|run --json`).
nlohmann::json RenewalRequestToJson(const RenewalRequestRecord& request);
nlohmann::json RenewalRunToJson(const mdm::RenewalRunResult& result);

}  // namespace custos::api

#endif  // CUSTOS_API_RENEWAL_API_H_
