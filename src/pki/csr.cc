#include "pki/csr.h"

#include <openssl/pem.h>

#include "pki/key.h"

namespace custos {

namespace {

struct ExtensionStackDeleter {
  void operator()(STACK_OF(X509_EXTENSION) * s) const {
    sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free);
  }
};
using ExtensionStackPtr = std::unique_ptr<STACK_OF(X509_EXTENSION), ExtensionStackDeleter>;

std::optional<std::string> ChallengePassword(const X509_REQ* req) {
  int idx = X509_REQ_get_attr_by_NID(req, NID_pkcs9_challengePassword, -1);
  if (idx < 0) return std::nullopt;
  X509_ATTRIBUTE* attr = X509_REQ_get_attr(req, idx);
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

}  // namespace

StatusOr<Csr> ParseCsr(std::string_view data) {
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
  Csr csr;
  csr.req.reset(raw);
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
  // extensionRequest: only the subjectAltName is taken; the CA decides every other extension.
  ExtensionStackPtr exts(X509_REQ_get_extensions(raw));
  DrainOpenSslErrors();
  if (exts) {
    for (int i = 0; i < sk_X509_EXTENSION_num(exts.get()); ++i) {
      X509_EXTENSION* ext = sk_X509_EXTENSION_value(exts.get(), i);
      if (OBJ_obj2nid(X509_EXTENSION_get_object(ext)) != NID_subject_alt_name) continue;
      auto* names = static_cast<GENERAL_NAMES*>(X509V3_EXT_d2i(ext));
      if (names == nullptr) {
        return OpenSslError("CSR: malformed subjectAltName", StatusCode::kInvalidArgument);
      }
      GeneralNamesPtr owned(names);
      std::vector<San> sans = SansFromGeneralNames(names);
      csr.sans.insert(csr.sans.end(), sans.begin(), sans.end());
    }
  }
  csr.challenge_password = ChallengePassword(raw);
  StatusOr<std::string> spki = EncodeDer(X509_REQ_get_X509_PUBKEY(raw), i2d_X509_PUBKEY,
                                         "CSR: encoding public key");
  if (!spki.ok()) return Status(StatusCode::kInvalidArgument, spki.status().message());
  csr.spki_der = *std::move(spki);
  csr.der = EncodeDer(raw, i2d_X509_REQ).value_or(std::string());
  return csr;
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
