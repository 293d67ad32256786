#include "pki/x509.h"

#include <arpa/inet.h>
#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cstring>
#include <cctype>
#include <ctime>
#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "pki/key.h"
#include "pki/spki.h"

// RFC 4043: PermanentIdentifier ::= SEQUENCE {
//     identifierValue UTF8String OPTIONAL, assigner OBJECT IDENTIFIER OPTIONAL }
// Declared with OpenSSL's ASN.1 templates so OpenSSL does the DER work.
extern "C" {
typedef struct custos_permanent_identifier_st {
  ASN1_UTF8STRING* identifier_value;
  ASN1_OBJECT* assigner;
} CUSTOS_PERMANENT_IDENTIFIER;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
ASN1_SEQUENCE(CUSTOS_PERMANENT_IDENTIFIER) = {
    ASN1_OPT(CUSTOS_PERMANENT_IDENTIFIER, identifier_value, ASN1_UTF8STRING),
    ASN1_OPT(CUSTOS_PERMANENT_IDENTIFIER, assigner, ASN1_OBJECT),
} ASN1_SEQUENCE_END(CUSTOS_PERMANENT_IDENTIFIER)
IMPLEMENT_ASN1_FUNCTIONS(CUSTOS_PERMANENT_IDENTIFIER)

#pragma GCC diagnostic pop
}

namespace custos {

namespace {

using PermanentIdentifierPtr =
    OpenSslPtr<CUSTOS_PERMANENT_IDENTIFIER, CUSTOS_PERMANENT_IDENTIFIER_free>;
using AuthorityKeyIdPtr = OpenSslPtr<AUTHORITY_KEYID, AUTHORITY_KEYID_free>;
using BasicConstraintsPtr = OpenSslPtr<BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free>;

struct ObjectStackDeleter {
  void operator()(STACK_OF(ASN1_OBJECT) * s) const { sk_ASN1_OBJECT_pop_free(s, ASN1_OBJECT_free); }
};
using ObjectStackPtr = std::unique_ptr<STACK_OF(ASN1_OBJECT), ObjectStackDeleter>;

std::string Asn1StringUtf8(const ASN1_STRING* s) {
  if (s == nullptr) return "";
  unsigned char* out = nullptr;
  int len = ASN1_STRING_to_UTF8(&out, s);
  if (len < 0) {
    DrainOpenSslErrors();
    return "";
  }
  std::string r(reinterpret_cast<char*>(out), static_cast<size_t>(len));
  OPENSSL_free(out);
  return r;
}

std::string Asn1StringRaw(const ASN1_STRING* s) {
  if (s == nullptr) return "";
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

std::string ObjectText(const ASN1_OBJECT* obj) {
  char buf[128];
  int n = OBJ_obj2txt(buf, sizeof(buf), obj, 1);
  if (n <= 0) return "";
  return std::string(buf, std::min<size_t>(static_cast<size_t>(n), sizeof(buf) - 1));
}

std::string IpText(const ASN1_OCTET_STRING* ip) {
  std::string raw = Asn1StringRaw(ip);
  char buf[INET6_ADDRSTRLEN] = {0};
  if (raw.size() == 4 && inet_ntop(AF_INET, raw.data(), buf, sizeof(buf)) != nullptr) return buf;
  if (raw.size() == 16 && inet_ntop(AF_INET6, raw.data(), buf, sizeof(buf)) != nullptr) return buf;
  return "hex:" + HexEncode(raw);
}

San OtherNameToSan(const OTHERNAME* other) {
  San san;
  std::string oid = ObjectText(other->type_id);
  if (oid == kPermanentIdentifierOid && other->value != nullptr &&
      other->value->type == V_ASN1_SEQUENCE) {
    const ASN1_STRING* seq = other->value->value.sequence;
    const unsigned char* p = ASN1_STRING_get0_data(seq);
    PermanentIdentifierPtr pi(
        d2i_CUSTOS_PERMANENT_IDENTIFIER(nullptr, &p, ASN1_STRING_length(seq)));
    if (pi) {
      san.type = "permanent_identifier";
      san.value = Asn1StringUtf8(pi->identifier_value);
      if (pi->assigner != nullptr) san.assigner = ObjectText(pi->assigner);
      return san;
    }
    DrainOpenSslErrors();
  }
  san.type = "other";
  std::string der;
  if (other->value != nullptr) {
    unsigned char* buf = nullptr;
    int len = i2d_ASN1_TYPE(other->value, &buf);
    if (len > 0) {
      der.assign(reinterpret_cast<char*>(buf), static_cast<size_t>(len));
      OPENSSL_free(buf);
    }
  }
  san.value = oid + ":" + HexEncode(der);
  return san;
}

Status Fail(std::string_view what) { return OpenSslError(what, StatusCode::kInvalidArgument); }

bool LooksLikePem(std::string_view data) {
  return data.find("-----BEGIN ") != std::string_view::npos;
}

}  // namespace

// ---- SAN JSON ----------------------------------------------------------------------------------

std::string SansToJson(const std::vector<San>& sans) {
  nlohmann::json arr = nlohmann::json::array();
  for (const San& s : sans) {
    nlohmann::json o = {{"type", s.type}, {"value", s.value}};
    if (!s.assigner.empty()) o["assigner"] = s.assigner;
    arr.push_back(std::move(o));
  }
  return arr.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

StatusOr<std::vector<San>> SansFromJson(std::string_view json) {
  nlohmann::json arr = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (arr.is_discarded() || !arr.is_array()) return InvalidArgumentError("SANs: not a JSON array");
  std::vector<San> out;
  for (const auto& o : arr) {
    if (!o.is_object() || !o.contains("type") || !o["type"].is_string() || !o.contains("value") ||
        !o["value"].is_string()) {
      return InvalidArgumentError("SANs: each entry needs string \"type\" and \"value\"");
    }
    San s{o["type"].get<std::string>(), o["value"].get<std::string>(), ""};
    if (o.contains("assigner") && o["assigner"].is_string()) {
      s.assigner = o["assigner"].get<std::string>();
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::string SansToText(const std::vector<San>& sans) {
  std::string out;
  for (const San& s : sans) {
    if (!out.empty()) out += ", ";
    out += s.type + ":" + s.value;
    if (!s.assigner.empty()) out += " (assigner " + s.assigner + ")";
  }
  return out;
}

// ---- Parsing -----------------------------------------------------------------------------------

StatusOr<std::vector<X509Ptr>> ParseCertificateChain(std::string_view data) {
  std::vector<X509Ptr> out;
  if (data.empty()) return InvalidArgumentError("certificate: empty input");
  if (LooksLikePem(data)) {
    BioPtr bio = MemBioFrom(data);
    while (true) {
      X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
      if (cert == nullptr) {
        unsigned long err = ERR_peek_last_error();
        if (!out.empty() && ERR_GET_LIB(err) == ERR_LIB_PEM &&
            ERR_GET_REASON(err) == PEM_R_NO_START_LINE) {
          ERR_clear_error();
          break;
        }
        return Fail("certificate: malformed PEM");
      }
      out.emplace_back(cert);
    }
    return out;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  const auto* end = p + data.size();
  while (p < end) {
    X509* cert = d2i_X509(nullptr, &p, static_cast<long>(end - p));
    if (cert == nullptr) return Fail("certificate: malformed DER");
    out.emplace_back(cert);
  }
  return out;
}

StatusOr<X509Ptr> ParseCertificate(std::string_view data) {
  if (data.empty()) return InvalidArgumentError("certificate: empty input");
  if (LooksLikePem(data)) {
    BioPtr bio = MemBioFrom(data);
    X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
    if (cert == nullptr) return Fail("certificate: malformed PEM");
    return X509Ptr(cert);
  }
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  X509* cert = d2i_X509(nullptr, &p, static_cast<long>(data.size()));
  if (cert == nullptr) return Fail("certificate: malformed DER");
  X509Ptr owned(cert);
  if (p != reinterpret_cast<const unsigned char*>(data.data()) + data.size()) {
    return InvalidArgumentError("certificate: trailing data after the DER certificate");
  }
  return owned;
}

std::string CertificateDer(const X509* cert) {
  return EncodeDer(cert, i2d_X509, "encoding certificate").value_or(std::string());
}

std::string CertificatePem(const X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) {
    DrainOpenSslErrors();
    return "";
  }
  return MemBioContents(bio.get());
}

std::string CertificatePemFromDer(std::string_view der) {
  static constexpr std::string_view kBegin = "-----BEGIN CERTIFICATE-----\n";
  static constexpr std::string_view kEnd = "-----END CERTIFICATE-----\n";
  const std::string b64 = Base64Encode(der);
  std::string out;
  out.reserve(kBegin.size() + b64.size() + b64.size() / 64 + 1 + kEnd.size());
  out += kBegin;
  for (size_t i = 0; i < b64.size(); i += 64) {
    out.append(b64, i, 64);
    out += '\n';
  }
  out += kEnd;
  return out;
}

std::string CertificatesPem(const std::vector<X509*>& certs) {
  std::string out;
  for (X509* c : certs) out += CertificatePem(c);
  return out;
}

std::string CertSha256Hex(const X509* cert) { return Sha256Hex(CertificateDer(cert)); }

std::string CertSpkiSha256Hex(const X509* cert) {
  StatusOr<std::string> spki = EncodeDer(X509_get_X509_PUBKEY(cert), i2d_X509_PUBKEY);
  return spki.ok() ? Sha256Hex(*spki) : std::string();
}

std::string SerialHex(const ASN1_INTEGER* serial) {
  BigNumPtr bn(ASN1_INTEGER_to_BN(serial, nullptr));
  if (!bn) {
    DrainOpenSslErrors();
    return "";
  }
  if (BN_is_zero(bn.get())) return "0";
  char* hex = BN_bn2hex(bn.get());
  std::string out(hex);
  OPENSSL_free(hex);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  // BN_bn2hex pads to whole bytes; storage wants no leading zeros.
  bool negative = !out.empty() && out[0] == '-';
  size_t start = negative ? 1 : 0;
  size_t nz = out.find_first_not_of('0', start);
  out = (negative ? "-" : "") + out.substr(nz == std::string::npos ? out.size() - 1 : nz);
  return out;
}

std::string CertSerialHex(const X509* cert) { return SerialHex(X509_get0_serialNumber(cert)); }

StatusOr<std::string> NormalizeSerialHex(std::string_view text) {
  std::string hex;
  if (text.size() >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    text.remove_prefix(2);
  }
  for (char c : text) {
    if (c == ':' || c == ' ') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return InvalidArgumentError("serial \"" + std::string(text) + "\" is not hexadecimal");
    }
    hex.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  if (hex.empty()) return InvalidArgumentError("empty serial");
  size_t nz = hex.find_first_not_of('0');
  return nz == std::string::npos ? std::string("0") : hex.substr(nz);
}

std::string NameToString(const X509_NAME* name) {
  if (name == nullptr) return "";
  BioPtr bio(BIO_new(BIO_s_mem()));
  // RFC 2253, but UTF-8 kept as UTF-8 instead of \XX escapes.
  unsigned long flags = XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB;
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, flags) < 0) {
    DrainOpenSslErrors();
    return "";
  }
  return MemBioContents(bio.get());
}

std::string SubjectString(const X509* cert) { return NameToString(X509_get_subject_name(cert)); }
std::string IssuerString(const X509* cert) { return NameToString(X509_get_issuer_name(cert)); }

Time Asn1TimeToTime(const ASN1_TIME* t) {
  struct tm tm = {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    DrainOpenSslErrors();
    return Time{};
  }
  return FromUnixSeconds(static_cast<int64_t>(timegm(&tm)));
}

Time NotBefore(const X509* cert) { return Asn1TimeToTime(X509_get0_notBefore(cert)); }
Time NotAfter(const X509* cert) { return Asn1TimeToTime(X509_get0_notAfter(cert)); }

std::vector<San> SansFromGeneralNames(const GENERAL_NAMES* names) {
  std::vector<San> out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* gen = sk_GENERAL_NAME_value(names, i);
    switch (gen->type) {
      case GEN_DNS:
        out.push_back({"dns", Asn1StringRaw(gen->d.dNSName), ""});
        break;
      case GEN_EMAIL:
        out.push_back({"email", Asn1StringRaw(gen->d.rfc822Name), ""});
        break;
      case GEN_URI:
        out.push_back({"uri", Asn1StringRaw(gen->d.uniformResourceIdentifier), ""});
        break;
      case GEN_IPADD:
        out.push_back({"ip", IpText(gen->d.iPAddress), ""});
        break;
      case GEN_OTHERNAME:
        out.push_back(OtherNameToSan(gen->d.otherName));
        break;
      case GEN_DIRNAME:
        out.push_back({"dirname", NameToString(gen->d.directoryName), ""});
        break;
      default:
        break;  // x400Address, ediPartyName, registeredID: not used by custos
    }
  }
  return out;
}

StatusOr<std::vector<San>> CertificateSans(const X509* cert) {
  int crit = 0;
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, nullptr));
  if (names == nullptr) {
    if (crit == -1) return std::vector<San>{};  // absent
    return Fail("subjectAltName extension is malformed or repeated");
  }
  GeneralNamesPtr owned(names);
  return SansFromGeneralNames(names);
}

EvpPkeyPtr CertificatePublicKey(const X509* cert) {
  EVP_PKEY* key = X509_get_pubkey(const_cast<X509*>(cert));
  if (key == nullptr) DrainOpenSslErrors();
  return EvpPkeyPtr(key);
}

StatusOr<CertificateInfo> DescribeCertificate(const X509* cert) {
  if (cert == nullptr) return InvalidArgumentError("no certificate");
  CertificateInfo info;
  info.serial_hex = CertSerialHex(cert);
  info.subject = SubjectString(cert);
  info.issuer = IssuerString(cert);
  ASSIGN_OR_RETURN(info.sans, CertificateSans(cert));
  info.not_before = NotBefore(cert);
  info.not_after = NotAfter(cert);
  info.sha256_hex = CertSha256Hex(cert);
  info.spki_sha256_hex = CertSpkiSha256Hex(cert);
  EvpPkeyPtr key = CertificatePublicKey(cert);
  info.key_type = KeyDescription(key.get());
  info.is_ca = X509_check_ca(const_cast<X509*>(cert)) > 0;
  return info;
}

// ---- Building ----------------------------------------------------------------------------------

StatusOr<X509NamePtr> BuildName(const std::vector<RdnEntry>& rdns) {
  X509NamePtr name(X509_NAME_new());
  if (!name) return OpenSslError("allocating name");
  for (const RdnEntry& e : rdns) {
    if (X509_NAME_add_entry_by_txt(name.get(), e.field.c_str(), MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(e.value.data()),
                                   static_cast<int>(e.value.size()), -1, 0) != 1) {
      return Fail("subject field \"" + e.field + "\"");
    }
  }
  return name;
}

std::vector<RdnEntry> NameEntries(const X509_NAME* name) {
  std::vector<RdnEntry> out;
  for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
    const X509_NAME_ENTRY* e = X509_NAME_get_entry(name, i);
    const ASN1_OBJECT* obj = X509_NAME_ENTRY_get_object(e);
    int nid = OBJ_obj2nid(obj);
    std::string field = nid != NID_undef ? OBJ_nid2sn(nid) : ObjectText(obj);
    out.push_back({field, Asn1StringUtf8(X509_NAME_ENTRY_get_data(e))});
  }
  return out;
}

Status AppendGeneralNames(const std::vector<San>& sans, GENERAL_NAMES* names) {
  for (const San& san : sans) {
    GeneralNamePtr gen(GENERAL_NAME_new());
    if (!gen) return OpenSslError("allocating GENERAL_NAME");
    if (san.type == "dns" || san.type == "email" || san.type == "uri") {
      Asn1StringPtr s(ASN1_IA5STRING_new());
      for (unsigned char c : san.value) {
        if (c >= 0x80) return InvalidArgumentError("SAN " + san.type + " must be ASCII");
      }
      if (san.value.empty()) return InvalidArgumentError("empty SAN " + san.type);
      if (!s ||
          ASN1_STRING_set(s.get(), san.value.data(), static_cast<int>(san.value.size())) != 1) {
        return OpenSslError("SAN value");
      }
      int type = san.type == "dns" ? GEN_DNS : san.type == "email" ? GEN_EMAIL : GEN_URI;
      GENERAL_NAME_set0_value(gen.get(), type, s.release());
    } else if (san.type == "ip") {
      ASN1_OCTET_STRING* ip = a2i_IPADDRESS(san.value.c_str());
      if (ip == nullptr) return Fail("SAN ip \"" + san.value + "\" is not an IP address");
      GENERAL_NAME_set0_value(gen.get(), GEN_IPADD, ip);
    } else if (san.type == "permanent_identifier") {
      PermanentIdentifierPtr pi(CUSTOS_PERMANENT_IDENTIFIER_new());
      if (!pi) return OpenSslError("allocating PermanentIdentifier");
      if (!san.value.empty()) {
        pi->identifier_value = ASN1_UTF8STRING_new();
        if (pi->identifier_value == nullptr ||
            ASN1_STRING_set(pi->identifier_value, san.value.data(),
                            static_cast<int>(san.value.size())) != 1) {
          return OpenSslError("PermanentIdentifier value");
        }
      }
      if (!san.assigner.empty()) {
        pi->assigner = OBJ_txt2obj(san.assigner.c_str(), 1);
        if (pi->assigner == nullptr) {
          return Fail("PermanentIdentifier assigner \"" + san.assigner + "\" is not an OID");
        }
      }
      ASSIGN_OR_RETURN(std::string der, EncodeDer(pi.get(), i2d_CUSTOS_PERMANENT_IDENTIFIER,
                                                  "encoding PermanentIdentifier"));
      Asn1StringPtr seq(ASN1_STRING_type_new(V_ASN1_SEQUENCE));
      int set_ok = seq ? ASN1_STRING_set(seq.get(), der.data(), static_cast<int>(der.size())) : 0;
      if (set_ok != 1) return OpenSslError("PermanentIdentifier");
      Asn1TypePtr value(ASN1_TYPE_new());
      if (!value) return OpenSslError("allocating ASN1_TYPE");
      ASN1_TYPE_set(value.get(), V_ASN1_SEQUENCE, seq.release());
      ASN1_OBJECT* oid = OBJ_txt2obj(kPermanentIdentifierOid, 1);
      if (oid == nullptr) return OpenSslError("PermanentIdentifier OID");
      if (GENERAL_NAME_set0_othername(gen.get(), oid, value.get()) != 1) {
        ASN1_OBJECT_free(oid);
        return OpenSslError("setting otherName");
      }
      value.release();
    } else {
      return InvalidArgumentError("unsupported SAN type \"" + san.type + "\"");
    }
    if (sk_GENERAL_NAME_push(names, gen.get()) <= 0) return OpenSslError("adding SAN");
    gen.release();
  }
  return OkStatus();
}

namespace {

Status AddExtension(X509* cert, int nid, void* value, bool critical) {
  if (X509_add1_ext_i2d(cert, nid, value, critical ? 1 : 0, X509V3_ADD_REPLACE) != 1) {
    return OpenSslError(std::string("adding extension ") + OBJ_nid2sn(nid),
                        StatusCode::kInvalidArgument);
  }
  return OkStatus();
}

// SHA-1 over the subjectPublicKey BIT STRING (RFC 5280 section 4.2.1.2, method 1).
StatusOr<Asn1OctetStringPtr> KeyIdentifier(const X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_pubkey_digest(cert, EVP_sha1(), md, &len) != 1) {
    return OpenSslError("computing key identifier");
  }
  Asn1OctetStringPtr id(ASN1_OCTET_STRING_new());
  if (!id || ASN1_OCTET_STRING_set(id.get(), md, static_cast<int>(len)) != 1) {
    return OpenSslError("key identifier");
  }
  return id;
}

}  // namespace

namespace {

// Copies a DER SubjectPublicKeyInfo into `cert` field by field.
Status SetSpki(X509* cert, std::string_view der) {
  pki_internal::SpkiPtr spki = pki_internal::ParseSpkiParts(der);
  if (!spki) return Fail("subject public key: malformed SubjectPublicKeyInfo");
  const ASN1_OBJECT* alg = nullptr;
  int ptype = V_ASN1_UNDEF;
  const void* pval = nullptr;
  X509_ALGOR_get0(&alg, &ptype, &pval, spki->algor);
  void* pval_copy = nullptr;
  if (ptype == V_ASN1_OBJECT) {
    pval_copy = OBJ_dup(static_cast<const ASN1_OBJECT*>(pval));
  } else if (ptype != V_ASN1_UNDEF && ptype != V_ASN1_NULL && pval != nullptr) {
    pval_copy = ASN1_STRING_dup(static_cast<const ASN1_STRING*>(pval));
  }
  ASN1_OBJECT* alg_copy = OBJ_dup(alg);
  int len = ASN1_STRING_length(spki->public_key);
  auto* bits = static_cast<unsigned char*>(OPENSSL_malloc(len > 0 ? len : 1));
  if (alg_copy == nullptr || bits == nullptr ||
      (pval_copy == nullptr && (ptype == V_ASN1_OBJECT || ptype == V_ASN1_SEQUENCE))) {
    ASN1_OBJECT_free(alg_copy);
    OPENSSL_free(bits);
    if (ptype == V_ASN1_OBJECT) ASN1_OBJECT_free(static_cast<ASN1_OBJECT*>(pval_copy));
    else ASN1_STRING_free(static_cast<ASN1_STRING*>(pval_copy));
    return OpenSslError("copying SubjectPublicKeyInfo");
  }
  if (len > 0) std::memcpy(bits, ASN1_STRING_get0_data(spki->public_key), static_cast<size_t>(len));
  // set0 takes ownership of everything on success.
  if (X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(cert), alg_copy, ptype, pval_copy, bits, len) !=
      1) {
    ASN1_OBJECT_free(alg_copy);
    OPENSSL_free(bits);
    return OpenSslError("setting SubjectPublicKeyInfo");
  }
  return OkStatus();
}

StatusOr<X509Ptr> BuildCertificateImpl(const CertificateTemplate& tmpl, EVP_PKEY* subject_key,
                                       std::string_view subject_spki_der, const X509* issuer,
                                       EVP_PKEY* issuer_key) {
  if ((subject_key == nullptr && subject_spki_der.empty()) || issuer_key == nullptr) {
    return InvalidArgumentError("certificate: subject and issuer keys are required");
  }
  if (tmpl.not_after <= tmpl.not_before) {
    return InvalidArgumentError("certificate: notAfter must be after notBefore");
  }
  X509Ptr cert(X509_new());
  if (!cert) return OpenSslError("allocating certificate");
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1) return OpenSslError("version");

  // Serial.
  ASSIGN_OR_RETURN(std::string serial_hex, NormalizeSerialHex(tmpl.serial_hex));
  BIGNUM* bn_raw = nullptr;
  if (BN_hex2bn(&bn_raw, serial_hex.c_str()) == 0) return Fail("serial");
  BigNumPtr bn(bn_raw);
  if (BN_is_zero(bn.get()) || BN_num_bytes(bn.get()) > 20) {
    return InvalidArgumentError("certificate: serial must be positive and at most 20 octets");
  }
  Asn1IntegerPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (!serial || X509_set_serialNumber(cert.get(), serial.get()) != 1) {
    return OpenSslError("setting serial");
  }

  // Names.
  X509NamePtr built_name;
  const X509_NAME* subject = tmpl.subject_name;
  if (subject == nullptr) {
    ASSIGN_OR_RETURN(built_name, BuildName(tmpl.subject));
    subject = built_name.get();
  }
  if (X509_set_subject_name(cert.get(), subject) != 1) return OpenSslError("subject");
  const X509_NAME* issuer_name = issuer != nullptr ? X509_get_subject_name(issuer) : subject;
  if (X509_set_issuer_name(cert.get(), issuer_name) != 1) return OpenSslError("issuer");

  // Validity.
  if (ASN1_TIME_set(X509_getm_notBefore(cert.get()),
                    static_cast<time_t>(ToUnixSeconds(tmpl.not_before))) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert.get()),
                    static_cast<time_t>(ToUnixSeconds(tmpl.not_after))) == nullptr) {
    return OpenSslError("validity");
  }
  if (subject_key != nullptr) {
    if (X509_set_pubkey(cert.get(), subject_key) != 1) return OpenSslError("public key");
  } else {
    RETURN_IF_ERROR(SetSpki(cert.get(), subject_spki_der));
  }

  // Extensions.
  if (tmpl.basic_constraints_ca.has_value()) {
    BasicConstraintsPtr bc(BASIC_CONSTRAINTS_new());
    if (!bc) return OpenSslError("basicConstraints");
    bc->ca = *tmpl.basic_constraints_ca ? 0xFF : 0;
    if (*tmpl.basic_constraints_ca && tmpl.path_length >= 0) {
      bc->pathlen = ASN1_INTEGER_new();
      if (bc->pathlen == nullptr || ASN1_INTEGER_set(bc->pathlen, tmpl.path_length) != 1) {
        return OpenSslError("pathLenConstraint");
      }
    }
    RETURN_IF_ERROR(AddExtension(cert.get(), NID_basic_constraints, bc.get(), true));
  }
  if (tmpl.key_usage != 0) {
    Asn1BitStringPtr ku(ASN1_BIT_STRING_new());
    if (!ku) return OpenSslError("keyUsage");
    for (int bit = 0; bit < 9; ++bit) {
      if ((tmpl.key_usage & (1u << bit)) != 0 && ASN1_BIT_STRING_set_bit(ku.get(), bit, 1) != 1) {
        return OpenSslError("keyUsage bit");
      }
    }
    RETURN_IF_ERROR(AddExtension(cert.get(), NID_key_usage, ku.get(), true));
  }
  if (!tmpl.extended_key_usages.empty()) {
    ObjectStackPtr ekus(sk_ASN1_OBJECT_new_null());
    if (!ekus) return OpenSslError("extendedKeyUsage");
    for (const std::string& oid : tmpl.extended_key_usages) {
      ASN1_OBJECT* obj = OBJ_txt2obj(oid.c_str(), 0);
      if (obj == nullptr) return Fail("extended key usage \"" + oid + "\"");
      if (sk_ASN1_OBJECT_push(ekus.get(), obj) <= 0) {
        ASN1_OBJECT_free(obj);
        return OpenSslError("extendedKeyUsage");
      }
    }
    RETURN_IF_ERROR(AddExtension(cert.get(), NID_ext_key_usage, ekus.get(), false));
  }
  if (!tmpl.sans.empty()) {
    GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
    if (!names) return OpenSslError("subjectAltName");
    RETURN_IF_ERROR(AppendGeneralNames(tmpl.sans, names.get()));
    bool critical = tmpl.sans_critical || X509_NAME_entry_count(subject) == 0;
    RETURN_IF_ERROR(AddExtension(cert.get(), NID_subject_alt_name, names.get(), critical));
  }
  if (tmpl.subject_key_identifier) {
    ASSIGN_OR_RETURN(Asn1OctetStringPtr ski, KeyIdentifier(cert.get()));
    RETURN_IF_ERROR(AddExtension(cert.get(), NID_subject_key_identifier, ski.get(), false));
  }
  if (tmpl.authority_key_identifier && issuer != nullptr) {
    AuthorityKeyIdPtr akid(AUTHORITY_KEYID_new());
    if (!akid) return OpenSslError("authorityKeyIdentifier");
    const ASN1_OCTET_STRING* issuer_ski = X509_get0_subject_key_id(const_cast<X509*>(issuer));
    if (issuer_ski != nullptr) {
      akid->keyid = ASN1_OCTET_STRING_dup(issuer_ski);
    } else {
      ASSIGN_OR_RETURN(Asn1OctetStringPtr id, KeyIdentifier(issuer));
      akid->keyid = id.release();
    }
    if (akid->keyid == nullptr) return OpenSslError("authorityKeyIdentifier");
    RETURN_IF_ERROR(AddExtension(cert.get(), NID_authority_key_identifier, akid.get(), false));
  }
  for (const RawExtension& raw : tmpl.extra_extensions) {
    Asn1ObjectPtr obj(OBJ_txt2obj(raw.oid.c_str(), 1));
    if (!obj) return Fail("extension OID \"" + raw.oid + "\"");
    Asn1OctetStringPtr value(ASN1_OCTET_STRING_new());
    const auto* raw_data = reinterpret_cast<const unsigned char*>(raw.der_value.data());
    if (!value || ASN1_OCTET_STRING_set(value.get(), raw_data,
                                        static_cast<int>(raw.der_value.size())) != 1) {
      return OpenSslError("extension value");
    }
    X509ExtensionPtr ext(
        X509_EXTENSION_create_by_OBJ(nullptr, obj.get(), raw.critical ? 1 : 0, value.get()));
    if (!ext || X509_add_ext(cert.get(), ext.get(), -1) != 1) {
      return OpenSslError("adding extension " + raw.oid);
    }
  }

  if (X509_sign(cert.get(), issuer_key, SigningDigestFor(issuer_key)) <= 0) {
    return OpenSslError("signing certificate");
  }
  return cert;
}

}  // namespace

StatusOr<X509Ptr> BuildCertificate(const CertificateTemplate& tmpl, EVP_PKEY* subject_key,
                                   const X509* issuer, EVP_PKEY* issuer_key) {
  if (subject_key == nullptr) return InvalidArgumentError("certificate: no subject key");
  return BuildCertificateImpl(tmpl, subject_key, "", issuer, issuer_key);
}

StatusOr<X509Ptr> BuildCertificateForSpki(const CertificateTemplate& tmpl,
                                          std::string_view subject_spki_der, const X509* issuer,
                                          EVP_PKEY* issuer_key) {
  if (subject_spki_der.empty()) return InvalidArgumentError("certificate: no subject key");
  if (issuer == nullptr) {
    return InvalidArgumentError("certificate: a self-signed certificate needs BuildCertificate");
  }
  return BuildCertificateImpl(tmpl, nullptr, subject_spki_der, issuer, issuer_key);
}

bool CertificateSignedBy(const X509* cert, EVP_PKEY* issuer_key) {
  int r = X509_verify(const_cast<X509*>(cert), issuer_key);
  DrainOpenSslErrors();
  return r == 1;
}

}  // namespace custos
