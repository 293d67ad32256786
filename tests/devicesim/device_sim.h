// A simulated Apple device for custos' end-to-end tests and benchmarks (test-only, never linked
// into custos). It does what an iPhone or Mac does with an MDM enrollment profile, following
// Apple's Device Management documentation ("Check-in", "Commands and queries",
// "MDM payload" SignMessage) and RFC 8894 for the identity:
//   1. GET /mdm/enroll: the .mobileconfig (a CMS SignedData whose content is the plist, or the
//      plain plist when unsigned); reads the SCEP payload (URL, Challenge, Subject) and the MDM
//      payload (ServerURL, CheckInURL, Topic, SignMessage);
//   2. enrols over SCEP with custos' own SCEP client (src/scep/client.h): GetCACert, PKCSReq with
//      the profile's challenge, CertRep; renews with RenewalReq signed by the current identity;
//   3. check-ins (Authenticate, TokenUpdate, CheckOut) to CheckInURL and command results (Idle,
//      Acknowledged, Error, NotNow) to ServerURL, as XML plists, authenticated by its identity
//      in one of three ways: Mdm-Signature (detached CMS over the body), TLS client certificate
//      (custos' own TLS listener), or an RFC 9440 Client-Cert header as a TLS-terminating proxy
//      would add it (custos must list 127.0.0.1 in http.trusted_proxies).
// HTTP is libcurl (one kept-alive connection per device). Not thread-safe: one thread per Device.
#ifndef CUSTOS_TESTS_DEVICESIM_DEVICE_SIM_H_
#define CUSTOS_TESTS_DEVICESIM_DEVICE_SIM_H_

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "attest/testdata/fake_attestation.h"
#include "base/openssl_util.h"
#include "base/status.h"

namespace custos::devicesim {

enum class AuthMode { kMdmSignature, kMutualTls, kProxyHeader };
std::string_view AuthModeName(AuthMode mode);  // "mdm-signature", "mtls", "proxy-header"

struct HttpResult {
  long status = 0;
  std::string body;
  std::string content_type;
};

// A blocking HTTP/1.1 client over one kept-alive libcurl handle.
class HttpClient {
 public:
  HttpClient();
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // TLS: trust `ca_pem` for the server (empty: no https expected); present `cert_pem`/`key_pem`
  // as the client certificate (empty: none). Applies to the following requests.
  void SetTls(std::string ca_pem, std::string cert_pem, std::string key_pem);

  // `headers` are "Name: value" lines. UNAVAILABLE when the transfer fails.
  StatusOr<HttpResult> Request(std::string_view method, const std::string& url,
                               std::string_view body = {},
                               const std::vector<std::string>& headers = {});

 private:
  void* curl_;  // CURL*
  std::string ca_pem_, cert_pem_, key_pem_;
};

// What the simulator reads from an enrollment profile.
struct EnrollmentProfile {
  bool signed_profile = false;
  std::string plist;  // the profile's plist (the CMS content when signed)
  std::string scep_url;
  std::string challenge;
  std::vector<std::pair<std::string, std::string>> subject;  // SCEP Subject RDNs, as given
  int key_size = 2048;
  std::string server_url;
  std::string checkin_url;  // ServerURL when the profile has none
  std::string topic;
  bool sign_message = false;
  // The identity payload: "scep", or "acme" (com.apple.security.acme, device_sim_acme.cc).
  std::string identity = "scep";
  std::string acme_directory_url;
  std::string acme_client_identifier;
  std::string acme_key_type;  // "ECSECPrimeRandom"
  int acme_key_size = 0;      // 384
  bool acme_hardware_bound = false;
  bool acme_attest = false;
};

// Parses a downloaded .mobileconfig (CMS SignedData or plain plist). INVALID_ARGUMENT when it is
// neither or lacks an identity payload (SCEP or ACME) or the MDM payload.
StatusOr<EnrollmentProfile> ParseEnrollmentProfile(std::string_view body);
// Reads the com.apple.security.acme payload of a profile plist into `profile` (identity "acme");
// false when there is none. INVALID_ARGUMENT for a malformed plist or ACME payload.
// (device_sim_acme.cc)
StatusOr<bool> ReadAcmePayload(std::string_view plist, EnrollmentProfile* profile);

// How the simulated device breaks its device-attest-01 attestation (device_sim_acme.cc), so tests
// can check that custos refuses each case:
//   kNone           a correct attestation;
//   kNoAttestation  the challenge answer carries no attestation chain (attStmt without x5c);
//   kWrongRoot      the chain is made by an attestation CA custos does not trust;
//   kWrongNonce     the freshness code is not SHA-256 of the challenge token;
//   kWrongSerial    the attested serial number and UDID are another device's;
//   kOtherKey       the attestation is over another key than the one in the CSR.
enum class AttestationBreakage {
  kNone,
  kNoAttestation,
  kWrongRoot,
  kWrongNonce,
  kWrongSerial,
  kOtherKey
};
// "none", "no-attestation", "wrong-root", "wrong-nonce", "wrong-serial", "other-key".
std::string_view AttestationBreakageName(AttestationBreakage breakage);

// What Device::EnrollAcme needs besides the profile. The attestation CA is
// attest::testing::FakeAttestationCa (src/attest/testdata/fake_attestation.h): custos must trust
// its root ([acme] extra_attestation_roots).
struct AcmeEnrollOptions {
  const attest::testing::FakeAttestationCa* attestation_ca = nullptr;  // required
  AttestationBreakage breakage = AttestationBreakage::kNone;
  std::string attested_os_version = "17.4";  // the attestation's OS version property
};

// The ACME protocol steps' outcome, for tests that want to see where a refusal happened.
struct AcmeEnrollResult {
  std::string failed_step;  // "" on success, else "directory", "newAccount", "newOrder",
                            // "authz", "challenge", "finalize", "certificate"
  long http_status = 0;     // of the failed step
  std::string problem;      // the RFC 7807 problem body of the failed step
};

// A command the server sent in answer to a command-endpoint request.
struct ReceivedCommand {
  std::string command_uuid;
  std::string request_type;
  std::string plist;  // the whole response body
};

// A pre-built, signed request body (bench/mdm reuses one signed Idle per device).
struct SignedBody {
  std::string body;
  std::string signature;  // the Mdm-Signature header value (base64)
};

// What Device::InstallProfile did with a renewal profile (device_sim_renewal.cc).
struct InstallProfileOutcome {
  std::string identity;    // the profile's identity payload: "scep" or "acme"
  std::string old_serial;  // serial (hex) of the identity before
  std::string new_serial;  // serial (hex) of the new identity; "" when enrolment failed
  long http_status = 0;    // of the Acknowledged (or Error) report
};

// The Payload (the profile bytes) of an InstallProfile command. INVALID_ARGUMENT otherwise.
// (device_sim_renewal.cc)
StatusOr<std::string> InstallProfilePayload(const ReceivedCommand& command);

struct DeviceOptions {
  std::string udid;    // default: a random UUID-like string
  std::string serial;  // default: derived from the UDID
  AuthMode auth = AuthMode::kMdmSignature;
  // Where requests go: the profile's URLs are used, but their scheme://host:port prefix is
  // replaced by `base_url` when set (e.g. custos' TLS listener for mTLS).
  std::string base_url;
  std::string server_ca_pem;  // trust anchor for https (custos' CA chain)
  std::string proxy_header = "Client-Cert";  // kProxyHeader: RFC 9440 header name
  std::string signature_digest = "sha256";   // Mdm-Signature digest ("sha1" like old devices)
  int key_bits = 0;  // SCEP key size; 0 = the profile's KeySize
  // What the device says it is (Authenticate ProductName/OSVersion, MachineInfo PRODUCT/OS_VERSION).
  std::string product = "iPhone14,2";
  std::string os_version = "17.4";
};

class Device {
 public:
  explicit Device(DeviceOptions options);
  ~Device();

  const std::string& udid() const { return options_.udid; }
  const std::string& serial() const { return options_.serial; }
  const EnrollmentProfile& profile() const { return profile_; }
  AuthMode auth() const { return options_.auth; }
  void set_auth(AuthMode mode);
  // The 32-byte push token and PushMagic this device reports in TokenUpdate (token as hex).
  std::string push_token_hex() const;
  const std::string& push_magic() const { return push_magic_; }

  // 1. GET `enroll_url` and parse the profile. UNAVAILABLE / INVALID_ARGUMENT (with the status).
  Status DownloadProfile(const std::string& enroll_url, const std::vector<std::string>& headers = {});
  // Uses an already parsed profile instead.
  void UseProfile(EnrollmentProfile profile) { profile_ = std::move(profile); }

  // 2. SCEP enrolment with the profile's challenge: the identity is set on SUCCESS;
  // FAILED_PRECONDITION with the pkiStatus/failInfo otherwise.
  Status EnrollScep();
  // RenewalReq signed with the current identity, for a new key; the identity is replaced.
  Status RenewScep();

  // Apple Business Manager enrollment (device_sim_acme.cc): POSTs this device's MachineInfo
  // (UDID, SERIAL, PRODUCT, VERSION, OS_VERSION), CMS-signed (SHA-1, as devices do) by
  // `apple_key`/`apple_cert` with `chain`, to `enroll_url` and parses the profile answered.
  // INVALID_ARGUMENT with the status and body when custos does not answer 200.
  Status DownloadAbmProfile(const std::string& enroll_url, EVP_PKEY* apple_key, X509* apple_cert,
                            const std::vector<X509*>& chain = {});
  std::string MachineInfoPlist() const;
  // Attested ACME enrolment from the profile's com.apple.security.acme payload (device_sim_acme.cc),
  // as Apple's client does it (RFC 8555 + device-attest-01): a new P-384 key, an ES256 account,
  // newOrder for the permanent-identifier ClientIdentifier, the attestation over the key with
  // freshness SHA-256(token) and this device's serial/UDID (broken as options.breakage says),
  // finalize with a CSR for the key, certificate download. On success the certificate and key
  // become the MDM identity. FAILED_PRECONDITION naming the step and custos' problem otherwise
  // (details in `*result` when given); INVALID_ARGUMENT when the profile has no ACME payload.
  Status EnrollAcme(const AcmeEnrollOptions& options, AcmeEnrollResult* result = nullptr);
  // Identity renewal over MDM (device_sim_renewal.cc): installs the enrollment profile an
  // InstallProfile command carries (same MDM Topic required), enrols with its identity payload
  // (SCEP PKCSReq with its challenge, or attested ACME with `acme`), switches to the new identity
  // and answers Acknowledged with it (the reply's next command in `*next`). When enrolment fails
  // it keeps the old profile and identity, answers Error and returns the enrolment's error.
  Status InstallProfile(const ReceivedCommand& command, InstallProfileOutcome* outcome = nullptr,
                        std::optional<ReceivedCommand>* next = nullptr,
                        const AcmeEnrollOptions* acme = nullptr);

  // The identity (PEM) and its raw handles; SetIdentity() replaces it (cert-reuse tests).
  X509* certificate() const { return cert_.get(); }
  EVP_PKEY* key() const { return key_.get(); }
  std::string CertificatePem() const;
  std::string KeyPem() const;
  void SetIdentity(EVP_PKEY* key, X509* cert);  // up-refs both

  // 3. Check-ins (to CheckInURL, application/x-apple-aspen-mdm-checkin).
  StatusOr<HttpResult> Authenticate();
  StatusOr<HttpResult> TokenUpdate();
  StatusOr<HttpResult> CheckOut();

  // Command endpoint (to ServerURL, application/x-apple-aspen-mdm). The reply's command, if any,
  // is in `*command` (nullopt for an empty 200).
  StatusOr<HttpResult> Idle(std::optional<ReceivedCommand>* command = nullptr);
  StatusOr<HttpResult> Acknowledged(std::string_view command_uuid,
                                    std::optional<ReceivedCommand>* command = nullptr,
                                    const std::map<std::string, std::string>& extra = {});
  StatusOr<HttpResult> Error(std::string_view command_uuid,
                             std::optional<ReceivedCommand>* command = nullptr);
  StatusOr<HttpResult> NotNow(std::string_view command_uuid,
                              std::optional<ReceivedCommand>* command = nullptr);

  // Sends `body` with this device's authentication. `checkin` chooses URL and content type.
  StatusOr<HttpResult> Send(bool checkin, std::string_view body,
                            const std::string* signature = nullptr);

  // Message bodies (XML plists) and their signature, for tests and the benchmark.
  std::string AuthenticateBody() const;
  std::string TokenUpdateBody() const;
  std::string CheckOutBody() const;
  std::string ResultBody(std::string_view status, std::string_view command_uuid,
                         const std::map<std::string, std::string>& extra = {}) const;
  StatusOr<std::string> Sign(std::string_view body) const;  // Mdm-Signature value
  StatusOr<SignedBody> SignedIdle() const;

  // The URL the device would use: the profile's, rebased onto options.base_url when set.
  std::string CheckinUrl() const;
  std::string ServerUrl() const;

 private:
  std::string Rebase(const std::string& url) const;
  StatusOr<HttpResult> Result(std::string_view status, std::string_view command_uuid,
                              std::optional<ReceivedCommand>* command,
                              const std::map<std::string, std::string>& extra = {});
  StatusOr<HttpResult> ScepRequest(bool renewal);

  DeviceOptions options_;
  EnrollmentProfile profile_;
  EvpPkeyPtr key_;
  X509Ptr cert_;
  std::string push_token_;
  std::string push_magic_;
  std::unique_ptr<HttpClient> http_;
};

// Decodes a command-endpoint reply: nullopt for an empty body; INVALID_ARGUMENT when the body
// is not a command plist.
StatusOr<std::optional<ReceivedCommand>> ParseCommandReply(std::string_view body);

// ---- OTA enrollment through the profile service (device_sim_ota.cc; issue 7) ------------------
// Apple "Over-the-Air Profile Delivery and Configuration", phases 1-3, with a fake Apple device PKI.

// A stand-in for Apple's device PKI: a root (custos trusts it through [dep] device_ca_file =
// a file holding root_pem), an intermediate that has expired like Apple iPhone Device CA, and the
// device certificate (CN = the UDID, RSA 2048) the device signs phase 2 with.
struct FakeAppleDevicePki {
  EvpPkeyPtr root_key, ca_key, device_key;
  X509Ptr root, ca, device;
  std::string root_pem;
};
StatusOr<FakeAppleDevicePki> MakeFakeAppleDevicePki(std::string_view udid);

// What a phase-1 profile (PayloadType "Profile Service") says.
struct ProfileServicePayload {
  bool signed_profile = false;
  std::string url;        // where phases 2 and 3 go
  std::string challenge;
  std::vector<std::string> device_attributes;
};
// Parses a phase-1 profile (CMS SignedData, its signature verified, or a plain plist).
// INVALID_ARGUMENT when it is not a Profile Service payload.
StatusOr<ProfileServicePayload> ParseProfileServiceProfile(std::string_view body);

// Drives one device through OTA enrollment. The lower-level calls (AttributesPlist, PostSigned,
// Post, SignAsApple) let tests send what a real device would not.
class OtaEnrollment {
 public:
  // Both must outlive this object.
  OtaEnrollment(Device* device, const FakeAppleDevicePki* apple);
  ~OtaEnrollment();

  // Phase 1: GET `url` (e.g. BASE/mdm/ota?token=T) and parse the Profile Service payload.
  // INVALID_ARGUMENT (with the status and body) unless custos answers 200 with one.
  Status FetchProfileService(const std::string& url, const std::vector<std::string>& headers = {});
  // Phase 2: the attributes signed by the Apple device certificate; installs the identity
  // profile answered (its SCEP payload) and enrols over SCEP: the device's identity is then the
  // OTA identity. INVALID_ARGUMENT unless custos answers 200; EnrollScep's errors.
  Status Phase2();
  // Phase 3: the attributes signed by the device's current identity; decrypts the
  // EncryptedPayloadContent of the answer with it and makes the MDM enrollment profile the
  // device's profile (Device::EnrollScep / EnrollAcme, Authenticate... follow).
  Status Phase3();

  // The attribute plist the device returns: the requested DeviceAttributes and CHALLENGE.
  std::string AttributesPlist(std::string_view challenge) const;
  // Signs `content` (CMS, attached) with key/cert (+ chain) and POSTs it to the payload URL.
  StatusOr<HttpResult> PostSigned(std::string_view content, EVP_PKEY* key, X509* cert,
                                  const std::vector<X509*>& chain, std::string_view digest);
  // POSTs `body` as it is to the payload URL.
  StatusOr<HttpResult> Post(std::string_view body);
  // `content` signed by the Apple device certificate, with its intermediate, SHA-1.
  std::string SignAsApple(std::string_view content) const;

  const ProfileServicePayload& payload() const { return payload_; }
  const EnrollmentProfile& identity_profile() const { return identity_profile_; }
  const HttpResult& last_reply() const { return last_; }

 private:
  Device* device_;
  const FakeAppleDevicePki* apple_;
  std::unique_ptr<HttpClient> http_;
  ProfileServicePayload payload_;
  EnrollmentProfile identity_profile_;
  HttpResult last_;
};

// ---- DeviceInformation attestation (device_sim_attest.cc; issue 5) ----------------------------
// Answers DeviceInformation like an attestation-capable device (Apple, DeviceInformation:
// DevicePropertiesAttestation, DeviceAttestationNonce): QueryResponses for the asked Queries, and
// for DevicePropertiesAttestation a chain {leaf, intermediate} from a fake Apple-like attestation
// CA (custos must trust its root via [acme] extra_attestation_roots) whose freshness code is the
// nonce verbatim. Like a device it caches its attestation and makes a new one only for a new
// nonce and when the cached one is at least `rate_limit` old; otherwise it answers the cached one.
class DeviceAttester {
 public:
  // How the answer is broken, so tests can see custos refuse it.
  enum class Tamper {
    kNone,
    kWrongRoot,      // a fresh chain from an attestation CA custos does not trust
    kWrongSerial,    // a fresh chain attesting another serial number
    kUnknownNonce,   // a fresh chain whose freshness code is no nonce custos sent
    kNoAttestation,  // DevicePropertiesAttestation left out
  };
  // `ca` must outlive the attester.
  explicit DeviceAttester(const attest::testing::FakeAttestationCa* ca,
                          std::chrono::seconds rate_limit = std::chrono::seconds(7 * 86400));
  ~DeviceAttester();
  void set_tamper(Tamper tamper) { tamper_ = tamper; }
  void set_os_version(std::string v) { os_version_ = std::move(v); }
  int fresh_attestations() const { return fresh_count_; }  // new attestations made so far

  // The Acknowledged report answering `command` (a DeviceInformation) for `device`.
  // INVALID_ARGUMENT when the command is not a DeviceInformation command plist.
  StatusOr<std::string> AnswerBody(const Device& device, const ReceivedCommand& command);
  // Sends AnswerBody with the device's authentication; the reply's next command goes to `next`.
  StatusOr<HttpResult> Answer(Device& device, const ReceivedCommand& command,
                              std::optional<ReceivedCommand>* next = nullptr);

 private:
  const attest::testing::FakeAttestationCa* ca_;
  std::unique_ptr<attest::testing::FakeAttestationCa> other_ca_;  // kWrongRoot, made on demand
  std::chrono::seconds rate_limit_;
  Tamper tamper_ = Tamper::kNone;
  std::string os_version_ = "17.4";
  int fresh_count_ = 0;
  // The cached attestation.
  std::vector<std::string> cached_chain_;
  std::string cached_nonce_;
  std::chrono::system_clock::time_point cached_at_{};
};

}  // namespace custos::devicesim

#endif  // CUSTOS_TESTS_DEVICESIM_DEVICE_SIM_H_
