#include "storage/sqlite/sqlite_database.h"

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "storage/connection_pool.h"

namespace custos::sqlite {
namespace {

using sql::Value;

Status ErrorFromCode(int rc, sqlite3* db, std::string_view what) {
  std::string message = std::string(what) + ": " +
                        (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
      return AlreadyExistsError(message);
    case SQLITE_CONSTRAINT_FOREIGNKEY:
      return FailedPreconditionError(message);
    case SQLITE_CONSTRAINT_CHECK:
    case SQLITE_CONSTRAINT_NOTNULL:
      return InvalidArgumentError(message);
    default:
      break;
  }
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return AbortedError(message);
    case SQLITE_CANTOPEN:
    case SQLITE_NOTADB:
    case SQLITE_IOERR:
    case SQLITE_FULL:
      return UnavailableError(message);
    default:
      return InternalError(message);
  }
}

// One sqlite3 handle with its prepared-statement cache (keyed by the caller's SQL text).
class Connection {
 public:
  explicit Connection(sqlite3* db) : db_(db) {}
  ~Connection() {
    for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
    sqlite3_close_v2(db_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sqlite3* db() const { return db_; }

  StatusOr<sqlite3_stmt*> Prepare(std::string_view sql) {
    auto it = statements_.find(std::string(sql));
    if (it != statements_.end()) return it->second;
    std::string rewritten = RewritePlaceholders(sql);
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, rewritten.data(), static_cast<int>(rewritten.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return ErrorFromCode(rc, db_, "preparing SQL");
    if (stmt == nullptr) return InvalidArgumentError("empty SQL statement");
    statements_.emplace(std::string(sql), stmt);
    return stmt;
  }

  // Runs a statement without parameters or results (BEGIN, COMMIT, PRAGMA ...).
  Status Run(std::string_view sql) {
    ASSIGN_OR_RETURN(sqlite3_stmt * stmt, Prepare(sql));
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) return ErrorFromCode(rc, db_, sql);
    return OkStatus();
  }

  // Read-only transactions are enforced per statement (sqlite3_stmt_readonly in Exec), not with
  // PRAGMA query_only: setting any flag pragma expires every prepared statement of the
  // connection (OP_Expire), so toggling it between read-only and read-write transactions made
  // SQLite re-parse each cached statement (13% of the server's CPU in bench/acme).

 private:
  sqlite3* db_;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
};

StatusOr<std::unique_ptr<Connection>> OpenConnection(const std::string& path,
                                                     Duration busy_timeout) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    Status error = UnavailableError("opening SQLite database " + path + ": " +
                                    (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
    sqlite3_close_v2(db);
    return error;
  }
  auto conn = std::make_unique<Connection>(db);
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, static_cast<int>(busy_timeout.count() * 1000));
  for (const char* pragma :
       {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON"}) {
    Status s = conn->Run(pragma);
    if (!s.ok()) return s.WithContext("configuring SQLite database " + path);
  }
  return conn;
}

class SqliteDatabase;

class SqliteTransaction : public sql::Transaction {
 public:
  SqliteTransaction(SqliteDatabase* owner, std::unique_ptr<Connection> conn,
                    std::unique_lock<std::timed_mutex> write_lock, bool read_only)
      : owner_(owner),
        conn_(std::move(conn)),
        write_lock_(std::move(write_lock)),
        read_only_(read_only) {}
  ~SqliteTransaction() override;

  StatusOr<sql::Result> Exec(std::string_view sql, const std::vector<Value>& params) override;
  Status ExecScript(std::string_view sql) override;
  Status Commit() override;
  void Rollback() override;
  sql::Dialect dialect() const override { return sql::Dialect::kSqlite; }

 private:
  void Finish();

  SqliteDatabase* owner_;
  std::unique_ptr<Connection> conn_;
  std::unique_lock<std::timed_mutex> write_lock_;
  bool read_only_;
};

class SqliteDatabase : public sql::Database {
 public:
  SqliteDatabase(std::string path, size_t pool_size, Duration busy_timeout)
      : busy_timeout_(busy_timeout),
        pool_(pool_size, [path = std::move(path), busy_timeout] {
          return OpenConnection(path, busy_timeout);
        }) {}

  // Opens the first connection, so a bad path or file fails Open rather than the first query.
  Status Init() {
    ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
    Release(std::move(conn));
    return OkStatus();
  }

  StatusOr<std::unique_ptr<sql::Transaction>> Begin(TxMode mode) override {
    std::unique_lock<std::timed_mutex> write_lock;
    if (mode == TxMode::kReadWrite) {
      // Locking a mutex this thread already holds would be undefined behaviour (and a deadlock).
      if (writer_.load() == std::this_thread::get_id()) {
        return FailedPreconditionError(
            "a read-write transaction was started inside another on the same thread");
      }
      write_lock = std::unique_lock<std::timed_mutex>(write_mu_, std::defer_lock);
      if (!write_lock.try_lock_for(busy_timeout_)) {
        return AbortedError("SQLite: timed out waiting for the write lock");
      }
      writer_ = std::this_thread::get_id();
    }
    auto conn = pool_.Acquire();
    Status s = conn.status();
    if (s.ok()) s = (*conn)->Run(mode == TxMode::kReadWrite ? "BEGIN IMMEDIATE" : "BEGIN");
    if (!s.ok()) {
      if (conn.ok()) Release(std::move(conn).value());
      if (write_lock.owns_lock()) ReleaseWriteLock(write_lock);
      return s;
    }
    return std::unique_ptr<sql::Transaction>(new SqliteTransaction(
        this, std::move(conn).value(), std::move(write_lock), mode == TxMode::kReadOnly));
  }

  sql::Dialect dialect() const override { return sql::Dialect::kSqlite; }
  std::string_view name() const override { return "sqlite"; }

  void ReleaseWriteLock(std::unique_lock<std::timed_mutex>& write_lock) {
    writer_ = std::thread::id();
    write_lock.unlock();
  }

  // Returns a connection to the pool; a connection left inside a transaction is closed instead.
  void Release(std::unique_ptr<Connection> conn) {
    const bool reusable = sqlite3_get_autocommit(conn->db()) != 0;
    pool_.Release(std::move(conn), reusable);
  }

 private:
  const Duration busy_timeout_;
  sql::ConnectionPool<Connection> pool_;
  std::timed_mutex write_mu_;
  std::atomic<std::thread::id> writer_;  // the thread holding write_mu_, if any
};

SqliteTransaction::~SqliteTransaction() { Rollback(); }

void SqliteTransaction::Finish() {
  if (conn_ != nullptr) owner_->Release(std::move(conn_));
  if (write_lock_.owns_lock()) owner_->ReleaseWriteLock(write_lock_);
}

StatusOr<sql::Result> SqliteTransaction::Exec(std::string_view sql,
                                              const std::vector<Value>& params) {
  if (conn_ == nullptr) return FailedPreconditionError("transaction already finished");
  RETURN_IF_ERROR(sql::CheckParams(params));
  ASSIGN_OR_RETURN(sqlite3_stmt * stmt, conn_->Prepare(sql));
  if (read_only_ && !sqlite3_stmt_readonly(stmt)) {
    return FailedPreconditionError("SQLite: a read-only transaction cannot run a writing statement");
  }
  // Always leave the cached statement reset and unbound (bindings point into `params`).
  struct Reset {
    sqlite3_stmt* stmt;
    ~Reset() {
      sqlite3_reset(stmt);
      sqlite3_clear_bindings(stmt);
    }
  } reset{stmt};
  if (static_cast<int>(params.size()) != sqlite3_bind_parameter_count(stmt)) {
    return InternalError("SQL expects " + std::to_string(sqlite3_bind_parameter_count(stmt)) +
                         " parameters, got " + std::to_string(params.size()));
  }
  for (size_t i = 0; i < params.size(); ++i) {
    int index = static_cast<int>(i + 1);
    int rc = std::visit(
        [&](const auto& v) -> int {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::monostate>) {
            return sqlite3_bind_null(stmt, index);
          } else if constexpr (std::is_same_v<T, int64_t>) {
            return sqlite3_bind_int64(stmt, index, v);
          } else if constexpr (std::is_same_v<T, std::string>) {
            return sqlite3_bind_text64(stmt, index, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8);
          } else {
            // data() is never null, so an empty blob stays an empty blob, not NULL.
            return sqlite3_bind_blob64(stmt, index, v.bytes.data(), v.bytes.size(), SQLITE_STATIC);
          }
        },
        params[i]);
    if (rc != SQLITE_OK) return ErrorFromCode(rc, conn_->db(), "binding SQL parameter");
  }
  sql::Result result;
  const int columns = sqlite3_column_count(stmt);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    std::vector<Value> values;
    values.reserve(columns);
    for (int c = 0; c < columns; ++c) {
      switch (sqlite3_column_type(stmt, c)) {
        case SQLITE_NULL:
          values.emplace_back(std::monostate{});
          break;
        case SQLITE_INTEGER:
        case SQLITE_FLOAT:
          values.emplace_back(static_cast<int64_t>(sqlite3_column_int64(stmt, c)));
          break;
        case SQLITE_BLOB: {
          const void* data = sqlite3_column_blob(stmt, c);
          int n = sqlite3_column_bytes(stmt, c);
          values.emplace_back(
              sql::Blob{data == nullptr ? std::string() : std::string(static_cast<const char*>(data), n)});
          break;
        }
        default: {
          const unsigned char* data = sqlite3_column_text(stmt, c);
          int n = sqlite3_column_bytes(stmt, c);
          values.emplace_back(data == nullptr ? std::string()
                                              : std::string(reinterpret_cast<const char*>(data), n));
          break;
        }
      }
    }
    result.rows.emplace_back(std::move(values));
  }
  if (rc != SQLITE_DONE) return ErrorFromCode(rc, conn_->db(), "SQLite");
  if (!sqlite3_stmt_readonly(stmt)) result.affected = sqlite3_changes(conn_->db());
  return result;
}

Status SqliteTransaction::ExecScript(std::string_view sql) {
  if (conn_ == nullptr) return FailedPreconditionError("transaction already finished");
  if (read_only_) return FailedPreconditionError("SQLite: scripts need a read-write transaction");
  std::string text(sql);
  char* error = nullptr;
  int rc = sqlite3_exec(conn_->db(), text.c_str(), nullptr, nullptr, &error);
  if (rc == SQLITE_OK) return OkStatus();
  std::string message = error != nullptr ? error : sqlite3_errstr(rc);
  sqlite3_free(error);
  Status s = ErrorFromCode(sqlite3_extended_errcode(conn_->db()), nullptr, "SQLite");
  return Status(s.code(), "SQLite: " + message);
}

Status SqliteTransaction::Commit() {
  if (conn_ == nullptr) return FailedPreconditionError("transaction already finished");
  Status s = conn_->Run("COMMIT");
  if (!s.ok()) {
    Rollback();
    return s;
  }
  Finish();
  return OkStatus();
}

void SqliteTransaction::Rollback() {
  if (conn_ == nullptr) return;
  if (!sqlite3_get_autocommit(conn_->db())) conn_->Run("ROLLBACK").IgnoreError();
  Finish();
}

}  // namespace

std::string RewritePlaceholders(std::string_view sql) {
  std::string out;
  out.reserve(sql.size());
  for (size_t i = 0; i < sql.size(); ++i) {
    char c = sql[i];
    if (c == '\'' || c == '"') {  // copy a quoted string or identifier ('' escapes a quote)
      size_t end = sql.find(c, i + 1);
      if (end == std::string_view::npos) end = sql.size() - 1;
      out.append(sql.substr(i, end - i + 1));
      i = end;
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      size_t end = sql.find('\n', i);
      if (end == std::string_view::npos) end = sql.size() - 1;
      out.append(sql.substr(i, end - i + 1));
      i = end;
    } else if (c == '$' && i + 1 < sql.size() && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
      out.push_back('?');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

StatusOr<std::unique_ptr<sql::Database>> OpenSqliteDatabase(const StorageConfig& config) {
  if (config.sqlite_path.empty()) return InvalidArgumentError("storage.sqlite_path is empty");
  size_t pool_size = static_cast<size_t>(std::max<int64_t>(1, config.pool_size));
  if (config.sqlite_path == ":memory:") {
    pool_size = 1;
  } else {
    std::filesystem::path parent = std::filesystem::path(config.sqlite_path).parent_path();
    if (!parent.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(parent, ec);
      if (ec) {
        return UnavailableError("creating folder " + parent.string() + " for the database: " +
                                ec.message());
      }
    }
  }
  auto db = std::make_unique<SqliteDatabase>(config.sqlite_path, pool_size, config.busy_timeout);
  RETURN_IF_ERROR(db->Init());
  return std::unique_ptr<sql::Database>(std::move(db));
}

}  // namespace custos::sqlite
