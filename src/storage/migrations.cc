// The schema of custos, as numbered migrations (see migrations.h).
//
// TO ADD A TABLE OR COLUMN: append ONE entry to kMigrations below, with the next version number,
// a short snake_case name and its SQL as a raw string literal. That is the whole job: Storage::Open
// applies it everywhere, in the same transaction as the version bump. Never edit or renumber an
// entry that has been committed: databases in the field already ran it.
// Write SQL both SQLite and PostgreSQL accept:
//   - ids: `id {{AUTOID}}`; byte strings: {{BLOB}}; everything else TEXT, BIGINT or INTEGER;
//   - times as BIGINT unix seconds, booleans as INTEGER 0/1;
//   - CREATE INDEX for the lookups your role store makes; name every index <table>_<columns>.
// The conformance suite (storage_conformance_test.cc) runs every migration on both drivers.
#include "storage/migrations.h"

#include <iterator>
#include <thread>
#include <utility>

#include "base/logging.h"

namespace custos {
namespace {

constexpr Migration kMigrations[] = {
    {1, "ca_and_certificates", R"sql(
CREATE TABLE ca_keys (
  id {{AUTOID}},
  pkcs8_pem TEXT NOT NULL,
  encrypted INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL
);

CREATE TABLE ca_certs (
  id {{AUTOID}},
  role TEXT NOT NULL CHECK (role IN ('root', 'issuing')),
  key_id BIGINT NOT NULL REFERENCES ca_keys (id),
  der {{BLOB}} NOT NULL,
  subject TEXT NOT NULL,
  serial_hex TEXT NOT NULL,
  sha256_hex TEXT NOT NULL UNIQUE,
  not_before BIGINT NOT NULL,
  not_after BIGINT NOT NULL,
  active INTEGER NOT NULL DEFAULT 0,
  crl_number BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL
);
CREATE INDEX ca_certs_role_active ON ca_certs (role, active);

CREATE TABLE crls (
  ca_cert_id BIGINT PRIMARY KEY REFERENCES ca_certs (id),
  number BIGINT NOT NULL,
  der {{BLOB}} NOT NULL,
  this_update BIGINT NOT NULL,
  next_update BIGINT NOT NULL
);

CREATE TABLE certificates (
  id {{AUTOID}},
  serial_hex TEXT NOT NULL UNIQUE,
  subject TEXT NOT NULL,
  sans_json TEXT NOT NULL,
  spki_sha256 TEXT NOT NULL,
  cert_sha256 TEXT NOT NULL UNIQUE,
  not_before BIGINT NOT NULL,
  not_after BIGINT NOT NULL,
  issuer_id BIGINT NOT NULL REFERENCES ca_certs (id),
  requester TEXT NOT NULL,
  requester_ref TEXT NOT NULL,
  status TEXT NOT NULL,
  revoked_at BIGINT,
  revocation_reason BIGINT NOT NULL DEFAULT 0,
  renewal_of TEXT NOT NULL,
  attributes_json TEXT NOT NULL,
  der {{BLOB}} NOT NULL,
  created_at BIGINT NOT NULL
);
-- Issuance is the hot insert: only the lookups every issuance needs (serial, hash, key) are full
-- indexes; the rest are partial, so an ordinary valid certificate never touches them.
CREATE INDEX certificates_spki_sha256 ON certificates (spki_sha256);
CREATE INDEX certificates_revoked ON certificates (issuer_id, not_after) WHERE status = 'revoked';
CREATE INDEX certificates_renewal_of ON certificates (renewal_of) WHERE renewal_of <> '';
)sql"},
    {2, "scep", R"sql(
CREATE TABLE scep_challenges (
  id {{AUTOID}},
  challenge_sha256 TEXT NOT NULL UNIQUE,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  bound_to TEXT NOT NULL,
  spent_at BIGINT,
  spent_by TEXT NOT NULL
);
CREATE INDEX scep_challenges_expires_at ON scep_challenges (expires_at);

CREATE TABLE scep_transactions (
  transaction_id TEXT PRIMARY KEY,
  spki_sha256 TEXT NOT NULL,
  message_type TEXT NOT NULL,
  status TEXT NOT NULL,
  subject TEXT NOT NULL,
  csr_der {{BLOB}} NOT NULL,
  renewal_of TEXT NOT NULL,
  cert_serial TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX scep_transactions_status_created_at ON scep_transactions (status, created_at);
)sql"},
    // Migrations 3-6 each belong to one role store (storage/<role>_store.h).
    {3, "mdm", R"sql(
CREATE TABLE mdm_devices (
  id TEXT PRIMARY KEY,
  serial_number TEXT NOT NULL,
  model TEXT NOT NULL,
  model_name TEXT NOT NULL,
  product_name TEXT NOT NULL,
  device_name TEXT NOT NULL,
  os_version TEXT NOT NULL,
  build_version TEXT NOT NULL,
  imei TEXT NOT NULL,
  meid TEXT NOT NULL,
  authenticate_raw {{BLOB}} NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX mdm_devices_serial_number ON mdm_devices (serial_number);

CREATE TABLE mdm_enrollments (
  id TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  parent_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  user_short_name TEXT NOT NULL,
  user_long_name TEXT NOT NULL,
  enrollment_user_id TEXT NOT NULL,
  topic TEXT NOT NULL,
  push_token_hex TEXT NOT NULL,
  push_magic TEXT NOT NULL,
  unlock_token {{BLOB}} NOT NULL,
  enabled INTEGER NOT NULL,
  token_unregistered INTEGER NOT NULL,
  token_update_tally BIGINT NOT NULL,
  last_seen BIGINT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX mdm_enrollments_device_id ON mdm_enrollments (device_id);

-- One identity certificate belongs to one device (its channels share it).
CREATE TABLE mdm_cert_associations (
  cert_sha256 TEXT PRIMARY KEY,
  serial_hex TEXT NOT NULL,
  device_id TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX mdm_cert_associations_serial_hex ON mdm_cert_associations (serial_hex);
CREATE INDEX mdm_cert_associations_device_id ON mdm_cert_associations (device_id);

-- Ciphertext only (AES-256-GCM, key outside the database).
CREATE TABLE mdm_bootstrap_tokens (
  device_id TEXT PRIMARY KEY,
  ciphertext {{BLOB}} NOT NULL,
  updated_at BIGINT NOT NULL
);

CREATE TABLE mdm_commands (
  command_uuid TEXT PRIMARY KEY,
  request_type TEXT NOT NULL,
  payload {{BLOB}} NOT NULL,
  priority BIGINT NOT NULL,
  expires_at BIGINT,
  created_at BIGINT NOT NULL
);

-- One row per (enrollment, command); priority and expiry are copied from the command so that
-- "the next command" is one index range scan.
CREATE TABLE mdm_queue (
  seq {{AUTOID}},
  enrollment_id TEXT NOT NULL,
  command_uuid TEXT NOT NULL,
  priority BIGINT NOT NULL,
  expires_at BIGINT,
  status TEXT NOT NULL,
  active INTEGER NOT NULL,
  result {{BLOB}},
  error_chain_json TEXT,
  queued_at BIGINT NOT NULL,
  sent_at BIGINT,
  result_at BIGINT,
  UNIQUE (enrollment_id, command_uuid)
);
CREATE INDEX mdm_queue_next ON mdm_queue (enrollment_id, priority DESC, seq) WHERE active = 1;
CREATE INDEX mdm_queue_expires_at ON mdm_queue (expires_at) WHERE active = 1 AND expires_at IS NOT NULL;
)sql"},
    {4, "push", R"sql(
CREATE TABLE push_certs (
  topic TEXT PRIMARY KEY,
  cert_pem TEXT NOT NULL,
  key_pem TEXT NOT NULL,
  key_encrypted INTEGER NOT NULL DEFAULT 0,
  subject TEXT NOT NULL,
  sha256_hex TEXT NOT NULL,
  not_before BIGINT NOT NULL,
  not_after BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
)sql"},
    {5, "acme", R"sql(
CREATE TABLE acme_accounts (
  id TEXT PRIMARY KEY,
  key_thumbprint TEXT NOT NULL UNIQUE,
  jwk_json TEXT NOT NULL,
  status TEXT NOT NULL,
  contact_json TEXT NOT NULL,
  created_at BIGINT NOT NULL
);

CREATE TABLE acme_orders (
  seq {{AUTOID}},
  id TEXT NOT NULL UNIQUE,
  account_id TEXT NOT NULL REFERENCES acme_accounts (id),
  status TEXT NOT NULL,
  identifiers_json TEXT NOT NULL,
  not_before BIGINT,
  not_after BIGINT,
  expires_at BIGINT NOT NULL,
  error_json TEXT NOT NULL,
  cert_serial TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX acme_orders_account_id ON acme_orders (account_id);

CREATE TABLE acme_authzs (
  seq {{AUTOID}},
  id TEXT NOT NULL UNIQUE,
  order_id TEXT NOT NULL REFERENCES acme_orders (id),
  account_id TEXT NOT NULL,
  identifier_type TEXT NOT NULL,
  identifier_value TEXT NOT NULL,
  status TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  attested_json TEXT NOT NULL
);
CREATE INDEX acme_authzs_order_id ON acme_authzs (order_id);

CREATE TABLE acme_challenges (
  seq {{AUTOID}},
  id TEXT NOT NULL UNIQUE,
  authz_id TEXT NOT NULL REFERENCES acme_authzs (id),
  type TEXT NOT NULL,
  token TEXT NOT NULL,
  status TEXT NOT NULL,
  validated_at BIGINT,
  error_json TEXT NOT NULL
);
CREATE INDEX acme_challenges_authz_id ON acme_challenges (authz_id);

CREATE TABLE acme_client_identifiers (
  identifier_sha256 TEXT PRIMARY KEY,
  bound_to TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  spent_at BIGINT,
  spent_by TEXT NOT NULL
);
)sql"},
    {6, "dep", R"sql(
CREATE TABLE dep_names (
  name TEXT PRIMARY KEY,
  current_key_pem TEXT NOT NULL,
  current_cert_pem TEXT NOT NULL,
  staging_key_pem TEXT NOT NULL,
  staging_cert_pem TEXT NOT NULL,
  consumer_key TEXT NOT NULL,
  consumer_secret TEXT NOT NULL,
  access_token TEXT NOT NULL,
  access_secret TEXT NOT NULL,
  access_token_expiry BIGINT,
  tokens_updated_at BIGINT,
  server_uuid TEXT NOT NULL,
  cursor TEXT NOT NULL,
  cursor_at BIGINT,
  fetch_completed_at BIGINT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);

CREATE TABLE dep_devices (
  dep_name TEXT NOT NULL REFERENCES dep_names (name),
  serial_number TEXT NOT NULL,
  model TEXT NOT NULL,
  description TEXT NOT NULL,
  color TEXT NOT NULL,
  os TEXT NOT NULL,
  device_family TEXT NOT NULL,
  profile_status TEXT NOT NULL,
  profile_uuid TEXT NOT NULL,
  profile_assign_time BIGINT,
  profile_push_time BIGINT,
  device_assigned_by TEXT NOT NULL,
  device_assigned_date BIGINT,
  op_type TEXT NOT NULL,
  op_date BIGINT,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (dep_name, serial_number)
);
CREATE INDEX dep_devices_serial_number ON dep_devices (serial_number);
)sql"},
    {7, "policy", R"sql(
-- Enrollment policy (issue 7): settings shared by every custos process (a missing row means
-- "the configuration's default").
CREATE TABLE policy_settings (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  updated_by TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);

-- Refused enrollment attempts, for the administrator.
CREATE TABLE enrollment_refusals (
  id {{AUTOID}},
  serial TEXT NOT NULL,
  udid TEXT NOT NULL,
  stage TEXT NOT NULL,
  reason TEXT NOT NULL,
  detail_json TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX enrollment_refusals_serial ON enrollment_refusals (serial);

-- Whether the device's MDM identity is hardware-attested (device-attest-01), and the certificate
-- that was judged.
ALTER TABLE mdm_devices ADD COLUMN hardware_attested INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mdm_devices ADD COLUMN attested_cert_serial TEXT NOT NULL DEFAULT '';
)sql"},
    {8, "posture", R"sql(
CREATE TABLE posture_requests (
  seq {{AUTOID}},
  command_uuid TEXT NOT NULL UNIQUE,
  device_id TEXT NOT NULL,
  nonce {{BLOB}} NOT NULL,
  trigger_name TEXT NOT NULL,
  forced INTEGER NOT NULL DEFAULT 0,
  status TEXT NOT NULL,
  requested_at BIGINT NOT NULL,
  completed_at BIGINT
);
CREATE INDEX posture_requests_device_id ON posture_requests (device_id, requested_at);
CREATE INDEX posture_requests_status ON posture_requests (status, requested_at);

CREATE TABLE posture_results (
  id {{AUTOID}},
  device_id TEXT NOT NULL,
  command_uuid TEXT NOT NULL,
  received_at BIGINT NOT NULL,
  verdict TEXT NOT NULL,
  reason TEXT NOT NULL,
  findings_json TEXT NOT NULL,
  properties_json TEXT NOT NULL,
  freshness_hex TEXT NOT NULL,
  attested_at BIGINT,
  reported_os_version TEXT NOT NULL
);
CREATE INDEX posture_results_device_id ON posture_results (device_id, id);

CREATE TABLE posture_devices (
  device_id TEXT PRIMARY KEY,
  os_version TEXT NOT NULL,
  os_version_at BIGINT,
  next_due_at BIGINT,
  due_reason TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX posture_devices_next_due_at ON posture_devices (next_due_at);
)sql"},
    {9, "renewal", R"sql(
-- Identity renewal over MDM (issue 7; storage/renewal_store.h): one row per InstallProfile sent
-- to renew an identity. Only the SHA-256 of the profile's one-time secret is kept.
CREATE TABLE renewal_requests (
  id {{AUTOID}},
  old_serial TEXT NOT NULL,
  enrollment_id TEXT NOT NULL,
  command_uuid TEXT NOT NULL,
  identity_kind TEXT NOT NULL,
  secret_sha256 TEXT NOT NULL,
  status TEXT NOT NULL,
  reason TEXT NOT NULL,
  new_serial TEXT NOT NULL,
  old_not_after BIGINT NOT NULL,
  requested_at BIGINT NOT NULL,
  completed_at BIGINT
);
CREATE INDEX renewal_requests_old_serial ON renewal_requests (old_serial, requested_at);
CREATE INDEX renewal_requests_enrollment_id ON renewal_requests (enrollment_id, status);
)sql"},
    {10, "ota", R"sql(
CREATE TABLE ota_sessions (
  id {{AUTOID}},
  challenge_sha256 TEXT NOT NULL UNIQUE,
  state TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  udid TEXT NOT NULL,
  serial TEXT NOT NULL,
  product TEXT NOT NULL,
  os_version TEXT NOT NULL,
  imei TEXT NOT NULL,
  meid TEXT NOT NULL,
  device_cert_subject TEXT NOT NULL,
  phase2_at BIGINT,
  identity_serial TEXT NOT NULL,
  phase3_at BIGINT
);
CREATE INDEX ota_sessions_expires_at ON ota_sessions (expires_at);
)sql"},
    {11, "acme_challenges_status", R"sql(
CREATE INDEX acme_challenges_status ON acme_challenges (status);
)sql"},
};

// Any constant will do; it only has to be the same in every custos process.
constexpr int64_t kMigrationLockKey = 0x637573746f73;  // "custos"

Status ApplyOnce(sql::Database& db, const std::vector<Migration>& migrations, Clock* clock) {
  ASSIGN_OR_RETURN(auto tx, db.Begin(TxMode::kReadWrite));
  if (db.dialect() == sql::Dialect::kPostgres) {
    RETURN_IF_ERROR(tx->Exec("SELECT pg_advisory_xact_lock($1)", {sql::Int(kMigrationLockKey)}));
  }
  RETURN_IF_ERROR(tx->ExecScript(
      "CREATE TABLE IF NOT EXISTS schema_migrations ("
      " version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"));
  ASSIGN_OR_RETURN(int64_t current, ReadSchemaVersion(*tx));
  const int64_t newest = migrations.empty() ? 0 : migrations.back().version;
  if (current > newest) {
    ASSIGN_OR_RETURN(auto r, tx->Exec("SELECT name FROM schema_migrations WHERE version = $1",
                                      {sql::Int(current)}));
    std::string name = r.rows.empty() ? "?" : r.rows[0].GetText(0).value_or("?");
    return FailedPreconditionError(
        "the database schema is at version " + std::to_string(current) + " (" + name +
        "), newer than this custos knows (" + std::to_string(newest) +
        "): it was upgraded by a newer custos; run that version or restore a backup");
  }
  for (const Migration& m : migrations) {
    if (m.version <= current) continue;
    Status s = tx->ExecScript(DialectSql(m.sql, db.dialect()));
    if (s.ok()) {
      s = tx->Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                   {sql::Int(m.version), sql::Text(m.name), sql::UnixTime(clock->Now())})
              .status();
    }
    if (!s.ok()) {
      if (s.code() == StatusCode::kAborted) return s;  // a concurrent writer: retried
      return FailedPreconditionError("migration " + std::to_string(m.version) + " (" +
                                     std::string(m.name) + ") failed: " + s.message() +
                                     "; the schema was left at version " +
                                     std::to_string(current));
    }
    spdlog::info("applied database migration {} ({})", m.version, m.name);
  }
  return tx->Commit();
}

}  // namespace

const std::vector<Migration>& BuiltinMigrations() {
  static const std::vector<Migration> kList(std::begin(kMigrations), std::end(kMigrations));
  return kList;
}

std::string DialectSql(std::string_view sql, sql::Dialect dialect) {
  const bool pg = dialect == sql::Dialect::kPostgres;
  const std::pair<std::string_view, std::string_view> kSubstitutions[] = {
      {"{{AUTOID}}", pg ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT"},
      {"{{BLOB}}", pg ? "BYTEA" : "BLOB"},
  };
  std::string out(sql);
  for (const auto& [from, to] : kSubstitutions) {
    for (size_t pos = 0; (pos = out.find(from, pos)) != std::string::npos; pos += to.size()) {
      out.replace(pos, from.size(), to);
    }
  }
  return out;
}

StatusOr<int64_t> ReadSchemaVersion(sql::Transaction& tx) {
  ASSIGN_OR_RETURN(auto r, tx.Exec("SELECT MAX(version) FROM schema_migrations"));
  if (r.rows.empty() || r.rows[0].IsNull(0)) return int64_t{0};
  return r.rows[0].GetInt(0);
}

Status ApplyMigrations(sql::Database& db, const std::vector<Migration>& migrations, Clock* clock) {
  for (size_t i = 1; i < migrations.size(); ++i) {
    if (migrations[i].version <= migrations[i - 1].version) {
      return InternalError("migration versions are not strictly increasing at " +
                           std::to_string(migrations[i].version));
    }
  }
  constexpr int kAttempts = 3;
  for (int attempt = 1;; ++attempt) {
    Status s = ApplyOnce(db, migrations, clock);
    if (s.code() != StatusCode::kAborted || attempt == kAttempts) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(50 * attempt));
  }
}

}  // namespace custos
