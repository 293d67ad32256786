// Schema migrations: numbered SQL scripts compiled into the binary (the list is in migrations.cc)
// and applied at Storage::Open.
//
// All pending migrations run in ONE transaction together with the bookkeeping table
// schema_migrations(version, name, applied_at): either the database ends at the newest version or
// it is left exactly as it was. On PostgreSQL the transaction first takes an advisory lock, so two
// custos processes starting at once apply each migration once (SQLite's BEGIN IMMEDIATE does the
// same). Each script is portable SQL with a few dialect placeholders (see DialectSql).
#ifndef CUSTOS_STORAGE_MIGRATIONS_H_
#define CUSTOS_STORAGE_MIGRATIONS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/config.h"
#include "base/status.h"
#include "base/time.h"
#include "storage/sql.h"
#include "storage/storage.h"

namespace custos {

struct Migration {
  int64_t version;        // 1, 2, ...: strictly increasing
  std::string_view name;  // short snake_case description
  std::string_view sql;   // ';'-separated statements, with dialect placeholders
};

// The migrations this binary knows, oldest first.
const std::vector<Migration>& BuiltinMigrations();

// Substitutes the dialect placeholders:
//   {{AUTOID}}  INTEGER PRIMARY KEY AUTOINCREMENT | BIGSERIAL PRIMARY KEY
//   {{BLOB}}    BLOB | BYTEA
std::string DialectSql(std::string_view sql, sql::Dialect dialect);

// Brings `db` to the newest of `migrations` as described above. FAILED_PRECONDITION when a
// migration fails ("migration N (name) failed: ..."; nothing applied) or when the database's
// schema is newer than the newest migration known; INTERNAL when `migrations` is not strictly
// increasing. `clock` stamps applied_at.
Status ApplyMigrations(sql::Database& db, const std::vector<Migration>& migrations, Clock* clock);

// The highest applied migration (0 for an empty database).
StatusOr<int64_t> ReadSchemaVersion(sql::Transaction& tx);

namespace internal {
// Storage::Open with another list of migrations (tests use it to inject a failing one).
StatusOr<std::unique_ptr<Storage>> OpenWithMigrations(const StorageConfig& config, Clock* clock,
                                                      const std::vector<Migration>& migrations);
}  // namespace internal

}  // namespace custos

#endif  // CUSTOS_STORAGE_MIGRATIONS_H_
