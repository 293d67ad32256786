// libFuzzer target: the body of an OTA profile-service request, phases 2 and 3 (mdm/ota.h) over
// arbitrary bytes: the shared device-signature check (dep::VerifyDeviceSignedContent: CMS
// SignedData parsing, the signature by the embedded certificate), the chain check against Apple's
// bundled roots (dep::AppleDeviceCa), and the attribute parser (ParseOtaAttributes) on both the
// raw input and any signed content. Seeds: corpus/ota_request_fuzzer/ (attribute plists, XML and
// binary, and copies signed by a throw-away key, as a device sends them).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "dep/machine_info.h"
#include "mdm/ota.h"
#include "pki/cms.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto apple = *custos::dep::AppleDeviceCa::Create(custos::DepConfig{});
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  (void)custos::mdm::ParseOtaAttributes(input);
  auto signed_content =
      custos::dep::VerifyDeviceSignedContent(input, "OTA request", custos::mdm::kMaxOtaRequestBytes);
  if (signed_content.ok()) {
    (void)apple->VerifySigner(*signed_content, "OTA request");
    (void)custos::mdm::ParseOtaAttributes(signed_content->content);
  } else {
    // Unverified content still reaches the parser in a real server only after the signature
    // check; parse it anyway to cover the plist decoder on CMS-carried bytes.
    auto parsed = custos::ParseSignedData(input);
    if (parsed.ok() && parsed->content) (void)custos::mdm::ParseOtaAttributes(*parsed->content);
  }
  return 0;
}
