// The simulated device's answer to InstallProfile carrying an enrollment profile (issue 7,
// "Identity renewal"; Apple Device Management, InstallProfileCommand): the device installs the
// profile, enrols with its identity payload (SCEP PKCSReq with the profile's challenge, or
// attested ACME with its ClientIdentifier, see device_sim_acme.cc), switches its MDM identity to
// the new certificate and acknowledges the command with it. A device whose enrolment fails keeps
// its old identity and answers Error, as a real device keeps the installed profile.
#include "tests/devicesim/device_sim.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <utility>

#include "mdm/plist_util.h"
#include "pki/x509.h"

namespace custos::devicesim {

StatusOr<std::string> InstallProfilePayload(const ReceivedCommand& command) {
  if (command.request_type != "InstallProfile") {
    return InvalidArgumentError("not an InstallProfile command: " + command.request_type);
  }
  ASSIGN_OR_RETURN(mdm::Plist plist, mdm::Plist::Parse(command.plist));
  ASSIGN_OR_RETURN(mdm::PlistDict root, mdm::PlistDict::Of(plist.get(), "command"));
  ASSIGN_OR_RETURN(mdm::PlistDict body, root.Dict("Command"));
  return body.Data("Payload");
}

Status Device::InstallProfile(const ReceivedCommand& command, InstallProfileOutcome* outcome,
                              std::optional<ReceivedCommand>* next,
                              const AcmeEnrollOptions* acme) {
  InstallProfileOutcome local;
  InstallProfileOutcome& out = outcome != nullptr ? *outcome : local;
  out = {};
  out.old_serial = cert_ ? CertSerialHex(cert_.get()) : "";

  auto enrol = [&]() -> Status {
    ASSIGN_OR_RETURN(std::string payload, InstallProfilePayload(command));
    ASSIGN_OR_RETURN(EnrollmentProfile profile, ParseEnrollmentProfile(payload));
    if (profile.topic != profile_.topic) {
      return FailedPreconditionError("the profile's MDM Topic differs from the installed one");
    }
    out.identity = profile.identity;
    profile_ = std::move(profile);
    if (out.identity == "acme") {
      if (acme == nullptr) return FailedPreconditionError("an ACME profile needs AcmeEnrollOptions");
      return EnrollAcme(*acme);
    }
    return EnrollScep();
  };

  // Keep the installed profile and identity until the new one exists.
  EnrollmentProfile old_profile = profile_;
  EvpPkeyPtr old_key;
  X509Ptr old_cert;
  if (key_) {
    EVP_PKEY_up_ref(key_.get());
    old_key.reset(key_.get());
  }
  if (cert_) {
    X509_up_ref(cert_.get());
    old_cert.reset(cert_.get());
  }
  Status enrolled = enrol();
  if (!enrolled.ok()) {
    profile_ = std::move(old_profile);
    key_ = std::move(old_key);
    cert_ = std::move(old_cert);
    ASSIGN_OR_RETURN(HttpResult r, Error(command.command_uuid, next));
    out.http_status = r.status;
    return enrolled;
  }
  out.new_serial = CertSerialHex(cert_.get());
  // The acknowledgement already speaks with the new identity.
  ASSIGN_OR_RETURN(HttpResult r, Acknowledged(command.command_uuid, next));
  out.http_status = r.status;
  if (r.status != 200) {
    return PermissionDeniedError("Acknowledged with the new identity answered " +
                                 std::to_string(r.status) + ": " + r.body);
  }
  return OkStatus();
}

}  // namespace custos::devicesim
