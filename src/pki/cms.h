// CMS / PKCS#7 helpers (RFC 5652, RFC 2315) on OpenSSL 3's CMS and PKCS7 APIs: the one place that
// builds and takes apart SignedData, EnvelopedData and certs-only ("degenerate") PKCS#7 for every
// protocol of custos:
//   - SCEP (RFC 8894): PKIOperation / CertRep are SignedData with SCEP authenticated attributes
//     around an EnvelopedData; GetCACert answers a certs-only PKCS#7.
//   - MDM `Mdm-Signature`: a detached SignedData, BER with indefinite lengths, often SHA-1.
//   - Profile signing and the DEP token exchange (S/MIME EnvelopedData).
//
// Trust is NOT decided here: VerifySignedData checks that the signature was made by the key of
// the signer certificate embedded in the message (what RFC 8894 section 2.3 needs for self-signed
// SCEP requesters) and never builds or checks a chain. Callers that need a chain verify the
// returned signer certificate themselves (ca/ or pki/ verification).
//
// All inputs may be DER or BER. Every failure on untrusted input is INVALID_ARGUMENT with the
// drained OpenSSL errors in the message; failures with our own keys are INTERNAL.
#ifndef CUSTOS_PKI_CMS_H_
#define CUSTOS_PKI_CMS_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/openssl_util.h"
#include "base/status.h"
#include "base/time.h"

namespace custos {

// Well-known OIDs.
inline constexpr std::string_view kOidData = "1.2.840.113549.1.7.1";
inline constexpr std::string_view kOidSignedData = "1.2.840.113549.1.7.2";
inline constexpr std::string_view kOidEnvelopedData = "1.2.840.113549.1.7.3";

// One signed (authenticated) attribute with a single value.
//   type: the ASN.1 universal tag of the value (V_ASN1_PRINTABLESTRING, V_ASN1_OCTET_STRING, ...).
//   value: for string types the string's content bytes; for any other type (OIDs, times,
//          sequences) the DER of the value.
struct CmsAttribute {
  std::string oid;  // dotted
  int type = 0;
  std::string value;
};

// A SignedData taken apart. Only the first SignerInfo is described (custos never sees more).
struct ParsedSignedData {
  CmsPtr cms;                          // the parsed message (for VerifySignedData)
  std::string content_type;            // eContentType, dotted OID
  std::optional<std::string> content;  // the encapsulated content; nullopt when detached/absent
  std::vector<X509Ptr> certificates;   // every certificate carried in the message
  int signer_count = 0;
  X509Ptr signer;                      // the embedded certificate matching the SignerInfo; may be null
  std::string digest_algorithm;        // "sha1", "sha256", "sha512", ... or the dotted OID
  std::string signature_algorithm;     // "rsaEncryption", "sha256WithRSAEncryption", ... or OID
  bool has_signed_attributes = false;
  std::vector<CmsAttribute> signed_attributes;

  // The first signed attribute with `oid`, or nullptr.
  const CmsAttribute* FindAttribute(std::string_view oid) const;
};

// Parses a ContentInfo holding SignedData (DER or BER, definite or indefinite lengths).
// INVALID_ARGUMENT: not decodable, not SignedData, or no SignerInfo. Never verifies anything.
StatusOr<ParsedSignedData> ParseSignedData(std::string_view data);

// Verifies the (first) signature of `parsed` with the public key of its embedded signer
// certificate, over the encapsulated content, or over `detached_content` when the message is
// detached (an empty eContent counts as detached). Checks the messageDigest attribute when signed
// attributes are present. No chain, time or key-usage checks (see the file comment).
// INVALID_ARGUMENT when no signer certificate is embedded or the signature does not verify.
Status VerifySignedData(const ParsedSignedData& parsed,
                        std::optional<std::string_view> detached_content = std::nullopt);

// What to put in the SignerInfo's signatureAlgorithm field. The signature value is the same
// (PKCS#1 v1.5 over the digest); only the identifier differs. Some SCEP clients only accept
// plain rsaEncryption (1.2.840.113549.1.1.1) there (see DESIGN.md).
enum class CmsSignatureOid { kLibraryDefault, kRsaEncryption, kDigestWithRsa };

struct CmsSignOptions {
  EVP_PKEY* key = nullptr;  // signer private key (required)
  X509* cert = nullptr;     // signer certificate (required); included unless include_signer_cert=false
  std::vector<X509*> chain;  // extra certificates to carry (e.g. the CA chain)
  std::string digest = "sha256";  // "sha1" | "sha256" | "sha384" | "sha512"
  std::vector<CmsAttribute> attributes;  // extra signed attributes (contentType/messageDigest are automatic)
  std::optional<Time> signing_time;  // signingTime value; unset = now (OpenSSL adds it)
  CmsSignatureOid signature_oid = CmsSignatureOid::kLibraryDefault;
  bool detached = false;            // omit the content (eContent absent)
  bool include_signer_cert = true;
  std::string content_type;  // eContentType, dotted; "" = id-data
};

// Builds a DER SignedData over `content` with one signer. INVALID_ARGUMENT for unknown digests,
// bad OIDs or a missing key/cert; INTERNAL when OpenSSL fails to sign.
StatusOr<std::string> SignCms(std::string_view content, const CmsSignOptions& options);

// Content-encryption algorithms accepted for EnvelopedData: "AES-128-CBC", "AES-192-CBC",
// "AES-256-CBC", "DES-EDE3-CBC", and "DES-CBC" (needs LoadLegacyProvider() first).

// Encrypts `content` to `recipient` (RSA key transport, PKCS#1 v1.5, recipient identified by
// issuer and serial number) as a DER ContentInfo holding EnvelopedData.
// INVALID_ARGUMENT for an unknown cipher; FAILED_PRECONDITION when the cipher is not available
// (e.g. DES-CBC without the legacy provider).
StatusOr<std::string> EncryptCms(std::string_view content, X509* recipient,
                                 std::string_view cipher);

// The cleartext fields of an EnvelopedData.
struct EnvelopeInfo {
  std::string content_encryption;  // "AES-256-CBC", "DES-EDE3-CBC", ... or the dotted OID
  std::string content_encryption_oid;
  struct Recipient {
    std::string issuer;      // RFC 2253, "" when identified by subjectKeyIdentifier
    std::string serial_hex;  // lowercase hex
    std::string key_encryption;  // "rsaEncryption", ...
  };
  std::vector<Recipient> recipients;
};

// Reads the cleartext of a ContentInfo holding EnvelopedData (DER/BER) without decrypting.
StatusOr<EnvelopeInfo> InspectEnvelopedData(std::string_view data);

// Decrypts an EnvelopedData addressed to `cert` with its private key `key`.
// INVALID_ARGUMENT: not EnvelopedData, no RecipientInfo for `cert`, or decryption fails (wrong
// key, bad padding, unavailable cipher).
StatusOr<std::string> DecryptCms(std::string_view data, EVP_PKEY* key, X509* cert);

// A certs-only ("degenerate") PKCS#7 SignedData: no content, no signers, `certs` in order, and
// `crls` (SCEP GetCRL replies carry a CRL this way). DER.
StatusOr<std::string> BuildCertsOnly(const std::vector<X509*>& certs,
                                     const std::vector<X509_CRL*>& crls = {});
// The CRLs of a certs-only SignedData. INVALID_ARGUMENT when not SignedData.
StatusOr<std::vector<X509CrlPtr>> ParseCrlsOnly(std::string_view data);
// The certificates of a certs-only (or any) SignedData. INVALID_ARGUMENT when not SignedData.
StatusOr<std::vector<X509Ptr>> ParseCertsOnly(std::string_view data);

// "sha256" -> EVP_MD (fetched). INVALID_ARGUMENT for anything unknown.
StatusOr<EvpMdPtr> FetchDigest(std::string_view name);
// Dotted OID -> text for display: the short/long name OpenSSL knows, else the dotted form.
std::string OidDisplayName(const ASN1_OBJECT* obj);
// ASN1_OBJECT -> dotted form.
std::string OidToDotted(const ASN1_OBJECT* obj);

}  // namespace custos

#endif  // CUSTOS_PKI_CMS_H_
