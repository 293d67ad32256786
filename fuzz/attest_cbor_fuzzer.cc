// Fuzzes the device-attest-01 attestation object: the raw CBOR map and the JSON payload
// {"attObj": base64url(CBOR)}. A decoded object must re-encode to an object that decodes to the
// same chain. Seeds: generated attestation objects (src/attest/testdata/README.md).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "attest/attestation.h"
#include "attest/attestation_object.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace custos::attest;
  std::string_view input(reinterpret_cast<const char*>(data), size);

  auto obj = DecodeAttestationObject(input);
  if (obj.ok()) {
    if (obj->fmt != "apple" || obj->x5c.empty() || obj->x5c.size() > kMaxChainCertificates) {
      __builtin_trap();
    }
    auto again = DecodeAttestationObject(EncodeAttestationObject(obj->x5c));
    if (!again.ok() || again->x5c != obj->x5c) __builtin_trap();
    for (const std::string& der : obj->x5c) (void)ExtractAttestationProperties(der, nullptr);
  }
  auto payload = DecodeDeviceAttestPayload(input);
  if (payload.ok() && payload->x5c.empty()) __builtin_trap();
  return 0;
}
