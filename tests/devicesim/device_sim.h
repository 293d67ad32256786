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

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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
};

// Parses a downloaded .mobileconfig (CMS SignedData or plain plist). INVALID_ARGUMENT when it is
// neither or lacks the SCEP or MDM payload.
StatusOr<EnrollmentProfile> ParseEnrollmentProfile(std::string_view body);

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

}  // namespace custos::devicesim

#endif  // CUSTOS_TESTS_DEVICESIM_DEVICE_SIM_H_
