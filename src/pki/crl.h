// Certificate revocation lists (RFC 5280 section 5): building the CRL an issuing CA signs, with
// the CRL number and authority key identifier extensions and a reasonCode per entry, and parsing
// CRLs back. Reason names are RFC 5280's CRLReason names.
#ifndef CUSTOS_PKI_CRL_H_
#define CUSTOS_PKI_CRL_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/openssl_util.h"
#include "base/status.h"
#include "base/time.h"

namespace custos {

// RFC 5280 section 5.3.1 CRLReason codes (7 is unused).
enum CrlReason : int {
  kReasonUnspecified = 0,
  kReasonKeyCompromise = 1,
  kReasonCaCompromise = 2,
  kReasonAffiliationChanged = 3,
  kReasonSuperseded = 4,
  kReasonCessationOfOperation = 5,
  kReasonCertificateHold = 6,
  kReasonRemoveFromCrl = 8,
  kReasonPrivilegeWithdrawn = 9,
  kReasonAaCompromise = 10,
};

// "keyCompromise" -> 1, ... (case-insensitive; also accepts the number). INVALID_ARGUMENT for an
// unknown name or 7.
StatusOr<int> ParseCrlReason(std::string_view name);
// 1 -> "keyCompromise"; "unknown(N)" for codes outside RFC 5280.
std::string CrlReasonName(int reason);

struct CrlEntry {
  std::string serial_hex;
  Time revoked_at;
  int reason = kReasonUnspecified;
};

struct CrlTemplate {
  int64_t number = 1;  // cRLNumber, monotonically increasing per issuer
  Time this_update;
  Time next_update;
  std::vector<CrlEntry> entries;
};

// Builds a v2 CRL signed by `issuer_key` under `issuer`'s name, with cRLNumber and
// authorityKeyIdentifier (from the issuer's SKI). A reasonCode extension is added to entries whose
// reason is not unspecified (RFC 5280 section 5.3.1 recommends omitting it then).
StatusOr<X509CrlPtr> BuildCrl(const CrlTemplate& tmpl, const X509* issuer, EVP_PKEY* issuer_key);

struct ParsedCrl {
  X509CrlPtr crl;
  std::string issuer;  // RFC 2253
  int64_t number = -1;  // -1 when absent
  Time this_update;
  Time next_update;  // the epoch when absent
  std::vector<CrlEntry> entries;
};

// Parses a CRL from DER or PEM. INVALID_ARGUMENT when malformed.
StatusOr<ParsedCrl> ParseCrl(std::string_view der_or_pem);

// True when `crl`'s signature verifies with `issuer`'s key and names match.
bool CrlSignedBy(X509_CRL* crl, const X509* issuer);

std::string CrlDer(const X509_CRL* crl);
std::string CrlPem(const X509_CRL* crl);

}  // namespace custos

#endif  // CUSTOS_PKI_CRL_H_
