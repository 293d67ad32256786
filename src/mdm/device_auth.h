// Device authentication for every MDM request (check-in and command endpoints): which identity
// certificate the device presented, and whether custos' CA issued it and it is unrevoked.
//
// Three ways a device's identity reaches custos, tried in this order:
//   1. the TLS client certificate of custos' own TLS listener (Request::client_cert_chain);
//   2. a header set by a TLS-terminating proxy, believed only when Request::from_trusted_proxy:
//      RFC 9440 `Client-Cert` (":BASE64DER:"), or nginx's `$ssl_client_escaped_cert` (URL-escaped
//      PEM) in the header named by configuration (default `X-Client-Cert`);
//   3. `Mdm-Signature`: base64 of a detached CMS SignedData over the request body, signed by the
//      identity key with the certificate included (Apple's SignMessage). Real devices send BER
//      with indefinite lengths and SHA-1 digests: both verify.
// The certificate must verify with Authority::VerifyIssued (root and every still-trusted issuing
// certificate, recorded, unrevoked). Which enrollment the certificate belongs to is decided by the
// MDM service (association at Authenticate, renewals), not here.
//
// Errors are INVALID_ARGUMENT (malformed header or signature) or PERMISSION_DENIED (no identity,
// bad signature, foreign CA, revoked, unknown), each with a reason fit for the log; the HTTP
// layer answers 400 for both (never 401: it can make devices unenroll).
#ifndef CUSTOS_MDM_DEVICE_AUTH_H_
#define CUSTOS_MDM_DEVICE_AUTH_H_

#include <memory>
#include <string>
#include <string_view>

#include "base/openssl_util.h"
#include "base/status.h"
#include "base/time.h"
#include "ca/authority.h"
#include "http/request.h"
#include "storage/storage.h"

namespace custos::mdm {

struct DeviceAuthOptions {
  bool allow_tls_client_cert = true;
  bool allow_proxy_header = true;
  bool allow_mdm_signature = true;
  std::string proxy_header = "X-Client-Cert";  // nginx $ssl_client_escaped_cert (besides Client-Cert)
  // A positive Authority::VerifyIssued verdict is reused for this long per certificate (keyed by
  // its SHA-256), so a polling device costs one CMS verification and no storage read. A revocation
  // therefore takes effect within this time; 0 disables the cache. Refusals are never cached.
  Duration verdict_cache_ttl{5};
};

enum class IdentitySource { kTlsClientCert, kProxyHeader, kMdmSignature };
std::string_view IdentitySourceName(IdentitySource source);  // "tls", "proxy-header", "mdm-signature"

struct DeviceIdentity {
  X509Ptr certificate;
  CertificateRecord record;  // custos' record of it (serial_hex, cert_sha256, renewal_of, ...)
  IdentitySource source = IdentitySource::kMdmSignature;
};

class DeviceAuthenticator {
 public:
  DeviceAuthenticator(DeviceAuthOptions options, Authority* authority, Clock* clock);
  ~DeviceAuthenticator();
  DeviceAuthenticator(const DeviceAuthenticator&) = delete;
  DeviceAuthenticator& operator=(const DeviceAuthenticator&) = delete;

  // The verified identity of the device that sent `request` (see the header comment).
  StatusOr<DeviceIdentity> Authenticate(const http::Request& request) const;

 private:
  struct VerdictCache;  // device_auth.cc
  // `der_sha256`: the certificate's SHA-256 when the caller has it (32 bytes), else "".
  StatusOr<CertificateRecord> VerifyCached(X509* cert, std::string_view der_sha256) const;

  DeviceAuthOptions options_;
  Authority* authority_;
  Clock* clock_;
  std::unique_ptr<VerdictCache> cache_;
};

// The pieces, for `custos inspect mdm-signature` and tests.
// Verifies `header` (the Mdm-Signature value, base64) as a detached CMS signature over `body` and
// returns the signer certificate; the digest algorithm's name goes to `digest` when given.
// Does not judge the certificate's chain.
StatusOr<X509Ptr> VerifyMdmSignature(std::string_view header, std::string_view body,
                                     std::string* digest = nullptr);
// Parses an RFC 9440 Client-Cert value (":BASE64:") or a URL-escaped PEM certificate.
StatusOr<X509Ptr> ParseProxyCertificateHeader(std::string_view value);

}  // namespace custos::mdm

#endif  // CUSTOS_MDM_DEVICE_AUTH_H_
