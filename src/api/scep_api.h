// Admin API for SCEP: POST /v1/scep/challenges returns a fresh one-time challenge.
//   request body (optional JSON): {"ttl": "1h", "bound_to": "SERIAL-or-UDID"}
//   reply 201: {"challenge": "...", "ttl": "1h", "bound_to": "..."}
#ifndef CUSTOS_API_SCEP_API_H_
#define CUSTOS_API_SCEP_API_H_

#include <string>

#include "http/router.h"
#include "scep/service.h"

namespace custos::api {

// Registers the SCEP admin routes behind the API key. `service` must outlive the router.
void AddScepApiRoutes(http::Router& router, scep::ScepService* service, const std::string& api_key);

}  // namespace custos::api

#endif  // CUSTOS_API_SCEP_API_H_
