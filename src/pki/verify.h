// Certificate path validation (RFC 5280 section 6) on OpenSSL's X509_verify_cert, shaped for
// custos: an injectable verification time (or none), no X.509 purpose unless asked (Apple's
// attestation and device chains carry none of the usual EKUs), explicit trust roots and untrusted
// intermediates, and every problem collected as a finding with its depth (like BoringSSL's
// CertErrors) instead of stopping at the first, so an administrator sees why a certificate was
// refused.
#ifndef CUSTOS_PKI_VERIFY_H_
#define CUSTOS_PKI_VERIFY_H_

#include <optional>
#include <string>
#include <vector>

#include "base/openssl_util.h"
#include "base/status.h"
#include "base/time.h"

namespace custos {

struct CertFinding {
  int depth = 0;          // 0 = the leaf, 1 = its issuer, ...
  int code = 0;           // OpenSSL X509_V_ERR_*
  std::string reason;     // X509_verify_cert_error_string, e.g. "certificate has expired"
  std::string subject;    // RFC 2253 subject of the certificate at `depth` ("" if unknown)

  std::string ToString() const;  // "depth 0 (CN=x): certificate has expired"
};

struct VerifyOptions {
  std::vector<X509*> trusted;    // trust anchors (not owned); at least one
  std::vector<X509*> untrusted;  // intermediates that may complete the path (not owned)
  std::optional<Time> at;        // verification time; absent = the current system time
  bool check_time = true;        // false: ignore notBefore/notAfter everywhere
  // An X.509 purpose name as OpenSSL knows it ("sslclient", "sslserver", "smimesign", ...);
  // "" = no purpose check.
  std::string purpose;
  // Accept a path ending at a trusted non-self-signed certificate (X509_V_FLAG_PARTIAL_CHAIN).
  bool partial_chain = false;
  int max_depth = 10;
};

struct VerifyResult {
  bool ok = false;
  std::vector<CertFinding> findings;  // empty iff ok
  std::vector<X509Ptr> chain;         // the path OpenSSL built, leaf first (even on failure)

  // "ok", or the findings joined with "; ".
  std::string Summary() const;
  // OK, or PERMISSION_DENIED "certificate not trusted: <Summary>".
  Status ToStatus() const;
};

// Verifies `leaf` against `options`. Never fails outright: a malformed setup (no leaf, no trust
// anchor) comes back as a finding at depth 0.
VerifyResult VerifyCertificate(X509* leaf, const VerifyOptions& options);

}  // namespace custos

#endif  // CUSTOS_PKI_VERIFY_H_
