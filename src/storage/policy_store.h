// The PolicyStore role of storage.h: the enrollment policy's settings, the enrollment refusals it
// recorded, and the hardware-attested mark of MDM devices (issue 7, "The setting").
//
//   - Settings: named text values shared by every custos process on the database (today
//     "require_hardware_attestation" = "true" / "false"); a missing setting means "use the
//     configuration's default".
//   - Refusals: one row per refused enrollment attempt of a device (attestation failed, identity
//     not hardware-attested where policy requires it), with its serial, UDID, stage and reason,
//     for the administrator (GET /v1/enrollment-refusals).
//   - hardware_attested: a column of mdm_devices (set at Authenticate, and again when a renewed
//     identity is associated), with the serial of the certificate it was judged from. The MDM
//     store reads it into MdmEnrollmentRecord::hardware_attested.
//
// Records and the interface live here; the portable-SQL implementation is sql_policy_store.cc, the
// tables are migration 7 ("policy") in migrations.cc, and the conformance tests (SQLite and
// PostgreSQL) are policy_store_test.cc.
#ifndef CUSTOS_STORAGE_POLICY_STORE_H_
#define CUSTOS_STORAGE_POLICY_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/time.h"

namespace custos {

struct PolicySettingRecord {
  std::string name;   // unique
  std::string value;
  std::string updated_by;  // "api", "cli", ...
  Time updated_at;
};

// One refused enrollment attempt.
struct EnrollmentRefusalRecord {
  int64_t id = 0;       // assigned by InsertRefusal, increasing
  std::string serial;   // device serial number ("" when unknown)
  std::string udid;     // device UDID ("" when unknown)
  std::string stage;    // "acme" (attestation / finalize) | "authenticate"
  std::string reason;   // one line for the administrator
  std::string detail_json = "{}";  // extra facts (ACME order, problem type, certificate serial)
  Time created_at;
};

struct EnrollmentRefusalFilter {
  std::string serial;   // "" = any
  int64_t after_id = 0;  // paging: ids greater than this
  int64_t limit = 100;   // <= 0 means 100; at most 10000
};

// The hardware-attested mark of one MDM device.
struct DeviceAttestationMark {
  std::string device_id;
  bool hardware_attested = false;
  std::string cert_serial;  // serial_hex of the identity certificate it was judged from
};

class PolicyStore {
 public:
  virtual ~PolicyStore() = default;

  // NOT_FOUND when the setting was never stored.
  virtual StatusOr<PolicySettingRecord> GetSetting(std::string_view name) = 0;
  // Creates or replaces the setting. INVALID_ARGUMENT for an empty name.
  virtual Status PutSetting(const PolicySettingRecord& setting) = 0;

  // Stores a refusal; returns its id.
  virtual StatusOr<int64_t> InsertRefusal(const EnrollmentRefusalRecord& refusal) = 0;
  // Refusals matching `filter`, oldest first (ordered by id).
  virtual StatusOr<std::vector<EnrollmentRefusalRecord>> ListRefusals(
      const EnrollmentRefusalFilter& filter) = 0;

  // Marks MDM device `device_id` (mdm_devices.id). NOT_FOUND when there is no such device.
  virtual Status SetDeviceAttestation(const DeviceAttestationMark& mark) = 0;
  // NOT_FOUND when there is no such device.
  virtual StatusOr<DeviceAttestationMark> GetDeviceAttestation(std::string_view device_id) = 0;
};

}  // namespace custos

#endif  // CUSTOS_STORAGE_POLICY_STORE_H_
