// libFuzzer target: DecodeCommandResult and DecodeRawCommand over arbitrary bytes (XML or binary
// plists), plus the JSON rendering and re-encoding of whatever decodes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mdm/command.h"
#include "mdm/plist_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto r = custos::mdm::DecodeCommandResult(body);
  if (r.ok()) {
    auto plist = custos::mdm::Plist::Parse(body);
    if (plist.ok()) {
      auto json = custos::mdm::PlistToJson(plist->get());
      if (json.ok()) (void)custos::mdm::PlistJsonDump(*json);
    }
  }
  auto c = custos::mdm::DecodeRawCommand(body);
  if (c.ok()) (void)custos::mdm::EncodeCommand(*c);
  return 0;
}
