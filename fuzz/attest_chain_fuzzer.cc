// Fuzzes attestation chain input: every encoding `custos inspect attestation` accepts (PEM, DER
// certificates, base64), property extraction from each certificate, and full verification with
// ACME and DeviceInformation expectations. Seeds: the real macOS leaf and generated leaves
// (src/attest/testdata/README.md).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "attest/attestation.h"
#include "attest/attestation_object.h"

namespace {

const custos::attest::AttestationVerifier& Verifier() {
  static const auto* verifier = [] {
    auto v = custos::attest::AttestationVerifier::Create({});
    if (!v.ok()) __builtin_trap();
    return std::move(v).value().release();
  }();
  return *verifier;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace custos::attest;
  std::string_view input(reinterpret_cast<const char*>(data), size);

  // The whole input as one certificate.
  std::vector<std::string> findings;
  (void)ExtractAttestationProperties(input, &findings);

  auto chain = DecodeAttestationChainAnyForm(input);
  if (!chain.ok()) return 0;
  for (const std::string& der : *chain) (void)ExtractAttestationProperties(der, nullptr);

  // One verification per input (P-384 signatures dominate the cost); the input's length picks
  // which freshness form is expected, so both stay covered.
  const custos::Time at = custos::FromUnixSeconds(1754049600);  // 2025-08-01T12:00:00Z
  AttestationExpectations expected;
  if (size % 2 == 0) {
    expected.freshness = {FreshnessKind::kAcmeToken, "token"};
    expected.serial_number = "TMWFWWWP67";
  } else {
    expected.freshness = {FreshnessKind::kDeviceInformationNonce, std::string(32, '\x01')};
    expected.udid = "00006030-000651690A84001C";
  }
  AttestationResult r = Verifier().VerifyAt(*chain, expected, at);
  if (r.valid != r.reason.empty()) __builtin_trap();
  if (r.valid != (r.failed_check == AttestationCheck::kNone)) __builtin_trap();
  if (r.properties.has_value()) {
    (void)SamePublicKey(r.properties->leaf_spki_der, r.properties->leaf_spki_der);
  }
  return 0;
}
