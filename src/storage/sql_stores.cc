// The role stores of storage.h, written once in portable SQL over the driver interface (sql.h),
// and the Storage that binds them to transactions. See storage.h for the contracts.
//
// Statements stay usable on PostgreSQL after an expected conflict: inserts that may collide use
// INSERT ... ON CONFLICT DO NOTHING RETURNING and report ALREADY_EXISTS themselves, because a
// failed statement would abort the whole PostgreSQL transaction.
#include <chrono>
#include <random>
#include <thread>

#include "base/logging.h"
#include "base/random.h"
#include "storage/migrations.h"
#include "storage/postgres/postgres_database.h"
#include "storage/sql.h"
#include "storage/sql_parts.h"
#include "storage/sqlite/sqlite_database.h"
#include "storage/storage.h"

namespace custos {
namespace {

using sql::Row;
using sql::Value;

// ---- CaStore -----------------------------------------------------------------------------------

constexpr std::string_view kCaCertColumns =
    "id, role, key_id, der, subject, serial_hex, sha256_hex, not_before, not_after, active, "
    "created_at";

StatusOr<CaCertRecord> ParseCaCert(const Row& row) {
  CaCertRecord c;
  ASSIGN_OR_RETURN(c.id, row.GetInt(0));
  ASSIGN_OR_RETURN(c.role, row.GetText(1));
  ASSIGN_OR_RETURN(c.key_id, row.GetInt(2));
  ASSIGN_OR_RETURN(c.der, row.GetBytes(3));
  ASSIGN_OR_RETURN(c.subject, row.GetText(4));
  ASSIGN_OR_RETURN(c.serial_hex, row.GetText(5));
  ASSIGN_OR_RETURN(c.sha256_hex, row.GetText(6));
  ASSIGN_OR_RETURN(c.not_before, row.GetTime(7));
  ASSIGN_OR_RETURN(c.not_after, row.GetTime(8));
  ASSIGN_OR_RETURN(c.active, row.GetBool(9));
  ASSIGN_OR_RETURN(c.created_at, row.GetTime(10));
  return c;
}

StatusOr<int64_t> ReturnedId(const sql::Result& r) {
  if (r.rows.empty()) return InternalError("INSERT returned no id");
  return r.rows[0].GetInt(0);
}

class SqlCaStore : public CaStore {
 public:
  explicit SqlCaStore(sql::Transaction& tx) : tx_(tx) {}

  StatusOr<int64_t> InsertKey(const CaKeyRecord& key) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("INSERT INTO ca_keys (pkcs8_pem, encrypted, created_at) "
                                      "VALUES ($1, $2, $3) RETURNING id",
                                      {sql::Text(key.pkcs8_pem), sql::Bool(key.encrypted),
                                       sql::UnixTime(key.created_at)}));
    return ReturnedId(r);
  }

  StatusOr<CaKeyRecord> GetKey(int64_t id) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("SELECT id, pkcs8_pem, encrypted, created_at FROM ca_keys "
                                      "WHERE id = $1",
                                      {sql::Int(id)}));
    if (r.rows.empty()) return NotFoundError("no CA key with id " + std::to_string(id));
    const Row& row = r.rows[0];
    CaKeyRecord k;
    ASSIGN_OR_RETURN(k.id, row.GetInt(0));
    ASSIGN_OR_RETURN(k.pkcs8_pem, row.GetText(1));
    ASSIGN_OR_RETURN(k.encrypted, row.GetBool(2));
    ASSIGN_OR_RETURN(k.created_at, row.GetTime(3));
    return k;
  }

  StatusOr<int64_t> InsertCert(const CaCertRecord& cert) override {
    ASSIGN_OR_RETURN(
        auto r,
        tx_.Exec("INSERT INTO ca_certs (role, key_id, der, subject, serial_hex, sha256_hex, "
                 "not_before, not_after, active, created_at) "
                 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9) RETURNING id",
                 {sql::Text(cert.role), sql::Int(cert.key_id), sql::Bytes(cert.der),
                  sql::Text(cert.subject), sql::Text(cert.serial_hex), sql::Text(cert.sha256_hex),
                  sql::UnixTime(cert.not_before), sql::UnixTime(cert.not_after),
                  sql::UnixTime(cert.created_at)}));
    ASSIGN_OR_RETURN(int64_t id, ReturnedId(r));
    // An active insert goes through SetActive, so "one active per role" holds at every commit.
    if (cert.active) RETURN_IF_ERROR(SetActive(id));
    return id;
  }

  StatusOr<CaCertRecord> GetCert(int64_t id) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("SELECT " + std::string(kCaCertColumns) +
                                          " FROM ca_certs WHERE id = $1",
                                      {sql::Int(id)}));
    if (r.rows.empty()) return NotFoundError("no CA certificate with id " + std::to_string(id));
    return ParseCaCert(r.rows[0]);
  }

  StatusOr<std::vector<CaCertRecord>> ListCerts() override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("SELECT " + std::string(kCaCertColumns) +
                                      " FROM ca_certs ORDER BY id"));
    std::vector<CaCertRecord> out;
    for (const Row& row : r.rows) {
      ASSIGN_OR_RETURN(CaCertRecord c, ParseCaCert(row));
      out.push_back(std::move(c));
    }
    return out;
  }

  Status SetActive(int64_t id) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("UPDATE ca_certs SET active = CASE WHEN id = $1 THEN 1 "
                                      "ELSE 0 END WHERE role = (SELECT role FROM ca_certs "
                                      "WHERE id = $1)",
                                      {sql::Int(id)}));
    if (r.affected == 0) return NotFoundError("no CA certificate with id " + std::to_string(id));
    return OkStatus();
  }

  Status PutCrl(const CrlRecord& crl) override {
    return tx_
        .Exec("INSERT INTO crls (ca_cert_id, number, der, this_update, next_update) "
              "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (ca_cert_id) DO UPDATE SET "
              "number = excluded.number, der = excluded.der, this_update = excluded.this_update, "
              "next_update = excluded.next_update",
              {sql::Int(crl.ca_cert_id), sql::Int(crl.number), sql::Bytes(crl.der),
               sql::UnixTime(crl.this_update), sql::UnixTime(crl.next_update)})
        .status();
  }

  StatusOr<CrlRecord> GetCrl(int64_t ca_cert_id) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("SELECT ca_cert_id, number, der, this_update, next_update "
                                      "FROM crls WHERE ca_cert_id = $1",
                                      {sql::Int(ca_cert_id)}));
    if (r.rows.empty()) {
      return NotFoundError("no CRL for CA certificate " + std::to_string(ca_cert_id));
    }
    const Row& row = r.rows[0];
    CrlRecord c;
    ASSIGN_OR_RETURN(c.ca_cert_id, row.GetInt(0));
    ASSIGN_OR_RETURN(c.number, row.GetInt(1));
    ASSIGN_OR_RETURN(c.der, row.GetBytes(2));
    ASSIGN_OR_RETURN(c.this_update, row.GetTime(3));
    ASSIGN_OR_RETURN(c.next_update, row.GetTime(4));
    return c;
  }

  StatusOr<int64_t> NextCrlNumber(int64_t ca_cert_id) override {
    // One statement: the row lock makes concurrent callers (and processes) line up.
    ASSIGN_OR_RETURN(auto r, tx_.Exec("UPDATE ca_certs SET crl_number = crl_number + 1 "
                                      "WHERE id = $1 RETURNING crl_number",
                                      {sql::Int(ca_cert_id)}));
    if (r.rows.empty()) {
      return NotFoundError("no CA certificate with id " + std::to_string(ca_cert_id));
    }
    return r.rows[0].GetInt(0);
  }

 private:
  sql::Transaction& tx_;
};

// ---- CertStore ---------------------------------------------------------------------------------

constexpr std::string_view kCertColumns =
    "serial_hex, subject, sans_json, spki_sha256, cert_sha256, not_before, not_after, issuer_id, "
    "requester, requester_ref, status, revoked_at, revocation_reason, renewal_of, "
    "attributes_json, der, created_at";

StatusOr<CertificateRecord> ParseCert(const Row& row) {
  CertificateRecord c;
  ASSIGN_OR_RETURN(c.serial_hex, row.GetText(0));
  ASSIGN_OR_RETURN(c.subject, row.GetText(1));
  ASSIGN_OR_RETURN(c.sans_json, row.GetText(2));
  ASSIGN_OR_RETURN(c.spki_sha256, row.GetText(3));
  ASSIGN_OR_RETURN(c.cert_sha256, row.GetText(4));
  ASSIGN_OR_RETURN(c.not_before, row.GetTime(5));
  ASSIGN_OR_RETURN(c.not_after, row.GetTime(6));
  ASSIGN_OR_RETURN(c.issuer_id, row.GetInt(7));
  ASSIGN_OR_RETURN(c.requester, row.GetText(8));
  ASSIGN_OR_RETURN(c.requester_ref, row.GetText(9));
  ASSIGN_OR_RETURN(c.status, row.GetText(10));
  if (!row.IsNull(11)) {
    ASSIGN_OR_RETURN(Time revoked_at, row.GetTime(11));
    c.revoked_at = revoked_at;
  }
  ASSIGN_OR_RETURN(c.revocation_reason, row.GetInt(12));
  ASSIGN_OR_RETURN(c.renewal_of, row.GetText(13));
  ASSIGN_OR_RETURN(c.attributes_json, row.GetText(14));
  ASSIGN_OR_RETURN(c.der, row.GetBytes(15));
  ASSIGN_OR_RETURN(c.created_at, row.GetTime(16));
  return c;
}

StatusOr<std::vector<CertificateRecord>> ParseCerts(const sql::Result& r) {
  std::vector<CertificateRecord> out;
  out.reserve(r.rows.size());
  for (const Row& row : r.rows) {
    ASSIGN_OR_RETURN(CertificateRecord c, ParseCert(row));
    out.push_back(std::move(c));
  }
  return out;
}

class SqlCertStore : public CertStore {
 public:
  explicit SqlCertStore(sql::Transaction& tx) : tx_(tx) {}

  Status Insert(const CertificateRecord& c) override {
    ASSIGN_OR_RETURN(
        auto r,
        tx_.Exec("INSERT INTO certificates (" + std::string(kCertColumns) +
                     ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, "
                     "$16, $17) ON CONFLICT DO NOTHING",
                 {sql::Text(c.serial_hex), sql::Text(c.subject), sql::Text(c.sans_json),
                  sql::Text(c.spki_sha256), sql::Text(c.cert_sha256), sql::UnixTime(c.not_before),
                  sql::UnixTime(c.not_after), sql::Int(c.issuer_id), sql::Text(c.requester),
                  sql::Text(c.requester_ref), sql::Text(c.status),
                  c.revoked_at ? sql::UnixTime(*c.revoked_at) : sql::Null(),
                  sql::Int(c.revocation_reason), sql::Text(c.renewal_of),
                  sql::Text(c.attributes_json), sql::Bytes(c.der), sql::UnixTime(c.created_at)}));
    // The hot insert of issuance: no RETURNING (on SQLite it costs an ephemeral result table per
    // row); the affected-row count tells a conflict apart on both drivers.
    if (r.affected == 0) {
      return AlreadyExistsError("a certificate with serial " + c.serial_hex +
                                " or the same SHA-256 is already recorded");
    }
    return OkStatus();
  }

  StatusOr<CertificateRecord> GetBySerial(std::string_view serial_hex) override {
    return GetOne("serial_hex", serial_hex);
  }

  StatusOr<CertificateRecord> GetBySha256(std::string_view cert_sha256) override {
    return GetOne("cert_sha256", cert_sha256);
  }

  StatusOr<std::vector<CertificateRecord>> List(const CertificateFilter& f) override {
    constexpr int64_t kDefaultLimit = 100;
    constexpr int64_t kMaxLimit = 10000;
    int64_t limit = f.limit <= 0 ? kDefaultLimit : std::min(f.limit, kMaxLimit);
    ASSIGN_OR_RETURN(auto r, tx_.Exec("SELECT " + std::string(kCertColumns) +
                                          " FROM certificates WHERE ($1 = '' OR status = $1) "
                                          "AND ($2 = '' OR requester = $2) AND serial_hex > $3 "
                                          "ORDER BY serial_hex LIMIT $4",
                                      {sql::Text(f.status), sql::Text(f.requester),
                                       sql::Text(f.after_serial), sql::Int(limit)}));
    return ParseCerts(r);
  }

  Status Revoke(std::string_view serial_hex, Time when, int64_t reason) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("UPDATE certificates SET status = 'revoked', "
                                      "revoked_at = $2, revocation_reason = $3 "
                                      "WHERE serial_hex = $1 AND status <> 'revoked'",
                                      {sql::Text(serial_hex), sql::UnixTime(when),
                                       sql::Int(reason)}));
    if (r.affected > 0) return OkStatus();
    ASSIGN_OR_RETURN(auto found, tx_.Exec("SELECT status FROM certificates WHERE serial_hex = $1",
                                          {sql::Text(serial_hex)}));
    if (found.rows.empty()) {
      return NotFoundError("no certificate with serial " + std::string(serial_hex));
    }
    return FailedPreconditionError("certificate " + std::string(serial_hex) +
                                   " is already revoked");
  }

  StatusOr<std::vector<CertificateRecord>> ListRevoked(int64_t issuer_id, Time now) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("SELECT " + std::string(kCertColumns) +
                                          " FROM certificates WHERE issuer_id = $1 AND "
                                          "status = 'revoked' AND not_after >= $2 "
                                          "ORDER BY serial_hex",
                                      {sql::Int(issuer_id), sql::UnixTime(now)}));
    return ParseCerts(r);
  }

 private:
  StatusOr<CertificateRecord> GetOne(std::string_view column, std::string_view value) {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("SELECT " + std::string(kCertColumns) +
                                          " FROM certificates WHERE " + std::string(column) +
                                          " = $1",
                                      {sql::Text(value)}));
    if (r.rows.empty()) {
      return NotFoundError("no certificate with " + std::string(column) + " " +
                           std::string(value));
    }
    return ParseCert(r.rows[0]);
  }

  sql::Transaction& tx_;
};

// ---- ScepStore ---------------------------------------------------------------------------------

constexpr std::string_view kScepTxColumns =
    "transaction_id, spki_sha256, message_type, status, subject, csr_der, renewal_of, cert_serial, "
    "created_at, updated_at";

StatusOr<ScepTransactionRecord> ParseScepTx(const Row& row) {
  ScepTransactionRecord t;
  ASSIGN_OR_RETURN(t.transaction_id, row.GetText(0));
  ASSIGN_OR_RETURN(t.spki_sha256, row.GetText(1));
  ASSIGN_OR_RETURN(t.message_type, row.GetText(2));
  ASSIGN_OR_RETURN(t.status, row.GetText(3));
  ASSIGN_OR_RETURN(t.subject, row.GetText(4));
  ASSIGN_OR_RETURN(t.csr_der, row.GetBytes(5));
  ASSIGN_OR_RETURN(t.renewal_of, row.GetText(6));
  ASSIGN_OR_RETURN(t.cert_serial, row.GetText(7));
  ASSIGN_OR_RETURN(t.created_at, row.GetTime(8));
  ASSIGN_OR_RETURN(t.updated_at, row.GetTime(9));
  return t;
}

class SqlScepStore : public ScepStore {
 public:
  explicit SqlScepStore(sql::Transaction& tx) : tx_(tx) {}

  Status InsertChallenge(const ScepChallengeRecord& c) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("INSERT INTO scep_challenges (challenge_sha256, created_at, "
                                      "expires_at, bound_to, spent_at, spent_by) VALUES ($1, $2, "
                                      "$3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING id",
                                      {sql::Text(c.challenge_sha256), sql::UnixTime(c.created_at),
                                       sql::UnixTime(c.expires_at), sql::Text(c.bound_to),
                                       c.spent_at ? sql::UnixTime(*c.spent_at) : sql::Null(),
                                       sql::Text(c.spent_by)}));
    if (r.rows.empty()) return AlreadyExistsError("SCEP challenge already exists");
    return OkStatus();
  }

  StatusOr<ScepChallengeRecord> GetChallenge(std::string_view sha256) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("SELECT challenge_sha256, created_at, expires_at, bound_to, "
                                      "spent_at, spent_by FROM scep_challenges "
                                      "WHERE challenge_sha256 = $1",
                                      {sql::Text(sha256)}));
    if (r.rows.empty()) return NotFoundError("no such SCEP challenge");
    const Row& row = r.rows[0];
    ScepChallengeRecord c;
    ASSIGN_OR_RETURN(c.challenge_sha256, row.GetText(0));
    ASSIGN_OR_RETURN(c.created_at, row.GetTime(1));
    ASSIGN_OR_RETURN(c.expires_at, row.GetTime(2));
    ASSIGN_OR_RETURN(c.bound_to, row.GetText(3));
    if (!row.IsNull(4)) {
      ASSIGN_OR_RETURN(Time spent, row.GetTime(4));
      c.spent_at = spent;
    }
    ASSIGN_OR_RETURN(c.spent_by, row.GetText(5));
    return c;
  }

  Status SpendChallenge(std::string_view sha256, Time now,
                        std::string_view transaction_id) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("UPDATE scep_challenges SET spent_at = $2, spent_by = $3 "
                                      "WHERE challenge_sha256 = $1 AND spent_at IS NULL "
                                      "AND expires_at > $2",
                                      {sql::Text(sha256), sql::UnixTime(now),
                                       sql::Text(transaction_id)}));
    if (r.affected == 1) return OkStatus();
    ASSIGN_OR_RETURN(auto found, tx_.Exec("SELECT spent_at FROM scep_challenges "
                                          "WHERE challenge_sha256 = $1",
                                          {sql::Text(sha256)}));
    if (found.rows.empty()) return NotFoundError("no such SCEP challenge");
    return FailedPreconditionError(found.rows[0].IsNull(0) ? "SCEP challenge expired"
                                                           : "SCEP challenge already used");
  }

  StatusOr<int64_t> DeleteExpiredChallenges(Time before) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("DELETE FROM scep_challenges WHERE expires_at < $1",
                                      {sql::UnixTime(before)}));
    return r.affected;
  }

  Status InsertTransaction(const ScepTransactionRecord& t) override {
    ASSIGN_OR_RETURN(
        auto r, tx_.Exec("INSERT INTO scep_transactions (" + std::string(kScepTxColumns) +
                             ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
                             "ON CONFLICT DO NOTHING RETURNING transaction_id",
                         {sql::Text(t.transaction_id), sql::Text(t.spki_sha256),
                          sql::Text(t.message_type), sql::Text(t.status), sql::Text(t.subject),
                          sql::Bytes(t.csr_der), sql::Text(t.renewal_of), sql::Text(t.cert_serial),
                          sql::UnixTime(t.created_at), sql::UnixTime(t.updated_at)}));
    if (r.rows.empty()) {
      return AlreadyExistsError("SCEP transaction " + t.transaction_id + " already exists");
    }
    return OkStatus();
  }

  StatusOr<ScepTransactionRecord> GetTransaction(std::string_view transaction_id) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("SELECT " + std::string(kScepTxColumns) +
                                          " FROM scep_transactions WHERE transaction_id = $1",
                                      {sql::Text(transaction_id)}));
    if (r.rows.empty()) {
      return NotFoundError("no SCEP transaction " + std::string(transaction_id));
    }
    return ParseScepTx(r.rows[0]);
  }

  Status UpdateTransaction(std::string_view transaction_id, std::string_view status,
                           std::string_view cert_serial, Time now) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("UPDATE scep_transactions SET status = $2, cert_serial = $3, "
                                      "updated_at = $4, csr_der = CASE WHEN $2 = 'pending' THEN "
                                      "csr_der ELSE $5 END WHERE transaction_id = $1",
                                      {sql::Text(transaction_id), sql::Text(status),
                                       sql::Text(cert_serial), sql::UnixTime(now),
                                       sql::Bytes("")}));
    if (r.affected == 0) {
      return NotFoundError("no SCEP transaction " + std::string(transaction_id));
    }
    return OkStatus();
  }

  StatusOr<std::vector<ScepTransactionRecord>> ListTransactions(std::string_view status,
                                                                int64_t limit) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("SELECT " + std::string(kScepTxColumns) +
                                          " FROM scep_transactions WHERE ($1 = '' OR status = $1) "
                                          "ORDER BY created_at, transaction_id LIMIT $2",
                                      {sql::Text(status), sql::Int(limit <= 0 ? 100 : limit)}));
    std::vector<ScepTransactionRecord> out;
    for (const Row& row : r.rows) {
      ASSIGN_OR_RETURN(ScepTransactionRecord t, ParseScepTx(row));
      out.push_back(std::move(t));
    }
    return out;
  }

 private:
  sql::Transaction& tx_;
};

// ---- Storage -----------------------------------------------------------------------------------

class SqlStores : public Stores {
 public:
  explicit SqlStores(sql::Transaction& tx) : tx_(tx), ca_(tx), certs_(tx), scep_(tx) {}
  CaStore& ca() override { return ca_; }
  CertStore& certs() override { return certs_; }
  ScepStore& scep() override { return scep_; }
  // The roles written in their own files (sql_parts.h), created on first use.
  MdmStore& mdm() override { return Lazy(mdm_, NewSqlMdmStore); }
  PushStore& push() override { return Lazy(push_, NewSqlPushStore); }
  AcmeStore& acme() override { return Lazy(acme_, NewSqlAcmeStore); }
  DepStore& dep() override { return Lazy(dep_, NewSqlDepStore); }
  PolicyStore& policy() override { return Lazy(policy_, NewSqlPolicyStore); }
  OtaStore& ota() override { return Lazy(ota_, NewSqlOtaStore); }
  PostureStore& posture() override { return Lazy(posture_, NewSqlPostureStore); }
  RenewalStore& renewal() override { return Lazy(renewal_, NewSqlRenewalStore); }

 private:
  template <typename T>
  T& Lazy(std::unique_ptr<T>& slot, std::unique_ptr<T> (*make)(sql::Transaction&)) {
    if (!slot) slot = make(tx_);
    return *slot;
  }

  sql::Transaction& tx_;
  SqlCaStore ca_;
  SqlCertStore certs_;
  SqlScepStore scep_;
  std::unique_ptr<MdmStore> mdm_;
  std::unique_ptr<PushStore> push_;
  std::unique_ptr<AcmeStore> acme_;
  std::unique_ptr<DepStore> dep_;
  std::unique_ptr<PolicyStore> policy_;
  std::unique_ptr<OtaStore> ota_;
  std::unique_ptr<PostureStore> posture_;
  std::unique_ptr<RenewalStore> renewal_;
};

class SqlStorage : public Storage {
 public:
  explicit SqlStorage(std::unique_ptr<sql::Database> db) : db_(std::move(db)) {}

  Status Transact(const std::function<Status(Stores&)>& fn, TxMode mode) override {
    constexpr int kAttempts = 6;
    for (int attempt = 1;; ++attempt) {
      Status s = TransactOnce(fn, mode);
      if (s.code() != StatusCode::kAborted || attempt == kAttempts) return s;
      Backoff(attempt);
    }
  }

  std::string_view driver() const override { return db_->name(); }

  StatusOr<int64_t> SchemaVersion() override {
    ASSIGN_OR_RETURN(auto tx, db_->Begin(TxMode::kReadOnly));
    return ReadSchemaVersion(*tx);
  }

 private:
  Status TransactOnce(const std::function<Status(Stores&)>& fn, TxMode mode) {
    ASSIGN_OR_RETURN(auto tx, db_->Begin(mode));
    SqlStores stores(*tx);
    Status s = fn(stores);
    if (!s.ok()) {
      tx->Rollback();
      return s;
    }
    return tx->Commit();
  }

  // Sleeps 5 ms, 10 ms, 20 ms, ... with full jitter, so retrying writers spread out.
  static void Backoff(int attempt) {
    thread_local std::minstd_rand rng([] {
      std::string seed = Random::Secure()->Bytes(4);
      return static_cast<uint32_t>(static_cast<uint8_t>(seed[0])) << 24 |
             static_cast<uint32_t>(static_cast<uint8_t>(seed[1])) << 16 |
             static_cast<uint32_t>(static_cast<uint8_t>(seed[2])) << 8 |
             static_cast<uint32_t>(static_cast<uint8_t>(seed[3]));
    }());
    const int64_t cap_us = 5000LL << std::min(attempt - 1, 6);
    std::uniform_int_distribution<int64_t> dist(cap_us / 2, cap_us);
    std::this_thread::sleep_for(std::chrono::microseconds(dist(rng)));
  }

  std::unique_ptr<sql::Database> db_;
};

}  // namespace

StatusOr<std::unique_ptr<Storage>> Storage::Open(const StorageConfig& config, Clock* clock) {
  return internal::OpenWithMigrations(config, clock, BuiltinMigrations());
}

namespace internal {

StatusOr<std::unique_ptr<Storage>> OpenWithMigrations(const StorageConfig& config, Clock* clock,
                                                      const std::vector<Migration>& migrations) {
  if (clock == nullptr) clock = Clock::Real();
  std::unique_ptr<sql::Database> db;
  if (config.driver == "sqlite") {
    ASSIGN_OR_RETURN(db, sqlite::OpenSqliteDatabase(config));
  } else if (config.driver == "postgres") {
    ASSIGN_OR_RETURN(db, postgres::OpenPostgresDatabase(config));
  } else {
    return InvalidArgumentError("unknown storage driver \"" + config.driver +
                                "\" (sqlite or postgres)");
  }
  RETURN_IF_ERROR(ApplyMigrations(*db, migrations, clock));
  return std::unique_ptr<Storage>(std::make_unique<SqlStorage>(std::move(db)));
}

}  // namespace internal
}  // namespace custos
