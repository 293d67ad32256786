// The OpenAPI 3.0 description of custos' admin API (/v1/...), served at GET /v1/openapi.json
// behind the API key. The document is static (openapi.cc); at serving time any /v1 route
// registered on the router that the document does not describe is added as an empty path item
// marked "x-custos-undocumented", so the document always lists every /v1 endpoint.
#ifndef CUSTOS_API_OPENAPI_H_
#define CUSTOS_API_OPENAPI_H_

#include <string>

#include <nlohmann/json.hpp>

#include "http/router.h"

namespace custos::api {

// The static document, parsed.
const nlohmann::json& OpenApiDocument();

// The static document plus a stub for every /v1 pattern of `router` it lacks ("{name}" path
// parameters are kept as OpenAPI path templates, a trailing "*" becomes "{path}").
nlohmann::json OpenApiDocumentFor(const http::Router& router);

// Registers GET /v1/openapi.json behind `api_key`. `router` must outlive itself (it is the router
// the route is added to); the document is computed on each request from the routes present then.
void AddOpenApiRoute(http::Router& router, const std::string& api_key);

}  // namespace custos::api

#endif  // CUSTOS_API_OPENAPI_H_
