#include "pki/crl.h"

#include <openssl/pem.h>

#include <array>
#include <cctype>

#include "pki/key.h"
#include "pki/x509.h"

namespace custos {

namespace {

constexpr std::array<std::pair<int, const char*>, 10> kReasons = {{
    {kReasonUnspecified, "unspecified"},
    {kReasonKeyCompromise, "keyCompromise"},
    {kReasonCaCompromise, "cACompromise"},
    {kReasonAffiliationChanged, "affiliationChanged"},
    {kReasonSuperseded, "superseded"},
    {kReasonCessationOfOperation, "cessationOfOperation"},
    {kReasonCertificateHold, "certificateHold"},
    {kReasonRemoveFromCrl, "removeFromCRL"},
    {kReasonPrivilegeWithdrawn, "privilegeWithdrawn"},
    {kReasonAaCompromise, "aACompromise"},
}};

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

StatusOr<int> ParseCrlReason(std::string_view name) {
  for (const auto& [code, text] : kReasons) {
    if (EqualsIgnoreCase(name, text) || name == std::to_string(code)) return code;
  }
  std::string known;
  for (const auto& r : kReasons) known += (known.empty() ? "" : ", ") + std::string(r.second);
  return InvalidArgumentError("unknown revocation reason \"" + std::string(name) +
                              "\" (one of " + known + ")");
}

std::string CrlReasonName(int reason) {
  for (const auto& [code, text] : kReasons) {
    if (code == reason) return text;
  }
  return "unknown(" + std::to_string(reason) + ")";
}

StatusOr<X509CrlPtr> BuildCrl(const CrlTemplate& tmpl, const X509* issuer, EVP_PKEY* issuer_key) {
  if (issuer == nullptr || issuer_key == nullptr) return InvalidArgumentError("CRL: no issuer");
  if (tmpl.next_update <= tmpl.this_update) {
    return InvalidArgumentError("CRL: nextUpdate must be after thisUpdate");
  }
  X509CrlPtr crl(X509_CRL_new());
  if (!crl) return OpenSslError("allocating CRL");
  if (X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(issuer)) != 1) {
    return OpenSslError("CRL header");
  }
  Asn1TimePtr this_update(ASN1_TIME_set(nullptr, ToUnixSeconds(tmpl.this_update)));
  Asn1TimePtr next_update(ASN1_TIME_set(nullptr, ToUnixSeconds(tmpl.next_update)));
  if (!this_update || !next_update || X509_CRL_set1_lastUpdate(crl.get(), this_update.get()) != 1 ||
      X509_CRL_set1_nextUpdate(crl.get(), next_update.get()) != 1) {
    return OpenSslError("CRL times");
  }
  for (const CrlEntry& e : tmpl.entries) {
    X509RevokedPtr rev(X509_REVOKED_new());
    if (!rev) return OpenSslError("allocating CRL entry");
    ASSIGN_OR_RETURN(std::string hex, NormalizeSerialHex(e.serial_hex));
    BIGNUM* bn_raw = nullptr;
    if (BN_hex2bn(&bn_raw, hex.c_str()) == 0) return OpenSslError("CRL entry serial");
    BigNumPtr bn(bn_raw);
    Asn1IntegerPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
    Asn1TimePtr when(ASN1_TIME_set(nullptr, ToUnixSeconds(e.revoked_at)));
    if (!serial || !when || X509_REVOKED_set_serialNumber(rev.get(), serial.get()) != 1 ||
        X509_REVOKED_set_revocationDate(rev.get(), when.get()) != 1) {
      return OpenSslError("CRL entry");
    }
    if (e.reason != kReasonUnspecified) {
      Asn1StringPtr code(ASN1_ENUMERATED_new());
      if (!code || ASN1_ENUMERATED_set(code.get(), e.reason) != 1 ||
          X509_REVOKED_add1_ext_i2d(rev.get(), NID_crl_reason, code.get(), 0, 0) != 1) {
        return OpenSslError("CRL entry reason");
      }
    }
    if (X509_CRL_add0_revoked(crl.get(), rev.get()) != 1) return OpenSslError("adding CRL entry");
    rev.release();
  }
  X509_CRL_sort(crl.get());

  Asn1IntegerPtr number(ASN1_INTEGER_new());
  if (!number || ASN1_INTEGER_set_int64(number.get(), tmpl.number) != 1 ||
      X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, number.get(), 0, 0) != 1) {
    return OpenSslError("cRLNumber");
  }
  const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(const_cast<X509*>(issuer));
  if (ski != nullptr) {
    OpenSslPtr<AUTHORITY_KEYID, AUTHORITY_KEYID_free> akid(AUTHORITY_KEYID_new());
    if (!akid) return OpenSslError("allocating AKI");
    akid->keyid = ASN1_OCTET_STRING_dup(ski);
    if (akid->keyid == nullptr ||
        X509_CRL_add1_ext_i2d(crl.get(), NID_authority_key_identifier, akid.get(), 0, 0) != 1) {
      return OpenSslError("CRL authorityKeyIdentifier");
    }
  }
  if (X509_CRL_sign(crl.get(), issuer_key, SigningDigestFor(issuer_key)) <= 0) {
    return OpenSslError("signing CRL");
  }
  return crl;
}

StatusOr<ParsedCrl> ParseCrl(std::string_view data) {
  if (data.empty()) return InvalidArgumentError("CRL: empty input");
  X509_CRL* raw = nullptr;
  if (data.find("-----BEGIN") != std::string_view::npos) {
    BioPtr bio = MemBioFrom(data);
    raw = PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr);
  } else {
    const auto* p = reinterpret_cast<const unsigned char*>(data.data());
    raw = d2i_X509_CRL(nullptr, &p, static_cast<long>(data.size()));
  }
  if (raw == nullptr) return OpenSslError("CRL: malformed", StatusCode::kInvalidArgument);
  ParsedCrl out;
  out.crl.reset(raw);
  out.issuer = NameToString(X509_CRL_get_issuer(raw));
  out.this_update = Asn1TimeToTime(X509_CRL_get0_lastUpdate(raw));
  if (const ASN1_TIME* next = X509_CRL_get0_nextUpdate(raw)) out.next_update = Asn1TimeToTime(next);
  int crit = 0;
  if (auto* num = static_cast<ASN1_INTEGER*>(X509_CRL_get_ext_d2i(raw, NID_crl_number, &crit,
                                                                   nullptr))) {
    int64_t v = -1;
    if (ASN1_INTEGER_get_int64(&v, num) == 1) out.number = v;
    ASN1_INTEGER_free(num);
  }
  STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(raw);
  for (int i = 0; i < sk_X509_REVOKED_num(revoked); ++i) {
    const X509_REVOKED* r = sk_X509_REVOKED_value(revoked, i);
    CrlEntry e;
    e.serial_hex = SerialHex(X509_REVOKED_get0_serialNumber(r));
    e.revoked_at = Asn1TimeToTime(X509_REVOKED_get0_revocationDate(r));
    int rc = 0;
    if (auto* reason = static_cast<ASN1_ENUMERATED*>(
            X509_REVOKED_get_ext_d2i(r, NID_crl_reason, &rc, nullptr))) {
      e.reason = static_cast<int>(ASN1_ENUMERATED_get(reason));
      ASN1_ENUMERATED_free(reason);
    }
    out.entries.push_back(std::move(e));
  }
  DrainOpenSslErrors();
  return out;
}

bool CrlSignedBy(X509_CRL* crl, const X509* issuer) {
  if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer)) != 0) return false;
  EvpPkeyPtr key = CertificatePublicKey(issuer);
  bool ok = key && X509_CRL_verify(crl, key.get()) == 1;
  DrainOpenSslErrors();
  return ok;
}

std::string CrlDer(const X509_CRL* crl) {
  return EncodeDer(crl, i2d_X509_CRL, "encoding CRL").value_or(std::string());
}

std::string CrlPem(const X509_CRL* crl) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509_CRL(bio.get(), const_cast<X509_CRL*>(crl)) != 1) {
    DrainOpenSslErrors();
    return "";
  }
  return MemBioContents(bio.get());
}

}  // namespace custos
