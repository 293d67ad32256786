// HTTP binding of the ACME service (service.h) under /acme/ (RFC 8555 section 7.1.1 resources),
// and the admin route that creates device-attest-01 ClientIdentifiers:
//   POST /v1/acme/client-identifiers   (API key)  body (optional JSON): {"bound_to": "SERIAL|UDID"}
//   reply 201: {"client_identifier": "...", "bound_to": "..."}
// Every ACME reply carries Replay-Nonce, Link: <directory>;rel="index" and Cache-Control:
// no-store. These are device-facing endpoints: refusals are ACME problem documents (400/403/404),
// never 401.
#ifndef CUSTOS_ACME_HTTP_HANDLERS_H_
#define CUSTOS_ACME_HTTP_HANDLERS_H_

#include <string>

#include "acme/service.h"
#include "http/router.h"

namespace custos::acme {

// Registers the /acme/ routes. `service` must outlive the router.
void RegisterAcmeRoutes(http::Router& router, AcmeService* service);

// Registers POST /v1/acme/client-identifiers behind `api_key` (api/auth.h).
void AddAcmeApiRoutes(http::Router& router, AcmeService* service, const std::string& api_key);

}  // namespace custos::acme

#endif  // CUSTOS_ACME_HTTP_HANDLERS_H_
