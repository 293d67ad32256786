// SCEP wire messages (RFC 8894 section 3): the pkiMessage codec in both directions.
//
// A PKIOperation request is a CMS SignedData (section 3.1) signed by the requester, carrying the
// SCEP authenticated attributes (section 3.2.1: messageType, transactionID, senderNonce) around a
// pkcsPKIEnvelope (an EnvelopedData encrypted to the CA) holding the messageData: a PKCS#10
// request (PKCSReq 19, RenewalReq 17), an IssuerAndSubject (CertPoll 20) or an
// IssuerAndSerialNumber (GetCert 21, GetCRL 22). PKCSReq signers are self-signed certificates
// whose subject changes per request (section 2.3): the signature is verified with the embedded
// certificate only; trust comes later from the challenge or, for RenewalReq, from the chain.
//
// A CertRep (3) answers with pkiStatus SUCCESS / FAILURE / PENDING, failInfo on failure, the
// echoed transactionID, recipientNonce = the request's senderNonce and a fresh senderNonce; on
// SUCCESS the envelope holds a certs-only PKCS#7 encrypted to the requester's signing certificate.
// CertReps carry rsaEncryption as SignerInfo signatureAlgorithm (some clients refuse anything else).
//
// Decoding never stops at the first problem when more can be learned safely (for diagnostics);
// the first problem found decides the failInfo (section 3.2.1.4).
#ifndef CUSTOS_SCEP_MESSAGE_H_
#define CUSTOS_SCEP_MESSAGE_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/openssl_util.h"
#include "base/status.h"
#include "base/time.h"
#include "pki/cms.h"
#include "pki/csr.h"

namespace custos::scep {

// SCEP authenticated attribute OIDs (id-VeriSign pki attributes, RFC 8894 section 3.2.1).
inline constexpr char kOidMessageType[] = "2.16.840.1.113733.1.9.2";
inline constexpr char kOidPkiStatus[] = "2.16.840.1.113733.1.9.3";
inline constexpr char kOidFailInfo[] = "2.16.840.1.113733.1.9.4";
inline constexpr char kOidSenderNonce[] = "2.16.840.1.113733.1.9.5";
inline constexpr char kOidRecipientNonce[] = "2.16.840.1.113733.1.9.6";
inline constexpr char kOidTransactionId[] = "2.16.840.1.113733.1.9.7";
inline constexpr char kOidSigningTime[] = "1.2.840.113549.1.9.5";

enum class MessageType : int {
  kCertRep = 3,
  kRenewalReq = 17,
  kPkcsReq = 19,
  kCertPoll = 20,  // GetCertInitial in older drafts
  kGetCert = 21,
  kGetCrl = 22,
};
// "PKCSReq", "RenewalReq", "CertPoll", "GetCert", "GetCRL", "CertRep"; "unknown(N)" otherwise.
std::string MessageTypeName(int type);

enum class PkiStatus : int { kSuccess = 0, kFailure = 2, kPending = 3 };
std::string PkiStatusName(PkiStatus status);  // "SUCCESS", "FAILURE", "PENDING"

enum class FailInfo : int {
  kBadAlg = 0,           // unrecognised or unsupported algorithm
  kBadMessageCheck = 1,  // integrity check (signature, decryption) failed
  kBadRequest = 2,       // transaction not permitted or supported
  kBadTime = 3,          // signingTime too far off, or certificate outside its validity
  kBadCertId = 4,        // no certificate matches the criteria
};
std::string FailInfoName(FailInfo info);  // "badAlg", ...

struct DecodeOptions {
  // Larger requests are refused before any parsing (HTTP 400, no CertRep).
  size_t max_message_bytes = 64 * 1024;
  // Allows single DES-CBC content encryption (needs LoadLegacyProvider()).
  bool legacy_algorithms = false;
  // When both are set, a signingTime attribute further than this from clock->Now() is badTime.
  const Clock* clock = nullptr;
  Duration max_clock_skew{0};
};

// A PKIOperation message, decoded up to (not including) the envelope, plus the first problem.
struct DecodedRequest {
  int message_type = 0;  // raw value; 0 when absent or not a number
  std::string transaction_id;
  std::string sender_nonce;  // raw bytes
  std::string digest_algorithm;     // "sha1", "sha256", ...
  std::string signature_algorithm;  // SignerInfo signatureAlgorithm display name
  X509Ptr signer;                   // embedded signer certificate (may be null)
  std::vector<X509Ptr> certificates;
  std::optional<std::string> signing_time;  // raw UTCTime/GeneralizedTime text when present
  bool signature_valid = false;
  std::string envelope;  // DER/BER EnvelopedData; "" when absent
  std::optional<EnvelopeInfo> envelope_info;

  // OK when the message may be processed; otherwise the first problem and its failInfo.
  Status error;
  FailInfo fail_info = FailInfo::kBadRequest;

  bool ok() const { return error.ok(); }
  // A CertRep FAILURE can be formed only when the transactionID is known.
  bool CanReply() const { return !transaction_id.empty(); }
};

// Decodes a PKIOperation message body (DER or BER). Never fails outright: problems are reported
// in DecodedRequest::error with the failInfo to answer. Checks, in order of precedence: size
// limit, SignedData structure, messageType / transactionID / senderNonce attributes, digest
// algorithm (sha1, sha224, sha256, sha384, sha512 accepted: badAlg otherwise), the signature with
// the embedded signer (badMessageCheck), signingTime skew (badTime), the envelope structure
// (badRequest) and its content-encryption algorithm (AES-CBC, DES-EDE3-CBC, DES-CBC only when
// legacy: badAlg otherwise).
DecodedRequest DecodePkiOperation(std::string_view message, const DecodeOptions& options);

// The decrypted messageData of a request.
struct RequestContent {
  std::optional<Csr> csr;  // PKCSReq, RenewalReq
  X509NamePtr issuer;      // CertPoll (IssuerAndSubject), GetCert / GetCRL (IssuerAndSerial)
  X509NamePtr subject;     // CertPoll
  std::string serial_hex;  // GetCert / GetCRL
};

// Decrypts the envelope of `request` with the CA key `key` / certificate `cert` and parses its
// messageData for the request's messageType. On failure sets *fail_info (when non-null):
// badMessageCheck when the envelope cannot be opened with this key or the CSR's signature fails,
// badRequest when the content is malformed.
StatusOr<RequestContent> OpenRequestEnvelope(const DecodedRequest& request, EVP_PKEY* key,
                                             X509* cert, FailInfo* fail_info = nullptr);

// True when the envelope of `request` names `cert` (issuer and serial) as a recipient: lets a
// CA with several certificates (after a rollover) pick the right key without trial decryption.
bool EnvelopeAddressedTo(const DecodedRequest& request, const X509* cert);

// ---- Encoding ---------------------------------------------------------------------------------

// A request, as a client builds it.
struct RequestParams {
  MessageType type = MessageType::kPkcsReq;
  std::string transaction_id;
  std::string sender_nonce;   // 16 random bytes by convention
  std::string message_data;   // DER: CSR, IssuerAndSubject or IssuerAndSerialNumber
  X509* recipient = nullptr;  // the CA certificate to encrypt to
  std::string cipher = "AES-256-CBC";
  std::string digest = "sha256";
  EVP_PKEY* signer_key = nullptr;
  X509* signer_cert = nullptr;  // self-signed for PKCSReq, the old identity for RenewalReq
};
StatusOr<std::string> EncodePkiOperation(const RequestParams& params);

// DER IssuerAndSubject (CertPoll) and IssuerAndSerialNumber (GetCert, GetCRL).
StatusOr<std::string> EncodeIssuerAndSubject(const X509_NAME* issuer, const X509_NAME* subject);
StatusOr<std::string> EncodeIssuerAndSerial(const X509_NAME* issuer, std::string_view serial_hex);

struct CertRepParams {
  PkiStatus status = PkiStatus::kFailure;
  FailInfo fail_info = FailInfo::kBadRequest;  // FAILURE only
  std::string transaction_id;
  std::string recipient_nonce;  // the request's senderNonce
  std::string sender_nonce;     // fresh
  std::string digest = "sha256";
  // SUCCESS only: the degenerate PKCS#7 (BuildCertsOnly) to encrypt to `recipient` with `cipher`.
  std::string payload;
  X509* recipient = nullptr;
  std::string cipher = "AES-256-CBC";
  // The CA (or RA) that signs the reply; `chain` certificates are carried in the SignedData.
  EVP_PKEY* signer_key = nullptr;
  X509* signer_cert = nullptr;
  std::vector<X509*> chain;
  std::optional<Time> signing_time;
};
// INVALID_ARGUMENT for missing fields; INTERNAL when signing or encryption fails.
StatusOr<std::string> EncodeCertRep(const CertRepParams& params);

// The content-encryption algorithm a CertRep answering `request` uses: the request's own when
// custos supports it, AES-256-CBC otherwise.
std::string ReplyCipherFor(const DecodedRequest& request);
// The digest a CertRep answering `request` uses: the request's own when supported, else sha256.
std::string ReplyDigestFor(const DecodedRequest& request);

// A CertRep as the client sees it.
struct CertRep {
  PkiStatus status = PkiStatus::kFailure;
  std::optional<FailInfo> fail_info;
  std::string transaction_id;
  std::string sender_nonce;
  std::string recipient_nonce;
  std::string digest_algorithm;
  std::string signature_algorithm;
  X509Ptr signer;
  std::vector<X509Ptr> certificates;  // SUCCESS: from the decrypted certs-only PKCS#7
  std::vector<X509CrlPtr> crls;       // SUCCESS for GetCRL
};

// Decodes and verifies a CertRep: its signature (with the embedded signer, which must equal one
// of `expected_signers` when that is non-empty: PERMISSION_DENIED otherwise), its attributes, and
// on SUCCESS decrypts the envelope with the requester's `key` / `cert`.
// INVALID_ARGUMENT for malformed replies.
StatusOr<CertRep> DecodeCertRep(std::string_view message, EVP_PKEY* key, X509* cert,
                                const std::vector<X509*>& expected_signers);

}  // namespace custos::scep

#endif  // CUSTOS_SCEP_MESSAGE_H_
