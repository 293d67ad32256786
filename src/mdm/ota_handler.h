// The HTTP binding of OTA enrollment through the profile service (issue 7; Apple "Over-the-Air
// Profile Delivery and Configuration", see ota.h for the phases):
//   GET  /mdm/ota[?token=T]  phase 1: the Profile Service profile (application/x-apple-aspen-config),
//        behind the access control of GET /mdm/enroll (HTTP Basic: 401 with WWW-Authenticate, as
//        for /mdm/enroll, since this is a browser and not an enrolled device; a missing, unknown,
//        spent or expired token: 403).
//   POST /mdm/ota[?identity=scep|acme]  phases 2 and 3: the CMS-signed device attributes; the
//        answer is a signed profile (the identity profile, then the encrypted MDM enrollment
//        profile). A body that is not a signed attribute plist answers 400; a refused signature,
//        chain, challenge or identity answers 403. Every refusal is logged with its reason.
// Thin: decodes the request, calls OtaService, encodes the reply.
#ifndef CUSTOS_MDM_OTA_HANDLER_H_
#define CUSTOS_MDM_OTA_HANDLER_H_

#include "http/router.h"
#include "mdm/ota.h"

namespace custos::mdm {

// Registers GET and POST kOtaPath. `service` must outlive the router.
void RegisterOtaRoutes(http::Router& router, OtaService* service);

// One request, as the routes handle it (exposed for tests).
http::Response HandleOtaProfileServiceRequest(OtaService* service, const http::Request& request);
http::Response HandleOtaDeviceRequest(OtaService* service, const http::Request& request);

}  // namespace custos::mdm

#endif  // CUSTOS_MDM_OTA_HANDLER_H_
