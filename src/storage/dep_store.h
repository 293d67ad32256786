// The DepStore role of storage.h: Apple Business Manager (DEP) names, token PKI pairs (current and staging), OAuth tokens, cursors, synced devices (issue 6).
//
// Records and the interface live here; the portable-SQL implementation is sql_dep_store.cc, its
// tables are migration 6 ("dep") in migrations.cc, and its conformance tests (run on SQLite and
// PostgreSQL) are dep_store_test.cc.
//
// A DEP name is one ABM/ASM server configuration. It holds two token PKI pairs: `current` signs
// MAID JWTs and decrypts re-uploaded tokens; `staging` is the pair whose certificate was last
// handed out for upload to ABM, promoted to current only once a token file decrypts with it
// (see dep/token_pki.h and the seed "Token PKI staging"). Private keys are PKCS#8 PEM, encrypted
// with the CA passphrase when one is configured (`*_key_encrypted`).
#ifndef CUSTOS_STORAGE_DEP_STORE_H_
#define CUSTOS_STORAGE_DEP_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/time.h"

namespace custos {

// The OAuth 1.0a credentials ABM hands out in its token file.
struct DepTokens {
  std::string consumer_key;
  std::string consumer_secret;
  std::string access_token;
  std::string access_secret;
  std::optional<Time> access_token_expiry;
};

struct DepNameRecord {
  std::string name;  // unique
  // Current pair ("" when none yet).
  std::string current_key_pem;
  std::string current_cert_pem;
  // Staging pair ("" when none).
  std::string staging_key_pem;
  std::string staging_cert_pem;
  DepTokens tokens;          // consumer_key "" when no tokens yet
  std::optional<Time> tokens_updated_at;
  std::string server_uuid;   // from ABM's /account, cached for MAID JWTs ("" = unknown)
  std::string cursor;        // last fetch/sync cursor ("" = start with a fetch)
  std::optional<Time> cursor_at;
  std::optional<Time> fetch_completed_at;  // the initial fetch ran to more_to_follow=false
  Time created_at;
  Time updated_at;
};

// One device ABM reported for a DEP name (fetch or sync), keyed by (dep_name, serial_number).
struct DepDeviceRecord {
  std::string dep_name;
  std::string serial_number;
  std::string model;
  std::string description;
  std::string color;
  std::string os;
  std::string device_family;
  std::string profile_status;  // "empty" | "assigned" | "pushed" | "removed"
  std::string profile_uuid;
  std::optional<Time> profile_assign_time;
  std::optional<Time> profile_push_time;
  std::string device_assigned_by;
  std::optional<Time> device_assigned_date;
  std::string op_type;  // "added" | "modified" | "deleted" ("" from a fetch)
  std::optional<Time> op_date;
  Time updated_at;
};

class DepStore {
 public:
  virtual ~DepStore() = default;

  // NOT_FOUND for an unknown name.
  virtual StatusOr<DepNameRecord> GetName(std::string_view name) = 0;
  // All names, by name.
  virtual StatusOr<std::vector<DepNameRecord>> ListNames() = 0;
  // Creates the name when absent and sets its staging pair (replacing an earlier staging pair);
  // the current pair and the tokens are untouched.
  virtual Status SetStaging(std::string_view name, std::string_view key_pem,
                            std::string_view cert_pem, Time now) = 0;
  // current := staging, staging := none. NOT_FOUND for an unknown name; FAILED_PRECONDITION when
  // the name has no staging pair, or when its staging certificate is no longer
  // `expected_staging_cert_pem` (another upload or `dep cert` got in between).
  virtual Status PromoteStaging(std::string_view name, std::string_view expected_staging_cert_pem,
                                Time now) = 0;
  // Replaces the OAuth tokens. NOT_FOUND for an unknown name.
  virtual Status SetTokens(std::string_view name, const DepTokens& tokens, Time now) = 0;
  // NOT_FOUND for an unknown name.
  virtual Status SetServerUuid(std::string_view name, std::string_view server_uuid, Time now) = 0;
  // Persists the sync cursor; `fetch_completed` marks the initial fetch done ("" cursor with
  // fetch_completed=false restarts with a fetch). NOT_FOUND for an unknown name.
  virtual Status SetCursor(std::string_view name, std::string_view cursor, bool fetch_completed,
                           Time now) = 0;

  // Inserts or replaces the device (dep_name, serial_number). Returns true when it was new.
  virtual StatusOr<bool> UpsertDevice(const DepDeviceRecord& device) = 0;
  // NOT_FOUND when `dep_name` has no such serial.
  virtual StatusOr<DepDeviceRecord> GetDevice(std::string_view dep_name,
                                              std::string_view serial_number) = 0;
  // The newest record of `serial_number` under any DEP name whose last op_type is not "deleted";
  // NOT_FOUND when ABM never reported it or deleted it: the serial is not known from ABM.
  virtual StatusOr<DepDeviceRecord> FindKnownDevice(std::string_view serial_number) = 0;
  // Devices of `dep_name` ordered by serial, after `after_serial`, at most `limit` (<=0: 100,
  // capped at 10000).
  virtual StatusOr<std::vector<DepDeviceRecord>> ListDevices(std::string_view dep_name,
                                                             std::string_view after_serial,
                                                             int64_t limit) = 0;
};

}  // namespace custos

#endif  // CUSTOS_STORAGE_DEP_STORE_H_
