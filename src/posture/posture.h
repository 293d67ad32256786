// Device posture: DeviceInformation attestation after enrollment, its verdicts, the policy that
// asks for fresh attestations, and the per-device trust posture (issue 5, "DeviceInformation
// attestation and device posture").
//
// Apple documents (Device Management, DeviceInformation: DeviceAttestationNonce and
// DevicePropertiesAttestation; WWDC22 "Discover Managed Device Attestation"):
//   - the server adds DevicePropertiesAttestation to Queries and a DeviceAttestationNonce of at
//     most 32 bytes; the answer's DevicePropertiesAttestation is an array of DER certificates,
//     leaf first, rooted at the Apple Enterprise Attestation Root CA;
//   - the leaf's freshness code (1.2.840.113635.100.8.11.1) is the DeviceAttestationNonce itself:
//     "This specifies a freshness code which appears in the resulting attestation". Only the ACME
//     payload hashes its nonce ("The nonce is hashed using SHA-256 before embedding it in the
//     attestation", WWDC22, about ACME); DeviceInformation does not;
//   - the device caches its latest attestation and makes a new one at most every 7 days; inside
//     that window, or for an omitted or repeated nonce, it answers with the cached one. "When the
//     MDM server validates the nonce in an attestation, it should detect a mismatched nonce and
//     determine whether that was expected due to caching or not";
//   - request fresh attestations when properties such as the OS version change, plus "the
//     occasional random request for a fresh attestation to keep the device honest", never just
//     every 7 days;
//   - a failed attestation (omitted DevicePropertiesAttestation) has causes from a network glitch
//     to an attack; it lowers the trust level rather than condemning the device.
//   - on a Mac the attested UDID (8.9.2) is the ProvisioningUDID, not the MDM UDID; User
//     Enrollments carry neither serial nor UDID.
//
// Verdicts on one answer (stored with its reason, findings and the attested properties):
//   fresh       chain to a trusted root, freshness code == the nonce custos sent, serial and UDID
//               equal the enrollment's device.
//   cached      everything but the nonce checks out, the freshness code is a nonce custos sent
//               this device earlier, and Apple issued the leaf within the rate limit: the device
//               legitimately answered with its cached attestation.
//   suspicious  chain and identifiers are fine but the nonce is missing, unknown to custos, or
//               belongs to an attestation older than the rate limit (the device should have made
//               a new one), or the attestation predates the nonce it carries.
//   refused     the chain does not verify to a trusted root, the serial or UDID is not the
//               enrollment's, or the chain is malformed.
//   missing     the device answered without DevicePropertiesAttestation.
//   error       the device answered Error / CommandFormatError.
//
// Trust levels of GET /v1/devices/{id}/posture (each with the reasons that led to it):
//   high        a hardware-attested identity (an ACME device-attest-01 certificate associated
//               with the device, attesting its serial/UDID) and a current attestation (latest
//               verdict fresh or cached, last fresh attestation within the staleness window).
//   medium      a current attestation without a hardware-attested identity (DeviceInformation
//               attestation proves such a device exists, not that it is the one talking), or a
//               hardware-attested identity whose attestation is not current.
//   low         neither: never attested, attestation missing, error or stale, SCEP identity.
//   untrusted   the latest verdict is refused or suspicious.
//   A reported OSVersion that differs from the attested one lowers high/medium by one level.
//   The staleness window is max_interval + rate_limit (30 days when random requests are off).
//
// Never blocks the device: Publish() only queues event keys; a worker thread verifies. Never loses
// a result: the command result is durable in the MDM queue and every request is durable in the
// posture store, so RunOnce() (the periodic job) finishes any pending request whose answer is
// stored, whatever happened to the in-memory queue.
#ifndef CUSTOS_POSTURE_POSTURE_H_
#define CUSTOS_POSTURE_POSTURE_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "attest/attestation.h"
#include "base/config.h"
#include "base/random.h"
#include "base/status.h"
#include "base/time.h"
#include "mdm/hooks.h"
#include "mdm/service.h"
#include "storage/storage.h"

namespace custos::posture {

inline constexpr std::string_view kVerdictFresh = "fresh";
inline constexpr std::string_view kVerdictCached = "cached";
inline constexpr std::string_view kVerdictSuspicious = "suspicious";
inline constexpr std::string_view kVerdictRefused = "refused";
inline constexpr std::string_view kVerdictMissing = "missing";
inline constexpr std::string_view kVerdictError = "error";

// The Queries of every attestation request.
const std::vector<std::string>& AttestationQueries();

struct PostureOptions {
  Duration rate_limit{7 * 86400};
  bool request_on_os_change = true;
  Duration min_interval{14 * 86400};
  Duration max_interval{45 * 86400};  // 0: no random requests
  Duration check_interval{300};       // 0: Start() runs no periodic job (events still handled)
  Duration answer_timeout{30 * 86400};
  size_t max_queued_events = 10000;   // beyond, events are dropped (RunOnce recovers results)
  static PostureOptions FromConfig(const PostureConfig& config);
};

// What a device answered to DeviceInformation, from its report plist (untrusted).
struct DeviceInformationAnswer {
  std::string status;  // "Acknowledged", "Error", "CommandFormatError", ...
  std::optional<std::vector<std::string>> attestation_chain;  // DER, leaf first
  std::string os_version, serial_number, udid, provisioning_udid;  // QueryResponses; "" = absent
  std::string error;  // first ErrorChain LocalizedDescription (Error answers)
};

// Parses a command report. INVALID_ARGUMENT for a malformed plist, a QueryResponses or
// DevicePropertiesAttestation of the wrong type, or more than attest::kMaxChainCertificates
// certificates; never crashes on any input (fuzzed: fuzz/posture_report_fuzzer.cc).
StatusOr<DeviceInformationAnswer> ParseDeviceInformationReport(std::string_view plist);

// What a verdict is judged against.
struct JudgeContext {
  std::string device_id;       // the MDM UDID (or User Enrollment EnrollmentID)
  std::string serial_number;   // from Authenticate; "" = unknown (not checked)
  bool user_enrollment = false;  // neither serial nor UDID is attested
  std::string nonce;           // the DeviceAttestationNonce sent with this command
  Time now{};
  Duration rate_limit{7 * 86400};
  // Earlier requests of this device by nonce (nullopt: custos never sent this nonce).
  std::function<std::optional<PostureRequestRecord>(std::string_view nonce)> find_nonce;
};

struct Judgement {
  std::string verdict;
  std::string reason;
  std::vector<std::string> findings;
  nlohmann::json properties = nlohmann::json::object();  // attested properties, when the leaf parsed
  std::string freshness_hex;
  std::optional<Time> attested_at;  // leaf notBefore
};

// The verdict on one answer (see the table above). Pure: no storage, the verifier's clock.
Judgement JudgeAnswer(const attest::AttestationVerifier& verifier,
                      const DeviceInformationAnswer& answer, const JudgeContext& context);

// The JSON form of attested properties (the same keys as the ACME certificate attributes).
nlohmann::json PropertiesToJson(const attest::AttestationProperties& p);

struct AttestationRequestResult {
  std::string command_uuid;
  std::string device_id;
  std::string nonce_hex;
  std::string trigger;
  bool forced = false;
  Time requested_at{};
  bool push_requested = false;
};

struct RunStats {
  int64_t results_processed = 0;  // pending requests finished from stored results
  int64_t requests_failed = 0;    // pending requests given up (cleared, deleted, timed out)
  int64_t requests_made = 0;      // attestation requests the policy queued
  int64_t postponed = 0;          // due devices postponed by the rate limit
};

class PostureService : public mdm::EventSink {
 public:
  // INVALID_ARGUMENT for inconsistent options. Every pointer must outlive the service.
  static StatusOr<std::unique_ptr<PostureService>> Create(
      PostureOptions options, Storage* storage, mdm::MdmService* mdm,
      const attest::AttestationVerifier* verifier, Clock* clock, Random* random);
  ~PostureService() override;  // Stop()

  // Queues DeviceInformation (AttestationQueries() and a fresh random 32-byte nonce) for the
  // device channel `device_id` and records the request. Unless `force`, refuses with
  // FAILED_PRECONDITION when an earlier request is younger than the rate limit. NOT_FOUND for an
  // unknown enrollment; INVALID_ARGUMENT for a user channel. `trigger` is recorded ("api", ...).
  StatusOr<AttestationRequestResult> RequestAttestation(std::string_view device_id,
                                                        std::string_view trigger, bool force,
                                                        bool no_push = false);

  // EventSink: keeps the keys of mdm.Connect results and mdm.Authenticate check-ins for the
  // worker; returns at once (drops, logged, beyond max_queued_events).
  void Publish(mdm::MdmEvent event) override;

  // Handles one command result now: when `command_uuid` is a pending attestation request, reads
  // the stored report, judges it and records the verdict (exactly once). Otherwise, when
  // `raw_report` carries QueryResponses.OSVersion, observes that version. OK for unrelated
  // commands.
  Status ProcessCommandResult(std::string_view enrollment_id, std::string_view command_uuid,
                              std::string_view raw_report = {});
  // Records `os_version` as reported by the device now; schedules an attestation when it changed
  // (never earlier than the rate limit allows). The first sighting schedules one at once.
  Status ObserveOsVersion(std::string_view device_id, std::string_view os_version);

  // One pass of the periodic job: pending requests with stored answers or past answer_timeout,
  // then devices whose attestation is due.
  StatusOr<RunStats> RunOnce();
  // Handles every queued event now (tests; the worker does this on its own).
  void Drain();

  // The posture document of GET /v1/devices/{id}/posture. NOT_FOUND for an unknown enrollment.
  StatusOr<nlohmann::json> GetPosture(std::string_view device_id);

  // Starts the worker thread (events, and RunOnce every check_interval when > 0); Stop() ends it
  // and waits. Both idempotent.
  void Start();
  void Stop();

 private:
  struct QueuedEvent {
    bool authenticate = false;
    std::string enrollment_id;
    std::string command_uuid;
    std::string raw_report;  // kept only when it may carry an OSVersion
  };

  PostureService(PostureOptions options, Storage* storage, mdm::MdmService* mdm,
                 const attest::AttestationVerifier* verifier, Clock* clock, Random* random);
  void Handle(const QueuedEvent& event);
  void Loop();
  Duration RandomInterval();
  // Sets the device's os_version and schedules an os-change attestation when it changed and
  // `attested_os_version` (from a fresh attestation answering the change) does not match.
  Status UpdateOsVersion(PostureStore& store, std::string_view device_id,
                         std::string_view os_version, std::string_view attested_os_version,
                         Time now);

  const PostureOptions options_;
  Storage* storage_;
  mdm::MdmService* mdm_;
  const attest::AttestationVerifier* verifier_;
  Clock* clock_;
  Random* random_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<QueuedEvent> queue_;
  bool stopping_ = false;
  std::thread worker_;
  std::mutex random_mu_;
};

}  // namespace custos::posture

#endif  // CUSTOS_POSTURE_POSTURE_H_
