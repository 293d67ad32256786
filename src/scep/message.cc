#include "scep/message.h"

#include <openssl/asn1t.h>
#include <openssl/err.h>

#include <algorithm>
#include <charconv>
#include <utility>

#include "pki/x509.h"

// IssuerAndSubject ::= SEQUENCE { issuer Name, subject Name }  (RFC 8894 section 3.3.3),
// declared with OpenSSL's ASN.1 templates so OpenSSL does all the DER work.
extern "C" {
typedef struct custos_scep_issuer_and_subject_st {
  X509_NAME* issuer;
  X509_NAME* subject;
} CUSTOS_SCEP_IAS;
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
ASN1_SEQUENCE(CUSTOS_SCEP_IAS) = {
    ASN1_SIMPLE(CUSTOS_SCEP_IAS, issuer, X509_NAME),
    ASN1_SIMPLE(CUSTOS_SCEP_IAS, subject, X509_NAME),
} ASN1_SEQUENCE_END(CUSTOS_SCEP_IAS)
DECLARE_ASN1_FUNCTIONS(CUSTOS_SCEP_IAS)
IMPLEMENT_ASN1_FUNCTIONS(CUSTOS_SCEP_IAS)
#pragma GCC diagnostic pop

namespace custos::scep {
namespace {

using IasPtr = OpenSslPtr<CUSTOS_SCEP_IAS, CUSTOS_SCEP_IAS_free>;
using IssuerAndSerialPtr = OpenSslPtr<PKCS7_ISSUER_AND_SERIAL, PKCS7_ISSUER_AND_SERIAL_free>;

constexpr size_t kMaxTransactionIdBytes = 256;
constexpr size_t kMaxNonceBytes = 64;

bool IsKnownRequestType(int t) {
  return t == static_cast<int>(MessageType::kRenewalReq) ||
         t == static_cast<int>(MessageType::kPkcsReq) ||
         t == static_cast<int>(MessageType::kCertPoll) ||
         t == static_cast<int>(MessageType::kGetCert) ||
         t == static_cast<int>(MessageType::kGetCrl);
}

bool IsAcceptedDigest(std::string_view d) {
  return d == "sha1" || d == "sha224" || d == "sha256" || d == "sha384" || d == "sha512";
}

bool IsAcceptedCipher(std::string_view c, bool legacy) {
  if (c == "AES-128-CBC" || c == "AES-192-CBC" || c == "AES-256-CBC" || c == "DES-EDE3-CBC") {
    return true;
  }
  return legacy && c == "DES-CBC";
}

// transactionIDs are PrintableStrings (RFC 8894 section 3.2.1.1); clients in the wild also use
// other printable ASCII ('_' from base64url), so any printable ASCII is accepted.
bool IsPrintable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char ch) {
    unsigned char c = static_cast<unsigned char>(ch);
    return c >= 0x20 && c <= 0x7e;
  });
}

std::optional<int> ParseSmallInt(std::string_view s) {
  if (s.empty() || s.size() > 4) return std::nullopt;
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < 0) return std::nullopt;
  return v;
}

void Fail(DecodedRequest& r, FailInfo info, std::string_view message) {
  if (!r.error.ok()) return;  // keep the first problem
  r.error = InvalidArgumentError(message);
  r.fail_info = info;
}

void Fail(DecodedRequest& r, FailInfo info, const Status& status) {
  if (!r.error.ok()) return;
  r.error = status.code() == StatusCode::kInvalidArgument ? status
                                                          : InvalidArgumentError(status.message());
  r.fail_info = info;
}


}  // namespace

std::string MessageTypeName(int type) {
  switch (type) {
    case 3: return "CertRep";
    case 17: return "RenewalReq";
    case 19: return "PKCSReq";
    case 20: return "CertPoll";
    case 21: return "GetCert";
    case 22: return "GetCRL";
    default: return "unknown(" + std::to_string(type) + ")";
  }
}

std::string PkiStatusName(PkiStatus status) {
  switch (status) {
    case PkiStatus::kSuccess: return "SUCCESS";
    case PkiStatus::kFailure: return "FAILURE";
    case PkiStatus::kPending: return "PENDING";
  }
  return "unknown";
}

std::string FailInfoName(FailInfo info) {
  switch (info) {
    case FailInfo::kBadAlg: return "badAlg";
    case FailInfo::kBadMessageCheck: return "badMessageCheck";
    case FailInfo::kBadRequest: return "badRequest";
    case FailInfo::kBadTime: return "badTime";
    case FailInfo::kBadCertId: return "badCertId";
  }
  return "unknown";
}

DecodedRequest DecodePkiOperation(std::string_view message, const DecodeOptions& options) {
  DecodedRequest r;
  if (message.size() > options.max_message_bytes) {
    Fail(r, FailInfo::kBadRequest,
         "message of " + std::to_string(message.size()) + " bytes exceeds the limit of " +
             std::to_string(options.max_message_bytes));
    return r;
  }
  auto parsed = ParseSignedData(message);
  if (!parsed.ok()) {
    Fail(r, FailInfo::kBadRequest, parsed.status().WithContext("not a SCEP pkiMessage"));
    return r;
  }

  // The attributes first: with a transactionID, every later problem can be answered by CertRep.
  const CmsAttribute* tid = parsed->FindAttribute(kOidTransactionId);
  if (tid == nullptr || tid->value.empty()) {
    Fail(r, FailInfo::kBadRequest, "transactionID attribute missing");
  } else if (tid->value.size() > kMaxTransactionIdBytes || !IsPrintable(tid->value)) {
    Fail(r, FailInfo::kBadRequest, "transactionID is not short printable text");
  } else {
    r.transaction_id = tid->value;
  }
  const CmsAttribute* mt = parsed->FindAttribute(kOidMessageType);
  if (mt == nullptr) {
    Fail(r, FailInfo::kBadRequest, "messageType attribute missing");
  } else if (auto v = ParseSmallInt(mt->value); !v.has_value()) {
    Fail(r, FailInfo::kBadRequest, "messageType is not a number");
  } else {
    r.message_type = *v;
    if (!IsKnownRequestType(*v)) {
      Fail(r, FailInfo::kBadRequest, "unsupported messageType " + MessageTypeName(*v));
    }
  }
  const CmsAttribute* nonce = parsed->FindAttribute(kOidSenderNonce);
  if (nonce == nullptr || nonce->value.empty()) {
    Fail(r, FailInfo::kBadRequest, "senderNonce attribute missing");
  } else if (nonce->type != V_ASN1_OCTET_STRING || nonce->value.size() > kMaxNonceBytes) {
    Fail(r, FailInfo::kBadRequest, "senderNonce is not an OCTET STRING of at most 64 bytes");
  } else {
    r.sender_nonce = nonce->value;
  }

  r.digest_algorithm = parsed->digest_algorithm;
  r.signature_algorithm = parsed->signature_algorithm;
  if (parsed->signer) {
    X509_up_ref(parsed->signer.get());
    r.signer.reset(parsed->signer.get());
  }
  for (const auto& c : parsed->certificates) {
    X509_up_ref(c.get());
    r.certificates.emplace_back(c.get());
  }
  if (const CmsAttribute* st = parsed->FindAttribute(kOidSigningTime); st != nullptr) {
    r.signing_time = st->value;
  }

  if (parsed->content_type != kOidData) {
    Fail(r, FailInfo::kBadRequest, "encapsulated content type is " + parsed->content_type +
                                       ", expected id-data");
  }
  if (parsed->signer_count != 1) {
    Fail(r, FailInfo::kBadRequest, "expected exactly one SignerInfo");
  }
  if (!IsAcceptedDigest(parsed->digest_algorithm)) {
    Fail(r, FailInfo::kBadAlg, "unsupported digest algorithm " + parsed->digest_algorithm);
  } else if (!parsed->signer) {
    Fail(r, FailInfo::kBadMessageCheck, "the signer certificate is not in the message");
  } else if (Status s = VerifySignedData(*parsed); !s.ok()) {
    Fail(r, FailInfo::kBadMessageCheck, s);
  } else {
    r.signature_valid = true;
  }

  if (r.signing_time.has_value() && options.clock != nullptr && options.max_clock_skew.count() > 0) {
    Asn1TimePtr t(ASN1_TIME_new());
    if (!t || ASN1_TIME_set_string_X509(t.get(), r.signing_time->c_str()) != 1) {
      Fail(r, FailInfo::kBadRequest, "malformed signingTime");
    } else {
      auto skew = Asn1TimeToTime(t.get()) - options.clock->Now();
      if (skew > options.max_clock_skew || -skew > options.max_clock_skew) {
        Fail(r, FailInfo::kBadTime, "signingTime " + *r.signing_time + " is too far from now");
      }
    }
  }

  if (!parsed->content.has_value() || parsed->content->empty()) {
    Fail(r, FailInfo::kBadRequest, "pkcsPKIEnvelope missing");
  } else {
    r.envelope = *parsed->content;
    auto info = InspectEnvelopedData(r.envelope);
    if (!info.ok()) {
      Fail(r, FailInfo::kBadRequest, info.status().WithContext("pkcsPKIEnvelope"));
    } else {
      if (!IsAcceptedCipher(info->content_encryption, options.legacy_algorithms)) {
        Fail(r, FailInfo::kBadAlg,
             "unsupported content-encryption algorithm " +
                 (info->content_encryption.empty() ? std::string("(unreadable)")
                                                   : info->content_encryption));
      }
      r.envelope_info = std::move(*info);
    }
  }
  ERR_clear_error();
  return r;
}

bool EnvelopeAddressedTo(const DecodedRequest& request, const X509* cert) {
  if (!request.envelope_info.has_value() || cert == nullptr) return false;
  std::string issuer = IssuerString(cert);
  std::string serial = CertSerialHex(cert);
  for (const auto& r : request.envelope_info->recipients) {
    if (r.issuer == issuer && r.serial_hex == serial) return true;
  }
  return false;
}

StatusOr<RequestContent> OpenRequestEnvelope(const DecodedRequest& request, EVP_PKEY* key,
                                             X509* cert, FailInfo* fail_info) {
  FailInfo ignored;
  if (fail_info == nullptr) fail_info = &ignored;
  *fail_info = FailInfo::kBadRequest;
  if (request.envelope.empty()) return InvalidArgumentError("pkcsPKIEnvelope missing");
  auto plain = DecryptCms(request.envelope, key, cert);
  if (!plain.ok()) {
    *fail_info = FailInfo::kBadMessageCheck;
    return plain.status().WithContext("pkcsPKIEnvelope cannot be opened with the CA key");
  }
  RequestContent content;
  switch (static_cast<MessageType>(request.message_type)) {
    case MessageType::kPkcsReq:
    case MessageType::kRenewalReq: {
      auto csr = ParseCsr(*plain);
      if (!csr.ok()) return csr.status().WithContext("messageData is not a PKCS#10 request");
      if (!csr->signature_valid) {
        *fail_info = FailInfo::kBadMessageCheck;
        return InvalidArgumentError("the PKCS#10 request's signature does not verify");
      }
      content.csr = std::move(*csr);
      return content;
    }
    case MessageType::kCertPoll: {
      const unsigned char* p = reinterpret_cast<const unsigned char*>(plain->data());
      IasPtr ias(d2i_CUSTOS_SCEP_IAS(nullptr, &p, static_cast<long>(plain->size())));
      if (!ias || p != reinterpret_cast<const unsigned char*>(plain->data()) + plain->size()) {
        return OpenSslError("messageData is not an IssuerAndSubject", StatusCode::kInvalidArgument);
      }
      content.issuer.reset(X509_NAME_dup(ias->issuer));
      content.subject.reset(X509_NAME_dup(ias->subject));
      return content;
    }
    case MessageType::kGetCert:
    case MessageType::kGetCrl: {
      const unsigned char* p = reinterpret_cast<const unsigned char*>(plain->data());
      IssuerAndSerialPtr ias(
          d2i_PKCS7_ISSUER_AND_SERIAL(nullptr, &p, static_cast<long>(plain->size())));
      if (!ias || p != reinterpret_cast<const unsigned char*>(plain->data()) + plain->size()) {
        return OpenSslError("messageData is not an IssuerAndSerialNumber",
                            StatusCode::kInvalidArgument);
      }
      content.issuer.reset(X509_NAME_dup(ias->issuer));
      content.serial_hex = SerialHex(ias->serial);
      return content;
    }
    default:
      return InvalidArgumentError("unsupported messageType " +
                                  MessageTypeName(request.message_type));
  }
}

StatusOr<std::string> EncodeIssuerAndSubject(const X509_NAME* issuer, const X509_NAME* subject) {
  if (issuer == nullptr || subject == nullptr) return InvalidArgumentError("names required");
  IasPtr ias(CUSTOS_SCEP_IAS_new());
  if (!ias) return OpenSslError("allocating IssuerAndSubject");
  X509_NAME_free(ias->issuer);
  X509_NAME_free(ias->subject);
  ias->issuer = X509_NAME_dup(issuer);
  ias->subject = X509_NAME_dup(subject);
  if (ias->issuer == nullptr || ias->subject == nullptr) return OpenSslError("copying names");
  return EncodeDer(ias.get(), i2d_CUSTOS_SCEP_IAS);
}

StatusOr<std::string> EncodeIssuerAndSerial(const X509_NAME* issuer, std::string_view serial_hex) {
  if (issuer == nullptr) return InvalidArgumentError("issuer required");
  IssuerAndSerialPtr ias(PKCS7_ISSUER_AND_SERIAL_new());
  if (!ias) return OpenSslError("allocating IssuerAndSerialNumber");
  if (X509_NAME_set(&ias->issuer, issuer) != 1) return OpenSslError("copying issuer");
  BIGNUM* bn = nullptr;
  std::string hex(serial_hex);
  if (hex.empty() || BN_hex2bn(&bn, hex.c_str()) != static_cast<int>(hex.size())) {
    BN_free(bn);
    return InvalidArgumentError("serial is not hex");
  }
  BigNumPtr owned(bn);
  ASN1_INTEGER* serial = BN_to_ASN1_INTEGER(bn, ias->serial);
  if (serial == nullptr) return OpenSslError("encoding serial");
  ias->serial = serial;
  return EncodeDer(ias.get(), i2d_PKCS7_ISSUER_AND_SERIAL);
}

StatusOr<std::string> EncodePkiOperation(const RequestParams& params) {
  if (params.recipient == nullptr || params.signer_key == nullptr ||
      params.signer_cert == nullptr) {
    return InvalidArgumentError("recipient, signer key and signer certificate are required");
  }
  if (params.transaction_id.empty() || params.sender_nonce.empty()) {
    return InvalidArgumentError("transactionID and senderNonce are required");
  }
  ASSIGN_OR_RETURN(std::string envelope,
                   EncryptCms(params.message_data, params.recipient, params.cipher));
  CmsSignOptions o;
  o.key = params.signer_key;
  o.cert = params.signer_cert;
  o.digest = params.digest;
  o.attributes = {
      {kOidMessageType, V_ASN1_PRINTABLESTRING, std::to_string(static_cast<int>(params.type))},
      {kOidTransactionId, V_ASN1_PRINTABLESTRING, params.transaction_id},
      {kOidSenderNonce, V_ASN1_OCTET_STRING, params.sender_nonce},
  };
  return SignCms(envelope, o);
}

std::string ReplyCipherFor(const DecodedRequest& request) {
  if (request.envelope_info.has_value() &&
      IsAcceptedCipher(request.envelope_info->content_encryption, /*legacy=*/true)) {
    return request.envelope_info->content_encryption;
  }
  return "AES-256-CBC";
}

std::string ReplyDigestFor(const DecodedRequest& request) {
  return IsAcceptedDigest(request.digest_algorithm) ? request.digest_algorithm : "sha256";
}

StatusOr<std::string> EncodeCertRep(const CertRepParams& params) {
  if (params.signer_key == nullptr || params.signer_cert == nullptr) {
    return InvalidArgumentError("CertRep needs the CA key and certificate");
  }
  if (params.transaction_id.empty()) return InvalidArgumentError("CertRep needs a transactionID");
  CmsSignOptions o;
  o.key = params.signer_key;
  o.cert = params.signer_cert;
  o.chain = params.chain;
  o.digest = params.digest;
  o.signing_time = params.signing_time;
  o.signature_oid = CmsSignatureOid::kRsaEncryption;
  o.attributes = {
      {kOidMessageType, V_ASN1_PRINTABLESTRING,
       std::to_string(static_cast<int>(MessageType::kCertRep))},
      {kOidTransactionId, V_ASN1_PRINTABLESTRING, params.transaction_id},
      {kOidPkiStatus, V_ASN1_PRINTABLESTRING, std::to_string(static_cast<int>(params.status))},
      {kOidSenderNonce, V_ASN1_OCTET_STRING, params.sender_nonce},
  };
  if (!params.recipient_nonce.empty()) {
    o.attributes.push_back({kOidRecipientNonce, V_ASN1_OCTET_STRING, params.recipient_nonce});
  }
  if (params.status == PkiStatus::kFailure) {
    o.attributes.push_back({kOidFailInfo, V_ASN1_PRINTABLESTRING,
                            std::to_string(static_cast<int>(params.fail_info))});
  }
  if (params.status != PkiStatus::kSuccess) {
    // No pkcsPKIEnvelope for FAILURE and PENDING (RFC 8894 section 3.3.2).
    o.detached = true;
    return SignCms("", o);
  }
  if (params.recipient == nullptr || params.payload.empty()) {
    return InvalidArgumentError("a SUCCESS CertRep needs a payload and a recipient");
  }
  ASSIGN_OR_RETURN(std::string envelope,
                   EncryptCms(params.payload, params.recipient, params.cipher));
  return SignCms(envelope, o);
}

StatusOr<CertRep> DecodeCertRep(std::string_view message, EVP_PKEY* key, X509* cert,
                                const std::vector<X509*>& expected_signers) {
  ASSIGN_OR_RETURN(ParsedSignedData parsed, ParseSignedData(message));
  CertRep rep;
  rep.digest_algorithm = parsed.digest_algorithm;
  rep.signature_algorithm = parsed.signature_algorithm;
  if (!parsed.signer) return InvalidArgumentError("CertRep does not carry its signer certificate");
  std::optional<std::string_view> detached;
  if (!parsed.content.has_value()) detached = std::string_view();
  RETURN_IF_ERROR(VerifySignedData(parsed, detached));
  if (!expected_signers.empty() &&
      std::none_of(expected_signers.begin(), expected_signers.end(),
                   [&](X509* c) { return c != nullptr && X509_cmp(c, parsed.signer.get()) == 0; })) {
    return PermissionDeniedError("CertRep signed by an unexpected certificate " +
                                 SubjectString(parsed.signer.get()));
  }
  X509_up_ref(parsed.signer.get());
  rep.signer.reset(parsed.signer.get());

  const CmsAttribute* mt = parsed.FindAttribute(kOidMessageType);
  if (mt == nullptr || ParseSmallInt(mt->value) != static_cast<int>(MessageType::kCertRep)) {
    return InvalidArgumentError("not a CertRep (messageType)");
  }
  const CmsAttribute* tid = parsed.FindAttribute(kOidTransactionId);
  if (tid == nullptr) return InvalidArgumentError("CertRep without transactionID");
  rep.transaction_id = tid->value;
  if (const CmsAttribute* a = parsed.FindAttribute(kOidSenderNonce)) rep.sender_nonce = a->value;
  if (const CmsAttribute* a = parsed.FindAttribute(kOidRecipientNonce)) {
    rep.recipient_nonce = a->value;
  }
  const CmsAttribute* st = parsed.FindAttribute(kOidPkiStatus);
  std::optional<int> status = st != nullptr ? ParseSmallInt(st->value) : std::nullopt;
  if (!status.has_value() || (*status != 0 && *status != 2 && *status != 3)) {
    return InvalidArgumentError("CertRep without a valid pkiStatus");
  }
  rep.status = static_cast<PkiStatus>(*status);
  if (rep.status == PkiStatus::kFailure) {
    const CmsAttribute* fi = parsed.FindAttribute(kOidFailInfo);
    std::optional<int> v = fi != nullptr ? ParseSmallInt(fi->value) : std::nullopt;
    if (!v.has_value() || *v > 4) return InvalidArgumentError("FAILURE CertRep without failInfo");
    rep.fail_info = static_cast<FailInfo>(*v);
    return rep;
  }
  if (rep.status == PkiStatus::kPending) return rep;
  if (!parsed.content.has_value() || parsed.content->empty()) {
    return InvalidArgumentError("SUCCESS CertRep without pkcsPKIEnvelope");
  }
  ASSIGN_OR_RETURN(std::string plain, DecryptCms(*parsed.content, key, cert));
  ASSIGN_OR_RETURN(rep.certificates, ParseCertsOnly(plain));
  ASSIGN_OR_RETURN(rep.crls, ParseCrlsOnly(plain));
  return rep;
}

}  // namespace custos::scep
