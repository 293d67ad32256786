#include "attest/testdata/fake_attestation.h"

#include <atomic>
#include <cstdio>

#include "attest/attestation.h"
#include "pki/key.h"
#include "pki/x509.h"

namespace custos::attest::testing {
namespace {

std::atomic<int64_t> next_serial{0x1000};

std::string NextSerialHex() {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%llx", static_cast<unsigned long long>(next_serial++));
  return buf;
}

std::string DerInteger(int64_t v) {
  Asn1IntegerPtr integer(ASN1_INTEGER_new());
  if (integer == nullptr || ASN1_INTEGER_set_int64(integer.get(), v) != 1) return "";
  int len = i2d_ASN1_INTEGER(integer.get(), nullptr);
  if (len <= 0) return "";
  std::string der(static_cast<size_t>(len), '\0');
  unsigned char* out = reinterpret_cast<unsigned char*>(der.data());
  i2d_ASN1_INTEGER(integer.get(), &out);
  return der;
}

CertificateTemplate CaTemplate(std::vector<RdnEntry> subject, Time not_before, Time not_after,
                               int path_length) {
  CertificateTemplate t;
  t.subject = std::move(subject);
  t.basic_constraints_ca = true;
  t.path_length = path_length;
  t.key_usage = kKuKeyCertSign | kKuCrlSign;
  t.not_before = not_before;
  t.not_after = not_after;
  t.serial_hex = NextSerialHex();
  return t;
}

}  // namespace

std::string DerToPem(const std::string& der) {
  StatusOr<X509Ptr> cert = ParseDerCertificate(der);
  return cert.ok() ? CertificatePem(cert->get()) : "";
}

std::string FakeAttestationCa::RootPem() const { return CertificatePem(root.get()); }
std::string FakeAttestationCa::RootDer() const { return CertificateDer(root.get()); }
std::string FakeAttestationCa::IntermediateDer() const {
  return CertificateDer(intermediate.get());
}

StatusOr<FakeAttestationCa> MakeFakeAttestationCa(Time not_before, Time not_after,
                                                  const std::string& root_name) {
  FakeAttestationCa ca;
  ASSIGN_OR_RETURN(ca.root_key, GenerateKey(KeyAlgorithm::kEcP384));
  ASSIGN_OR_RETURN(ca.intermediate_key, GenerateKey(KeyAlgorithm::kEcP384));
  CertificateTemplate root = CaTemplate(
      {{"CN", root_name}, {"O", "Fake Apple Inc."}, {"C", "US"}}, not_before, not_after, -1);
  ASSIGN_OR_RETURN(ca.root,
                   BuildCertificate(root, ca.root_key.get(), nullptr, ca.root_key.get()));
  CertificateTemplate inter = CaTemplate({{"CN", "Fake Enterprise Attestation Sub CA 1"},
                                          {"O", "Fake Apple Inc."},
                                          {"C", "US"}},
                                         not_before, not_after, 0);
  ASSIGN_OR_RETURN(ca.intermediate, BuildCertificate(inter, ca.intermediate_key.get(),
                                                     ca.root.get(), ca.root_key.get()));
  return ca;
}

StatusOr<FakeLeaf> IssueFakeLeaf(const FakeAttestationCa& ca, const FakeLeafSpec& spec) {
  FakeLeaf leaf;
  EVP_PKEY* key = spec.key;
  if (key == nullptr) {
    ASSIGN_OR_RETURN(leaf.key, GenerateKey(KeyAlgorithm::kEcP384));
    key = leaf.key.get();
  }
  // Shaped like the real macOS leaf: basicConstraints and keyUsage, no key identifiers, then the
  // attestation extensions in the real leaf's order.
  CertificateTemplate t;
  t.subject = {{"CN", "fake-attestation-leaf"},
               {"OU", "AAA Certification"},
               {"O", "Fake Apple Inc."},
               {"ST", "California"}};
  t.basic_constraints_ca = spec.is_ca;
  t.key_usage = spec.is_ca ? kKuKeyCertSign
                           : kKuDigitalSignature | kKuNonRepudiation | kKuKeyEncipherment |
                                 kKuDataEncipherment;
  if (spec.device_information_eku) {
    t.extended_key_usages = {std::string(kOidDeviceAttestationEku)};
  }
  t.subject_key_identifier = false;
  t.authority_key_identifier = false;
  t.not_before = spec.not_before;
  t.not_after = spec.not_after;
  t.serial_hex = NextSerialHex();
  auto add_text = [&t](std::string_view oid, const std::optional<std::string>& v) {
    if (v.has_value()) t.extra_extensions.push_back({std::string(oid), false, *v});
  };
  auto add_int = [&t](std::string_view oid, const std::optional<int64_t>& v) {
    if (v.has_value()) t.extra_extensions.push_back({std::string(oid), false, DerInteger(*v)});
  };
  add_text(kOidSepOsVersion, spec.sepos_version);
  add_text(kOidLlbVersion, spec.llb_version);
  add_text(kOidOsVersion, spec.os_version);
  add_text(kOidSoftwareUpdateDeviceId, spec.software_update_device_id);
  add_text(kOidSecureBoot, spec.secure_boot);
  add_int(kOidSipStatus, spec.sip_status);
  add_int(kOidThirdPartyKexts, spec.third_party_kexts);
  add_text(kOidSerialNumber, spec.serial_number);
  add_text(kOidUdid, spec.udid);
  add_text(kOidFreshnessCode, spec.freshness_code);
  for (const auto& [oid, raw] : spec.extra_extensions) {
    t.extra_extensions.push_back({oid, false, raw});
  }
  ASSIGN_OR_RETURN(leaf.cert,
                   BuildCertificate(t, key, ca.intermediate.get(), ca.intermediate_key.get()));
  leaf.der = CertificateDer(leaf.cert.get());
  leaf.chain = {leaf.der, ca.IntermediateDer()};
  return leaf;
}

}  // namespace custos::attest::testing
