// The SQLite driver (the embedded default) of the SQL interface in storage/sql.h, over the sqlite3
// C API (https://sqlite.org/c3ref/intro.html).
//
// Every connection runs in WAL mode (readers never block the writer), synchronous=NORMAL (durable
// at checkpoints, never corrupt), foreign keys on, and the configured busy timeout. A pool of up
// to config.pool_size connections lets threads read concurrently. Read-write transactions begin
// with BEGIN IMMEDIATE so the write lock is taken up front; inside one process they also queue on
// a mutex (bounded by the busy timeout) instead of polling SQLite's busy handler, which keeps the
// write throughput of several threads close to that of one. Read-only transactions run with
// PRAGMA query_only, so a write in one fails as it would on PostgreSQL.
#ifndef CUSTOS_STORAGE_SQLITE_SQLITE_DATABASE_H_
#define CUSTOS_STORAGE_SQLITE_SQLITE_DATABASE_H_

#include <memory>
#include <string>
#include <string_view>

#include "base/config.h"
#include "base/status.h"
#include "storage/sql.h"

namespace custos::sqlite {

// Opens (creating it and its parent folder when missing) the database file config.sqlite_path.
// UNAVAILABLE when the file cannot be opened or is not a database; INVALID_ARGUMENT when the path
// is empty. ":memory:" gives a private in-memory database with a single connection.
StatusOr<std::unique_ptr<sql::Database>> OpenSqliteDatabase(const StorageConfig& config);

// "$1 ... $12" -> "?1 ... ?12", leaving quoted strings, quoted identifiers and comments alone.
std::string RewritePlaceholders(std::string_view sql);

}  // namespace custos::sqlite

#endif  // CUSTOS_STORAGE_SQLITE_SQLITE_DATABASE_H_
