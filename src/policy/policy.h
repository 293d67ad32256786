// Enrollment policy (issue 7, "The setting"): which MDM identity a device gets, SCEP or
// hardware-attested ACME (Apple Managed Device Attestation, device-attest-01), and whether
// custos requires the attested one.
//
// The setting `require_hardware_attestation` is off by default and changes nothing while off.
// Its value is the one an administrator stored through the API or CLI (kept in the database, so
// every custos process sees it), else `[policy] require_hardware_attestation` from the
// configuration.
//
// Eligibility for an attested identity is decided HERE and nowhere else (documented in the
// README): the device's serial number is known from Apple Business Manager, and its platform
// supports hardware-bound attested ACME keys:
//   - Macs with Apple silicon on macOS 14 or later;
//   - iPhone and iPad with an A11 chip or later on iOS / iPadOS 16 or later.
// The platform is read from the Apple product identifier (MachineInfo PRODUCT, Authenticate
// ProductName, e.g. "iPhone10,1", "iPad8,1", "Mac14,2", "MacBookPro18,3") and the OS version.
#ifndef CUSTOS_POLICY_POLICY_H_
#define CUSTOS_POLICY_POLICY_H_

#include <memory>
#include <string>
#include <string_view>

#include "base/config.h"
#include "base/status.h"
#include "base/time.h"
#include "storage/storage.h"

namespace custos::policy {

// What custos knows about a device when it decides which identity it gets.
struct DeviceFacts {
  std::string serial;      // serial number; "" when unknown (then never eligible)
  std::string product;     // Apple product identifier, e.g. "iPhone15,2"; "" when unknown
  std::string os_version;  // e.g. "17.1"; "" when unknown
};

// A decision with its reason, for logs, the API and webhook events. The reason is one short
// English sentence either way, e.g. "iPhone10,1 on iOS 16.0 supports attested identities" or
// "serial C02X... is not known from Apple Business Manager".
struct Eligibility {
  bool eligible = false;
  std::string reason;
};

// The platform half of the rule (no ABM check): a pure function of the product identifier and
// the OS version. Unknown or malformed identifiers and versions are not eligible.
Eligibility PlatformSupportsAttestedIdentity(std::string_view product,
                                             std::string_view os_version);

enum class IdentityKind { kScep, kAttestedAcme };

class EnrollmentPolicy {
 public:
  // `storage` and `clock` must outlive the policy.
  static StatusOr<std::unique_ptr<EnrollmentPolicy>> Create(const Config& config,
                                                            Storage* storage, Clock* clock);
  virtual ~EnrollmentPolicy() = default;

  // The effective setting (see the header comment). UNAVAILABLE from storage.
  virtual StatusOr<bool> RequireHardwareAttestation() = 0;
  // Stores the setting for every custos process sharing the database; `actor` ("api", "cli")
  // is logged.
  virtual Status SetRequireHardwareAttestation(bool on, std::string_view actor) = 0;

  // The whole rule: known from ABM (by serial) and PlatformSupportsAttestedIdentity.
  virtual StatusOr<Eligibility> Evaluate(const DeviceFacts& facts) = 0;

  // kAttestedAcme when the setting is on and Evaluate says eligible, else kScep.
  virtual StatusOr<IdentityKind> IdentityFor(const DeviceFacts& facts) = 0;
};

}  // namespace custos::policy

#endif  // CUSTOS_POLICY_POLICY_H_
