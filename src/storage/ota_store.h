// The OtaStore role of storage.h: sessions of over-the-air enrollment through the profile service
// (issue 7 "OTA enrollment"; Apple "Over-the-Air Profile Delivery and Configuration").
//
// One session per phase-1 profile: it is created with the one-time Challenge of the Profile
// Service payload (only its SHA-256 is stored, like SCEP challenges) and moves forward exactly
// once per phase, each step a single conditional UPDATE so two concurrent requests cannot both
// spend the same phase:
//   "issued"   phase 1 served the Profile Service payload;
//   "identity" phase 2 (signed by the device's Apple certificate) spent it and handed out the
//              identity (SCEP) profile; the session now names the device (UDID, serial, ...);
//   "enrolled" phase 3 (signed by that new identity) answered the MDM enrollment profile.
// A session expires at expires_at; phase 2 moves expires_at forward for phase 3.
//
// Records and the interface live here; the portable-SQL implementation is sql_ota_store.cc, its
// table is migration 10 ("ota") in migrations.cc, and its conformance tests (SQLite and
// PostgreSQL) are ota_store_test.cc.
#ifndef CUSTOS_STORAGE_OTA_STORE_H_
#define CUSTOS_STORAGE_OTA_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "base/time.h"

namespace custos {

inline constexpr std::string_view kOtaStateIssued = "issued";
inline constexpr std::string_view kOtaStateIdentity = "identity";
inline constexpr std::string_view kOtaStateEnrolled = "enrolled";

struct OtaSessionRecord {
  std::string challenge_sha256;  // lowercase hex SHA-256 of the phase-1 Challenge; unique
  std::string state = std::string(kOtaStateIssued);
  Time created_at;
  Time expires_at;
  // Set by phase 2 from the device's signed attributes:
  std::string udid;
  std::string serial;
  std::string product;
  std::string os_version;  // VERSION (build) as the device reported it
  std::string imei;
  std::string meid;
  std::string device_cert_subject;  // RFC 2253 subject of the Apple device certificate
  std::optional<Time> phase2_at;
  // Set by phase 3:
  std::string identity_serial;  // serial_hex of the custos identity that signed phase 3
  std::optional<Time> phase3_at;
};

class OtaStore {
 public:
  virtual ~OtaStore() = default;
  // Stores a new session (state "issued"). ALREADY_EXISTS for a known challenge digest;
  // INVALID_ARGUMENT for an empty digest.
  virtual Status InsertSession(const OtaSessionRecord& session) = 0;
  // NOT_FOUND for an unknown digest.
  virtual StatusOr<OtaSessionRecord> GetSession(std::string_view challenge_sha256) = 0;
  // Phase 2: moves the session from "issued" to "identity" if it has not expired at `now`,
  // recording the device fields of `device` (udid ... device_cert_subject), phase2_at = now and
  // expires_at = `expires_at`, in one statement. NOT_FOUND for an unknown digest;
  // FAILED_PRECONDITION when the session is expired or already past phase 1.
  virtual Status CompletePhase2(std::string_view challenge_sha256, const OtaSessionRecord& device,
                                Time now, Time expires_at) = 0;
  // Phase 3: moves the session from "identity" to "enrolled" if it has not expired at `now` and
  // its UDID is `udid`, recording `identity_serial` and phase3_at = now. NOT_FOUND for an unknown
  // digest; FAILED_PRECONDITION when expired, not in phase "identity" (phase 2 not done, or
  // phase 3 already done) or bound to another UDID.
  virtual Status CompletePhase3(std::string_view challenge_sha256, std::string_view udid,
                                std::string_view identity_serial, Time now) = 0;
  // Removes sessions that expired before `before`; returns how many.
  virtual StatusOr<int64_t> DeleteExpiredSessions(Time before) = 0;
};

}  // namespace custos

#endif  // CUSTOS_STORAGE_OTA_STORE_H_
