// Admin API for Apple Business Manager (DEP), issue 6. All routes sit behind the API key
// (api/auth.h). NAME is a DEP name (1-64 of [A-Za-z0-9._-]).
//   GET  /v1/dep                         {"names": [info...]}
//   GET  /v1/dep/{name}                  info: current_cert_sha256, staging_cert_sha256,
//                                        consumer_key, access_token_expiry, token_expiry_warning,
//                                        server_uuid, cursor, fetch_completed
//   GET  /v1/dep/{name}/tokenpki         NEW staging key pair; replies its certificate as PEM
//                                        (the current pair is untouched)
//   PUT  /v1/dep/{name}/tokens[?force=1] body: the token file from ABM (.p7m); replies info and
//                                        "promoted"; 400 when it opens with neither key, 409 for a
//                                        consumer-key change without force=1
//   GET  /v1/dep/{name}/maidjwt[?server_uuid=U]  a MAID JWT (application/jwt)
//   POST /v1/dep/{name}/sync             one fetch/sync round now; replies the counts
//   GET  /v1/dep/{name}/devices[?after=SERIAL&limit=N]  synced devices
//   ANY  /v1/dep/{name}/proxy/PATH       forwards METHOD /PATH?query with the body to ABM with the
//                                        name's session; replies ABM's status and body as-is
// Sync and proxy wait for ABM (bounded by the client's timeout and retries), unlike other routes.
#ifndef CUSTOS_API_DEP_API_H_
#define CUSTOS_API_DEP_API_H_

#include <string>

#include "dep/service.h"
#include "http/router.h"
#include "mdm/hooks.h"

namespace custos::api {

// Registers the routes above. `service` (and `sink`, may be null) must outlive the router.
void AddDepApiRoutes(http::Router& router, dep::DepService* service, mdm::EventSink* sink,
                     const std::string& api_key);

// The JSON form of a DepNameInfo (shared by the API and `custos dep show --json`).
nlohmann::json DepInfoJson(const dep::DepNameInfo& info);

}  // namespace custos::api

#endif  // CUSTOS_API_DEP_API_H_
