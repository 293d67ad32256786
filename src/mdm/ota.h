// OTA enrollment through the profile service (issue 7 "OTA enrollment (profile service)"),
// following Apple's "Over-the-Air Profile Delivery and Configuration" (phases 1-3) and the
// Configuration Profile Reference ("Profile Service" payload, EncryptedPayloadContent).
//
//   Phase 1  GET  BASE/mdm/ota, behind the access control of GET /mdm/enroll
//            (ProfileService::Authorize): a signed profile whose one payload is PayloadType
//            "Profile Service" with the URL of phases 2 and 3 (BASE/mdm/ota), the
//            DeviceAttributes the device must return (UDID, VERSION, PRODUCT, SERIAL, IMEI, MEID,
//            DEVICE_NAME) and a one-time Challenge. custos keeps a session keyed by the
//            challenge's SHA-256 (storage/ota_store.h).
//   Phase 2  POST BASE/mdm/ota: the attributes (a plist with CHALLENGE) CMS-signed by the
//            device's Apple certificate. The signature and its chain to Apple's device CA are
//            verified exactly as for MachineInfo (dep::VerifyDeviceSignedContent,
//            dep::AppleDeviceCa: no time checks, [dep] device_ca_file for a test PKI); the
//            challenge is spent (once, before it expires) and the answer is a signed profile with
//            the identity payload: com.apple.security.scep, RSA 2048, a fresh one-time SCEP
//            challenge bound to the device's UDID, Subject CN = UDID.
//   Phase 3  POST BASE/mdm/ota again, the same attributes now signed by that new identity: it
//            must verify with custos' CA (Authority::VerifyIssued: recorded, unrevoked), name the
//            UDID of the session, and the session must be past phase 2 (spent once more here).
//            The answer is the MDM enrollment profile of ProfileService::Generate (SCEP or ACME
//            identity, as for GET /mdm/enroll) with its PayloadContent encrypted to that identity
//            (EncryptedPayloadContent: a CMS EnvelopedData, AES-256-CBC, of the PayloadContent
//            array as a plist) and signed by custos' profile signer.
// Which of phases 2 and 3 a POST is follows from its signer: a certificate whose issuer is one of
// custos' CA certificates is phase 3, anything else must be an Apple device certificate.
//
// Every refusal names its reason in the Status (and the handler logs it); nothing is issued and
// no session moves on a refusal. Errors: INVALID_ARGUMENT (not a signed plist, malformed
// attributes: HTTP 400), PERMISSION_DENIED (bad signature, wrong chain, unknown, spent or expired
// challenge, identity for another device: HTTP 403).
#ifndef CUSTOS_MDM_OTA_H_
#define CUSTOS_MDM_OTA_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/openssl_util.h"
#include "base/random.h"
#include "base/status.h"
#include "base/time.h"
#include "ca/authority.h"
#include "mdm/profile.h"
#include "storage/storage.h"

namespace custos::dep {
class AppleDeviceCa;
struct DeviceSignedContent;
}
namespace custos::scep {
class ScepService;
}

namespace custos::mdm {

inline constexpr std::string_view kOtaPath = "/mdm/ota";
// Largest phase-2/3 body accepted (real ones are a few KiB).
inline constexpr size_t kMaxOtaRequestBytes = 64 * 1024;

// The attributes a device returns to the Profile Service (the keys are Apple's DeviceAttributes
// names; CHALLENGE is the phase-1 Challenge).
struct OtaDeviceAttributes {
  std::string challenge;
  std::string udid;
  std::string serial;
  std::string product;
  std::string version;
  std::string imei;
  std::string meid;
  std::string device_name;
};

// Parses the attribute plist (XML or binary dict) of a phase-2/3 request. INVALID_ARGUMENT when it
// is not a plist dict, is larger than kMaxOtaRequestBytes or too deep, a known key has a non-string
// value, or CHALLENGE or UDID is missing or empty.
StatusOr<OtaDeviceAttributes> ParseOtaAttributes(std::string_view plist);

// The phase-1 profile: a top-level "Profile Service" payload. `identifier` is the top-level
// PayloadIdentifier, `url` the phase-2 URL. INVALID_ARGUMENT when a required field is empty.
StatusOr<std::string> BuildProfileServicePayload(std::string_view identifier,
                                                 std::string_view organization,
                                                 std::string_view display_name,
                                                 std::string_view url, std::string_view challenge,
                                                 Random* random);

// The phase-2 profile: a Configuration profile with one com.apple.security.scep payload (RSA
// 2048, Key Usage 5, `challenge`, Subject O=`organization` when set and CN=`udid`) and custos'
// root (com.apple.security.root) when `root_der` is not empty. INVALID_ARGUMENT for empty
// identifier, URL, challenge or UDID.
StatusOr<std::string> BuildOtaIdentityProfile(std::string_view identifier,
                                              std::string_view organization,
                                              std::string_view scep_url,
                                              std::string_view challenge, std::string_view udid,
                                              std::string_view root_der, Random* random);

// Replaces the PayloadContent array of the profile `plist` by EncryptedPayloadContent: a DER CMS
// EnvelopedData (AES-256-CBC, RSA key transport) of that array serialized as an XML plist, to
// `recipient`. Returns the new XML plist. INVALID_ARGUMENT when `plist` is not a profile dict
// with a PayloadContent array or `recipient` has no RSA key.
StatusOr<std::string> EncryptProfilePayloadContent(std::string_view plist, X509* recipient);

class OtaService {
 public:
  struct Deps {
    ProfileService* profiles = nullptr;      // required: access control, signer, MDM profile
    scep::ScepService* scep = nullptr;       // required: the phase-2 SCEP challenge
    Authority* ca = nullptr;                 // required: the phase-3 identity check
    const dep::AppleDeviceCa* apple = nullptr;  // required: the phase-2 signer's chain
    Storage* storage = nullptr;              // required: sessions
    Clock* clock = nullptr;                  // required
    Random* random = nullptr;                // required
  };
  struct Options {
    std::string public_url;                  // base URL devices reach custos at (no trailing /)
    Duration challenge_ttl{3600};            // phase 1 -> phase 2
    Duration identity_ttl{3600};             // phase 2 -> phase 3, and the SCEP challenge's life
  };
  struct Output {
    std::string body;      // DER SignedData (or the XML plist when profile signing is off)
    bool is_signed = false;
    int phase = 1;
    std::string udid;      // phases 2 and 3
    std::string detail;    // for the log: the identity serial (phase 3), the signer subject (2)
  };

  // INVALID_ARGUMENT when a dependency is missing or the URL is empty.
  static StatusOr<std::unique_ptr<OtaService>> Create(Options options, Deps deps);

  // Phase 1: a new session and its Profile Service profile. Store errors otherwise.
  StatusOr<Output> StartSession();

  // Phases 2 and 3 (chosen by the signer, see the file comment). `identity` is the identity the
  // MDM profile of phase 3 should carry (nullopt = enroll.default_identity). Errors as in the
  // file comment; FAILED_PRECONDITION when no push topic is known (phase 3, checked before the
  // session is spent).
  StatusOr<Output> HandleDeviceRequest(std::string_view body,
                                       std::optional<EnrollIdentity> identity = std::nullopt);

  // Access control of phase 1 (ProfileService::Authorize).
  Status Authorize(const EnrollCredentials& credentials) { return deps_.profiles->Authorize(credentials); }
  bool UsesBasicAuth() const { return deps_.profiles->UsesBasicAuth(); }
  const std::string& url() const { return url_; }

 private:
  OtaService(Options options, Deps deps);
  StatusOr<Output> Phase2(const dep::DeviceSignedContent& request,
                          const OtaDeviceAttributes& attributes);
  StatusOr<Output> Phase3(const dep::DeviceSignedContent& request,
                          const OtaDeviceAttributes& attributes,
                          std::optional<EnrollIdentity> identity);
  // Signs `plist` with the profile signer when there is one.
  StatusOr<Output> Finish(std::string plist, Output out);
  bool IssuedByCustos(X509* cert) const;

  Options options_;
  Deps deps_;
  std::string url_;
};

}  // namespace custos::mdm

#endif  // CUSTOS_MDM_OTA_H_
