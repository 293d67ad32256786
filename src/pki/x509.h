// X.509 certificates (RFC 5280) for custos: parsing, the facts custos records and shows about a
// certificate, subject alternative names including the RFC 4043 PermanentIdentifier otherName
// (Apple's ACME device-attest-01 identities), and a builder that signs new certificates.
//
// All OpenSSL 3 underneath; no I/O. Untrusted input is INVALID_ARGUMENT, never a crash.
#ifndef CUSTOS_PKI_X509_H_
#define CUSTOS_PKI_X509_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/openssl_util.h"
#include "base/status.h"
#include "base/time.h"

namespace custos {

// id-on-permanentIdentifier (RFC 4043).
inline constexpr char kPermanentIdentifierOid[] = "1.3.6.1.5.5.7.8.3";
// Extended key usages by OID (RFC 5280 section 4.2.1.12).
inline constexpr char kEkuServerAuth[] = "1.3.6.1.5.5.7.3.1";
inline constexpr char kEkuClientAuth[] = "1.3.6.1.5.5.7.3.2";
inline constexpr char kEkuEmailProtection[] = "1.3.6.1.5.5.7.3.4";

// One subject alternative name. `type` is one of
//   "dns", "email", "uri", "ip"                the value as text (IPv4 dotted, IPv6 RFC 5952),
//   "permanent_identifier"                      value = identifierValue (may be empty),
//                                               assigner = the assigner OID (may be empty),
//   "other"                                     an otherName custos does not model: value is
//                                               "<type-id OID>:<hex of the DER value>" (read-only),
//   "dirname"                                   RFC 2253 text (read-only).
struct San {
  std::string type;
  std::string value;
  std::string assigner;

  bool operator==(const San& o) const {
    return type == o.type && value == o.value && assigner == o.assigner;
  }
};

// The SANs as the JSON array storage records: [{"type": ..., "value": ...[, "assigner": ...]}].
std::string SansToJson(const std::vector<San>& sans);
// The inverse of SansToJson; INVALID_ARGUMENT on malformed JSON.
StatusOr<std::vector<San>> SansFromJson(std::string_view json);
// "dns:a.example, permanent_identifier:ABC" for one-line display.
std::string SansToText(const std::vector<San>& sans);

// ---- Parsing -----------------------------------------------------------------------------------

// One certificate from PEM (the first CERTIFICATE block) or DER. INVALID_ARGUMENT when malformed.
StatusOr<X509Ptr> ParseCertificate(std::string_view pem_or_der);
// Every certificate of a PEM bundle (in order), or the single certificate of a DER blob.
// INVALID_ARGUMENT when there is none or one is malformed.
StatusOr<std::vector<X509Ptr>> ParseCertificateChain(std::string_view pem_or_der);

std::string CertificateDer(const X509* cert);  // "" only if OpenSSL cannot encode it
std::string CertificatePem(const X509* cert);
// The PEM (RFC 7468 "CERTIFICATE", 64-column base64) of certificate DER `der`, byte for byte what
// CertificatePem gives for the parsed certificate, without parsing or re-encoding it.
std::string CertificatePemFromDer(std::string_view der);
// Concatenated PEM of `certs` in order.
std::string CertificatesPem(const std::vector<X509*>& certs);

// Lowercase hex SHA-256 of the certificate DER.
std::string CertSha256Hex(const X509* cert);
// Lowercase hex SHA-256 of the certificate's DER SubjectPublicKeyInfo.
std::string CertSpkiSha256Hex(const X509* cert);
// The serial as lowercase hex without leading zeros ("0" for zero, "-..." for a negative one).
std::string SerialHex(const ASN1_INTEGER* serial);
std::string CertSerialHex(const X509* cert);
// Normalises an operator-typed serial ("0A:1b", "0x0a1b", "0A1B") to SerialHex form.
// INVALID_ARGUMENT when it is not hex.
StatusOr<std::string> NormalizeSerialHex(std::string_view text);

// RFC 2253 text of a name ("CN=device,O=custos").
std::string NameToString(const X509_NAME* name);
std::string SubjectString(const X509* cert);
std::string IssuerString(const X509* cert);

// ASN1_TIME to Time; the epoch if it cannot be converted.
Time Asn1TimeToTime(const ASN1_TIME* t);
Time NotBefore(const X509* cert);
Time NotAfter(const X509* cert);

// Subject alternative names in certificate order. INVALID_ARGUMENT when the extension is present
// but malformed.
StatusOr<std::vector<San>> CertificateSans(const X509* cert);
// SANs from a GENERAL_NAMES (shared with CSR parsing).
std::vector<San> SansFromGeneralNames(const GENERAL_NAMES* names);

// The public key of `cert` (a new reference).
EvpPkeyPtr CertificatePublicKey(const X509* cert);

// Everything custos shows or records about a certificate.
struct CertificateInfo {
  std::string serial_hex;
  std::string subject;
  std::string issuer;
  std::vector<San> sans;
  Time not_before;
  Time not_after;
  std::string sha256_hex;
  std::string spki_sha256_hex;
  std::string key_type;  // KeyDescription()
  bool is_ca = false;
};
StatusOr<CertificateInfo> DescribeCertificate(const X509* cert);

// ---- Building ----------------------------------------------------------------------------------

// One attribute of a distinguished name: `field` is a short name ("CN", "O", "OU", "C", "L",
// "ST", "emailAddress", "serialNumber", "UID", ...) or a dotted OID; the value is UTF-8.
struct RdnEntry {
  std::string field;
  std::string value;
};
// Builds an X509_NAME with one attribute per RDN, in order. INVALID_ARGUMENT on an unknown field.
StatusOr<X509NamePtr> BuildName(const std::vector<RdnEntry>& rdns);
// The attributes of `name` in order (field as short name, or dotted OID when unnamed).
std::vector<RdnEntry> NameEntries(const X509_NAME* name);

// keyUsage bits (RFC 5280 section 4.2.1.3), OR-ed together.
enum KeyUsageBit : uint32_t {
  kKuDigitalSignature = 1u << 0,
  kKuNonRepudiation = 1u << 1,
  kKuKeyEncipherment = 1u << 2,
  kKuDataEncipherment = 1u << 3,
  kKuKeyAgreement = 1u << 4,
  kKuKeyCertSign = 1u << 5,
  kKuCrlSign = 1u << 6,
  kKuEncipherOnly = 1u << 7,
  kKuDecipherOnly = 1u << 8,
};

// An extension given as raw DER, for anything the builder does not model.
struct RawExtension {
  std::string oid;        // dotted
  bool critical = false;
  std::string der_value;  // the extnValue contents (the DER of the extension's own type)
};

struct CertificateTemplate {
  // The subject: `subject_name` (copied) when set, otherwise built from `subject`.
  std::vector<RdnEntry> subject;
  const X509_NAME* subject_name = nullptr;
  std::vector<San> sans;  // dns, email, uri, ip, permanent_identifier
  bool sans_critical = false;  // set when the subject is empty (RFC 5280 section 4.2.1.6)
  uint32_t key_usage = 0;      // 0 = no keyUsage extension; always marked critical
  std::vector<std::string> extended_key_usages;  // OIDs; empty = no EKU extension
  std::optional<bool> basic_constraints_ca;      // absent = no basicConstraints extension
  int path_length = -1;                           // for CAs; -1 = unlimited
  bool subject_key_identifier = true;
  bool authority_key_identifier = true;  // from the issuer's SKI (skipped for self-signed)
  std::vector<RawExtension> extra_extensions;
  Time not_before;
  Time not_after;
  std::string serial_hex;  // positive, at most 20 octets
};

// Builds and signs a certificate for `subject_key` (only its public half is used). With a null
// `issuer` the certificate is self-signed: issuer name = subject and `issuer_key` must be the
// private half of `subject_key`. Signs with SigningDigestFor(issuer_key) (SHA-256; SHA-384 for
// P-384). INVALID_ARGUMENT for a bad template (unknown RDN field, bad SAN, bad OID, bad serial,
// not_after before not_before); INTERNAL when signing fails.
StatusOr<X509Ptr> BuildCertificate(const CertificateTemplate& tmpl, EVP_PKEY* subject_key,
                                   const X509* issuer, EVP_PKEY* issuer_key);

// The same for a subject key given as DER SubjectPublicKeyInfo (e.g. taken from a CSR). The SPKI
// is copied into the certificate as-is after a structural ASN.1 check (INVALID_ARGUMENT when
// malformed); the key itself is not decoded, which keeps issuance cheap on OpenSSL 3 (decoding
// and re-encoding a key there costs more than an RSA-2048 signature). Key policy (algorithm, size)
// is the caller's: it decoded the key when it parsed the request.
StatusOr<X509Ptr> BuildCertificateForSpki(const CertificateTemplate& tmpl,
                                          std::string_view subject_spki_der, const X509* issuer,
                                          EVP_PKEY* issuer_key);

// Appends SANs to a GENERAL_NAMES (shared with CSR building). INVALID_ARGUMENT on a bad value.
Status AppendGeneralNames(const std::vector<San>& sans, GENERAL_NAMES* names);

// True when the signature of `cert` verifies with `issuer_key`.
bool CertificateSignedBy(const X509* cert, EVP_PKEY* issuer_key);

}  // namespace custos

#endif  // CUSTOS_PKI_X509_H_
