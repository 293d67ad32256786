// The SQL driver interface under every role store: a pool of connections (Database) handing out
// transactions (Transaction) that execute one statement at a time with bound parameters.
//
// SQL text is written once for both drivers: placeholders are `$1, $2, ...` (PostgreSQL syntax;
// the SQLite driver rewrites them to `?1, ?2, ...`), times are BIGINT unix seconds, booleans
// INTEGER 0/1, byte strings BLOB/BYTEA (migrations spell them {{BLOB}}, see migrations.h). Use
// only SQL both SQLite >= 3.35 and PostgreSQL >= 13 accept (ON CONFLICT and RETURNING are fine).
//
// Errors are classified the same way by both drivers:
//   unique-key violation                                  -> ALREADY_EXISTS
//   foreign-key violation                                 -> FAILED_PRECONDITION
//   check / not-null violation                            -> INVALID_ARGUMENT
//   SQLITE_BUSY/LOCKED past the busy timeout,
//   PostgreSQL serialization failure / deadlock (40001/40P01) -> ABORTED (retry the transaction)
//   connection lost or unreachable                        -> UNAVAILABLE
//   anything else                                         -> INTERNAL
// After a statement fails, the transaction can only be rolled back (PostgreSQL aborts it), so a
// role that expects a conflict avoids the error (INSERT ... ON CONFLICT DO NOTHING RETURNING ...).
#ifndef CUSTOS_STORAGE_SQL_H_
#define CUSTOS_STORAGE_SQL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/status.h"
#include "base/time.h"
#include "storage/storage.h"

namespace custos::sql {

// Bytes for a BLOB/BYTEA column (a distinct type so that text and bytes never mix up).
struct Blob {
  std::string bytes;
  bool operator==(const Blob&) const = default;
};

// A parameter or a column value: NULL, an integer, text, or bytes.
using Value = std::variant<std::monostate, int64_t, std::string, Blob>;

inline Value Null() { return std::monostate{}; }
inline Value Int(int64_t v) { return v; }
inline Value Text(std::string_view v) { return std::string(v); }
inline Value Bytes(std::string_view v) { return Blob{std::string(v)}; }
inline Value Bool(bool v) { return int64_t{v ? 1 : 0}; }
inline Value UnixTime(Time t) { return ToUnixSeconds(t); }

// One result row. Accessors convert leniently between integer and text (PostgreSQL returns
// aggregates in their own types) and return INTERNAL for an out-of-range column or a value that
// does not convert, so a schema mismatch is an error, never a crash.
class Row {
 public:
  explicit Row(std::vector<Value> values) : values_(std::move(values)) {}
  size_t size() const { return values_.size(); }
  const Value& at(size_t i) const;  // precondition: i < size()
  bool IsNull(size_t i) const;      // true also when i is out of range
  StatusOr<int64_t> GetInt(size_t i) const;
  StatusOr<std::string> GetText(size_t i) const;   // text or bytes
  StatusOr<std::string> GetBytes(size_t i) const;  // bytes or text
  StatusOr<bool> GetBool(size_t i) const;          // integer != 0
  StatusOr<Time> GetTime(size_t i) const;          // unix seconds

 private:
  std::vector<Value> values_;
};

// OK, or INVALID_ARGUMENT when a text parameter holds a NUL byte (PostgreSQL text cannot), so
// both drivers accept exactly the same values. Drivers call it before binding.
Status CheckParams(const std::vector<Value>& params);

struct Result {
  std::vector<Row> rows;
  int64_t affected = 0;  // rows changed by INSERT/UPDATE/DELETE
};

enum class Dialect { kSqlite, kPostgres };

// One open transaction on one pooled connection. Not thread-safe; owned by one thread at a time.
// Destroying it without Commit() rolls back and returns the connection to the pool.
class Transaction {
 public:
  virtual ~Transaction() = default;
  // Runs one statement with `params` bound to $1..$n and returns its rows.
  virtual StatusOr<Result> Exec(std::string_view sql, const std::vector<Value>& params = {}) = 0;
  // Runs several ';'-separated statements without parameters (migrations).
  virtual Status ExecScript(std::string_view sql) = 0;
  // Commits; ABORTED on a serialization conflict, UNAVAILABLE when the outcome is unknown.
  virtual Status Commit() = 0;
  // Rolls back (idempotent; also done by the destructor).
  virtual void Rollback() = 0;
  virtual Dialect dialect() const = 0;
};

// A driver: a thread-safe pool of connections to one database.
class Database {
 public:
  virtual ~Database() = default;
  // Starts a transaction on a free connection, waiting for one when all are busy. Read-write
  // transactions take the write lock up front where the engine has one (SQLite BEGIN IMMEDIATE),
  // so two writers conflict at Begin (ABORTED after the busy timeout) rather than mid-way.
  virtual StatusOr<std::unique_ptr<Transaction>> Begin(TxMode mode) = 0;
  virtual Dialect dialect() const = 0;
  virtual std::string_view name() const = 0;  // "sqlite" | "postgres"
};

}  // namespace custos::sql

#endif  // CUSTOS_STORAGE_SQL_H_
