// The HTTP binding of the enrollment profile (issue 4 "Enrollment profile", issue 5 "Enrollment
// with an attested identity"):
//   GET /mdm/enroll[?identity=scep|acme][&unsigned=1][&token=T]
// answers the profile as application/x-apple-aspen-config (a CMS SignedData, or the XML plist with
// unsigned=1), with Content-Disposition so browsers save it as enroll.mobileconfig.
// Access control (ProfileService::Authorize): missing/wrong HTTP Basic credentials answer 401 with
// a WWW-Authenticate challenge (this is a person's browser or a DEP/OTA fetch, not an enrolled
// device's MDM channel, so 401 cannot unenroll anything); a missing, unknown, spent or expired
// token answers 403. No push topic or no ACME service answers 409 / the mapped status.
//   POST /mdm/enroll[?identity=scep|acme]
// is Apple Business Manager enrollment: Setup Assistant posts the device's MachineInfo plist,
// CMS-signed by its Apple device identity; the signature is the credential (no token or Basic
// needed), and the answer is the signed profile (an ACME ClientIdentifier is reserved for the
// device's serial number). Not a signed MachineInfo: 400; signature/chain/policy refused: 403.
// Thin: decodes the request, calls ProfileService, encodes the reply.
#ifndef CUSTOS_MDM_PROFILE_HANDLER_H_
#define CUSTOS_MDM_PROFILE_HANDLER_H_

#include "http/router.h"
#include "mdm/profile.h"

namespace custos::mdm {

inline constexpr std::string_view kEnrollPath = "/mdm/enroll";

// Registers GET /mdm/enroll, and POST /mdm/enroll when `machine_info` is given. Both must outlive
// the router.
void RegisterProfileRoutes(http::Router& router, ProfileService* service,
                           MachineInfoAuthenticator* machine_info = nullptr);

// One request, as the route handles it (exposed for tests).
http::Response HandleProfileRequest(ProfileService* service, const http::Request& request);
http::Response HandleMachineInfoRequest(ProfileService* service,
                                        MachineInfoAuthenticator* machine_info,
                                        const http::Request& request);

}  // namespace custos::mdm

#endif  // CUSTOS_MDM_PROFILE_HANDLER_H_
