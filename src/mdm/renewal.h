// Identity renewal over MDM (issue 7, "Identity renewal"): a background job that gives every
// enrolled device a fresh identity before its current one expires, by pushing a fresh enrollment
// profile with Apple's InstallProfile command (Apple Device Management, "InstallProfileCommand";
// profile payloads com.apple.security.scep / com.apple.security.acme as in mdm/profile.h).
//
// Selection (storage/renewal_store.h, RenewalStore::ListDue): the current identity of each enabled
// device channel that is valid, unexpired and expires within `[renewal] window` (default 30 days),
// that has not been renewed (no certificate names it in renewal_of: a SCEP RenewalReq or a
// renewal completed here; no newer valid certificate associated with the device) and for which no
// renewal was requested within the last `[renewal] retry_after` (so a device gets one profile per
// attempt, and another only when nothing came of the last one).
//
// Identity kind: policy::EnrollmentPolicy::IdentityFor(serial, product, OS version from the last
// Authenticate) says kAttestedAcme -> an ACME profile (ECSECPrimeRandom 384, HardwareBound, Attest)
// whose one-time ClientIdentifier is reserved for the device's serial number, so SCEP moves to
// attested ACME and ACME stays ACME; otherwise SCEP. Without a policy, SCEP.
//
// Every attempt is recorded (serial, enrollment, CommandUUID, identity kind, time, policy reason;
// RenewalRequestRecord) and logged; the InstallProfile command expires after `retry_after`, when a
// new attempt with a new secret replaces it.
//
// HOW THE NEW IDENTITY IS LINKED TO THE ENROLLMENT (no new Authenticate). A device installs the
// profile, enrols over SCEP PKCSReq or ACME with the profile's one-time secret (not RenewalReq, so
// the new certificate names no renewal_of at issuance) and then speaks MDM with the new identity.
// The job records SHA-256 of that secret with the request. When an MDM request arrives with a
// certificate that is not associated with any device, the MDM service (mdm/service.cc,
// AuthorizeIdentity) asks RenewalStore::FindRequestForIssuedCert(device id, certificate serial):
// the certificate is accepted for the device only if the secret of one of THAT device's pending
// renewal requests was spent by the very SCEP transaction / ACME order that issued the certificate,
// and the renewed identity is still valid (not revoked) and associated with that device. Then, in
// the same transaction, the certificate is associated with the device, the request completed, and
// the certificate's renewal_of set to the renewed serial. Why this is safe:
//   - the secret exists only inside an InstallProfile queued for that one enrollment, delivered
//     over its channel authenticated by the old identity; custos stores only its digest;
//   - it is single-use (SpendChallenge / SpendClientIdentifier are atomic) and expires (SCEP
//     challenge TTL = retry_after; ACME ClientIdentifier TTL as configured), so a leaked profile
//     is worth at most one identity, and only for the device whose request holds the secret;
//   - the ACME ClientIdentifier is also bound to the device's serial: the Apple attestation must
//     name that device, so an ACME renewal cannot be taken over by other hardware at all;
//   - another device presenting such a certificate is refused (the request names its enrollment),
//     and revoking the old identity cancels its pending renewals.
// The old identity stays associated and valid until it expires or is revoked.
#ifndef CUSTOS_MDM_RENEWAL_H_
#define CUSTOS_MDM_RENEWAL_H_

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/config.h"
#include "base/random.h"
#include "base/status.h"
#include "base/time.h"
#include "mdm/profile.h"
#include "mdm/service.h"
#include "policy/policy.h"
#include "storage/storage.h"

namespace custos::mdm {

// The job's settings (the [renewal] configuration section).
struct RenewalOptions {
  bool enabled = true;              // run the background job
  Duration window{30 * 86400};      // renew identities expiring within this
  Duration interval{3600};          // between two runs of the background job
  Duration retry_after{86400};      // a new attempt when nothing came of the last one
  int64_t batch_size = 500;         // identities handled per run (most urgent first)

  static RenewalOptions FromConfig(const RenewalConfig& config);
};

// A renewal profile: what the device installs, and the one-time secret inside it.
struct RenewalProfile {
  std::string body;    // the .mobileconfig (signed DER, or the XML plist when signing is off)
  std::string secret;  // the SCEP Challenge or ACME ClientIdentifier it carries
  EnrollIdentity identity = EnrollIdentity::kScep;
};

// Makes renewal profiles (an interface so tests can fake it).
class RenewalProfileSource {
 public:
  virtual ~RenewalProfileSource() = default;
  // A fresh profile with identity payload `identity` for `device` (an ACME ClientIdentifier is
  // reserved for device.serial). Errors are the profile service's.
  virtual StatusOr<RenewalProfile> Make(EnrollIdentity identity, const EnrollingDevice& device) = 0;
};

// A RenewalProfileSource over ProfileService::Generate (which must outlive it): the secret is read
// back from the generated profile. INTERNAL when the profile holds no identity secret.
std::unique_ptr<RenewalProfileSource> NewProfileServiceRenewalSource(ProfileService* profiles);

// SCEP challenges for renewal profiles: one-time, unbound, valid for `ttl` (the renewal's
// retry_after, so a device that is offline for a while still finds its challenge valid).
class RenewalChallengeSource : public ChallengeSource {
 public:
  RenewalChallengeSource(scep::ScepService* service, Duration ttl) : service_(service), ttl_(ttl) {}
  StatusOr<std::string> NewChallenge() override;

 private:
  scep::ScepService* service_;
  Duration ttl_;
};

// The one-time secret (SCEP Challenge or ACME ClientIdentifier) of a profile plist.
// INVALID_ARGUMENT when the plist is malformed or has no identity payload with a secret.
StatusOr<std::string> ProfileSecret(std::string_view plist);

// What a run did (or, on a dry run, would do) with one identity.
struct RenewalAction {
  std::string enrollment_id;
  std::string serial_hex;     // the identity renewed
  Time not_after;             // its expiry
  std::string current_kind;   // how it was issued ("scep", "acme", ...)
  std::string identity;       // "scep" | "acme": the profile's identity payload
  std::string reason;         // the policy's reason (or "no enrollment policy")
  std::string command_uuid;   // the InstallProfile command; "" on a dry run or failure
  int64_t request_id = 0;     // the RenewalRequestRecord; 0 on a dry run
  int64_t attempts = 0;       // earlier attempts for this identity
  std::string error;          // why the attempt failed; "" otherwise
  bool skipped = false;       // another custos process renewed this identity meanwhile
};

struct RenewalRunResult {
  Time at;  // the instant the run selected for
  bool dry_run = false;
  std::vector<RenewalAction> actions;
  int64_t queued = 0;  // InstallProfile commands queued
  int64_t failed = 0;  // attempts recorded as failed
  int64_t skipped = 0;  // identities another custos process on the database renewed meanwhile
};

class RenewalJob {
 public:
  struct Deps {
    Storage* storage = nullptr;               // required
    Clock* clock = nullptr;                   // required
    Random* random = nullptr;                 // required (CommandUUIDs)
    MdmService* mdm = nullptr;                // required: queues InstallProfile (and pushes)
    RenewalProfileSource* profiles = nullptr;  // required
    policy::EnrollmentPolicy* policy = nullptr;  // optional: null = always SCEP
  };

  // INVALID_ARGUMENT for a missing dependency or a non-positive window, interval or retry_after.
  // Every dependency must outlive the job.
  static StatusOr<std::unique_ptr<RenewalJob>> Create(RenewalOptions options, Deps deps);
  ~RenewalJob();  // Stop()
  RenewalJob(const RenewalJob&) = delete;
  RenewalJob& operator=(const RenewalJob&) = delete;

  // Starts the background thread when options.enabled: one run at once, then every `interval`.
  // Idempotent.
  void Start();
  // Stops the thread (a run in progress finishes first). Idempotent.
  void Stop();

  // One run selecting as of `at` (default: the clock's now): for each due identity, decides the
  // identity kind, makes a profile, records the request and queues InstallProfile (with a push).
  // A failure for one identity is recorded as a failed attempt (retried after retry_after) and
  // does not stop the run. With `dry_run` nothing is made, queued or recorded: the result lists
  // what would be done. Runs are serialized. UNAVAILABLE from storage.
  StatusOr<RenewalRunResult> RunOnce(std::optional<Time> at = std::nullopt, bool dry_run = false);

  // Recorded requests (see RenewalStore::ListRequests).
  StatusOr<std::vector<RenewalRequestRecord>> ListRequests(const RenewalRequestFilter& filter);

  const RenewalOptions& options() const { return options_; }

 private:
  RenewalJob(RenewalOptions options, Deps deps);
  void Loop();
  RenewalAction Renew(const RenewalCandidate& candidate, Time at, bool dry_run);
  Status RecordFailure(const RenewalCandidate& candidate, RenewalAction& action, Time at,
                       int64_t replace_id);

  RenewalOptions options_;
  Deps deps_;
  std::mutex run_mu_;  // one run at a time
  std::mutex mu_;      // guards stopping_, thread_
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace custos::mdm

#endif  // CUSTOS_MDM_RENEWAL_H_
