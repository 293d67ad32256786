// ParseOtaAttributes (ota.h), on its own so the phase-2/3 body parser and its fuzzer
// (fuzz/ota_request_fuzzer.cc) need nothing but the plist codec.
#include "mdm/ota.h"
#include "mdm/plist_util.h"

namespace custos::mdm {

StatusOr<OtaDeviceAttributes> ParseOtaAttributes(std::string_view plist) {
  PlistLimits limits;
  limits.max_bytes = kMaxOtaRequestBytes;
  limits.max_depth = 4;
  ASSIGN_OR_RETURN(Plist root, Plist::Parse(plist, limits));
  ASSIGN_OR_RETURN(PlistDict d, PlistDict::Of(root.get(), "OTA device attributes"));
  OtaDeviceAttributes a;
  ASSIGN_OR_RETURN(a.challenge, d.StringOr("CHALLENGE", ""));
  ASSIGN_OR_RETURN(a.udid, d.StringOr("UDID", ""));
  if (a.challenge.empty()) return InvalidArgumentError("OTA device attributes: no CHALLENGE");
  if (a.udid.empty()) return InvalidArgumentError("OTA device attributes: no UDID");
  ASSIGN_OR_RETURN(a.serial, d.StringOr("SERIAL", ""));
  ASSIGN_OR_RETURN(a.product, d.StringOr("PRODUCT", ""));
  ASSIGN_OR_RETURN(a.version, d.StringOr("VERSION", ""));
  ASSIGN_OR_RETURN(a.imei, d.StringOr("IMEI", ""));
  ASSIGN_OR_RETURN(a.meid, d.StringOr("MEID", ""));
  ASSIGN_OR_RETURN(a.device_name, d.StringOr("DEVICE_NAME", ""));
  return a;
}

}  // namespace custos::mdm
