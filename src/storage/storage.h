// Storage: role interfaces over one relational schema, with two drivers (SQLite, the embedded
// default, and PostgreSQL for several server instances).
//
// Every role store is written once, in portable SQL, over the driver interface in sql.h; the
// drivers differ only in connection handling, placeholder syntax, type names in migrations and
// error classification. The conformance suite (storage_conformance_test.cc) runs every role
// against both drivers, so nothing SQLite-only creeps in.
//
// A unit of work is one transaction: Storage::Transact(fn) hands `fn` a Stores bound to a fresh
// transaction, commits when `fn` returns OK and rolls back otherwise. Serialization conflicts
// (SQLITE_BUSY past the busy timeout, PostgreSQL 40001/40P01) come back as ABORTED and are retried
// by Transact a few times before it gives up. Unique-key conflicts are ALREADY_EXISTS.
#ifndef CUSTOS_STORAGE_STORAGE_H_
#define CUSTOS_STORAGE_STORAGE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/config.h"
#include "base/status.h"
#include "base/time.h"
#include "storage/acme_store.h"
#include "storage/dep_store.h"
#include "storage/mdm_store.h"
#include "storage/policy_store.h"
#include "storage/ota_store.h"
#include "storage/posture_store.h"
#include "storage/push_store.h"
#include "storage/renewal_store.h"

namespace custos {

// ---- CA material -------------------------------------------------------------------------------

// A CA private key, PKCS#8 PEM (encrypted with the configured passphrase when one is set).
struct CaKeyRecord {
  int64_t id = 0;
  std::string pkcs8_pem;
  bool encrypted = false;
  Time created_at;
};

// A CA certificate: the root, or an issuing certificate. After a rollover several issuing
// certificates exist; exactly one is `active` (new certificates come from it) and the others stay
// trusted until they expire.
struct CaCertRecord {
  int64_t id = 0;
  std::string role;  // "root" | "issuing"
  int64_t key_id = 0;
  std::string der;
  std::string subject;
  std::string serial_hex;
  std::string sha256_hex;
  Time not_before;
  Time not_after;
  bool active = false;
  Time created_at;
};

// The current CRL of one issuing certificate.
struct CrlRecord {
  int64_t ca_cert_id = 0;
  int64_t number = 0;
  std::string der;
  Time this_update;
  Time next_update;
};

class CaStore {
 public:
  virtual ~CaStore() = default;
  virtual StatusOr<int64_t> InsertKey(const CaKeyRecord& key) = 0;  // returns the new id
  virtual StatusOr<CaKeyRecord> GetKey(int64_t id) = 0;             // NOT_FOUND
  virtual StatusOr<int64_t> InsertCert(const CaCertRecord& cert) = 0;
  virtual StatusOr<CaCertRecord> GetCert(int64_t id) = 0;  // NOT_FOUND
  // All CA certificates, oldest first.
  virtual StatusOr<std::vector<CaCertRecord>> ListCerts() = 0;
  // Makes `id` the only active certificate of its role.
  virtual Status SetActive(int64_t id) = 0;
  virtual Status PutCrl(const CrlRecord& crl) = 0;  // replaces the CRL of crl.ca_cert_id
  virtual StatusOr<CrlRecord> GetCrl(int64_t ca_cert_id) = 0;  // NOT_FOUND
  // Returns the next CRL number for `ca_cert_id` (1, 2, ...), atomically.
  virtual StatusOr<int64_t> NextCrlNumber(int64_t ca_cert_id) = 0;
};

// ---- Issued certificates -----------------------------------------------------------------------

struct CertificateRecord {
  std::string serial_hex;   // lowercase hex of the positive serial, no leading zeros; unique
  std::string subject;      // RFC 2253
  std::string sans_json;    // JSON array of {"type": ..., "value": ...}
  std::string spki_sha256;  // hex of SHA-256 over the DER SubjectPublicKeyInfo
  std::string cert_sha256;  // hex of SHA-256 over the certificate DER; unique
  Time not_before;
  Time not_after;
  int64_t issuer_id = 0;    // CaCertRecord::id of the issuing certificate
  std::string requester;    // "scep" | "acme" | "api" | "cli" | ...
  std::string requester_ref;  // e.g. SCEP transactionID or ACME order id
  std::string status = "valid";  // "valid" | "revoked"
  std::optional<Time> revoked_at;
  int64_t revocation_reason = 0;  // RFC 5280 CRLReason
  std::string renewal_of;   // serial_hex of the certificate this one renews, or ""
  std::string attributes_json = "{}";  // facts recorded at issuance (e.g. attested properties)
  std::string der;
  Time created_at;
};

// List() returns certificates ordered by serial_hex compared as text (the same order on both
// drivers); page by passing the last serial of a page as the next page's after_serial.
struct CertificateFilter {
  std::string status;     // "" = any
  std::string requester;  // "" = any
  int64_t limit = 100;    // <= 0 means 100; at most 10000
  std::string after_serial;  // paging: serials greater than this
};

class CertStore {
 public:
  virtual ~CertStore() = default;
  // ALREADY_EXISTS when the serial (or certificate hash) is taken: the CA retries with another.
  virtual Status Insert(const CertificateRecord& cert) = 0;
  virtual StatusOr<CertificateRecord> GetBySerial(std::string_view serial_hex) = 0;  // NOT_FOUND
  virtual StatusOr<CertificateRecord> GetBySha256(std::string_view cert_sha256) = 0;  // NOT_FOUND
  virtual StatusOr<std::vector<CertificateRecord>> List(const CertificateFilter& filter) = 0;
  // NOT_FOUND for an unknown serial; FAILED_PRECONDITION when already revoked.
  virtual Status Revoke(std::string_view serial_hex, Time when, int64_t reason) = 0;
  // Revoked certificates issued by `issuer_id` that have not expired at `now`, for the CRL.
  virtual StatusOr<std::vector<CertificateRecord>> ListRevoked(int64_t issuer_id, Time now) = 0;
};

// ---- SCEP (RFC 8894) ---------------------------------------------------------------------------

// A dynamic one-time SCEP challenge. Only its SHA-256 is stored, never the challenge itself.
struct ScepChallengeRecord {
  std::string challenge_sha256;  // lowercase hex; unique
  Time created_at;
  Time expires_at;
  std::string bound_to;  // device serial number or UDID it is reserved for; "" = any device
  std::optional<Time> spent_at;
  std::string spent_by;  // transactionID of the request that spent it
};

// One SCEP enrollment transaction (PKCSReq / RenewalReq), for idempotency, PENDING and approval.
struct ScepTransactionRecord {
  std::string transaction_id;  // unique
  std::string spki_sha256;     // hex SHA-256 of the requested public key
  std::string message_type;    // "PKCSReq" | "RenewalReq"
  std::string status;          // "pending" | "issued" | "rejected"
  std::string subject;         // RFC 2253 subject of the CSR
  std::string csr_der;         // kept while pending, for issuance at approval
  std::string renewal_of;      // serial_hex of the renewed certificate, or ""
  std::string cert_serial;     // serial_hex once issued
  Time created_at;
  Time updated_at;
};

class ScepStore {
 public:
  virtual ~ScepStore() = default;
  virtual Status InsertChallenge(const ScepChallengeRecord& c) = 0;  // ALREADY_EXISTS
  virtual StatusOr<ScepChallengeRecord> GetChallenge(std::string_view sha256) = 0;  // NOT_FOUND
  // Marks the challenge spent by `transaction_id` if it is unspent and unexpired at `now`, in one
  // statement, so that two concurrent requests cannot both spend it. NOT_FOUND for an unknown
  // challenge; FAILED_PRECONDITION when it is spent or expired.
  virtual Status SpendChallenge(std::string_view sha256, Time now,
                                std::string_view transaction_id) = 0;
  // Removes challenges that expired before `before`; returns how many.
  virtual StatusOr<int64_t> DeleteExpiredChallenges(Time before) = 0;

  virtual Status InsertTransaction(const ScepTransactionRecord& t) = 0;  // ALREADY_EXISTS
  virtual StatusOr<ScepTransactionRecord> GetTransaction(std::string_view transaction_id) = 0;
  // Sets status and cert_serial (and clears csr_der once issued or rejected). NOT_FOUND.
  virtual Status UpdateTransaction(std::string_view transaction_id, std::string_view status,
                                   std::string_view cert_serial, Time now) = 0;
  // Transactions with `status` ("" = any), oldest first.
  virtual StatusOr<std::vector<ScepTransactionRecord>> ListTransactions(std::string_view status,
                                                                        int64_t limit) = 0;
};

// ---- Units of work -----------------------------------------------------------------------------

// The role stores, all bound to one transaction. Valid only inside the Transact callback.
class Stores {
 public:
  virtual ~Stores() = default;
  virtual CaStore& ca() = 0;
  virtual CertStore& certs() = 0;
  virtual ScepStore& scep() = 0;
  virtual MdmStore& mdm() = 0;    // storage/mdm_store.h
  virtual PushStore& push() = 0;  // storage/push_store.h
  virtual AcmeStore& acme() = 0;  // storage/acme_store.h
  virtual DepStore& dep() = 0;    // storage/dep_store.h
  virtual PolicyStore& policy() = 0;  // storage/policy_store.h
  virtual OtaStore& ota() = 0;    // storage/ota_store.h
  virtual PostureStore& posture() = 0;  // storage/posture_store.h
  virtual RenewalStore& renewal() = 0;  // storage/renewal_store.h
};

enum class TxMode { kReadWrite, kReadOnly };

class Storage {
 public:
  virtual ~Storage() = default;

  // Opens the configured driver, retrying an unreachable database with backoff for up to
  // config.connect_timeout, then applies pending migrations. A failed migration leaves the schema
  // as it was and returns FAILED_PRECONDITION naming the migration.
  static StatusOr<std::unique_ptr<Storage>> Open(const StorageConfig& config, Clock* clock);

  // Runs `fn` in one transaction: commit on OK, rollback otherwise; retries on ABORTED (so `fn`
  // may run more than once: keep side effects outside the database out of it). Thread-safe; do
  // not call Transact from inside `fn` (FAILED_PRECONDITION on SQLite, a possible self-deadlock
  // on PostgreSQL). Read-only transactions refuse writes.
  virtual Status Transact(const std::function<Status(Stores&)>& fn,
                          TxMode mode = TxMode::kReadWrite) = 0;

  virtual std::string_view driver() const = 0;  // "sqlite" | "postgres"
  // The highest migration applied.
  virtual StatusOr<int64_t> SchemaVersion() = 0;
};

}  // namespace custos

#endif  // CUSTOS_STORAGE_STORAGE_H_
