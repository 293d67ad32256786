// Certificate signing requests: PKCS#10 (RFC 2986), as SCEP (RFC 8894 section 3.3.1) and ACME
// (RFC 8555 section 7.4) carry them. Parsing, signature verification, and the facts the CA needs:
// subject, SANs (from the extensionRequest attribute, RFC 2985 section 5.4.2), public key, and the
// challengePassword attribute (RFC 2985 section 5.4.1) SCEP authorises with.
// Building is here too, for tests, benchmarks and custos' own SCEP client.
#ifndef CUSTOS_PKI_CSR_H_
#define CUSTOS_PKI_CSR_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/openssl_util.h"
#include "base/status.h"
#include "pki/x509.h"

namespace custos {

struct Csr {
  X509NamePtr subject_name;  // a copy of the request's subject
  std::string subject;       // RFC 2253
  std::vector<San> sans;
  EvpPkeyPtr public_key;
  std::string spki_der;  // DER SubjectPublicKeyInfo (IssueRequest::spki_der takes it as-is)
  std::string key_type;  // KeyDescription()
  // The challengePassword attribute, when present. A secret: compare it in constant time and
  // never log it.
  std::optional<std::string> challenge_password;
  // Whether the request's self-signature verifies with its own public key.
  bool signature_valid = false;
  std::string der;
};

// Parses a PKCS#10 request from DER or PEM ("CERTIFICATE REQUEST") and checks its signature.
// INVALID_ARGUMENT when it is malformed or carries no usable public key. A request whose
// signature does not verify still parses, with signature_valid = false; use ParseAndVerifyCsr
// to refuse it.
StatusOr<Csr> ParseCsr(std::string_view der_or_pem);
// ParseCsr, and INVALID_ARGUMENT "CSR signature does not verify" unless signature_valid.
StatusOr<Csr> ParseAndVerifyCsr(std::string_view der_or_pem);

// The two ways ParseCsr takes, apart for tests and the differential fuzzer. ParseCsrFast reads the
// common DER shapes (EC P-256/P-384/P-521 key with ECDSA, RSA key with PKCS#1 v1.5; SHA-256/384/
// 512) without OpenSSL 3.0's per-key decoder chain and declines (nullopt) everything else,
// malformed input included. ParseCsrWithOpenSsl is d2i_X509_REQ and takes any request. Where the
// fast path accepts, both give the same Csr.
namespace csr_internal {
std::optional<Csr> ParseCsrFast(std::string_view der);
StatusOr<Csr> ParseCsrWithOpenSsl(std::string_view der_or_pem);
}  // namespace csr_internal

struct CsrTemplate {
  std::vector<RdnEntry> subject;
  std::vector<San> sans;
  std::string challenge_password;  // "" = no attribute
};

// Builds a PKCS#10 request signed by `key` (SHA-256; SHA-384 for P-384). Returns DER.
StatusOr<std::string> BuildCsrDer(const CsrTemplate& tmpl, EVP_PKEY* key);

}  // namespace custos

#endif  // CUSTOS_PKI_CSR_H_
