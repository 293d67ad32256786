// The PostgreSQL driver of the SQL interface in storage/sql.h, over libpqxx 6.4 (and so libpq),
// for several custos instances sharing one database.
//
// Two pools of up to config.pool_size connections each to config.dsn (a libpq connection string,
// either "host=... dbname=..." or "postgresql://user@host:port/db"): read-write transactions
// (BEGIN ... COMMIT) on one; read-only transactions on the other, whose connections are set to
// default_transaction_read_only and run each statement in autocommit mode (one round trip per
// statement, no BEGIN/COMMIT). Data statements are server-side prepared statements, parsed and
// planned once per connection. Transactions run at READ COMMITTED:
// the role SQL is written so each statement is atomic on its own (UPDATE ... RETURNING, INSERT ...
// ON CONFLICT), and unique constraints decide races between instances. At start an unreachable
// server is retried with exponential backoff until config.connect_timeout, each attempt logged
// with the password removed from the DSN.
#ifndef CUSTOS_STORAGE_POSTGRES_POSTGRES_DATABASE_H_
#define CUSTOS_STORAGE_POSTGRES_POSTGRES_DATABASE_H_

#include <memory>
#include <string>
#include <string_view>

#include "base/config.h"
#include "base/status.h"
#include "storage/sql.h"

namespace custos::postgres {

// Connects (retrying as above) and returns the pool. UNAVAILABLE when the server cannot be reached
// within config.connect_timeout (the message names the host, never the password); INVALID_ARGUMENT
// when config.dsn is empty.
StatusOr<std::unique_ptr<sql::Database>> OpenPostgresDatabase(const StorageConfig& config);

// The DSN with any password replaced by "<redacted>", for logs and error messages.
std::string RedactDsn(std::string_view dsn);

// The DSN with libpq's per-attempt connect_timeout set to `seconds`, unless it already sets one.
std::string DsnWithConnectTimeout(std::string_view dsn, int64_t seconds);

}  // namespace custos::postgres

#endif  // CUSTOS_STORAGE_POSTGRES_POSTGRES_DATABASE_H_
