#include "storage/testing.h"

#include <cstdlib>
#include <filesystem>
#include <pqxx/pqxx>

#include "base/encoding.h"
#include "base/random.h"

namespace custos {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

bool IsUri(std::string_view dsn) {
  return dsn.starts_with("postgresql://") || dsn.starts_with("postgres://");
}

// The [begin, end) of the database name in a URI DSN ("scheme://authority/NAME?query").
std::pair<size_t, size_t> UriDatabaseSpan(std::string_view dsn) {
  size_t authority = dsn.find("://") + 3;
  size_t slash = dsn.find_first_of("/?", authority);
  if (slash == std::string_view::npos) return {dsn.size(), dsn.size()};
  if (dsn[slash] == '?') return {slash, slash};
  size_t end = dsn.find('?', slash);
  return {slash + 1, end == std::string_view::npos ? dsn.size() : end};
}

std::string DsnWithDatabase(std::string_view dsn, std::string_view name) {
  std::string out(dsn);
  if (IsUri(dsn)) {
    auto [begin, end] = UriDatabaseSpan(dsn);
    bool has_slash = begin > 0 && begin <= dsn.size() && dsn[begin - 1] == '/';
    out.replace(begin, end - begin, (has_slash ? "" : "/") + std::string(name));
  } else {
    out += " dbname=" + std::string(name);  // libpq: the last occurrence of a keyword wins
  }
  return out;
}

std::string DatabaseName(std::string_view dsn) {
  if (IsUri(dsn)) {
    auto [begin, end] = UriDatabaseSpan(dsn);
    return std::string(dsn.substr(begin, end - begin));
  }
  size_t pos = dsn.rfind("dbname=");
  if (pos == std::string_view::npos) return "";
  size_t end = dsn.find(' ', pos);
  return std::string(dsn.substr(pos + 7, end == std::string_view::npos ? end : end - pos - 7));
}

Status AdminExec(const std::string& statement) {
  std::string admin = Env("CUSTOS_TEST_PG_ADMIN_DSN");
  if (admin.empty()) return FailedPreconditionError("CUSTOS_TEST_PG_ADMIN_DSN is not set");
  try {
    pqxx::connection conn(admin);
    pqxx::nontransaction tx(conn);  // CREATE/DROP DATABASE cannot run inside a transaction
    tx.exec(statement);
    return OkStatus();
  } catch (const pqxx::broken_connection& e) {
    return UnavailableError(std::string("test PostgreSQL server: ") + e.what());
  } catch (const std::exception& e) {
    return InternalError(std::string("test PostgreSQL server: ") + e.what());
  }
}

// Forwards to the real Storage and removes its TestDatabase afterwards.
class TestStorage : public Storage {
 public:
  TestStorage(std::unique_ptr<Storage> inner, std::unique_ptr<TestDatabase> db)
      : inner_(std::move(inner)), db_(std::move(db)) {}
  ~TestStorage() override {
    inner_.reset();  // close every connection before the database goes
    db_.reset();
  }
  Status Transact(const std::function<Status(Stores&)>& fn, TxMode mode) override {
    return inner_->Transact(fn, mode);
  }
  std::string_view driver() const override { return inner_->driver(); }
  StatusOr<int64_t> SchemaVersion() override { return inner_->SchemaVersion(); }

 private:
  std::unique_ptr<Storage> inner_;
  std::unique_ptr<TestDatabase> db_;
};

}  // namespace

bool PostgresAvailable() {
  return !Env("CUSTOS_TEST_PG_ADMIN_DSN").empty() && !Env("CUSTOS_TEST_PG_DSN").empty();
}

StatusOr<std::string> CreateTestPostgresDatabase() {
  if (!PostgresAvailable()) {
    return FailedPreconditionError(
        "PostgreSQL tests need CUSTOS_TEST_PG_ADMIN_DSN and CUSTOS_TEST_PG_DSN "
        "(run them through scripts/with-postgres.sh)");
  }
  std::string name = "custos_t_" + HexEncode(Random::Secure()->Bytes(8));
  RETURN_IF_ERROR(AdminExec("CREATE DATABASE " + name));
  return DsnWithDatabase(Env("CUSTOS_TEST_PG_ADMIN_DSN"), name);
}

Status DropTestPostgresDatabase(std::string_view dsn) {
  std::string name = DatabaseName(dsn);
  if (!name.starts_with("custos_t_")) {
    return InvalidArgumentError("not a test database: \"" + name + "\"");
  }
  return AdminExec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
}

StatusOr<std::unique_ptr<TestDatabase>> TestDatabase::Create(std::string_view driver) {
  StorageConfig config;
  config.driver = std::string(driver);
  config.pool_size = 8;
  config.busy_timeout = Duration(10);
  config.connect_timeout = Duration(10);
  if (driver == "postgres") {
    ASSIGN_OR_RETURN(config.dsn, CreateTestPostgresDatabase());
  } else if (driver == "sqlite") {
    std::error_code ec;
    std::filesystem::path base = std::filesystem::temp_directory_path(ec);
    if (ec) base = "/tmp";
    std::filesystem::path dir =
        base / ("custos-storage-" + HexEncode(Random::Secure()->Bytes(8)));
    std::filesystem::create_directories(dir, ec);
    if (ec) return UnavailableError("creating " + dir.string() + ": " + ec.message());
    config.sqlite_path = (dir / "custos.db").string();
  } else {
    return InvalidArgumentError("unknown storage driver " + std::string(driver));
  }
  return std::unique_ptr<TestDatabase>(new TestDatabase(std::move(config)));
}

TestDatabase::~TestDatabase() {
  if (config_.driver == "postgres") {
    DropTestPostgresDatabase(config_.dsn).IgnoreError();
  } else {
    std::error_code ignored;
    std::filesystem::remove_all(std::filesystem::path(config_.sqlite_path).parent_path(), ignored);
  }
}

StatusOr<std::unique_ptr<Storage>> OpenTestStorage(std::string_view driver, Clock* clock) {
  ASSIGN_OR_RETURN(std::unique_ptr<TestDatabase> db, TestDatabase::Create(driver));
  ASSIGN_OR_RETURN(std::unique_ptr<Storage> storage, Storage::Open(db->config(), clock));
  return std::unique_ptr<Storage>(std::make_unique<TestStorage>(std::move(storage), std::move(db)));
}

}  // namespace custos
