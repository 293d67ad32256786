// Enforcement of the enrollment policy (issue 7, "The setting"): what happens when an eligible
// device must get, or must present, a hardware-attested identity (Apple Managed Device
// Attestation over ACME device-attest-01).
//
//   - ChooseAbmIdentity: which identity payload an ABM (MachineInfo) enrollment profile carries.
//   - RefusalRecorder: every refused enrollment attempt is stored (PolicyStore), logged as a
//     warning and published as an "enroll.Refused" event (webhooks), so an administrator sees
//     why a device did not enrol (GET /v1/enrollment-refusals).
//   - AuthenticateGate: the MDM service's AuthenticatePolicy. With the setting on, an eligible
//     device that authenticates with an identity that is not hardware-attested (e.g. a SCEP
//     certificate) is refused, so it cannot bypass the rule.
#ifndef CUSTOS_POLICY_ENFORCEMENT_H_
#define CUSTOS_POLICY_ENFORCEMENT_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/random.h"
#include "base/status.h"
#include "base/time.h"
#include "mdm/hooks.h"
#include "mdm/service.h"
#include "policy/policy.h"
#include "storage/storage.h"

namespace custos::policy {

// The event topic of a refusal.
inline constexpr std::string_view kRefusedTopic = "enroll.Refused";

// The identity an ABM enrollment profile must carry for `facts` (from the signed MachineInfo):
// nullopt while the setting is off (the request's or the configured default stays), else
// kAttestedAcme for an eligible device and kScep otherwise. `why` receives the eligibility
// verdict when the setting is on. Errors are the policy's (UNAVAILABLE from storage).
StatusOr<std::optional<IdentityKind>> ChooseAbmIdentity(EnrollmentPolicy& policy,
                                                        const DeviceFacts& facts,
                                                        Eligibility* why = nullptr);

// One refused enrollment attempt, as reported by the component that refused it.
struct Refusal {
  std::string serial;  // "" when unknown
  std::string udid;    // "" when unknown
  std::string stage;   // "acme" | "authenticate"
  std::string reason;  // one line
  nlohmann::json detail = nlohmann::json::object();  // extra facts (order, problem type, ...)
};

class RefusalRecorder {
 public:
  // `storage`, `clock` and `random` must outlive the recorder; `sink` may be null (no events).
  RefusalRecorder(Storage* storage, Clock* clock, Random* random, mdm::EventSink* sink);

  // Stores, logs and publishes `refusal`. Errors are storage's (the log line and the event are
  // still emitted, so a refusal is never silent).
  Status Record(const Refusal& refusal);

  // Stored refusals, oldest first (see PolicyStore::ListRefusals).
  StatusOr<std::vector<EnrollmentRefusalRecord>> List(const EnrollmentRefusalFilter& filter);

 private:
  Storage* storage_;
  Clock* clock_;
  Random* random_;
  mdm::EventSink* sink_;
};

// The JSON of a stored refusal (API and CLI): {id, serial, udid, stage, reason, detail, created_at}.
nlohmann::json RefusalToJson(const EnrollmentRefusalRecord& refusal);

class AuthenticateGate : public mdm::AuthenticatePolicy {
 public:
  // All must outlive the gate.
  AuthenticateGate(EnrollmentPolicy* policy, Storage* storage, RefusalRecorder* recorder);

  // OK when the setting is off, the device is not eligible (Evaluate on Authenticate's
  // SerialNumber, ProductName and OSVersion), or the certificate is a hardware-attested identity
  // (mdm::IsHardwareAttestedIdentity); otherwise the refusal is recorded and PERMISSION_DENIED
  // says why. UNAVAILABLE from storage.
  Status CheckAuthenticate(const mdm::AuthenticateFacts& facts) override;

 private:
  EnrollmentPolicy* policy_;
  Storage* storage_;
  RefusalRecorder* recorder_;
};

}  // namespace custos::policy

#endif  // CUSTOS_POLICY_ENFORCEMENT_H_
