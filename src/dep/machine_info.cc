#include "dep/machine_info.h"

#include <fstream>
#include <sstream>

#include "base/logging.h"
#include "mdm/plist_util.h"
#include "pki/cms.h"
#include "pki/verify.h"
#include "pki/x509.h"

namespace custos::dep {

StatusOr<MachineInfo> ParseMachineInfoPlist(std::string_view plist) {
  mdm::PlistLimits limits;
  limits.max_bytes = kMaxMachineInfoBytes;
  limits.max_depth = 4;
  ASSIGN_OR_RETURN(mdm::Plist root, mdm::Plist::Parse(plist, limits));
  ASSIGN_OR_RETURN(mdm::PlistDict d, mdm::PlistDict::Of(root.get(), "MachineInfo"));
  MachineInfo m;
  ASSIGN_OR_RETURN(m.udid, d.String("UDID"));
  ASSIGN_OR_RETURN(m.serial, d.String("SERIAL"));
  ASSIGN_OR_RETURN(m.product, d.String("PRODUCT"));
  ASSIGN_OR_RETURN(m.version, d.String("VERSION"));
  for (const auto* v : {&m.udid, &m.serial, &m.product, &m.version}) {
    if (v->empty()) return InvalidArgumentError("MachineInfo: UDID, SERIAL, PRODUCT and VERSION must not be empty");
  }
  ASSIGN_OR_RETURN(m.os_version, d.StringOr("OS_VERSION", ""));
  ASSIGN_OR_RETURN(m.imei, d.StringOr("IMEI", ""));
  ASSIGN_OR_RETURN(m.meid, d.StringOr("MEID", ""));
  ASSIGN_OR_RETURN(m.language, d.StringOr("LANGUAGE", ""));
  ASSIGN_OR_RETURN(m.software_update_device_id, d.StringOr("SOFTWARE_UPDATE_DEVICE_ID", ""));
  ASSIGN_OR_RETURN(m.supplemental_build_version, d.StringOr("SUPPLEMENTAL_BUILD_VERSION", ""));
  ASSIGN_OR_RETURN(m.supplemental_os_version_extra, d.StringOr("SUPPLEMENTAL_OS_VERSION_EXTRA", ""));
  ASSIGN_OR_RETURN(m.mdm_can_request_software_update, d.BoolOr("MDM_CAN_REQUEST_SOFTWARE_UPDATE", false));
  ASSIGN_OR_RETURN(std::optional<std::string> pairing, d.OptData("PAIRING_TOKEN"));
  if (pairing) m.pairing_token = *pairing;
  return m;
}

StatusOr<DeviceSignedContent> VerifyDeviceSignedContent(std::string_view body,
                                                        std::string_view what, size_t max_bytes) {
  const std::string w(what);
  if (body.size() > max_bytes) return InvalidArgumentError(w + " body too large");
  if (body.empty()) return InvalidArgumentError(w + ": empty body");
  if (body.substr(0, 5) == "<?xml" || body.substr(0, 6) == "bplist") {
    return InvalidArgumentError(w + " is not signed (a bare plist); refusing");
  }
  ASSIGN_OR_RETURN(ParsedSignedData parsed, ParseSignedData(body));
  if (!parsed.content.has_value() || parsed.content->empty()) {
    return InvalidArgumentError(w + ": the SignedData carries no content");
  }
  Status sig = VerifySignedData(parsed);
  if (!sig.ok()) return PermissionDeniedError(w + " signature: " + sig.message());
  if (!parsed.signer) return PermissionDeniedError(w + ": no signer certificate");
  DeviceSignedContent out;
  out.content = *std::move(parsed.content);
  out.signer = std::move(parsed.signer);
  out.certificates = std::move(parsed.certificates);
  return out;
}

StatusOr<std::unique_ptr<AppleDeviceCa>> AppleDeviceCa::Create(const DepConfig& config) {
  std::vector<X509Ptr> roots;
  if (!config.device_ca_file.empty()) {
    std::ifstream in(config.device_ca_file, std::ios::binary);
    if (!in) return NotFoundError("dep.device_ca_file: cannot open " + config.device_ca_file);
    std::stringstream ss;
    ss << in.rdbuf();
    ASSIGN_OR_RETURN(roots, ParseCertificateChain(ss.str()));
  } else {
    ASSIGN_OR_RETURN(X509Ptr root, ParseCertificate(AppleRootCaPem()));
    if (CertSha256Hex(root.get()) != AppleRootCaSha256Hex()) {
      return InternalError("bundled Apple Root CA does not match its pinned fingerprint");
    }
    roots.push_back(std::move(root));
  }
  ASSIGN_OR_RETURN(std::vector<X509Ptr> intermediates,
                   ParseCertificateChain(AppleDeviceIntermediatesPem()));
  std::vector<std::string_view> pins = AppleDeviceIntermediatesSha256Hex();
  if (intermediates.size() != pins.size()) return InternalError("bundled Apple intermediates changed");
  for (size_t i = 0; i < pins.size(); ++i) {
    if (CertSha256Hex(intermediates[i].get()) != pins[i]) {
      return InternalError("bundled Apple intermediate does not match its pinned fingerprint");
    }
  }
  return std::unique_ptr<AppleDeviceCa>(new AppleDeviceCa(std::move(roots), std::move(intermediates)));
}

Status AppleDeviceCa::VerifySigner(const DeviceSignedContent& signed_content,
                                   std::string_view what) const {
  if (!signed_content.signer) return PermissionDeniedError(std::string(what) + ": no signer certificate");
  VerifyOptions options;
  for (const auto& r : roots_) options.trusted.push_back(r.get());
  for (const auto& c : signed_content.certificates) options.untrusted.push_back(c.get());
  for (const auto& c : intermediates_) options.untrusted.push_back(c.get());
  options.check_time = false;  // Apple iPhone Device CA expired in 2014 and is still in use
  VerifyResult chain = VerifyCertificate(signed_content.signer.get(), options);
  if (!chain.ok) {
    return PermissionDeniedError(std::string(what) + " signer not trusted: " + chain.Summary());
  }
  return OkStatus();
}

MachineInfoVerifier::MachineInfoVerifier(std::unique_ptr<AppleDeviceCa> device_ca,
                                         bool require_known_serial, Storage* storage)
    : device_ca_(std::move(device_ca)),
      require_known_serial_(require_known_serial),
      storage_(storage) {}

StatusOr<std::unique_ptr<MachineInfoVerifier>> MachineInfoVerifier::Create(
    const DepConfig& config, Storage* storage) {
  if (config.require_known_serial && storage == nullptr) {
    return FailedPreconditionError("dep.require_known_serial needs storage");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<AppleDeviceCa> device_ca, AppleDeviceCa::Create(config));
  return std::unique_ptr<MachineInfoVerifier>(new MachineInfoVerifier(
      std::move(device_ca), config.require_known_serial, storage));
}

StatusOr<MachineInfo> MachineInfoVerifier::Verify(std::string_view body) const {
  ASSIGN_OR_RETURN(DeviceSignedContent signed_content,
                   VerifyDeviceSignedContent(body, "MachineInfo", kMaxMachineInfoBytes));
  RETURN_IF_ERROR(device_ca_->VerifySigner(signed_content, "MachineInfo"));
  ASSIGN_OR_RETURN(MachineInfo info, ParseMachineInfoPlist(signed_content.content));
  info.signed_by_device = true;
  info.signer_subject = SubjectString(signed_content.signer.get());
  if (require_known_serial_) {
    StatusOr<DepDeviceRecord> known = NotFoundError("unset");
    RETURN_IF_ERROR(storage_->Transact(
        [&](Stores& s) {
          known = s.dep().FindKnownDevice(info.serial);
          if (known.ok() || known.status().code() == StatusCode::kNotFound) return OkStatus();
          return known.status();
        },
        TxMode::kReadOnly));
    if (!known.ok()) {
      return PermissionDeniedError("MachineInfo: serial " + info.serial +
                                   " is not known from Apple Business Manager");
    }
    info.known_dep_name = known->dep_name;
  }
  return info;
}

}  // namespace custos::dep
