#include "pki/csr.h"

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "pki/key.h"
#include "pki/spki.h"

namespace custos {

namespace {

struct ExtensionStackDeleter {
  void operator()(STACK_OF(X509_EXTENSION) * s) const {
    sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free);
  }
};
using ExtensionStackPtr = std::unique_ptr<STACK_OF(X509_EXTENSION), ExtensionStackDeleter>;

// The value of a challengePassword attribute; nullopt when it is not a string.
std::optional<std::string> ChallengePasswordValue(X509_ATTRIBUTE* attr) {
  if (attr == nullptr || X509_ATTRIBUTE_count(attr) < 1) return std::nullopt;
  ASN1_TYPE* value = X509_ATTRIBUTE_get0_type(attr, 0);
  if (value == nullptr) return std::nullopt;
  // DirectoryString: PrintableString, UTF8String, ... (RFC 2985); all carry the bytes as-is.
  switch (value->type) {
    case V_ASN1_PRINTABLESTRING:
    case V_ASN1_UTF8STRING:
    case V_ASN1_IA5STRING:
    case V_ASN1_T61STRING:
    case V_ASN1_BMPSTRING:
    case V_ASN1_UNIVERSALSTRING: {
      unsigned char* out = nullptr;
      int len = ASN1_STRING_to_UTF8(&out, value->value.asn1_string);
      if (len < 0) {
        DrainOpenSslErrors();
        return std::nullopt;
      }
      std::string s(reinterpret_cast<char*>(out), static_cast<size_t>(len));
      OPENSSL_free(out);
      return s;
    }
    default:
      return std::nullopt;
  }
}

std::optional<std::string> ChallengePassword(const X509_REQ* req) {
  int idx = X509_REQ_get_attr_by_NID(req, NID_pkcs9_challengePassword, -1);
  if (idx < 0) return std::nullopt;
  return ChallengePasswordValue(X509_REQ_get_attr(req, idx));
}

// The subjectAltName entries of an extension list (the extensionRequest attribute's value). Only
// the SANs are taken; the CA decides every other extension.
Status AppendSans(const STACK_OF(X509_EXTENSION) * exts, std::vector<San>& out) {
  for (int i = 0; i < sk_X509_EXTENSION_num(exts); ++i) {
    X509_EXTENSION* ext = sk_X509_EXTENSION_value(exts, i);
    if (OBJ_obj2nid(X509_EXTENSION_get_object(ext)) != NID_subject_alt_name) continue;
    auto* names = static_cast<GENERAL_NAMES*>(X509V3_EXT_d2i(ext));
    if (names == nullptr) {
      return OpenSslError("CSR: malformed subjectAltName", StatusCode::kInvalidArgument);
    }
    GeneralNamesPtr owned(names);
    std::vector<San> sans = SansFromGeneralNames(names);
    out.insert(out.end(), sans.begin(), sans.end());
  }
  return OkStatus();
}

// ---- The fast path ------------------------------------------------------------------------------
//
// d2i_X509_REQ decodes the request's key through OpenSSL 3.0's per-key decoder chain (see
// pki/spki.h), which costs more than the rest of the request together. The requests devices and
// ACME clients send have one of two shapes, an EC key (P-256/P-384/P-521) signed with ECDSA or an
// RSA key signed with PKCS#1 v1.5, both with SHA-256/384/512. For those, ParseCsrFast walks the
// DER itself, lets OpenSSL's d2i parse each part (name, attributes, algorithm identifiers) and
// builds the key from its parameters. Every other input, malformed ones included, is declined and
// goes through d2i_X509_REQ, so refusals and their messages come from one place.

// One DER element with a single-byte tag and a definite length.
struct Tlv {
  unsigned char tag = 0;
  std::string_view whole;    // header and content
  std::string_view content;
};

// Reads the element at the front of `in` and advances past it. nullopt for a multi-byte tag, an
// indefinite or over-long length, or an element longer than the input.
std::optional<Tlv> NextTlv(std::string_view& in) {
  if (in.size() < 2) return std::nullopt;
  const auto* b = reinterpret_cast<const unsigned char*>(in.data());
  Tlv t;
  t.tag = b[0];
  if ((t.tag & 0x1f) == 0x1f) return std::nullopt;
  size_t len = b[1];
  size_t header = 2;
  if (len & 0x80) {
    size_t n = len & 0x7f;
    if (n == 0 || n > 3 || in.size() < 2 + n) return std::nullopt;
    len = 0;
    for (size_t i = 0; i < n; ++i) len = (len << 8) | b[2 + i];
    header += n;
  }
  if (len > in.size() - header) return std::nullopt;
  t.whole = in.substr(0, header + len);
  t.content = in.substr(header, len);
  in.remove_prefix(header + len);
  return t;
}

constexpr unsigned char kSequence = 0x30;
constexpr unsigned char kAttributesTag = 0xa0;  // [0] IMPLICIT SET OF Attribute

using pki_internal::Bytes;
using pki_internal::D2iWhole;

// The digest of an ECDSA or RSA PKCS#1 v1.5 signature algorithm that fits `key_id`; nullptr for
// every other algorithm (or parameters the algorithm does not take).
const EVP_MD* SignatureDigest(const X509_ALGOR* alg, int key_id) {
  const ASN1_OBJECT* oid = nullptr;
  int param_type = 0;
  X509_ALGOR_get0(&oid, &param_type, nullptr, alg);
  switch (OBJ_obj2nid(oid)) {
    case NID_ecdsa_with_SHA256:
    case NID_ecdsa_with_SHA384:
    case NID_ecdsa_with_SHA512:
      if (key_id != EVP_PKEY_EC || param_type != V_ASN1_UNDEF) return nullptr;  // RFC 5758
      break;
    case NID_sha256WithRSAEncryption:
    case NID_sha384WithRSAEncryption:
    case NID_sha512WithRSAEncryption:
      if (key_id != EVP_PKEY_RSA) return nullptr;
      if (param_type != V_ASN1_NULL && param_type != V_ASN1_UNDEF) return nullptr;
      break;
    default:
      return nullptr;
  }
  switch (OBJ_obj2nid(oid)) {
    case NID_ecdsa_with_SHA256:
    case NID_sha256WithRSAEncryption: return EVP_sha256();
    case NID_ecdsa_with_SHA384:
    case NID_sha384WithRSAEncryption: return EVP_sha384();
    default: return EVP_sha512();
  }
}

// The attributes of a request: challengePassword and the SANs of extensionRequest. False when
// one does not parse, or one of them comes twice (the general path then decides).
bool ReadAttributes(std::string_view set, Csr& csr) {
  bool seen_password = false;
  bool seen_extensions = false;
  while (!set.empty()) {
    auto tlv = NextTlv(set);
    if (!tlv || tlv->tag != kSequence) return false;
    auto attr = D2iWhole<X509AttributePtr>(tlv->whole, d2i_X509_ATTRIBUTE);
    if (!attr) return false;
    int nid = OBJ_obj2nid(X509_ATTRIBUTE_get0_object(attr.get()));
    if (nid == NID_pkcs9_challengePassword) {
      if (seen_password) return false;
      seen_password = true;
      csr.challenge_password = ChallengePasswordValue(attr.get());
    } else if (nid == NID_ext_req || nid == NID_ms_ext_req) {
      if (seen_extensions) return false;
      seen_extensions = true;
      ASN1_TYPE* value = X509_ATTRIBUTE_get0_type(attr.get(), 0);
      if (value == nullptr || value->type != V_ASN1_SEQUENCE) return false;
      auto exts = D2iWhole<ExtensionStackPtr>(Bytes(value->value.sequence), d2i_X509_EXTENSIONS);
      if (!exts || !AppendSans(exts.get(), csr.sans).ok()) return false;
    }
  }
  return true;
}

std::optional<Csr> ParseCsrFastImpl(std::string_view der) {
  std::string_view in = der;
  auto outer = NextTlv(in);
  if (!outer || outer->tag != kSequence || !in.empty()) return std::nullopt;
  std::string_view body = outer->content;
  auto info = NextTlv(body);
  auto sig_alg_tlv = NextTlv(body);
  auto sig_tlv = NextTlv(body);
  if (!info || !sig_alg_tlv || !sig_tlv || info->tag != kSequence || !body.empty()) {
    return std::nullopt;
  }
  // CertificationRequestInfo: version 0, subject, subjectPKInfo, [0] attributes.
  std::string_view fields = info->content;
  auto version = NextTlv(fields);
  auto subject = NextTlv(fields);
  auto spki = NextTlv(fields);
  auto attributes = NextTlv(fields);
  if (!version || version->whole != std::string_view("\x02\x01\x00", 3) || !subject || !spki ||
      spki->tag != kSequence || !attributes || attributes->tag != kAttributesTag ||
      !fields.empty()) {
    return std::nullopt;
  }
  pki_internal::SpkiPtr key_parts = pki_internal::ParseSpkiParts(spki->whole);
  auto sig_alg = D2iWhole<X509AlgorPtr>(sig_alg_tlv->whole, d2i_X509_ALGOR);
  auto sig = D2iWhole<Asn1BitStringPtr>(sig_tlv->whole, d2i_ASN1_BIT_STRING);
  if (!key_parts || !sig_alg || !sig || (sig->flags & 0x07) != 0) return std::nullopt;

  Csr csr;
  csr.public_key = pki_internal::KeyFromSpkiParts(*key_parts);
  if (!csr.public_key) return std::nullopt;
  const EVP_MD* md = SignatureDigest(sig_alg.get(), EVP_PKEY_get_base_id(csr.public_key.get()));
  if (md == nullptr) return std::nullopt;
  csr.subject_name = D2iWhole<X509NamePtr>(subject->whole, d2i_X509_NAME);
  if (!csr.subject_name || !ReadAttributes(attributes->content, csr)) return std::nullopt;

  EvpMdCtxPtr verify(EVP_MD_CTX_new());
  std::string_view signature = Bytes(sig.get());
  csr.signature_valid =
      verify && EVP_DigestVerifyInit(verify.get(), nullptr, md, nullptr, csr.public_key.get()) == 1 &&
      EVP_DigestVerify(verify.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(info->whole.data()),
                       info->whole.size()) == 1;
  csr.subject = NameToString(csr.subject_name.get());
  csr.key_type = KeyDescription(csr.public_key.get());
  csr.spki_der = std::string(spki->whole);
  csr.der = std::string(der);
  return csr;
}

}  // namespace

std::optional<Csr> csr_internal::ParseCsrFast(std::string_view der) {
  std::optional<Csr> csr = ParseCsrFastImpl(der);
  DrainOpenSslErrors();
  return csr;
}

StatusOr<Csr> csr_internal::ParseCsrWithOpenSsl(std::string_view data) {
  if (data.empty()) return InvalidArgumentError("CSR: empty input");
  X509_REQ* raw = nullptr;
  if (data.find("-----BEGIN") != std::string_view::npos) {
    BioPtr bio = MemBioFrom(data);
    raw = PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr);
    if (raw == nullptr) return OpenSslError("CSR: malformed PEM", StatusCode::kInvalidArgument);
  } else {
    const auto* p = reinterpret_cast<const unsigned char*>(data.data());
    raw = d2i_X509_REQ(nullptr, &p, static_cast<long>(data.size()));
    if (raw == nullptr) return OpenSslError("CSR: malformed DER", StatusCode::kInvalidArgument);
    if (p != reinterpret_cast<const unsigned char*>(data.data()) + data.size()) {
      X509_REQ_free(raw);
      return InvalidArgumentError("CSR: trailing data after the request");
    }
  }
  X509ReqPtr req(raw);
  Csr csr;
  EVP_PKEY* key = X509_REQ_get_pubkey(raw);
  if (key == nullptr) {
    return OpenSslError("CSR: unsupported or malformed public key", StatusCode::kInvalidArgument);
  }
  csr.public_key.reset(key);
  csr.key_type = KeyDescription(key);
  csr.signature_valid = X509_REQ_verify(raw, key) == 1;
  DrainOpenSslErrors();
  csr.subject_name.reset(X509_NAME_dup(X509_REQ_get_subject_name(raw)));
  if (!csr.subject_name) return OpenSslError("CSR: subject", StatusCode::kInvalidArgument);
  csr.subject = NameToString(csr.subject_name.get());
  ExtensionStackPtr exts(X509_REQ_get_extensions(raw));
  DrainOpenSslErrors();
  if (exts) RETURN_IF_ERROR(AppendSans(exts.get(), csr.sans));
  csr.challenge_password = ChallengePassword(raw);
  StatusOr<std::string> spki = EncodeDer(X509_REQ_get_X509_PUBKEY(raw), i2d_X509_PUBKEY,
                                         "CSR: encoding public key");
  if (!spki.ok()) return Status(StatusCode::kInvalidArgument, spki.status().message());
  csr.spki_der = *std::move(spki);
  csr.der = EncodeDer(raw, i2d_X509_REQ).value_or(std::string());
  return csr;
}

StatusOr<Csr> ParseCsr(std::string_view data) {
  if (data.find("-----BEGIN") == std::string_view::npos) {
    if (std::optional<Csr> csr = csr_internal::ParseCsrFast(data)) return *std::move(csr);
  }
  return csr_internal::ParseCsrWithOpenSsl(data);
}

StatusOr<Csr> ParseAndVerifyCsr(std::string_view data) {
  ASSIGN_OR_RETURN(Csr csr, ParseCsr(data));
  if (!csr.signature_valid) return InvalidArgumentError("CSR signature does not verify");
  return csr;
}

StatusOr<std::string> BuildCsrDer(const CsrTemplate& tmpl, EVP_PKEY* key) {
  if (key == nullptr) return InvalidArgumentError("CSR: no key");
  X509ReqPtr req(X509_REQ_new());
  if (!req) return OpenSslError("allocating CSR");
  if (X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) != 1) return OpenSslError("CSR version");
  ASSIGN_OR_RETURN(X509NamePtr name, BuildName(tmpl.subject));
  if (X509_REQ_set_subject_name(req.get(), name.get()) != 1) return OpenSslError("CSR subject");
  if (X509_REQ_set_pubkey(req.get(), key) != 1) return OpenSslError("CSR key");
  if (!tmpl.sans.empty()) {
    GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
    if (!names) return OpenSslError("allocating SANs");
    RETURN_IF_ERROR(AppendGeneralNames(tmpl.sans, names.get()));
    ExtensionStackPtr exts(sk_X509_EXTENSION_new_null());
    X509_EXTENSION* ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, names.get());
    if (!exts || ext == nullptr || sk_X509_EXTENSION_push(exts.get(), ext) <= 0) {
      if (ext != nullptr) X509_EXTENSION_free(ext);
      return OpenSslError("CSR SAN extension");
    }
    if (X509_REQ_add_extensions(req.get(), exts.get()) != 1) {
      return OpenSslError("CSR extensionRequest");
    }
  }
  if (!tmpl.challenge_password.empty() &&
      X509_REQ_add1_attr_by_NID(
          req.get(), NID_pkcs9_challengePassword, MBSTRING_UTF8,
          reinterpret_cast<const unsigned char*>(tmpl.challenge_password.data()),
          static_cast<int>(tmpl.challenge_password.size())) != 1) {
    return OpenSslError("CSR challengePassword");
  }
  if (X509_REQ_sign(req.get(), key, SigningDigestFor(key)) <= 0) return OpenSslError("signing CSR");
  return EncodeDer(req.get(), i2d_X509_REQ, "encoding CSR");
}

}  // namespace custos
