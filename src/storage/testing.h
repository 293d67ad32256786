// Test support for components that use storage: a fresh, throw-away Storage per test on either
// driver, and fresh PostgreSQL databases for integration tests that run the custos binary.
//
// PostgreSQL tests need a server: scripts/with-postgres.sh (which `make test` uses) starts one and
// sets CUSTOS_TEST_PG_ADMIN_DSN (a superuser DSN to the "postgres" database) and CUSTOS_TEST_PG_DSN.
// Databases are named custos_t_<random hex>, so parallel tests never share one.
#ifndef CUSTOS_STORAGE_TESTING_H_
#define CUSTOS_STORAGE_TESTING_H_

#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"
#include "base/time.h"
#include "storage/storage.h"

namespace custos {

// True when CUSTOS_TEST_PG_ADMIN_DSN and CUSTOS_TEST_PG_DSN are set.
bool PostgresAvailable();

// Creates an empty database through CUSTOS_TEST_PG_ADMIN_DSN and returns a DSN for it. The
// database is not dropped (it lives as long as the throw-away server). FAILED_PRECONDITION when
// PostgreSQL is not available; UNAVAILABLE when the server cannot be reached.
StatusOr<std::string> CreateTestPostgresDatabase();

// Drops a database made by CreateTestPostgresDatabase (its name is taken from `dsn`), closing any
// connections still open to it.
Status DropTestPostgresDatabase(std::string_view dsn);

// A fresh place for a database on `driver`: "sqlite" (custos.db in a fresh temporary folder) or
// "postgres" (a fresh database). Removed when destroyed, so destroy it after every Storage using it.
// Tests open it several times (like several custos processes) through config().
class TestDatabase {
 public:
  static StatusOr<std::unique_ptr<TestDatabase>> Create(std::string_view driver);
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  // Ready for Storage::Open: pool_size 8, busy_timeout 10s, connect_timeout 10s.
  const StorageConfig& config() const { return config_; }

 private:
  explicit TestDatabase(StorageConfig config) : config_(std::move(config)) {}
  StorageConfig config_;
};

// A migrated, empty Storage on a fresh TestDatabase of `driver`, removed when the Storage is
// destroyed. `clock` stamps migrations (nullptr: the real clock).
StatusOr<std::unique_ptr<Storage>> OpenTestStorage(std::string_view driver, Clock* clock = nullptr);

}  // namespace custos

#endif  // CUSTOS_STORAGE_TESTING_H_
