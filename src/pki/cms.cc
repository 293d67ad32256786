#include "pki/cms.h"

#include <openssl/err.h>
#include <openssl/objects.h>

#include <algorithm>
#include <cctype>
#include <utility>

#include "pki/x509.h"

namespace custos {
namespace {

constexpr StatusCode kBadInput = StatusCode::kInvalidArgument;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string Asn1StringBytes(const ASN1_STRING* s) {
  if (s == nullptr) return {};
  const unsigned char* p = ASN1_STRING_get0_data(s);
  int n = ASN1_STRING_length(s);
  if (p == nullptr || n <= 0) return {};
  return std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
}

// Attribute value types whose content bytes (not DER) are reported in CmsAttribute::value.
bool IsStringType(int type) {
  switch (type) {
    case V_ASN1_OCTET_STRING:
    case V_ASN1_PRINTABLESTRING:
    case V_ASN1_UTF8STRING:
    case V_ASN1_IA5STRING:
    case V_ASN1_T61STRING:
    case V_ASN1_NUMERICSTRING:
    case V_ASN1_VISIBLESTRING:
    case V_ASN1_GENERALSTRING:
    case V_ASN1_UNIVERSALSTRING:
    case V_ASN1_BMPSTRING:
    case V_ASN1_UTCTIME:
    case V_ASN1_GENERALIZEDTIME:
      return true;
    default:
      return false;
  }
}

// MemBioFrom over possibly empty views (BIO_new_mem_buf refuses a null pointer).
BioPtr MemBio(std::string_view data) {
  if (data.data() == nullptr) data = std::string_view("", 0);
  return MemBioFrom(data);
}

StatusOr<CmsPtr> DecodeCms(std::string_view data, int expected_nid, std::string_view what) {
  if (data.empty()) return InvalidArgumentError(std::string(what) + ": empty input");
  ERR_clear_error();
  BioPtr bio = MemBio(data);
  if (!bio) return OpenSslError("allocating BIO");
  CmsPtr cms(d2i_CMS_bio(bio.get(), nullptr));
  if (!cms) return OpenSslError(std::string("decoding ") + std::string(what), kBadInput);
  const ASN1_OBJECT* type = CMS_get0_type(cms.get());
  if (OBJ_obj2nid(type) != expected_nid) {
    return InvalidArgumentError(std::string(what) + ": content type is " + OidDisplayName(type) +
                                ", expected " + OBJ_nid2ln(expected_nid));
  }
  return cms;
}

StatusOr<std::string> CmsToDer(CMS_ContentInfo* cms) {
  BioPtr out(BIO_new(BIO_s_mem()));
  if (!out || i2d_CMS_bio(out.get(), cms) != 1) return OpenSslError("encoding CMS");
  return MemBioContents(out.get());
}

StatusOr<EvpCipherPtr> FetchCipher(std::string_view name) {
  static constexpr std::string_view kAllowed[] = {"AES-128-CBC", "AES-192-CBC", "AES-256-CBC",
                                                  "DES-EDE3-CBC", "DES-CBC"};
  std::string upper(name);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (std::find(std::begin(kAllowed), std::end(kAllowed), upper) == std::end(kAllowed)) {
    return InvalidArgumentError("unsupported content-encryption algorithm " + std::string(name));
  }
  EvpCipherPtr cipher(EVP_CIPHER_fetch(nullptr, upper.c_str(), nullptr));
  if (!cipher) {
    return OpenSslError("cipher " + upper + " is not available (legacy provider not loaded?)",
                        StatusCode::kFailedPrecondition);
  }
  return cipher;
}

Status AddAttribute(CMS_SignerInfo* si, const CmsAttribute& attr) {
  Asn1ObjectPtr obj(OBJ_txt2obj(attr.oid.c_str(), 1));
  if (!obj) return OpenSslError("bad attribute OID " + attr.oid, kBadInput);
  int ok = 0;
  if (IsStringType(attr.type)) {
    ok = CMS_signed_add1_attr_by_OBJ(si, obj.get(), attr.type, attr.value.data(),
                                     static_cast<int>(attr.value.size()));
  } else {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(attr.value.data());
    Asn1TypePtr t(d2i_ASN1_TYPE(nullptr, &p, static_cast<long>(attr.value.size())));
    if (!t || ASN1_TYPE_get(t.get()) != attr.type || attr.type == V_ASN1_BOOLEAN) {
      return OpenSslError("attribute " + attr.oid + ": value is not DER of the given type",
                          kBadInput);
    }
    ok = CMS_signed_add1_attr_by_OBJ(si, obj.get(), attr.type, t->value.ptr, -1);
  }
  if (ok != 1) return OpenSslError("adding signed attribute " + attr.oid);
  return OkStatus();
}

}  // namespace

std::string OidToDotted(const ASN1_OBJECT* obj) {
  if (obj == nullptr) return {};
  char buf[128];
  int n = OBJ_obj2txt(buf, sizeof(buf), obj, 1);
  if (n <= 0) return {};
  if (static_cast<size_t>(n) >= sizeof(buf)) {
    std::string big(static_cast<size_t>(n) + 1, '\0');
    OBJ_obj2txt(big.data(), static_cast<int>(big.size()), obj, 1);
    big.resize(static_cast<size_t>(n));
    return big;
  }
  return std::string(buf, static_cast<size_t>(n));
}

std::string OidDisplayName(const ASN1_OBJECT* obj) {
  int nid = OBJ_obj2nid(obj);
  if (nid != NID_undef) {
    const char* ln = OBJ_nid2ln(nid);
    if (ln != nullptr) return ln;
  }
  return OidToDotted(obj);
}

StatusOr<EvpMdPtr> FetchDigest(std::string_view name) {
  static constexpr std::string_view kAllowed[] = {"sha1", "sha224", "sha256", "sha384", "sha512"};
  std::string lower = Lower(std::string(name));
  lower.erase(std::remove(lower.begin(), lower.end(), '-'), lower.end());
  if (std::find(std::begin(kAllowed), std::end(kAllowed), lower) == std::end(kAllowed)) {
    return InvalidArgumentError("unsupported digest algorithm " + std::string(name));
  }
  EvpMdPtr md(EVP_MD_fetch(nullptr, lower.c_str(), nullptr));
  if (!md) return OpenSslError("digest " + lower + " is not available");
  return md;
}

const CmsAttribute* ParsedSignedData::FindAttribute(std::string_view oid) const {
  for (const auto& a : signed_attributes) {
    if (a.oid == oid) return &a;
  }
  return nullptr;
}

StatusOr<ParsedSignedData> ParseSignedData(std::string_view data) {
  ASSIGN_OR_RETURN(CmsPtr cms, DecodeCms(data, NID_pkcs7_signed, "SignedData"));
  ParsedSignedData out;
  out.content_type = OidToDotted(CMS_get0_eContentType(cms.get()));
  ASN1_OCTET_STRING** pos = CMS_get0_content(cms.get());
  if (pos != nullptr && *pos != nullptr) out.content = Asn1StringBytes(*pos);

  if (STACK_OF(X509)* certs = CMS_get1_certs(cms.get()); certs != nullptr) {
    while (sk_X509_num(certs) > 0) out.certificates.emplace_back(sk_X509_shift(certs));
    sk_X509_free(certs);
  }

  STACK_OF(CMS_SignerInfo)* sis = CMS_get0_SignerInfos(cms.get());
  out.signer_count = sis == nullptr ? 0 : sk_CMS_SignerInfo_num(sis);
  if (out.signer_count <= 0) return InvalidArgumentError("SignedData has no SignerInfo");
  CMS_SignerInfo* si = sk_CMS_SignerInfo_value(sis, 0);

  for (const auto& cert : out.certificates) {
    if (CMS_SignerInfo_cert_cmp(si, cert.get()) == 0) {
      X509_up_ref(cert.get());
      out.signer.reset(cert.get());
      break;
    }
  }

  X509_ALGOR* dig = nullptr;
  X509_ALGOR* sig = nullptr;
  CMS_SignerInfo_get0_algs(si, nullptr, nullptr, &dig, &sig);
  if (dig != nullptr) {
    const ASN1_OBJECT* obj = nullptr;
    X509_ALGOR_get0(&obj, nullptr, nullptr, dig);
    int nid = OBJ_obj2nid(obj);
    out.digest_algorithm = nid != NID_undef ? Lower(OBJ_nid2sn(nid)) : OidToDotted(obj);
  }
  if (sig != nullptr) {
    const ASN1_OBJECT* obj = nullptr;
    X509_ALGOR_get0(&obj, nullptr, nullptr, sig);
    out.signature_algorithm = OidDisplayName(obj);
  }

  int n = CMS_signed_get_attr_count(si);
  out.has_signed_attributes = n >= 0;
  for (int i = 0; i < n; ++i) {
    X509_ATTRIBUTE* attr = CMS_signed_get_attr(si, i);
    if (attr == nullptr || X509_ATTRIBUTE_count(attr) < 1) continue;
    CmsAttribute a;
    a.oid = OidToDotted(X509_ATTRIBUTE_get0_object(attr));
    ASN1_TYPE* t = X509_ATTRIBUTE_get0_type(attr, 0);
    if (t == nullptr) continue;
    a.type = ASN1_TYPE_get(t);
    if (IsStringType(a.type)) {
      a.value = Asn1StringBytes(t->value.asn1_string);
    } else {
      a.value = EncodeDer(t, i2d_ASN1_TYPE).value_or(std::string());
    }
    out.signed_attributes.push_back(std::move(a));
  }
  ERR_clear_error();
  out.cms = std::move(cms);
  return out;
}

Status VerifySignedData(const ParsedSignedData& parsed,
                        std::optional<std::string_view> detached_content) {
  if (!parsed.cms) return InvalidArgumentError("no parsed SignedData");
  if (!parsed.signer) {
    return InvalidArgumentError("the SignedData does not carry its signer's certificate");
  }
  BioPtr dcont;
  // Some encoders (OpenSSL's own streaming output among them) write an empty eContent in a
  // detached signature: an empty eContent counts as detached when content is supplied.
  if (parsed.content.has_value() && !(parsed.content->empty() && detached_content.has_value())) {
    if (detached_content.has_value()) {
      return InvalidArgumentError("SignedData carries its content; no detached content expected");
    }
  } else {
    if (!detached_content.has_value()) {
      return InvalidArgumentError("detached SignedData: the signed content is needed to verify");
    }
    dcont = MemBio(*detached_content);
  }
  X509StackPtr certs(sk_X509_new_null());
  X509_up_ref(parsed.signer.get());
  if (!certs || sk_X509_push(certs.get(), parsed.signer.get()) <= 0) {
    X509_free(parsed.signer.get());
    return InternalError("allocating certificate stack");
  }
  ERR_clear_error();
  BioPtr sink(BIO_new(BIO_s_null()));
  int ok = CMS_verify(parsed.cms.get(), certs.get(), nullptr, dcont.get(), sink.get(),
                      CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY | CMS_NOINTERN);
  if (ok != 1) return OpenSslError("CMS signature does not verify", kBadInput);
  return OkStatus();
}

StatusOr<std::string> SignCms(std::string_view content, const CmsSignOptions& options) {
  if (options.key == nullptr || options.cert == nullptr) {
    return InvalidArgumentError("SignCms needs a signer key and certificate");
  }
  ASSIGN_OR_RETURN(EvpMdPtr md, FetchDigest(options.digest));
  ERR_clear_error();
  unsigned int flags = CMS_PARTIAL | CMS_BINARY | CMS_NOSMIMECAP;
  if (options.detached) flags |= CMS_DETACHED;
  CmsPtr cms(CMS_sign(nullptr, nullptr, nullptr, nullptr, flags));
  if (!cms) return OpenSslError("creating SignedData");
  if (!options.content_type.empty()) {
    Asn1ObjectPtr obj(OBJ_txt2obj(options.content_type.c_str(), 1));
    if (!obj) return OpenSslError("bad content type " + options.content_type, kBadInput);
    if (CMS_set1_eContentType(cms.get(), obj.get()) != 1) {
      return OpenSslError("setting eContentType");
    }
  }
  unsigned int signer_flags = CMS_BINARY | CMS_NOSMIMECAP;
  if (!options.include_signer_cert) signer_flags |= CMS_NOCERTS;
  CMS_SignerInfo* si = CMS_add1_signer(cms.get(), options.cert, options.key, md.get(),
                                       signer_flags | CMS_PARTIAL);
  if (si == nullptr) return OpenSslError("adding signer (key and certificate must match)");
  if (options.signing_time.has_value()) {
    Asn1TimePtr t(ASN1_TIME_set(nullptr, static_cast<time_t>(ToUnixSeconds(*options.signing_time))));
    if (!t || CMS_signed_add1_attr_by_NID(si, NID_pkcs9_signingTime, t->type, t.get(), -1) != 1) {
      return OpenSslError("adding signingTime");
    }
  }
  for (const auto& attr : options.attributes) RETURN_IF_ERROR(AddAttribute(si, attr));
  for (X509* c : options.chain) {
    if (c == nullptr) continue;
    if (options.include_signer_cert && X509_cmp(c, options.cert) == 0) continue;
    if (CMS_add1_cert(cms.get(), c) != 1) return OpenSslError("adding chain certificate");
  }
  BioPtr in = MemBio(content);
  if (CMS_final(cms.get(), in.get(), nullptr, flags) != 1) return OpenSslError("signing CMS");

  if (options.signature_oid != CmsSignatureOid::kLibraryDefault) {
    if (EVP_PKEY_get_base_id(options.key) != EVP_PKEY_RSA) {
      return InvalidArgumentError("signature OID override needs an RSA signer key");
    }
    int nid = NID_rsaEncryption;
    if (options.signature_oid == CmsSignatureOid::kDigestWithRsa &&
        OBJ_find_sigid_by_algs(&nid, EVP_MD_get_type(md.get()), NID_rsaEncryption) != 1) {
      return InternalError("no RSA signature OID for digest " + options.digest);
    }
    X509_ALGOR* sig = nullptr;
    CMS_SignerInfo_get0_algs(si, nullptr, nullptr, nullptr, &sig);
    if (sig == nullptr || X509_ALGOR_set0(sig, OBJ_nid2obj(nid), V_ASN1_NULL, nullptr) != 1) {
      return OpenSslError("setting SignerInfo signatureAlgorithm");
    }
  }
  return CmsToDer(cms.get());
}

StatusOr<std::string> EncryptCms(std::string_view content, X509* recipient,
                                 std::string_view cipher_name) {
  if (recipient == nullptr) return InvalidArgumentError("EncryptCms needs a recipient");
  ASSIGN_OR_RETURN(EvpCipherPtr cipher, FetchCipher(cipher_name));
  ERR_clear_error();
  X509StackPtr certs(sk_X509_new_null());
  X509_up_ref(recipient);
  if (!certs || sk_X509_push(certs.get(), recipient) <= 0) {
    X509_free(recipient);
    return InternalError("allocating certificate stack");
  }
  BioPtr in = MemBio(content);
  CmsPtr cms(CMS_encrypt(certs.get(), in.get(), cipher.get(), CMS_BINARY));
  if (!cms) return OpenSslError("encrypting CMS EnvelopedData", kBadInput);
  return CmsToDer(cms.get());
}

StatusOr<EnvelopeInfo> InspectEnvelopedData(std::string_view data) {
  ASSIGN_OR_RETURN(CmsPtr cms, DecodeCms(data, NID_pkcs7_enveloped, "EnvelopedData"));
  EnvelopeInfo info;
  // OpenSSL 3.0 has no CMS getter for the content-encryption algorithm; the PKCS7 structures
  // expose it (they cannot represent subjectKeyIdentifier recipients, hence the CMS parse above).
  BioPtr bio = MemBio(data);
  Pkcs7Ptr p7(d2i_PKCS7_bio(bio.get(), nullptr));
  if (p7 && PKCS7_type_is_enveloped(p7.get()) && p7->d.enveloped != nullptr &&
      p7->d.enveloped->enc_data != nullptr && p7->d.enveloped->enc_data->algorithm != nullptr) {
    const ASN1_OBJECT* obj = nullptr;
    X509_ALGOR_get0(&obj, nullptr, nullptr, p7->d.enveloped->enc_data->algorithm);
    info.content_encryption_oid = OidToDotted(obj);
    int nid = OBJ_obj2nid(obj);
    info.content_encryption = nid != NID_undef ? OBJ_nid2sn(nid) : info.content_encryption_oid;
  }
  STACK_OF(CMS_RecipientInfo)* ris = CMS_get0_RecipientInfos(cms.get());
  for (int i = 0; ris != nullptr && i < sk_CMS_RecipientInfo_num(ris); ++i) {
    CMS_RecipientInfo* ri = sk_CMS_RecipientInfo_value(ris, i);
    EnvelopeInfo::Recipient r;
    if (CMS_RecipientInfo_type(ri) == CMS_RECIPINFO_TRANS) {
      ASN1_OCTET_STRING* keyid = nullptr;
      X509_NAME* issuer = nullptr;
      ASN1_INTEGER* serial = nullptr;
      if (CMS_RecipientInfo_ktri_get0_signer_id(ri, &keyid, &issuer, &serial) == 1) {
        if (issuer != nullptr) r.issuer = NameToString(issuer);
        if (serial != nullptr) r.serial_hex = SerialHex(serial);
      }
      X509_ALGOR* alg = nullptr;
      if (CMS_RecipientInfo_ktri_get0_algs(ri, nullptr, nullptr, &alg) == 1 && alg != nullptr) {
        const ASN1_OBJECT* obj = nullptr;
        X509_ALGOR_get0(&obj, nullptr, nullptr, alg);
        r.key_encryption = OidDisplayName(obj);
      }
    }
    info.recipients.push_back(std::move(r));
  }
  ERR_clear_error();
  return info;
}

StatusOr<std::string> DecryptCms(std::string_view data, EVP_PKEY* key, X509* cert) {
  if (key == nullptr || cert == nullptr) {
    return InvalidArgumentError("DecryptCms needs a key and its certificate");
  }
  ASSIGN_OR_RETURN(CmsPtr cms, DecodeCms(data, NID_pkcs7_enveloped, "EnvelopedData"));
  BioPtr out(BIO_new(BIO_s_mem()));
  if (!out) return InternalError("allocating BIO");
  if (CMS_decrypt(cms.get(), key, cert, nullptr, out.get(), CMS_BINARY) != 1) {
    return OpenSslError("decrypting EnvelopedData", kBadInput);
  }
  return MemBioContents(out.get());
}

StatusOr<std::string> BuildCertsOnly(const std::vector<X509*>& certs,
                                     const std::vector<X509_CRL*>& crls) {
  ERR_clear_error();
  Pkcs7Ptr p7(PKCS7_new());
  if (!p7 || PKCS7_set_type(p7.get(), NID_pkcs7_signed) != 1) {
    return OpenSslError("creating PKCS#7");
  }
  // Content type id-data with the content itself absent, as RFC 8894 section 3.3.1.2 shows.
  PKCS7* contents = p7->d.sign->contents;
  ASN1_OBJECT_free(contents->type);
  contents->type = OBJ_nid2obj(NID_pkcs7_data);
  for (X509* c : certs) {
    if (c == nullptr) continue;
    if (PKCS7_add_certificate(p7.get(), c) != 1) return OpenSslError("adding certificate");
  }
  for (X509_CRL* crl : crls) {
    if (crl == nullptr) continue;
    if (PKCS7_add_crl(p7.get(), crl) != 1) return OpenSslError("adding CRL");
  }
  BioPtr out(BIO_new(BIO_s_mem()));
  if (!out || i2d_PKCS7_bio(out.get(), p7.get()) != 1) return OpenSslError("encoding PKCS#7");
  return MemBioContents(out.get());
}

StatusOr<std::vector<X509Ptr>> ParseCertsOnly(std::string_view data) {
  ASSIGN_OR_RETURN(CmsPtr cms, DecodeCms(data, NID_pkcs7_signed, "certs-only SignedData"));
  std::vector<X509Ptr> out;
  if (STACK_OF(X509)* certs = CMS_get1_certs(cms.get()); certs != nullptr) {
    while (sk_X509_num(certs) > 0) out.emplace_back(sk_X509_shift(certs));
    sk_X509_free(certs);
  }
  ERR_clear_error();
  return out;
}

StatusOr<std::vector<X509CrlPtr>> ParseCrlsOnly(std::string_view data) {
  ASSIGN_OR_RETURN(CmsPtr cms, DecodeCms(data, NID_pkcs7_signed, "certs-only SignedData"));
  std::vector<X509CrlPtr> out;
  if (STACK_OF(X509_CRL)* crls = CMS_get1_crls(cms.get()); crls != nullptr) {
    while (sk_X509_CRL_num(crls) > 0) out.emplace_back(sk_X509_CRL_shift(crls));
    sk_X509_CRL_free(crls);
  }
  ERR_clear_error();
  return out;
}

}  // namespace custos
