// MachineInfo: what a device POSTs to the enrollment URL of its ABM profile when it fetches its
// MDM enrollment profile during Setup Assistant (Apple device-management schema
// other/machineinfo.yaml; Apple "Device Assignment: Authenticating through web views" /
// "MachineInfo"). The body is a plist (UDID, SERIAL, PRODUCT, VERSION, OS_VERSION, ...) inside a
// CMS SignedData (RFC 5652) made with the device's Apple identity certificate, which chains to
// Apple Root CA through Apple iPhone Certification Authority and Apple iPhone Device CA. Those
// intermediates expired in 2022 and 2014 and are still in use, so the chain is verified WITHOUT
// time checks (DESIGN.md) and without an X.509 purpose.
//
// Trust anchors: Apple Root CA, compiled in (apple_device_ca.cc, fingerprint pinned), unless
// [dep] device_ca_file names other PEM roots (tests, or a private test PKI).
//
// Library only: the enrollment-profile handler (src/mdm/profile*) calls MachineInfoVerifier and
// answers the profile; an unsigned or unverifiable request is refused (PERMISSION_DENIED, logged).
#ifndef CUSTOS_DEP_MACHINE_INFO_H_
#define CUSTOS_DEP_MACHINE_INFO_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/config.h"
#include "base/openssl_util.h"
#include "base/status.h"
#include "storage/storage.h"

namespace custos::dep {

// Largest MachineInfo body accepted (real ones are 3-6 KiB).
inline constexpr size_t kMaxMachineInfoBytes = 64 * 1024;

struct MachineInfo {
  std::string udid;
  std::string serial;
  std::string product;   // e.g. "iPhone5,1", "MacBookPro18,3"
  std::string version;   // build version, e.g. "21A5248v"
  std::string os_version;  // "17.0" (iOS 17 / macOS 14 and later)
  std::string imei;
  std::string meid;
  std::string language;
  std::string software_update_device_id;
  std::string supplemental_build_version;
  std::string supplemental_os_version_extra;
  bool mdm_can_request_software_update = false;
  std::string pairing_token;  // raw bytes of PAIRING_TOKEN, if any
  // Set by MachineInfoVerifier::Verify:
  bool signed_by_device = false;
  std::string signer_subject;  // RFC 2253 subject of the device certificate
  std::string known_dep_name;  // the DEP name ABM reported the serial under ("" = not checked/unknown)
};

// Parses the MachineInfo plist (XML or binary). INVALID_ARGUMENT when it is not a plist dict, a
// key has the wrong type, or UDID, SERIAL, PRODUCT or VERSION is missing or empty.
StatusOr<MachineInfo> ParseMachineInfoPlist(std::string_view plist);

class MachineInfoVerifier {
 public:
  // Roots: `config.device_ca_file` (PEM) when set, else the compiled-in Apple Root CA (whose
  // pinned fingerprint is checked: INTERNAL on mismatch). `storage` may be null unless
  // `config.require_known_serial` (then FAILED_PRECONDITION). NOT_FOUND / INVALID_ARGUMENT for an
  // unreadable device_ca_file.
  static StatusOr<std::unique_ptr<MachineInfoVerifier>> Create(const DepConfig& config,
                                                               Storage* storage);

  // Verifies a signed MachineInfo body: CMS SignedData (DER/BER) with the plist as content, the
  // signature by the embedded signer certificate, and its chain to the roots (embedded
  // certificates and Apple's bundled intermediates may complete it; no time or purpose checks).
  // Then parses the plist and, with require_known_serial, checks that ABM reported the serial.
  // Errors: INVALID_ARGUMENT for a body too large or not CMS SignedData with content (an unsigned
  // plist included) or a malformed plist; PERMISSION_DENIED when the signature does not verify,
  // the chain does not reach a root, or the serial is not known from ABM.
  StatusOr<MachineInfo> Verify(std::string_view body) const;

 private:
  MachineInfoVerifier(std::vector<X509Ptr> roots, std::vector<X509Ptr> intermediates,
                      bool require_known_serial, Storage* storage);
  std::vector<X509Ptr> roots_;
  std::vector<X509Ptr> intermediates_;
  bool require_known_serial_;
  Storage* storage_;
};

// The bundled certificates (apple_device_ca.cc).
std::string_view AppleRootCaPem();
std::string_view AppleDeviceIntermediatesPem();  // iPhone Certification Authority + Device CA
std::string_view AppleRootCaSha256Hex();
std::vector<std::string_view> AppleDeviceIntermediatesSha256Hex();

}  // namespace custos::dep

#endif  // CUSTOS_DEP_MACHINE_INFO_H_
