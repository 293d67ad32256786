// The PostureStore role of storage.h: DeviceInformation attestation requests, their verdicts and
// the per-device attestation policy state (issue 5, "DeviceInformation attestation and device
// posture"; the service is src/posture/posture.h).
//
// Records and the interface live here; the portable-SQL implementation is sql_posture_store.cc,
// its tables are migration 8 ("posture") in migrations.cc, and its conformance tests (run on
// SQLite and PostgreSQL) are posture_store_test.cc.
//
// Vocabulary: a request is one DeviceInformation command custos queued with a fresh
// DeviceAttestationNonce (keyed by its CommandUUID); a result is custos' verdict on the device's
// answer; the device state holds what the policy needs (the last reported OS version, when the
// next attestation is due). Device ids are MDM device ids (the device channel's enrollment id).
#ifndef CUSTOS_STORAGE_POSTURE_STORE_H_
#define CUSTOS_STORAGE_POSTURE_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/time.h"

namespace custos {

// Request states: pending (queued, no verdict yet), answered (a result was recorded), failed
// (the command could not be queued or vanished without an answer).
inline constexpr std::string_view kPosturePending = "pending";
inline constexpr std::string_view kPostureAnswered = "answered";
inline constexpr std::string_view kPostureFailed = "failed";

struct PostureRequestRecord {
  std::string command_uuid;  // unique
  std::string device_id;
  std::string nonce;         // the raw DeviceAttestationNonce bytes (at most 32)
  std::string trigger;       // "api", "cli", "os-change", "random"
  bool forced = false;       // sent inside the rate limit on an administrator's request
  std::string status = std::string(kPosturePending);
  Time requested_at;
  std::optional<Time> completed_at;
};

// A verdict on one DeviceInformation answer.
struct PostureResultRecord {
  int64_t id = 0;  // assigned by InsertResult
  std::string device_id;
  std::string command_uuid;
  Time received_at;
  // "fresh", "cached" (an expected cached attestation), "suspicious", "refused", "missing"
  // (no attestation in the answer), "error" (the device answered Error). See posture.h.
  std::string verdict;
  std::string reason;
  std::string findings_json = "[]";    // JSON array of strings
  std::string properties_json = "{}";  // attested properties (JSON object)
  std::string freshness_hex;           // the leaf's freshness code, lowercase hex
  std::optional<Time> attested_at;     // the leaf's notBefore (when Apple issued it)
  std::string reported_os_version;     // QueryResponses.OSVersion, "" when absent
};

struct PostureDeviceRecord {
  std::string device_id;  // unique
  std::string os_version;  // last OSVersion reported (Authenticate or DeviceInformation)
  std::optional<Time> os_version_at;
  std::optional<Time> next_due_at;  // the policy requests an attestation at or after this
  std::string due_reason;           // trigger of that request: "os-change", "random", ""
  Time updated_at;
};

class PostureStore {
 public:
  virtual ~PostureStore() = default;

  // ---- Requests ----------------------------------------------------------------------------
  // ALREADY_EXISTS when the CommandUUID is taken.
  virtual Status InsertRequest(const PostureRequestRecord& r) = 0;
  virtual StatusOr<PostureRequestRecord> GetRequest(std::string_view command_uuid) = 0;  // NOT_FOUND
  // The request of `device_id` that sent exactly `nonce` (the newest if several); nullopt if none.
  virtual StatusOr<std::optional<PostureRequestRecord>> FindRequestByNonce(
      std::string_view device_id, std::string_view nonce) = 0;
  // Requests of `device_id`, newest first (limit <= 0 means 100).
  virtual StatusOr<std::vector<PostureRequestRecord>> ListRequests(std::string_view device_id,
                                                                   int64_t limit) = 0;
  // Pending requests (any device) made at or before `before`, oldest first.
  virtual StatusOr<std::vector<PostureRequestRecord>> ListPendingRequests(Time before,
                                                                          int64_t limit) = 0;
  // Sets status and completed_at if the request is still pending; returns whether it was (so
  // that of two concurrent finishers exactly one records a result). NOT_FOUND for an unknown uuid.
  virtual StatusOr<bool> FinishRequest(std::string_view command_uuid, std::string_view status,
                                       Time now) = 0;

  // ---- Results -----------------------------------------------------------------------------
  virtual StatusOr<int64_t> InsertResult(const PostureResultRecord& r) = 0;  // the new id
  // Results of `device_id`, newest first (limit <= 0 means 100).
  virtual StatusOr<std::vector<PostureResultRecord>> ListResults(std::string_view device_id,
                                                                 int64_t limit) = 0;
  // The newest result of `device_id` with `verdict` ("" = any); nullopt when none.
  virtual StatusOr<std::optional<PostureResultRecord>> LatestResult(std::string_view device_id,
                                                                    std::string_view verdict) = 0;

  // ---- Device state ------------------------------------------------------------------------
  // Inserts or replaces the state of d.device_id.
  virtual Status PutDevice(const PostureDeviceRecord& d) = 0;
  virtual StatusOr<PostureDeviceRecord> GetDevice(std::string_view device_id) = 0;  // NOT_FOUND
  // Devices whose next_due_at is at or before `now`, earliest first.
  virtual StatusOr<std::vector<PostureDeviceRecord>> ListDueDevices(Time now, int64_t limit) = 0;
};

}  // namespace custos

#endif  // CUSTOS_STORAGE_POSTURE_STORE_H_
