// The MDM enrollment profile (issue 4 "Enrollment profile", issue 5 "Enrollment with an attested
// identity"): the .mobileconfig a device installs to enroll, served at GET /mdm/enroll and printed
// by `custos enroll profile`.
//
// Follows Apple's Device Management profile reference (apple-device-management/mdm/profiles/):
// TopLevel.yaml (PayloadType "Configuration"), com.apple.mdm.yaml, com.apple.security.scep.yaml,
// com.apple.security.acme.yaml and com.apple.security.root.yaml, and Apple's "Configuration
// Profile Reference" on signing: a signed profile is a CMS SignedData (RFC 5652) whose
// encapsulated content is the XML plist, carrying the signer's chain.
//
// A profile holds, in this order:
//   1. the identity payload: com.apple.security.scep (URL, a fresh one-time Challenge per profile,
//      RSA 2048, Key Usage 5 = digitalSignature|keyEncipherment, Subject with a device variable)
//      or com.apple.security.acme (DirectoryURL, a fresh one-time ClientIdentifier, ECSECPrimeRandom
//      384, HardwareBound, Attest, Subject);
//   2. the com.apple.mdm payload (ServerURL BASE/mdm/connect, CheckInURL BASE/mdm/checkin, Topic,
//      IdentityCertificateUUID = the identity payload's PayloadUUID, SignMessage, AccessRights,
//      CheckOutWhenRemoved, ServerCapabilities per-user-connections and bootstraptoken);
//   3. custos' root CA as com.apple.security.root, when the device needs it to trust the server.
//
// Each download spends nothing but creates one secret (the SCEP challenge or ACME client
// identifier), valid once, so a leaked profile is worth at most one identity.
//
// Access to the profile may require a one-time enrollment token (`custos enroll token`) or HTTP
// Basic credentials (enroll.* configuration). Tokens are kept as salted digests in the SCEP
// one-time-secret table (ScepStore challenges, with a marker in bound_to and a domain-separated
// digest): a token is exactly as powerful as the SCEP challenge the profile it unlocks contains.
#ifndef CUSTOS_MDM_PROFILE_H_
#define CUSTOS_MDM_PROFILE_H_

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/config.h"
#include "base/openssl_util.h"
#include "base/random.h"
#include "base/status.h"
#include "base/time.h"
#include "ca/authority.h"
#include "mdm/plist_util.h"
#include "storage/storage.h"

namespace custos::scep {
class ScepService;
}

namespace custos::mdm {

// The MIME type Apple devices install profiles from.
inline constexpr std::string_view kProfileContentType = "application/x-apple-aspen-config";

enum class EnrollIdentity { kScep, kAcme };

// "scep" / "acme" (as in enroll.default_identity and ?identity=). INVALID_ARGUMENT otherwise.
StatusOr<EnrollIdentity> ParseEnrollIdentity(std::string_view name);
std::string_view EnrollIdentityName(EnrollIdentity identity);

// Creates one-time SCEP challenges for profiles.
class ChallengeSource {
 public:
  virtual ~ChallengeSource() = default;
  // A new challenge, valid once at the SCEP endpoint. Errors are the store's.
  virtual StatusOr<std::string> NewChallenge() = 0;
};

// Creates one-time ACME ClientIdentifiers (the ACME service implements it; server/ wires it).
class ClientIdentifierSource {
 public:
  virtual ~ClientIdentifierSource() = default;
  // A new ClientIdentifier the ACME server accepts once, reserved for the device with serial
  // number or UDID `bound_to` when not empty (the attestation must then name that device).
  virtual StatusOr<std::string> NewClientIdentifier(std::string_view bound_to) = 0;
};

// A ClientIdentifierSource over a function (e.g. AcmeService::NewClientIdentifier).
class FunctionClientIdentifierSource : public ClientIdentifierSource {
 public:
  explicit FunctionClientIdentifierSource(std::function<StatusOr<std::string>(std::string_view)> fn)
      : fn_(std::move(fn)) {}
  StatusOr<std::string> NewClientIdentifier(std::string_view bound_to) override {
    return fn_(bound_to);
  }

 private:
  std::function<StatusOr<std::string>(std::string_view)> fn_;
};

// A device that proved who it is while fetching its profile (Apple Business Manager enrollment:
// a MachineInfo plist CMS-signed by the device's Apple identity).
struct EnrollingDevice {
  std::string udid;
  std::string serial;
  std::string product;     // MachineInfo PRODUCT, e.g. "iPhone15,2" (issue 7 policy)
  std::string os_version;  // MachineInfo OS_VERSION, e.g. "17.4" ("" when absent)
};

// The enrollment policy's say on an ABM device's identity (issue 7; src/policy decides,
// server.cc wires it).
class EnrollmentIdentityPolicy {
 public:
  virtual ~EnrollmentIdentityPolicy() = default;
  // The identity `device` must get, or nullopt to keep the request's / the configured default.
  // `reason` receives why, for the log. Errors fail the profile request.
  virtual StatusOr<std::optional<EnrollIdentity>> IdentityFor(const EnrollingDevice& device,
                                                              std::string* reason) = 0;
};

// Verifies the signed MachineInfo body a DEP device POSTs to the enrollment URL (dep/ implements
// it with dep::MachineInfoVerifier; server/ wires it).
class MachineInfoAuthenticator {
 public:
  virtual ~MachineInfoAuthenticator() = default;
  // The device, or INVALID_ARGUMENT (not a signed MachineInfo) / PERMISSION_DENIED (signature,
  // chain or policy refused).
  virtual StatusOr<EnrollingDevice> Authenticate(std::string_view body) = 0;
};

// A MachineInfoAuthenticator over a function.
class FunctionMachineInfoAuthenticator : public MachineInfoAuthenticator {
 public:
  explicit FunctionMachineInfoAuthenticator(
      std::function<StatusOr<EnrollingDevice>(std::string_view)> fn)
      : fn_(std::move(fn)) {}
  StatusOr<EnrollingDevice> Authenticate(std::string_view body) override { return fn_(body); }

 private:
  std::function<StatusOr<EnrollingDevice>(std::string_view)> fn_;
};

// ChallengeSource over ScepService::NewChallenge (default TTL, not bound to a device).
class ScepChallengeSource : public ChallengeSource {
 public:
  explicit ScepChallengeSource(scep::ScepService* service) : service_(service) {}
  StatusOr<std::string> NewChallenge() override;

 private:
  scep::ScepService* service_;
};

// What a profile says besides its one-time secret and its random PayloadUUIDs.
struct ProfileContent {
  std::string identifier;     // top-level PayloadIdentifier; payloads append ".scep", ".mdm", ...
  std::string organization;   // PayloadOrganization, also the identity subject's O
  std::string display_name;   // top-level PayloadDisplayName
  std::string scep_url;       // SCEP payload URL
  std::string acme_directory_url;  // ACME payload DirectoryURL
  std::string server_url;     // MDM ServerURL
  std::string checkin_url;    // MDM CheckInURL
  std::string topic;          // MDM Topic (the push certificate's subject UID)
  std::string subject_common_name;  // identity subject CN (may hold a device variable)
  bool sign_message = true;
  int64_t access_rights = 8191;
  bool use_development_apns = false;
  std::string root_der;       // custos' root as DER; "" = no root payload
};

// A random version-4 UUID (RFC 9562) in upper case, as PayloadUUIDs are written.
std::string NewUuid(Random* random);
// Sets the keys every payload carries (CommonPayloadKeys.yaml): PayloadType, PayloadVersion 1,
// PayloadIdentifier, PayloadUUID, PayloadDisplayName and, when not empty, PayloadOrganization.
// Errors are DictSetString's.
Status SetPayloadHeader(plist_t dict, std::string_view type, std::string_view identifier,
                        std::string_view uuid, std::string_view display_name,
                        std::string_view organization);

// Builds the XML plist of an enrollment profile with `identity` as the identity payload, whose
// one-time secret is `secret` (the SCEP Challenge or the ACME ClientIdentifier). PayloadUUIDs are
// random (from `random`). INVALID_ARGUMENT when a field is not usable plist text or a required one
// (URLs, topic, identifier, secret) is empty.
StatusOr<std::string> BuildEnrollmentProfile(const ProfileContent& content,
                                             EnrollIdentity identity, std::string_view secret,
                                             Random* random);

// The profile-signing identity: key, certificate and the certificates to carry with it.
struct ProfileSigner {
  EvpPkeyPtr key;
  X509Ptr cert;
  std::vector<X509Ptr> chain;  // issuing CA(s) then root, or what the configured PEM file holds
};

// Wraps `plist` in an attached CMS SignedData (SHA-256, signer certificate and chain included),
// DER. INTERNAL when OpenSSL fails to sign.
StatusOr<std::string> SignProfile(std::string_view plist, const ProfileSigner& signer);

// The configured signer (enroll.signing_cert_file / signing_key_file, key decrypted with
// `passphrase` when encrypted), else the one custos issued itself from `ca`, kept in `data_dir`
// as profile-signing.crt / profile-signing.key (the key encrypted with `passphrase` when there is
// one) and reused while it verifies against the CA and has more than 30 days left; otherwise a new
// one is issued (RSA 2048, digitalSignature, EKU emailProtection so S/MIME verifiers accept it)
// and stored. NOT_FOUND / INVALID_ARGUMENT / PERMISSION_DENIED for unreadable configured files;
// INTERNAL when the data folder cannot be written.
StatusOr<ProfileSigner> LoadOrIssueProfileSigner(const EnrollConfig& config,
                                                 std::string_view organization,
                                                 const std::string& data_dir,
                                                 std::string_view passphrase, Authority* ca,
                                                 Clock* clock);

// True when devices should get custos' root in the profile under enroll.include_root = auto: the
// public URL is plain http, or the TLS certificate (tls.cert_file) does not verify against the
// system's trust store. An https URL without tls.cert_file (a proxy terminates TLS) is assumed to
// be publicly trusted.
bool RootPayloadNeeded(const Config& config, std::string_view public_url);

// Credentials a profile request presented.
struct EnrollCredentials {
  std::optional<std::string> token;          // ?token=
  std::optional<std::string> authorization;  // the Authorization header
};

// Everything GET /mdm/enroll and `custos enroll profile` need.
class ProfileService {
 public:
  struct Deps {
    Authority* ca = nullptr;         // required
    Storage* storage = nullptr;      // required: push topics, enrollment tokens
    Clock* clock = nullptr;          // required
    Random* random = nullptr;        // required
    ChallengeSource* challenges = nullptr;  // required for SCEP profiles
    ClientIdentifierSource* client_identifiers = nullptr;  // null: ACME profiles are unavailable
    // Issue 7: decides SCEP or attested ACME for devices that proved themselves (MachineInfo);
    // null = the request's or the configured identity, as before.
    EnrollmentIdentityPolicy* identity_policy = nullptr;
  };
  struct Request {
    std::optional<EnrollIdentity> identity;  // nullopt = enroll.default_identity
    bool sign = true;                        // also requires enroll.sign
    // The device the profile is for, when it proved its identity (DEP MachineInfo): an ACME
    // ClientIdentifier is then reserved for its serial number. (SCEP challenges stay unbound:
    // the SCEP CSR's subject is not guaranteed to carry the serial or UDID.)
    std::optional<EnrollingDevice> device;
  };
  struct Output {
    std::string body;     // DER SignedData, or the XML plist when unsigned
    bool is_signed = false;
    EnrollIdentity identity = EnrollIdentity::kScep;
    std::string policy_reason;  // why the identity policy chose `identity` ("" = not consulted)
  };

  // `public_url` is the base URL devices reach custos at (no trailing slash), e.g. the bound one.
  // Loads or issues the profile signer when signing is enabled (errors as
  // LoadOrIssueProfileSigner, prefixed "enroll: ").
  static StatusOr<std::unique_ptr<ProfileService>> Create(const Config& config,
                                                          std::string public_url, Deps deps);

  // A new profile with a new one-time secret. FAILED_PRECONDITION when no push topic is known
  // (no push certificate installed and no enroll.topic; or several certificates and no
  // enroll.topic), or an ACME profile is asked for and no ACME service is wired; the sources'
  // errors otherwise.
  StatusOr<Output> Generate(const Request& request);

  // The push topic a profile gets now (see Generate for the errors).
  StatusOr<std::string> Topic();

  // Access control of GET /mdm/enroll. OK when nothing is required, or when the Basic credentials
  // match (constant time) and, with enroll.require_token, the token is known, unexpired and
  // unspent (it is spent here). UNAUTHENTICATED when Basic credentials are missing or wrong;
  // PERMISSION_DENIED when the token is missing, unknown, expired or spent.
  Status Authorize(const EnrollCredentials& credentials);
  // True when Authorize may ask for HTTP Basic credentials (for a WWW-Authenticate header).
  bool UsesBasicAuth() const { return !config_.basic_password.empty(); }

  // A new one-time enrollment token valid for `ttl` (default enroll.token_ttl).
  StatusOr<std::string> NewToken(std::optional<Duration> ttl = std::nullopt);

  // The signer in use (for tests and `custos enroll signer`); nullptr when signing is off.
  std::shared_ptr<const ProfileSigner> signer() const;
  const ProfileContent& content() const { return content_; }

 private:
  ProfileService(const Config& config, ProfileContent content, Deps deps);
  StatusOr<std::shared_ptr<const ProfileSigner>> CurrentSigner();

  EnrollConfig config_;
  std::string data_dir_;
  std::string passphrase_;
  std::string default_organization_;
  ProfileContent content_;
  Deps deps_;
  mutable std::mutex mu_;
  std::shared_ptr<const ProfileSigner> signer_;  // guarded by mu_
};

}  // namespace custos::mdm

#endif  // CUSTOS_MDM_PROFILE_H_
