// libFuzzer target: MachineInfo decoding (dep/machine_info.h) over arbitrary bytes: CMS
// SignedData parsing, signature and chain checks against Apple's bundled roots, and the plist
// parser on both the raw input and any signed content. Seeds (corpus/dep_machine_info_fuzzer/):
// the real iPad MachineInfo plist from src/dep/testdata and a copy signed by a test PKI.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "dep/machine_info.h"
#include "pki/cms.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto verifier = *custos::dep::MachineInfoVerifier::Create(custos::DepConfig{}, nullptr);
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  (void)verifier->Verify(input);
  (void)custos::dep::ParseMachineInfoPlist(input);
  auto parsed = custos::ParseSignedData(input);
  if (parsed.ok() && parsed->content) (void)custos::dep::ParseMachineInfoPlist(*parsed->content);
  return 0;
}
