// The AcmeStore role of storage.h: ACME (RFC 8555) accounts, orders, authorizations and
// challenges, and the one-time device-attest-01 ClientIdentifiers custos hands out in enrollment
// profiles (issue 5). Nonces are not stored here: they live in memory (acme/nonces.h).
//
// Records and the interface live here; the portable-SQL implementation is sql_acme_store.cc, its
// tables are migration 5 ("acme") in migrations.cc, and its conformance tests (run on SQLite and
// PostgreSQL) are acme_store_test.cc.
//
// Identifiers (account, order, authorization and challenge ids) are random URL-safe strings the
// ACME service chooses; the store only requires them unique (ALREADY_EXISTS otherwise).
#ifndef CUSTOS_STORAGE_ACME_STORE_H_
#define CUSTOS_STORAGE_ACME_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/time.h"

namespace custos {

// An ACME account (RFC 8555 section 7.1.2). One account per key: key_thumbprint is unique.
struct AcmeAccountRecord {
  std::string id;
  std::string key_thumbprint;  // RFC 7638 JWK thumbprint, base64url
  std::string jwk_json;        // the account public key as a JWK
  std::string status = "valid";  // "valid" | "deactivated" | "revoked"
  std::string contact_json = "[]";
  Time created_at;
};

// An ACME order (RFC 8555 section 7.1.3).
struct AcmeOrderRecord {
  std::string id;
  std::string account_id;
  std::string status = "pending";  // "pending" | "ready" | "processing" | "valid" | "invalid"
  std::string identifiers_json = "[]";  // [{"type": ..., "value": ...}]
  std::optional<Time> not_before;
  std::optional<Time> not_after;
  Time expires_at;
  std::string error_json;   // RFC 7807 problem when invalid, else ""
  std::string cert_serial;  // serial_hex once valid, else ""
  Time created_at;
};

// An ACME authorization (RFC 8555 section 7.1.4), one per identifier of an order.
struct AcmeAuthzRecord {
  std::string id;
  std::string order_id;
  std::string account_id;
  std::string identifier_type;   // "dns" | "permanent-identifier"
  std::string identifier_value;
  std::string status = "pending";  // "pending" | "valid" | "invalid" | "deactivated" | ...
  Time expires_at;
  // device-attest-01: the attested facts (JSON object) once the attestation verified, else "".
  std::string attested_json;
};

// An ACME challenge (RFC 8555 section 7.1.5) of one authorization.
struct AcmeChallengeRecord {
  std::string id;
  std::string authz_id;
  std::string type;   // "http-01" | "device-attest-01"
  std::string token;  // base64url, >= 128 bits of entropy
  std::string status = "pending";  // "pending" | "processing" | "valid" | "invalid"
  std::optional<Time> validated_at;
  std::string error_json;  // RFC 7807 problem when invalid, else ""
};

// A one-time device-attest-01 ClientIdentifier. Only its SHA-256 is stored, never the value.
struct AcmeClientIdentifierRecord {
  std::string identifier_sha256;  // lowercase hex; unique
  std::string bound_to;           // serial number or UDID it is reserved for; "" = any device
  Time created_at;
  Time expires_at;
  std::optional<Time> spent_at;
  std::string spent_by;  // the order id that spent it
};

class AcmeStore {
 public:
  virtual ~AcmeStore() = default;

  // ALREADY_EXISTS when the id or the key thumbprint is taken.
  virtual Status InsertAccount(const AcmeAccountRecord& account) = 0;
  virtual StatusOr<AcmeAccountRecord> GetAccount(std::string_view id) = 0;  // NOT_FOUND
  virtual StatusOr<AcmeAccountRecord> GetAccountByThumbprint(std::string_view thumbprint) = 0;
  // Replaces key_thumbprint, jwk_json, status and contact_json of account.id. NOT_FOUND;
  // ALREADY_EXISTS when the new key belongs to another account.
  virtual Status UpdateAccount(const AcmeAccountRecord& account) = 0;

  virtual Status InsertOrder(const AcmeOrderRecord& order) = 0;  // ALREADY_EXISTS
  virtual StatusOr<AcmeOrderRecord> GetOrder(std::string_view id) = 0;  // NOT_FOUND
  // Sets status, error_json and cert_serial. NOT_FOUND.
  virtual Status UpdateOrder(std::string_view id, std::string_view status,
                             std::string_view error_json, std::string_view cert_serial) = 0;
  // The account's orders, oldest first, at most `limit`.
  virtual StatusOr<std::vector<AcmeOrderRecord>> ListOrders(std::string_view account_id,
                                                            int64_t limit) = 0;

  virtual Status InsertAuthz(const AcmeAuthzRecord& authz) = 0;  // ALREADY_EXISTS
  virtual StatusOr<AcmeAuthzRecord> GetAuthz(std::string_view id) = 0;  // NOT_FOUND
  // Sets status and attested_json. NOT_FOUND.
  virtual Status UpdateAuthz(std::string_view id, std::string_view status,
                             std::string_view attested_json) = 0;
  // The order's authorizations in insertion order.
  virtual StatusOr<std::vector<AcmeAuthzRecord>> ListAuthzs(std::string_view order_id) = 0;

  virtual Status InsertChallenge(const AcmeChallengeRecord& challenge) = 0;  // ALREADY_EXISTS
  virtual StatusOr<AcmeChallengeRecord> GetChallenge(std::string_view id) = 0;  // NOT_FOUND
  // Sets status, validated_at and error_json. NOT_FOUND.
  virtual Status UpdateChallenge(std::string_view id, std::string_view status,
                                 std::optional<Time> validated_at,
                                 std::string_view error_json) = 0;
  // The authorization's challenges in insertion order.
  virtual StatusOr<std::vector<AcmeChallengeRecord>> ListChallenges(std::string_view authz_id) = 0;
  // Challenges with `status`, oldest first, at most `limit` (indexed: start-up looks for the
  // "processing" ones a stopped process left).
  virtual StatusOr<std::vector<AcmeChallengeRecord>> ListChallengesWithStatus(
      std::string_view status, int64_t limit) = 0;

  virtual Status InsertClientIdentifier(const AcmeClientIdentifierRecord& c) = 0;  // ALREADY_EXISTS
  virtual StatusOr<AcmeClientIdentifierRecord> GetClientIdentifier(std::string_view sha256) = 0;
  // Marks it spent by `order_id` if it is unspent and unexpired at `now`, in one statement.
  // NOT_FOUND for an unknown one; FAILED_PRECONDITION when spent or expired.
  virtual Status SpendClientIdentifier(std::string_view sha256, Time now,
                                       std::string_view order_id) = 0;
};

}  // namespace custos

#endif  // CUSTOS_STORAGE_ACME_STORE_H_
