// The SCEP HTTP binding (RFC 8894 section 4): GET and POST on the configured path (default
// "/scep", also "<path>/pkiclient.exe" as older clients append it), with `operation`:
//   GetCACaps     text/plain capabilities;
//   GetCACert     application/x-x509-ca-ra-cert (certs-only PKCS#7, issuing CA first);
//   PKIOperation  POST body, or GET with the base64 `message` parameter; answers the CertRep as
//                 application/x-pki-message, or 400 when no CertRep can be formed.
// Thin: decodes the transport, calls ScepService, encodes the reply.
#ifndef CUSTOS_SCEP_HTTP_HANDLER_H_
#define CUSTOS_SCEP_HTTP_HANDLER_H_

#include <string_view>

#include "http/router.h"
#include "scep/service.h"

namespace custos::scep {

// `service` must outlive the router.
void RegisterScepRoutes(http::Router& router, ScepService* service,
                        std::string_view path = "/scep");

// One request, as the routes registered above handle it (exposed for tests).
http::Response HandleScepRequest(ScepService* service, const http::Request& request);

}  // namespace custos::scep

#endif  // CUSTOS_SCEP_HTTP_HANDLER_H_
