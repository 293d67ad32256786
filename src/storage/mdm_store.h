// The MdmStore role of storage.h: MDM enrollments, devices, the command queue and command results,
// device-certificate associations, bootstrap tokens (issue 4; the domain model follows NanoMDM's
// storage so custos is a drop-in for its API).
//
// Records and the interface live here; the portable-SQL implementation is sql_mdm_store.cc, its
// tables are migration 3 ("mdm") in migrations.cc, and its conformance tests (run on SQLite and
// PostgreSQL) are mdm_store_test.cc.
//
// Vocabulary:
//   device id      the device channel's enrollment ID: the UDID, or the EnrollmentID of a User
//                  Enrollment (see mdm/enrollment.h). Devices, certificate associations and
//                  bootstrap tokens are per device id.
//   enrollment id  one channel: the device channel (= device id) or a user channel
//                  ("UDID:UserID", ...) whose parent_id is the device id. Queues are per enrollment.
// A command (its plist) is stored once; the queue holds one entry per (enrollment, command).
#ifndef CUSTOS_STORAGE_MDM_STORE_H_
#define CUSTOS_STORAGE_MDM_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/time.h"

namespace custos {

// Facts a device reported in its last Authenticate (empty when it did not send them).
struct MdmDeviceRecord {
  std::string id;  // device id (UDID or User Enrollment EnrollmentID)
  std::string serial_number;
  std::string model;
  std::string model_name;
  std::string product_name;
  std::string device_name;
  std::string os_version;
  std::string build_version;
  std::string imei;
  std::string meid;
  std::string authenticate_raw;  // the last Authenticate plist, verbatim
  Time created_at;               // kept on update
  Time updated_at;
};

// One MDM channel.
struct MdmEnrollmentRecord {
  std::string id;         // enrollment id
  std::string type;       // mdm::EnrollmentTypeName: "Device", "User", "User Enrollment (Device)", ...
  std::string parent_id;  // device id of a user channel; "" on a device channel
  std::string device_id;  // id itself on a device channel, parent_id on a user channel
  std::string user_id;
  std::string user_short_name;
  std::string user_long_name;
  std::string enrollment_user_id;
  std::string topic;           // APNs topic
  std::string push_token_hex;  // lowercase hex of the APNs device token; "" before TokenUpdate
  std::string push_magic;
  std::string unlock_token;    // raw bytes; "" when none was sent
  bool enabled = false;        // true after TokenUpdate, false after Authenticate/CheckOut
  // Set when APNs answered 410 for push_token_hex; cleared by the next TokenUpdate.
  bool token_unregistered = false;
  int64_t token_update_tally = 0;  // TokenUpdates since the last Authenticate
  std::optional<Time> last_seen;   // last check-in or command report
  Time created_at;                 // kept on update
  Time updated_at;
  // Read-only, joined from the device record (GetEnrollment, ListEnrollments).
  std::string serial_number;
  // The device's identity is hardware-attested (issue 7; PolicyStore::SetDeviceAttestation).
  bool hardware_attested = false;
};

// Filters of ListEnrollments; results are ordered by id (text order), page with after_id.
struct MdmEnrollmentFilter {
  std::vector<std::string> ids;  // only these (empty = any)
  std::string type;              // "" = any
  std::string serial_number;     // "" = any
  std::string device_id;         // a device and its user channels ("" = any)
  std::optional<bool> enabled;
  int64_t limit = 100;           // <= 0 means 100; at most 10000
  std::string after_id;
};

// What the push service needs to wake one enrollment.
struct MdmPushInfo {
  std::string enrollment_id;
  std::string topic;
  std::string push_token_hex;  // "" before the first TokenUpdate
  std::string push_magic;
  bool enabled = false;
  bool token_unregistered = false;
};

// An identity certificate associated with a device (see mdm/service.h for the rules).
struct MdmCertAssociation {
  std::string cert_sha256;  // lowercase hex; unique: one certificate belongs to one device
  std::string serial_hex;   // the certificate's serial (CertificateRecord::serial_hex)
  std::string device_id;
  Time created_at;
};

// A command as queued: the complete plist sent to the device ({CommandUUID, Command}).
struct MdmCommandRecord {
  std::string command_uuid;  // unique
  std::string request_type;
  std::string payload;       // plist bytes, verbatim as sent to devices
  int64_t priority = 0;      // higher first; FIFO within a priority
  std::optional<Time> expires_at;  // not delivered at or after this instant
  Time created_at;
};

// Queue entry states. Active ones: queued (never sent), sent (sent, no answer yet: sent again at
// the next Idle), NotNow (the device deferred it). Retired: Acknowledged, Error,
// CommandFormatError (a device answer), cleared (by Authenticate), expired.
inline constexpr std::string_view kMdmQueued = "queued";
inline constexpr std::string_view kMdmSent = "sent";
inline constexpr std::string_view kMdmNotNow = "NotNow";
inline constexpr std::string_view kMdmCleared = "cleared";
inline constexpr std::string_view kMdmExpired = "expired";

// One command in one enrollment's queue, with its result once there is one.
struct MdmQueueEntry {
  int64_t seq = 0;  // global enqueue order
  std::string enrollment_id;
  std::string command_uuid;
  std::string request_type;
  int64_t priority = 0;
  std::string status;  // see the states above
  bool active = true;
  std::string result;            // the device's last report (plist bytes), "" before one
  std::string error_chain_json;  // JSON array of the ErrorChain, "" when none
  std::optional<Time> expires_at;
  Time queued_at;
  std::optional<Time> sent_at;    // last delivery
  std::optional<Time> result_at;  // last report
};

// The next command to deliver.
struct MdmNextCommand {
  std::string command_uuid;
  std::string request_type;
  std::string payload;  // plist bytes
  std::string status;   // queued | sent | NotNow
};

// What an Idle poll needs to know, read in one indexed lookup (MdmStore::GetIdleState), so a poll
// of a recently seen device with nothing queued costs one statement.
struct MdmIdleState {
  bool enrollment_found = false;              // the enrollment exists
  std::optional<std::string> cert_device_id;  // device the certificate is associated with, if any
  std::optional<Time> last_seen;              // the enrollment's last_seen
  bool command_pending = false;  // an active, unexpired entry is queued (NotNow ones included)
};

// Filters of ListQueue; entries are ordered by seq (enqueue order); page with after_seq.
struct MdmQueueFilter {
  std::string enrollment_id;  // "" = any
  std::string command_uuid;   // "" = any
  bool active_only = false;
  int64_t limit = 100;  // <= 0 means 100; at most 10000
  int64_t after_seq = 0;
};

class MdmStore {
 public:
  virtual ~MdmStore() = default;

  // ---- Devices and enrollments -----------------------------------------------------------------

  // Inserts or replaces the device `d.id` (created_at of an existing row is kept).
  virtual Status UpsertDevice(const MdmDeviceRecord& d) = 0;
  virtual StatusOr<MdmDeviceRecord> GetDevice(std::string_view id) = 0;  // NOT_FOUND

  // Inserts or replaces the enrollment `e.id` (created_at of an existing row is kept; the joined
  // serial_number is ignored).
  virtual Status UpsertEnrollment(const MdmEnrollmentRecord& e) = 0;
  virtual StatusOr<MdmEnrollmentRecord> GetEnrollment(std::string_view id) = 0;  // NOT_FOUND
  virtual StatusOr<std::vector<MdmEnrollmentRecord>> ListEnrollments(
      const MdmEnrollmentFilter& filter) = 0;
  // Disables the enrollment `id` and, when `with_user_channels`, every user channel whose parent
  // is `id`. Returns how many rows changed (0 for an unknown id).
  virtual StatusOr<int64_t> DisableEnrollment(std::string_view id, bool with_user_channels,
                                              Time now) = 0;
  // Sets last_seen of `id` (no error for an unknown id).
  virtual Status TouchEnrollment(std::string_view id, Time now) = 0;

  // ---- Push ------------------------------------------------------------------------------------

  // Push facts of those `ids` that exist, in no particular order (unknown ids are left out).
  // Any number of ids: the implementation batches.
  virtual StatusOr<std::vector<MdmPushInfo>> GetPushInfo(const std::vector<std::string>& ids) = 0;
  // Marks the token unregistered (APNs 410) if `push_token_hex` is still the enrollment's token,
  // so a TokenUpdate that raced the push wins. Returns whether a row changed.
  virtual StatusOr<bool> MarkTokenUnregistered(std::string_view enrollment_id,
                                               std::string_view push_token_hex, Time now) = 0;

  // ---- Certificate associations ----------------------------------------------------------------

  // Associates a certificate with a device. OK when it is already associated with the same
  // device; ALREADY_EXISTS when it belongs to another one (nothing changes).
  virtual Status AssociateCert(const MdmCertAssociation& a) = 0;
  virtual StatusOr<MdmCertAssociation> GetCertAssociation(std::string_view cert_sha256) = 0;
  // By certificate serial (renewal_of names the renewed certificate by serial). NOT_FOUND.
  virtual StatusOr<MdmCertAssociation> GetCertAssociationBySerial(std::string_view serial_hex) = 0;
  // Every certificate associated with `device_id`, oldest first.
  virtual StatusOr<std::vector<MdmCertAssociation>> ListCertAssociations(
      std::string_view device_id) = 0;

  // ---- Bootstrap tokens (ciphertext only: the MDM service encrypts) ----------------------------

  // Stores (or, with an empty `ciphertext`, removes) the device's bootstrap token.
  virtual Status PutBootstrapToken(std::string_view device_id, std::string_view ciphertext,
                                   Time now) = 0;
  // The stored ciphertext; NOT_FOUND when none.
  virtual StatusOr<std::string> GetBootstrapToken(std::string_view device_id) = 0;

  // ---- Commands and queues ---------------------------------------------------------------------

  // ALREADY_EXISTS when the CommandUUID is taken.
  virtual Status InsertCommand(const MdmCommandRecord& c) = 0;
  virtual StatusOr<MdmCommandRecord> GetCommand(std::string_view command_uuid) = 0;  // NOT_FOUND
  // Queues command `command_uuid` (inserted before) for those of `enrollment_ids` that exist,
  // set-based (one statement per 10,000 ids, never one per id); an id already holding this
  // command is left as it is. Returns the ids queued, in no particular order.
  virtual StatusOr<std::vector<std::string>> Enqueue(std::string_view command_uuid,
                                                     const std::vector<std::string>& enrollment_ids,
                                                     Time now) = 0;
  // The next command for `enrollment_id`: active, not expired at `now`, highest priority first,
  // then enqueue order; NotNow entries are left out when `skip_not_now`. nullopt when none.
  virtual StatusOr<std::optional<MdmNextCommand>> NextCommand(std::string_view enrollment_id,
                                                              Time now, bool skip_not_now) = 0;
  // GetCertAssociation(cert_sha256), GetEnrollment(enrollment_id) and whether
  // NextCommand(enrollment_id, now, false) has a command, in one statement. Never NOT_FOUND: an
  // unknown enrollment or certificate shows in the fields.
  virtual StatusOr<MdmIdleState> GetIdleState(std::string_view cert_sha256,
                                              std::string_view enrollment_id, Time now) = 0;
  // Records a delivery: status "sent", sent_at = now. NOT_FOUND when not active in the queue.
  virtual Status MarkSent(std::string_view enrollment_id, std::string_view command_uuid,
                          Time now) = 0;
  virtual StatusOr<MdmQueueEntry> GetQueueEntry(std::string_view enrollment_id,
                                                std::string_view command_uuid) = 0;  // NOT_FOUND
  // Stores the device's report: status, result plist and ErrorChain JSON; retires the entry
  // unless `status` is NotNow. NOT_FOUND when the entry does not exist.
  virtual Status RecordResult(std::string_view enrollment_id, std::string_view command_uuid,
                              std::string_view status, std::string_view result,
                              std::string_view error_chain_json, Time now) = 0;
  virtual StatusOr<std::vector<MdmQueueEntry>> ListQueue(const MdmQueueFilter& filter) = 0;
  // Deletes active entries of `enrollment_id` (one command, or all when `command_uuid` is "").
  // Returns how many; retired entries (results) are kept.
  virtual StatusOr<int64_t> DeleteQueued(std::string_view enrollment_id,
                                         std::string_view command_uuid) = 0;
  // Retires ("cleared") every active entry of a device and of its user channels (Authenticate).
  virtual StatusOr<int64_t> ClearQueue(std::string_view device_id, Time now) = 0;
  // Retires ("expired") active entries whose command expired at or before `now`.
  virtual StatusOr<int64_t> ExpireCommands(Time now) = 0;
};

}  // namespace custos

#endif  // CUSTOS_STORAGE_MDM_STORE_H_
