// libFuzzer target: a device's DeviceInformation report (XML or binary plist) through
// ParseDeviceInformationReport and, when it carries a DevicePropertiesAttestation chain, the whole
// verdict (JudgeAnswer: chain verification, property extraction, nonce and identifier checks).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "attest/attestation.h"
#include "posture/posture.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace custos;
  static const attest::AttestationVerifier* verifier = [] {
    auto v = attest::AttestationVerifier::Create({});
    return v.ok() ? v->release() : nullptr;
  }();
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto answer = posture::ParseDeviceInformationReport(body);
  if (!answer.ok() || verifier == nullptr) return 0;
  posture::JudgeContext ctx;
  ctx.device_id = "00008030-001A2B3C4D5E6F70";
  ctx.serial_number = "C02FAKE0001";
  ctx.nonce = std::string(32, '\x01');
  ctx.now = FromUnixSeconds(1'790'000'000);
  ctx.find_nonce = [](std::string_view n) -> std::optional<PostureRequestRecord> {
    if (n.size() != 32) return std::nullopt;
    PostureRequestRecord r;
    r.nonce = std::string(n);
    r.requested_at = FromUnixSeconds(1'789'000'000);
    return r;
  };
  posture::Judgement j = posture::JudgeAnswer(*verifier, *answer, ctx);
  (void)j.properties.dump();
  return 0;
}
