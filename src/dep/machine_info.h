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
//
// The same signature is on the phase-2 request of OTA enrollment (Apple "Over-the-Air Profile
// Delivery and Configuration": the device attributes, signed by the device certificate), so the
// two steps are shared: VerifyDeviceSignedContent (the CMS signature) and AppleDeviceCa (the chain
// to Apple's device CA); src/mdm/ota uses them too.
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

// A CMS SignedData whose signature verified with the certificate it carries (no chain yet).
struct DeviceSignedContent {
  std::string content;                // the encapsulated content (never empty)
  X509Ptr signer;                     // the signer certificate
  std::vector<X509Ptr> certificates;  // every certificate the message carries
};

// The checks every device-signed request body gets before its signer is judged: at most
// `max_bytes`, not a bare (unsigned) plist, a CMS SignedData (DER/BER) with content, a signer
// certificate, and a signature made by that certificate's key. `what` names the message in errors
// ("MachineInfo", "OTA request"). INVALID_ARGUMENT for an empty, too large, unsigned or undecodable
// body or one without content; PERMISSION_DENIED when the signature does not verify or no signer
// certificate is embedded.
StatusOr<DeviceSignedContent> VerifyDeviceSignedContent(std::string_view body,
                                                        std::string_view what, size_t max_bytes);

// Apple's device PKI as a trust decision: the roots (`config.device_ca_file` PEM when set, else
// the compiled-in Apple Root CA) and the bundled, pinned Apple iPhone intermediates.
class AppleDeviceCa {
 public:
  // NOT_FOUND / INVALID_ARGUMENT for an unreadable device_ca_file; INTERNAL when a bundled
  // certificate does not match its pinned fingerprint.
  static StatusOr<std::unique_ptr<AppleDeviceCa>> Create(const DepConfig& config);

  // OK when `signed_content.signer` chains to a root, through the certificates the message
  // carries and the bundled intermediates, without time or purpose checks (see the file comment);
  // else PERMISSION_DENIED "<what> signer not trusted: <findings>".
  Status VerifySigner(const DeviceSignedContent& signed_content, std::string_view what) const;

 private:
  AppleDeviceCa(std::vector<X509Ptr> roots, std::vector<X509Ptr> intermediates)
      : roots_(std::move(roots)), intermediates_(std::move(intermediates)) {}
  std::vector<X509Ptr> roots_;
  std::vector<X509Ptr> intermediates_;
};

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
  MachineInfoVerifier(std::unique_ptr<AppleDeviceCa> device_ca, bool require_known_serial,
                      Storage* storage);
  std::unique_ptr<AppleDeviceCa> device_ca_;
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
