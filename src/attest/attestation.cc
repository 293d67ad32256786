#include "attest/attestation.h"

#include <openssl/err.h>

#include <algorithm>

#include <nlohmann/json.hpp>
#include <ctime>

#include "base/encoding.h"
#include "pki/key.h"
#include "pki/verify.h"
#include "pki/x509.h"

namespace custos::attest {
namespace {

std::string OidText(const ASN1_OBJECT* obj) {
  char buf[128];
  int n = OBJ_obj2txt(buf, sizeof(buf), obj, /*no_name=*/1);
  if (n <= 0) return "";
  if (static_cast<size_t>(n) >= sizeof(buf)) return std::string(buf, sizeof(buf) - 1) + "...";
  return std::string(buf, static_cast<size_t>(n));
}

std::string Asn1StringBytes(const ASN1_STRING* s) {
  if (s == nullptr) return "";
  const unsigned char* data = ASN1_STRING_get0_data(s);
  int len = ASN1_STRING_length(s);
  if (data == nullptr || len <= 0) return "";
  return std::string(reinterpret_cast<const char*>(data), static_cast<size_t>(len));
}

bool IsPrintableAscii(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

std::string Printable(std::string_view s) { return EscapeNonPrintable(s, 80); }

// A DER INTEGER that fills `bytes` exactly and fits in int64.
std::optional<int64_t> ParseDerInteger(std::string_view bytes) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const unsigned char* end = p + bytes.size();
  Asn1IntegerPtr integer(d2i_ASN1_INTEGER(nullptr, &p, static_cast<long>(bytes.size())));
  if (integer == nullptr || p != end) {
    ERR_clear_error();
    return std::nullopt;
  }
  int64_t v = 0;
  if (ASN1_INTEGER_get_int64(&v, integer.get()) != 1) {
    ERR_clear_error();
    return std::nullopt;
  }
  return v;
}

// One known extension: where it goes and how it is encoded.
enum class Encoding { kAscii, kRaw, kDerInteger };
struct KnownExtension {
  std::string_view oid;
  std::string_view name;
  Encoding encoding;
  std::optional<std::string> AttestationProperties::*text = nullptr;
  std::optional<int64_t> AttestationProperties::*integer = nullptr;
};

const KnownExtension kKnownExtensions[] = {
    {kOidSerialNumber, "serial number", Encoding::kAscii, &AttestationProperties::serial_number},
    {kOidUdid, "UDID", Encoding::kAscii, &AttestationProperties::udid},
    {kOidSoftwareUpdateDeviceId, "SoftwareUpdateDeviceID", Encoding::kAscii,
     &AttestationProperties::software_update_device_id},
    {kOidOsVersion, "OS version", Encoding::kAscii, &AttestationProperties::os_version},
    {kOidSepOsVersion, "sepOS version", Encoding::kAscii, &AttestationProperties::sepos_version},
    {kOidLlbVersion, "LLB version", Encoding::kAscii, &AttestationProperties::llb_version},
    {kOidFreshnessCode, "freshness code", Encoding::kRaw, &AttestationProperties::freshness_code},
    {kOidSipStatus, "SIP status", Encoding::kDerInteger, nullptr,
     &AttestationProperties::sip_status},
    {kOidSecureBoot, "Secure Boot", Encoding::kAscii, &AttestationProperties::secure_boot},
    {kOidThirdPartyKexts, "third-party kexts", Encoding::kDerInteger, nullptr,
     &AttestationProperties::third_party_kexts},
};

void AddFinding(std::vector<std::string>* findings, std::string finding) {
  if (findings != nullptr) findings->push_back(std::move(finding));
}

}  // namespace

std::string EscapeNonPrintable(std::string_view s, size_t max_chars) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (max_chars != 0 && out.size() >= max_chars) {
      out += "...";
      break;
    }
    if (c >= 0x20 && c <= 0x7e && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

void PutAttestedProperties(const AttestationProperties& p, nlohmann::json& out) {
  auto put_text = [&](const char* key, const std::optional<std::string>& v) {
    if (v) out[key] = EscapeNonPrintable(*v, 256);
  };
  auto put_int = [&](const char* key, const std::optional<int64_t>& v) {
    if (v) out[key] = *v;
  };
  put_text("serial_number", p.serial_number);
  put_text("udid", p.udid);
  put_text("software_update_device_id", p.software_update_device_id);
  put_text("os_version", p.os_version);
  put_text("sepos_version", p.sepos_version);
  put_text("llb_version", p.llb_version);
  put_int("sip_status", p.sip_status);
  put_text("secure_boot", p.secure_boot);
  put_int("third_party_kexts", p.third_party_kexts);
}

std::string_view AttestationCheckName(AttestationCheck check) {
  switch (check) {
    case AttestationCheck::kNone: return "none";
    case AttestationCheck::kInput: return "input";
    case AttestationCheck::kChain: return "chain";
    case AttestationCheck::kFreshness: return "freshness";
    case AttestationCheck::kSerial: return "serial";
    case AttestationCheck::kUdid: return "udid";
  }
  return "unknown";
}

StatusOr<X509Ptr> ParseDerCertificate(std::string_view der) {
  if (der.empty()) return InvalidArgumentError("empty certificate");
  if (der.size() > kMaxCertificateBytes) {
    return InvalidArgumentError("certificate of " + std::to_string(der.size()) +
                                " bytes is larger than " + std::to_string(kMaxCertificateBytes));
  }
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  const unsigned char* end = p + der.size();
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (cert == nullptr) {
    return OpenSslError("certificate is not DER X.509", StatusCode::kInvalidArgument);
  }
  if (p != end) return InvalidArgumentError("trailing bytes after DER certificate");
  return cert;
}

std::string AcmeFreshnessCode(std::string_view token) { return Sha256(token); }

StatusOr<bool> SamePublicKey(std::string_view spki_der_a, std::string_view spki_der_b) {
  ASSIGN_OR_RETURN(EvpPkeyPtr a, PublicKeyFromSpkiDer(spki_der_a));
  ASSIGN_OR_RETURN(EvpPkeyPtr b, PublicKeyFromSpkiDer(spki_der_b));
  return PublicKeysEqual(a.get(), b.get());
}

StatusOr<AttestationProperties> ExtractAttestationProperties(std::string_view leaf_der,
                                                             std::vector<std::string>* findings) {
  ASSIGN_OR_RETURN(X509Ptr leaf, ParseDerCertificate(leaf_der));
  return ExtractAttestationProperties(leaf.get(), findings);
}

StatusOr<AttestationProperties> ExtractAttestationProperties(X509* leaf,
                                                             std::vector<std::string>* findings) {
  if (leaf == nullptr) return InvalidArgumentError("no leaf certificate");
  AttestationProperties props;

  // The leaf itself.
  props.leaf_subject = SubjectString(leaf);
  props.leaf_serial_hex = CertSerialHex(leaf);
  props.leaf_not_before = NotBefore(leaf);
  props.leaf_not_after = NotAfter(leaf);
  // The SPKI exactly as the leaf carries it (not decoded and re-encoded).
  {
    X509_PUBKEY* spki = X509_get_X509_PUBKEY(leaf);
    int len = spki == nullptr ? -1 : i2d_X509_PUBKEY(spki, nullptr);
    if (len <= 0) return OpenSslError("encoding the leaf public key", StatusCode::kInvalidArgument);
    props.leaf_spki_der.resize(static_cast<size_t>(len));
    unsigned char* out = reinterpret_cast<unsigned char*>(props.leaf_spki_der.data());
    if (i2d_X509_PUBKEY(spki, &out) != len) return OpenSslError("encoding the leaf public key");
    props.leaf_key_sha256 = Sha256(props.leaf_spki_der);
  }

  // Extensions.
  std::vector<std::string_view> seen;
  int count = X509_get_ext_count(leaf);
  for (int i = 0; i < count; ++i) {
    X509_EXTENSION* ext = X509_get_ext(leaf, i);
    if (ext == nullptr) continue;
    ASN1_OBJECT* obj = X509_EXTENSION_get_object(ext);
    std::string oid = OidText(obj);
    std::string value = Asn1StringBytes(X509_EXTENSION_get_data(ext));
    bool critical = X509_EXTENSION_get_critical(ext) > 0;

    if (OBJ_obj2nid(obj) == NID_ext_key_usage) {
      const unsigned char* p = reinterpret_cast<const unsigned char*>(value.data());
      EXTENDED_KEY_USAGE* eku = d2i_EXTENDED_KEY_USAGE(nullptr, &p, static_cast<long>(value.size()));
      if (eku == nullptr) {
        ERR_clear_error();
        AddFinding(findings, "note: extended key usage does not parse");
        continue;
      }
      for (int j = 0; j < sk_ASN1_OBJECT_num(eku); ++j) {
        props.extended_key_usages.push_back(OidText(sk_ASN1_OBJECT_value(eku, j)));
      }
      EXTENDED_KEY_USAGE_free(eku);
      continue;
    }

    const KnownExtension* known = nullptr;
    for (const KnownExtension& k : kKnownExtensions) {
      if (k.oid == oid) known = &k;
    }
    if (known == nullptr) {
      // Standard extensions OpenSSL knows (basic constraints, key usage, ...) are its business;
      // Apple's and anything unrecognised are kept for the record.
      if (oid.rfind(kOidAppleArc, 0) == 0 || OBJ_obj2nid(obj) == NID_undef) {
        props.unknown_extensions.push_back({oid, HexEncode(value), critical});
        AddFinding(findings, "note: unknown extension " + oid + " kept");
      }
      continue;
    }
    bool duplicate = false;
    for (std::string_view s : seen) duplicate = duplicate || s == known->oid;
    if (duplicate) {
      AddFinding(findings, "note: duplicate " + std::string(known->name) + " extension (" + oid +
                               ") ignored; the first one is used");
      continue;
    }
    seen.push_back(known->oid);
    switch (known->encoding) {
      case Encoding::kAscii:
        if (!IsPrintableAscii(value)) {
          AddFinding(findings, "note: " + std::string(known->name) + " (" + oid +
                                   ") is not printable ASCII");
        }
        props.*(known->text) = value;
        break;
      case Encoding::kRaw:
        props.*(known->text) = value;
        break;
      case Encoding::kDerInteger: {
        std::optional<int64_t> v = ParseDerInteger(value);
        if (!v.has_value()) {
          AddFinding(findings, "note: " + std::string(known->name) + " (" + oid +
                                   ") is not a DER INTEGER: " + HexEncode(value));
        }
        props.*(known->integer) = v;
        break;
      }
    }
  }
  return props;
}

AttestationVerifier::AttestationVerifier(Clock* clock, std::vector<X509Ptr> roots)
    : clock_(clock), roots_(std::move(roots)) {}

AttestationVerifier::~AttestationVerifier() = default;

StatusOr<std::unique_ptr<AttestationVerifier>> AttestationVerifier::Create(Options options) {
  std::vector<X509Ptr> roots;
  auto add_pem = [&roots](std::string_view pem, const std::string& what,
                          std::string_view pinned_sha256_hex) -> Status {
    StatusOr<std::vector<X509Ptr>> certs = ParseCertificateChain(pem);
    if (!certs.ok() || pem.find("-----BEGIN") == std::string_view::npos) {
      return InvalidArgumentError(what + " is not a PEM certificate" +
                                  (certs.ok() ? "" : ": " + certs.status().message()));
    }
    for (X509Ptr& cert : *certs) {
      if (!pinned_sha256_hex.empty() && CertSha256Hex(cert.get()) != pinned_sha256_hex) {
        return InternalError(what + " does not match its pinned fingerprint");
      }
      roots.push_back(std::move(cert));
    }
    return OkStatus();
  };

  if (options.trust_apple_root) {
    RETURN_IF_ERROR(add_pem(AppleEnterpriseAttestationRootPem(),
                            "bundled Apple Enterprise Attestation Root CA",
                            AppleEnterpriseAttestationRootSha256Hex()));
  }
  for (size_t i = 0; i < options.extra_roots_pem.size(); ++i) {
    RETURN_IF_ERROR(add_pem(options.extra_roots_pem[i],
                            "extra attestation root #" + std::to_string(i + 1), ""));
  }
  if (roots.empty()) return InvalidArgumentError("no attestation root is trusted");
  Clock* clock = options.clock != nullptr ? options.clock : Clock::Real();
  return std::unique_ptr<AttestationVerifier>(new AttestationVerifier(clock, std::move(roots)));
}

AttestationResult AttestationVerifier::Verify(const std::vector<std::string>& chain_der,
                                              const AttestationExpectations& expected) const {
  return VerifyAt(chain_der, expected, clock_->Now());
}

AttestationResult AttestationVerifier::VerifyAt(const std::vector<std::string>& chain_der,
                                                const AttestationExpectations& expected,
                                                Time at) const {
  AttestationResult result;
  result.verified_at = at;
  result.failed_check = AttestationCheck::kNone;
  auto fail = [&result](AttestationCheck check, std::string reason) {
    if (result.failed_check == AttestationCheck::kNone) {
      result.failed_check = check;
      result.reason = reason;
    }
    result.findings.push_back(std::move(reason));
  };
  auto finish = [&result]() {
    result.valid = result.failed_check == AttestationCheck::kNone;
    ERR_clear_error();
    return result;
  };

  // 1. Input.
  if (chain_der.empty()) {
    fail(AttestationCheck::kInput, "input: empty certificate chain");
    return finish();
  }
  if (chain_der.size() > kMaxChainCertificates) {
    fail(AttestationCheck::kInput, "input: chain of " + std::to_string(chain_der.size()) +
                                       " certificates (at most " +
                                       std::to_string(kMaxChainCertificates) + ")");
    return finish();
  }
  std::vector<X509Ptr> certs;
  for (size_t i = 0; i < chain_der.size(); ++i) {
    StatusOr<X509Ptr> cert = ParseDerCertificate(chain_der[i]);
    if (!cert.ok()) {
      fail(AttestationCheck::kInput,
           "input: certificate #" + std::to_string(i) + ": " + cert.status().message());
      return finish();
    }
    certs.push_back(std::move(cert).value());
  }
  X509* leaf = certs[0].get();

  std::vector<std::string> notes;
  StatusOr<AttestationProperties> props = ExtractAttestationProperties(leaf, &notes);
  if (!props.ok()) {
    fail(AttestationCheck::kInput, "input: leaf: " + props.status().message());
    return finish();
  }
  result.properties = std::move(props).value();
  const AttestationProperties& p = *result.properties;

  // 2. Chain, at `at`, to the trust store, with no purpose.
  if (X509_check_ca(leaf) != 0) {
    fail(AttestationCheck::kChain, "chain does not verify: the leaf is a CA certificate");
  } else {
    VerifyOptions options;
    for (const X509Ptr& root : roots_) options.trusted.push_back(root.get());
    for (size_t i = 1; i < certs.size(); ++i) options.untrusted.push_back(certs[i].get());
    options.at = at;
    options.purpose = "";  // none: ACME leaves have no EKU, DeviceInformation leaves Apple's own
    options.max_depth = static_cast<int>(kMaxChainCertificates);
    VerifyResult chain = VerifyCertificate(leaf, options);
    if (!chain.ok) {
      // Leaf first, like the chain itself (OpenSSL checks validity from the root down).
      std::stable_sort(chain.findings.begin(), chain.findings.end(),
                       [](const CertFinding& a, const CertFinding& b) { return a.depth < b.depth; });
      for (const CertFinding& f : chain.findings) {
        fail(AttestationCheck::kChain, "chain does not verify: " + f.reason + " (depth " +
                                           std::to_string(f.depth) + ")");
      }
      if (chain.findings.empty()) fail(AttestationCheck::kChain, "chain does not verify");
    }
  }

  // 3. Freshness.
  switch (expected.freshness.kind) {
    case FreshnessKind::kNone:
      break;
    case FreshnessKind::kAcmeToken:
      if (!p.freshness_code.has_value()) {
        fail(AttestationCheck::kFreshness, "freshness extension missing");
      } else if (!ConstantTimeEquals(*p.freshness_code,
                                     AcmeFreshnessCode(expected.freshness.value))) {
        fail(AttestationCheck::kFreshness,
             "freshness code does not match SHA-256 of the challenge token");
      }
      break;
    case FreshnessKind::kDeviceInformationNonce:
      if (expected.freshness.value.empty() ||
          expected.freshness.value.size() > kMaxDeviceInformationNonceBytes) {
        fail(AttestationCheck::kFreshness,
             "freshness: the expected nonce must be 1 to 32 bytes, not " +
                 std::to_string(expected.freshness.value.size()));
      } else if (!p.freshness_code.has_value()) {
        fail(AttestationCheck::kFreshness, "freshness extension missing");
      } else if (!ConstantTimeEquals(*p.freshness_code, expected.freshness.value)) {
        fail(AttestationCheck::kFreshness, "freshness code does not match the nonce");
      }
      break;
  }

  // 4. Identifiers.
  if (expected.serial_number.has_value()) {
    if (!p.serial_number.has_value()) {
      fail(AttestationCheck::kSerial, "serial number extension missing");
    } else if (*p.serial_number != *expected.serial_number) {
      fail(AttestationCheck::kSerial, "serial number mismatch: attested \"" +
                                          Printable(*p.serial_number) + "\", expected \"" +
                                          Printable(*expected.serial_number) + "\"");
    }
  }
  if (expected.udid.has_value()) {
    if (!p.udid.has_value()) {
      fail(AttestationCheck::kUdid, "UDID extension missing");
    } else if (*p.udid != *expected.udid) {
      fail(AttestationCheck::kUdid,
           "UDID mismatch: attested \"" + Printable(*p.udid) + "\", expected \"" +
               Printable(*expected.udid) + "\"");
    }
  }

  for (std::string& n : notes) result.findings.push_back(std::move(n));
  return finish();
}

}  // namespace custos::attest
