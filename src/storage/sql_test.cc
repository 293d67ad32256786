// The driver interface (sql.h) on both drivers: values round-trip, errors are classified alike.
#include "storage/sql.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "storage/postgres/postgres_database.h"
#include "storage/sqlite/sqlite_database.h"
#include "storage/testing.h"

namespace custos {
namespace {

using sql::Value;

class SqlDriverTest : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres" && !PostgresAvailable()) {
      GTEST_SKIP() << "CUSTOS_TEST_PG_ADMIN_DSN is not set: run through scripts/with-postgres.sh";
    }
    auto location = TestDatabase::Create(GetParam());
    ASSERT_TRUE(location.ok()) << location.status();
    location_ = std::move(location).value();
    auto db = OpenRaw(location_->config());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(db).value();
    ASSERT_TRUE(Script(
                    "CREATE TABLE parent (id BIGINT PRIMARY KEY);"
                    "CREATE TABLE t (k TEXT PRIMARY KEY, n BIGINT, b " +
                    std::string(GetParam() == "postgres" ? "BYTEA" : "BLOB") +
                    ", p BIGINT REFERENCES parent (id), c INTEGER CHECK (c >= 0));"
                    "INSERT INTO parent (id) VALUES (1)")
                    .ok());
  }

  void TearDown() override {
    db_.reset();
    location_.reset();
  }

  StatusOr<std::unique_ptr<sql::Database>> OpenRaw(const StorageConfig& config) {
    return GetParam() == "postgres" ? postgres::OpenPostgresDatabase(config)
                                    : sqlite::OpenSqliteDatabase(config);
  }

  Status Script(const std::string& sql) {
    ASSIGN_OR_RETURN(auto tx, db_->Begin(TxMode::kReadWrite));
    RETURN_IF_ERROR(tx->ExecScript(sql));
    return tx->Commit();
  }

  StatusOr<sql::Result> Exec1(std::string_view sql, const std::vector<Value>& params) {
    ASSIGN_OR_RETURN(auto tx, db_->Begin(TxMode::kReadWrite));
    ASSIGN_OR_RETURN(auto result, tx->Exec(sql, params));
    RETURN_IF_ERROR(tx->Commit());
    return result;
  }

  std::unique_ptr<TestDatabase> location_;
  std::unique_ptr<sql::Database> db_;
};

TEST_P(SqlDriverTest, ValuesRoundTrip) {
  const std::string binary("\x00\x01\xfe\xff\\x'\"", 8);
  const std::vector<std::vector<Value>> rows = {
      {sql::Text("a"), sql::Int(INT64_MIN), sql::Bytes(binary), sql::Int(1)},
      {sql::Text("b"), sql::Int(INT64_MAX), sql::Bytes(""), sql::Null()},
      {sql::Text("c'; DROP TABLE t; --"), sql::Null(), sql::Null(), sql::Null()},
      {sql::Text("d $1 ?1 \xc3\xa9"), sql::Int(-1), sql::Bytes("x"), sql::Null()},
  };
  for (const auto& row : rows) {
    auto r = Exec1("INSERT INTO t (k, n, b, p) VALUES ($1, $2, $3, $4)", row);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->affected, 1);
  }
  auto r = Exec1("SELECT k, n, b, p FROM t ORDER BY k", {});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->rows.size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t c = 0; c < 4; ++c) {
      EXPECT_EQ(r->rows[i].at(c), rows[i][c]) << "row " << i << " column " << c;
    }
  }
  EXPECT_TRUE(r->rows[1].GetBytes(2).ok());
  EXPECT_EQ(*r->rows[1].GetBytes(2), "");  // an empty blob is not NULL
  EXPECT_TRUE(r->rows[2].IsNull(2));
  EXPECT_FALSE(r->rows[2].GetInt(1).ok());  // NULL is not an integer: an error, not a crash
  EXPECT_FALSE(r->rows[0].GetInt(9).ok());
  auto updated = Exec1("UPDATE t SET n = n + 1 WHERE n < $1", {sql::Int(0)});
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->affected, 2);
}

TEST_P(SqlDriverTest, ErrorsAreClassifiedAlike) {
  ASSERT_TRUE(Exec1("INSERT INTO t (k) VALUES ($1)", {sql::Text("x")}).ok());
  EXPECT_EQ(Exec1("INSERT INTO t (k) VALUES ($1)", {sql::Text("x")}).status().code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(Exec1("INSERT INTO t (k, p) VALUES ($1, $2)", {sql::Text("y"), sql::Int(7)})
                .status()
                .code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(Exec1("INSERT INTO t (k, c) VALUES ($1, $2)", {sql::Text("z"), sql::Int(-1)})
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Exec1("INSERT INTO t (k) VALUES ($1)", {sql::Text(std::string("n\0ul", 4))})
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Exec1("SELECT * FROM no_such_table", {}).status().code(), StatusCode::kInternal);
  // ON CONFLICT keeps the transaction usable after a conflict, on both drivers.
  auto tx = db_->Begin(TxMode::kReadWrite);
  ASSERT_TRUE(tx.ok());
  auto none = (*tx)->Exec("INSERT INTO t (k) VALUES ($1) ON CONFLICT DO NOTHING RETURNING k",
                          {sql::Text("x")});
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->rows.empty());
  EXPECT_TRUE((*tx)->Exec("INSERT INTO t (k) VALUES ($1)", {sql::Text("w")}).ok());
  EXPECT_TRUE((*tx)->Commit().ok());
}

TEST_P(SqlDriverTest, DroppedTransactionRollsBack) {
  {
    auto tx = db_->Begin(TxMode::kReadWrite);
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE((*tx)->Exec("INSERT INTO t (k) VALUES ($1)", {sql::Text("gone")}).ok());
  }
  auto r = Exec1("SELECT k FROM t", {});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->rows.empty());
}

// A writer that holds the lock past the other's patience makes the other ABORTED (SQLite: busy
// timeout; PostgreSQL: lock_timeout is not set, so use a serialization-style conflict instead).
TEST_P(SqlDriverTest, WriteConflictIsAborted) {
  if (GetParam() == "postgres") {
    // A deadlock: each transaction locks one row, then wants the other's.
    ASSERT_TRUE(Exec1("INSERT INTO t (k, n) VALUES ('a', 0), ('b', 0)", {}).ok());
    auto t1 = db_->Begin(TxMode::kReadWrite);
    auto t2 = db_->Begin(TxMode::kReadWrite);
    ASSERT_TRUE(t1.ok() && t2.ok());
    ASSERT_TRUE((*t1)->Exec("UPDATE t SET n = 1 WHERE k = 'a'", {}).ok());
    ASSERT_TRUE((*t2)->Exec("UPDATE t SET n = 2 WHERE k = 'b'", {}).ok());
    Status s1;
    std::thread other([&] { s1 = (*t1)->Exec("UPDATE t SET n = 1 WHERE k = 'b'", {}).status(); });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    Status s2 = (*t2)->Exec("UPDATE t SET n = 2 WHERE k = 'a'", {}).status();
    if (s2.ok()) (*t2)->Rollback();  // the server picked t1 as the victim; let it see that
    other.join();
    EXPECT_TRUE(s1.code() == StatusCode::kAborted || s2.code() == StatusCode::kAborted)
        << s1 << " / " << s2;
    return;
  }
  StorageConfig impatient = location_->config();
  impatient.busy_timeout = Duration(1);
  auto other = OpenRaw(impatient);  // a second "process" on the same file
  ASSERT_TRUE(other.ok()) << other.status();
  auto holder = db_->Begin(TxMode::kReadWrite);
  ASSERT_TRUE(holder.ok());
  auto start = std::chrono::steady_clock::now();
  auto blocked = (*other)->Begin(TxMode::kReadWrite);
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(blocked.status().code(), StatusCode::kAborted) << blocked.status();
  EXPECT_GE(waited, std::chrono::milliseconds(900));
  EXPECT_LT(waited, std::chrono::seconds(5));
  // Readers are not blocked by the writer (WAL).
  auto reader = (*other)->Begin(TxMode::kReadOnly);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_TRUE((*reader)->Exec("SELECT COUNT(*) FROM t", {}).ok());
}

TEST_P(SqlDriverTest, ReadOnlyTransactionCannotWrite) {
  auto tx = db_->Begin(TxMode::kReadOnly);
  ASSERT_TRUE(tx.ok());
  EXPECT_FALSE((*tx)->Exec("INSERT INTO t (k) VALUES ('ro')", {}).ok());
  (*tx)->Rollback();
  // The same pooled connection writes again afterwards.
  EXPECT_TRUE(Exec1("INSERT INTO t (k) VALUES ('rw')", {}).ok());
}

INSTANTIATE_TEST_SUITE_P(Drivers, SqlDriverTest, testing::Values("sqlite", "postgres"),
                         [](const testing::TestParamInfo<std::string>& info) { return info.param; });

TEST(RewritePlaceholdersTest, RewritesOnlyOutsideQuotesAndComments) {
  EXPECT_EQ(sqlite::RewritePlaceholders("SELECT $1, $12 FROM t WHERE a = $2"),
            "SELECT ?1, ?12 FROM t WHERE a = ?2");
  EXPECT_EQ(sqlite::RewritePlaceholders("SELECT '$1', \"$2\", $3 -- $4\n, $5"),
            "SELECT '$1', \"$2\", ?3 -- $4\n, ?5");
  EXPECT_EQ(sqlite::RewritePlaceholders("SELECT 'it''s $1', $1"), "SELECT 'it''s $1', ?1");
  EXPECT_EQ(sqlite::RewritePlaceholders("SELECT $x, $"), "SELECT $x, $");
  EXPECT_EQ(sqlite::RewritePlaceholders("SELECT 'unterminated $1"), "SELECT 'unterminated $1");
}

TEST(SqliteDatabaseTest, CreatesParentFolder) {
  auto location = TestDatabase::Create("sqlite");
  ASSERT_TRUE(location.ok());
  StorageConfig config = (*location)->config();
  config.sqlite_path = std::filesystem::path(config.sqlite_path).parent_path() / "a" / "b" / "x.db";
  auto db = sqlite::OpenSqliteDatabase(config);
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_TRUE(std::filesystem::exists(config.sqlite_path));
}

TEST(SqliteDatabaseTest, NestedWriteTransactionIsRefusedNotDeadlocked) {
  auto location = TestDatabase::Create("sqlite");
  ASSERT_TRUE(location.ok());
  auto db = sqlite::OpenSqliteDatabase((*location)->config());
  ASSERT_TRUE(db.ok()) << db.status();
  auto outer = (*db)->Begin(TxMode::kReadWrite);
  ASSERT_TRUE(outer.ok()) << outer.status();
  EXPECT_EQ((*db)->Begin(TxMode::kReadWrite).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE((*db)->Begin(TxMode::kReadOnly).ok());
  ASSERT_TRUE((*outer)->Commit().ok());
  EXPECT_TRUE((*db)->Begin(TxMode::kReadWrite).ok());  // the lock was released
}

TEST(SqliteDatabaseTest, NotADatabaseIsUnavailable) {
  auto location = TestDatabase::Create("sqlite");
  ASSERT_TRUE(location.ok());
  StorageConfig config = (*location)->config();
  FILE* f = std::fopen(config.sqlite_path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs("this is not an SQLite database, just some text that is long enough\n", f);
  std::fclose(f);
  auto storage = Storage::Open(config, nullptr);
  ASSERT_FALSE(storage.ok());
  EXPECT_EQ(storage.status().code(), StatusCode::kUnavailable) << storage.status();
}

}  // namespace
}  // namespace custos
