// Migrations on both drivers: a fresh database ends at the newest version, re-opening changes
// nothing, a failing migration leaves the schema exactly as it was, a newer schema is refused.
#include "storage/migrations.h"

#include <gtest/gtest.h>

#include <thread>

#include "storage/postgres/postgres_database.h"
#include "storage/sqlite/sqlite_database.h"
#include "storage/testing.h"

namespace custos {
namespace {

const Time kNow = FromUnixSeconds(1'800'000'000);

class MigrationsTest : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres" && !PostgresAvailable()) {
      GTEST_SKIP() << "CUSTOS_TEST_PG_ADMIN_DSN is not set: run through scripts/with-postgres.sh";
    }
    auto db = TestDatabase::Create(GetParam());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(db).value();
  }

  StatusOr<std::unique_ptr<Storage>> Open(const std::vector<Migration>& migrations) {
    return internal::OpenWithMigrations(db_->config(), &clock_, migrations);
  }

  // The database as it is, read through the raw driver: table names and recorded migrations.
  struct Snapshot {
    std::vector<std::string> tables;
    std::vector<std::string> migrations;  // "version name applied_at"
  };
  Snapshot Read() {
    Snapshot snap;
    auto raw = GetParam() == "postgres" ? postgres::OpenPostgresDatabase(db_->config())
                                        : sqlite::OpenSqliteDatabase(db_->config());
    EXPECT_TRUE(raw.ok()) << raw.status();
    if (!raw.ok()) return snap;
    auto tx = (*raw)->Begin(TxMode::kReadOnly);
    EXPECT_TRUE(tx.ok()) << tx.status();
    if (!tx.ok()) return snap;
    auto tables = (*tx)->Exec(GetParam() == "postgres"
                                  ? "SELECT table_name FROM information_schema.tables WHERE "
                                    "table_schema = 'public' ORDER BY table_name"
                                  : "SELECT name FROM sqlite_master WHERE type = 'table' AND "
                                    "name NOT LIKE 'sqlite_%' ORDER BY name");
    EXPECT_TRUE(tables.ok()) << tables.status();
    if (!tables.ok()) return snap;
    bool has_migrations = false;
    for (const auto& row : tables->rows) {
      snap.tables.push_back(row.GetText(0).value_or("?"));
      has_migrations |= snap.tables.back() == "schema_migrations";
    }
    if (has_migrations) {
      auto rows = (*tx)->Exec("SELECT version, name, applied_at FROM schema_migrations ORDER BY version");
      EXPECT_TRUE(rows.ok()) << rows.status();
      if (!rows.ok()) return snap;
      for (const auto& row : rows->rows) {
        snap.migrations.push_back(std::to_string(row.GetInt(0).value_or(-1)) + " " +
                                  row.GetText(1).value_or("?") + " " +
                                  std::to_string(row.GetInt(2).value_or(-1)));
      }
    }
    return snap;
  }

  static std::vector<Migration> With(std::vector<Migration> extra) {
    std::vector<Migration> all = BuiltinMigrations();
    all.insert(all.end(), extra.begin(), extra.end());
    return all;
  }

  static int64_t Newest() { return BuiltinMigrations().back().version; }

  FakeClock clock_{kNow};
  std::unique_ptr<TestDatabase> db_;
};

TEST_P(MigrationsTest, FreshDatabaseGetsEveryMigration) {
  auto storage = Open(BuiltinMigrations());
  ASSERT_TRUE(storage.ok()) << storage.status();
  auto version = (*storage)->SchemaVersion();
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(*version, Newest());
  storage->reset();
  Snapshot snap = Read();
  ASSERT_EQ(snap.migrations.size(), BuiltinMigrations().size());
  for (size_t i = 0; i < snap.migrations.size(); ++i) {
    const Migration& m = BuiltinMigrations()[i];
    EXPECT_EQ(snap.migrations[i], std::to_string(m.version) + " " + std::string(m.name) + " " +
                                      std::to_string(ToUnixSeconds(kNow)));
  }
  for (const char* table : {"ca_keys", "ca_certs", "crls", "certificates", "schema_migrations"}) {
    EXPECT_NE(std::find(snap.tables.begin(), snap.tables.end(), table), snap.tables.end()) << table;
  }
}

TEST_P(MigrationsTest, ReopeningIsANoOp) {
  auto first = Open(BuiltinMigrations());
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE((*first)
                  ->Transact([](Stores& st) {
                    return st.ca().InsertKey({0, "pem", false, kNow}).status();
                  })
                  .ok());
  first->reset();
  Snapshot before = Read();
  clock_.Advance(std::chrono::hours(1));  // a re-applied migration would record the new time
  auto second = Storage::Open(db_->config(), &clock_);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*(*second)->SchemaVersion(), Newest());
  Status s = (*second)->Transact([](Stores& st) -> Status {
    ASSIGN_OR_RETURN(CaKeyRecord key, st.ca().GetKey(1));
    EXPECT_EQ(key.pkcs8_pem, "pem");
    return OkStatus();
  });
  EXPECT_TRUE(s.ok()) << s;
  second->reset();
  Snapshot after = Read();
  EXPECT_EQ(after.tables, before.tables);
  EXPECT_EQ(after.migrations, before.migrations);
}

TEST_P(MigrationsTest, FailingMigrationLeavesSchemaAsItWas) {
  ASSERT_TRUE(Open(BuiltinMigrations()).ok());
  Snapshot before = Read();
  // The first statement works, the second is broken: nothing of either may stay.
  auto broken = Open(With({{Newest() + 1, "add_widgets", "CREATE TABLE widgets (id BIGINT);"},
                           {Newest() + 2, "broken_gadgets",
                            "CREATE TABLE gadgets (id BIGINT); CREATE TABLE nonsense ("}}));
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(broken.status().message().find("migration " + std::to_string(Newest() + 2) +
                                           " (broken_gadgets) failed"),
            std::string::npos)
      << broken.status();
  Snapshot after = Read();
  EXPECT_EQ(after.tables, before.tables);
  EXPECT_EQ(after.migrations, before.migrations);
  auto storage = Storage::Open(db_->config(), &clock_);
  ASSERT_TRUE(storage.ok()) << storage.status();
  EXPECT_EQ(*(*storage)->SchemaVersion(), Newest());
}

TEST_P(MigrationsTest, FailingFirstMigrationLeavesAnEmptyDatabase) {
  auto broken = Open({{1, "broken", "CREATE TABLE a (id BIGINT); SELECT * FROM no_such_table"}});
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(broken.status().message().find("migration 1 (broken) failed"), std::string::npos)
      << broken.status();
  EXPECT_TRUE(Read().tables.empty());
}

TEST_P(MigrationsTest, NewerSchemaIsRefused) {
  ASSERT_TRUE(Open(With({{Newest() + 1, "from_the_future", "CREATE TABLE future (id BIGINT)"}})).ok());
  Snapshot before = Read();
  auto old = Storage::Open(db_->config(), &clock_);
  ASSERT_FALSE(old.ok());
  EXPECT_EQ(old.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(old.status().message().find("version " + std::to_string(Newest() + 1) +
                                        " (from_the_future), newer than this custos knows"),
            std::string::npos)
      << old.status();
  EXPECT_EQ(Read().migrations, before.migrations);
}

TEST_P(MigrationsTest, ConcurrentOpensApplyEachMigrationOnce) {
  constexpr int kOpeners = 4;
  std::vector<Status> results(kOpeners);
  std::vector<std::thread> threads;
  for (int i = 0; i < kOpeners; ++i) {
    threads.emplace_back([&, i] { results[i] = Storage::Open(db_->config(), &clock_).status(); });
  }
  for (auto& t : threads) t.join();
  for (const Status& s : results) EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(Read().migrations.size(), BuiltinMigrations().size());
}

TEST_P(MigrationsTest, OutOfOrderListIsRefused) {
  auto storage = Open({{2, "b", "SELECT 1"}, {1, "a", "SELECT 1"}});
  EXPECT_EQ(storage.status().code(), StatusCode::kInternal);
}

INSTANTIATE_TEST_SUITE_P(Drivers, MigrationsTest, testing::Values("sqlite", "postgres"),
                         [](const testing::TestParamInfo<std::string>& info) { return info.param; });

TEST(DialectSqlTest, SubstitutesTypeNames) {
  const std::string sql = "CREATE TABLE t (id {{AUTOID}}, a {{BLOB}}, b {{BLOB}} NOT NULL)";
  EXPECT_EQ(DialectSql(sql, sql::Dialect::kSqlite),
            "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, a BLOB, b BLOB NOT NULL)");
  EXPECT_EQ(DialectSql(sql, sql::Dialect::kPostgres),
            "CREATE TABLE t (id BIGSERIAL PRIMARY KEY, a BYTEA, b BYTEA NOT NULL)");
}

TEST(DialectSqlTest, BuiltinMigrationsAreNumberedFromOneWithoutGaps) {
  int64_t want = 1;
  for (const Migration& m : BuiltinMigrations()) {
    EXPECT_EQ(m.version, want++);
    EXPECT_FALSE(m.name.empty());
    EXPECT_EQ(DialectSql(m.sql, sql::Dialect::kPostgres).find("{{"), std::string::npos) << m.name;
  }
}

}  // namespace
}  // namespace custos
