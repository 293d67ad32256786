#include "storage/postgres/postgres_database.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "base/encoding.h"
#include "base/logging.h"
#include "storage/connection_pool.h"

namespace custos::postgres {
namespace {

using sql::Value;

bool IsUri(std::string_view dsn) {
  return dsn.starts_with("postgresql://") || dsn.starts_with("postgres://");
}

// PostgreSQL type OIDs (pg_type.h) of the columns converted to something other than text.
constexpr pqxx::oid kBoolOid = 16;
constexpr pqxx::oid kByteaOid = 17;
constexpr pqxx::oid kInt8Oid = 20;
constexpr pqxx::oid kInt2Oid = 21;
constexpr pqxx::oid kInt4Oid = 23;

Status FromSqlState(const std::string& state, const std::string& message) {
  if (state == "23505") return AlreadyExistsError(message);
  if (state == "23503") return FailedPreconditionError(message);
  if (state == "23502" || state == "23514") return InvalidArgumentError(message);
  if (state == "40001" || state == "40P01") return AbortedError(message);
  if (state.starts_with("08") || state == "57P01" || state == "57P02" || state == "57P03") {
    return UnavailableError(message);
  }
  return InternalError(message);
}

// Converts the exception in flight (call only inside a catch block) into a Status; sets `broken`
// when the connection is gone.
Status CurrentException(bool* broken) {
  try {
    throw;
  } catch (const pqxx::broken_connection& e) {
    *broken = true;
    return UnavailableError(std::string("PostgreSQL connection lost: ") + e.what());
  } catch (const pqxx::in_doubt_error& e) {
    *broken = true;
    return UnavailableError(std::string("PostgreSQL commit outcome unknown: ") + e.what());
  } catch (const pqxx::transaction_rollback& e) {
    return AbortedError(std::string("PostgreSQL: ") + e.what());
  } catch (const pqxx::sql_error& e) {
    return FromSqlState(e.sqlstate(), std::string("PostgreSQL: ") + e.what());
  } catch (const std::exception& e) {
    return InternalError(std::string("PostgreSQL: ") + e.what());
  }
}

// `read_only`: a connection of the read-only pool (see PostgresDatabase), whose statements run
// in autocommit mode, each in its own implicit transaction that the server keeps read-only.
StatusOr<std::unique_ptr<pqxx::connection>> Connect(const std::string& dsn, bool read_only = false) {
  try {
    auto conn = std::make_unique<pqxx::connection>(dsn);
    pqxx::nontransaction setup(*conn);
    // CREATE ... IF NOT EXISTS notices would otherwise go to standard error.
    setup.exec(read_only ? "SET client_min_messages TO warning; "
                           "SET default_transaction_read_only TO on"
                         : "SET client_min_messages TO warning");
    setup.commit();
    return conn;
  } catch (...) {
    bool broken = false;
    Status s = CurrentException(&broken);
    return broken ? s : UnavailableError(s.message());
  }
}

StatusOr<Value> ToValue(const pqxx::field& field) {
  if (field.is_null()) return Value(std::monostate{});
  std::string_view text(field.c_str(), field.size());
  switch (field.type()) {
    case kBoolOid:
      return Value(int64_t{text == "t" ? 1 : 0});
    case kInt2Oid:
    case kInt4Oid:
    case kInt8Oid: {
      sql::Row row({Value(std::string(text))});
      ASSIGN_OR_RETURN(int64_t n, row.GetInt(0));
      return Value(n);
    }
    case kByteaOid: {
      if (!text.starts_with("\\x")) return InternalError("PostgreSQL bytea not in hex format");
      ASSIGN_OR_RETURN(std::string bytes, HexDecode(text.substr(2)));
      return Value(sql::Blob{std::move(bytes)});
    }
    default:
      return Value(std::string(text));
  }
}

// Statements worth a server-side prepared statement: data statements of bounded text (statements
// built over long id lists are not, so a connection holds a bounded set). Named by a hash of the
// text; pqxx re-prepares after a reconnect and refuses a name reused for other text.
bool Preparable(std::string_view sql) {
  constexpr size_t kMaxPreparedSql = 2048;
  if (sql.size() > kMaxPreparedSql) return false;
  for (std::string_view verb : {"SELECT", "INSERT", "UPDATE", "DELETE", "WITH"}) {
    if (sql.starts_with(verb)) return true;
  }
  return false;
}

std::string PreparedName(std::string_view sql) {
  return "custos_" + std::to_string(std::hash<std::string_view>{}(sql)) + "_" +
         std::to_string(sql.size());
}

class PostgresDatabase;

class PostgresTransaction : public sql::Transaction {
 public:
  PostgresTransaction(PostgresDatabase* owner, std::unique_ptr<pqxx::connection> conn,
                      std::unique_ptr<pqxx::transaction_base> tx, bool read_only)
      : owner_(owner), conn_(std::move(conn)), tx_(std::move(tx)), read_only_(read_only) {}
  ~PostgresTransaction() override { Rollback(); }

  StatusOr<sql::Result> Exec(std::string_view sql, const std::vector<Value>& params) override;
  Status ExecScript(std::string_view sql) override;
  Status Commit() override;
  void Rollback() override;
  sql::Dialect dialect() const override { return sql::Dialect::kPostgres; }

 private:
  void Finish();

  PostgresDatabase* owner_;
  std::unique_ptr<pqxx::connection> conn_;
  std::unique_ptr<pqxx::transaction_base> tx_;
  bool read_only_;
  bool broken_ = false;
};

// Read-write transactions are BEGIN ... COMMIT on the read-write pool. Read-only transactions run
// on a second pool of connections set to default_transaction_read_only, in autocommit mode: each
// statement is its own read-only transaction, so an Idle poll's single statement is one round
// trip instead of three (BEGIN, statement, COMMIT). At READ COMMITTED, the isolation custos
// uses, every statement takes a fresh snapshot anyway, so several statements of one read-only
// "transaction" see exactly what they saw inside BEGIN ... COMMIT. Each pool holds up to
// storage.pool_size connections.
class PostgresDatabase : public sql::Database {
 public:
  PostgresDatabase(std::string dsn, size_t pool_size, std::unique_ptr<pqxx::connection> first)
      : pool_(pool_size, [dsn] { return Connect(dsn); }),
        read_pool_(pool_size, [dsn] { return Connect(dsn, /*read_only=*/true); }) {
    pool_.Add(std::move(first));
  }

  StatusOr<std::unique_ptr<sql::Transaction>> Begin(TxMode mode) override {
    const bool read_only = mode == TxMode::kReadOnly;
    // A pooled connection may have died since its last use (server restart): then try once more
    // on a fresh one before reporting UNAVAILABLE.
    Status last;
    for (int attempt = 0; attempt < 2; ++attempt) {
      ASSIGN_OR_RETURN(auto conn, (read_only ? read_pool_ : pool_).Acquire());
      bool broken = false;
      try {
        std::unique_ptr<pqxx::transaction_base> tx;
        if (read_only) {
          tx = std::make_unique<pqxx::nontransaction>(*conn);
        } else {
          tx = std::make_unique<pqxx::work>(*conn);
        }
        return std::unique_ptr<sql::Transaction>(
            new PostgresTransaction(this, std::move(conn), std::move(tx), read_only));
      } catch (...) {
        last = CurrentException(&broken);
      }
      Release(std::move(conn), broken, read_only);
      if (!broken) break;
    }
    return last;
  }

  sql::Dialect dialect() const override { return sql::Dialect::kPostgres; }
  std::string_view name() const override { return "postgres"; }

  void Release(std::unique_ptr<pqxx::connection> conn, bool broken, bool read_only) {
    const bool reusable = !broken && conn->is_open();
    (read_only ? read_pool_ : pool_).Release(std::move(conn), reusable);
  }

 private:
  sql::ConnectionPool<pqxx::connection> pool_;
  sql::ConnectionPool<pqxx::connection> read_pool_;
};

void PostgresTransaction::Finish() {
  tx_.reset();  // rolls back when neither committed nor aborted; never throws
  if (conn_ != nullptr) owner_->Release(std::move(conn_), broken_, read_only_);
}

StatusOr<sql::Result> PostgresTransaction::Exec(std::string_view sql,
                                                const std::vector<Value>& params) {
  if (tx_ == nullptr) return FailedPreconditionError("transaction already finished");
  RETURN_IF_ERROR(sql::CheckParams(params));
  // Every parameter goes as text of unspecified type (the server infers it from the statement);
  // bytes in bytea's hex text form.
  std::vector<std::string> texts(params.size());
  std::vector<const char*> pointers(params.size(), nullptr);
  for (size_t i = 0; i < params.size(); ++i) {
    const Value& v = params[i];
    if (std::holds_alternative<std::monostate>(v)) continue;
    if (const auto* n = std::get_if<int64_t>(&v)) {
      texts[i] = std::to_string(*n);
    } else if (const auto* s = std::get_if<std::string>(&v)) {
      texts[i] = *s;
    } else {
      texts[i] = "\\x" + HexEncode(std::get<sql::Blob>(v).bytes);
    }
    pointers[i] = texts[i].c_str();
  }
  try {
    // Data statements run as named prepared statements (parsed and planned once per connection).
    pqxx::result r;
    if (Preparable(sql)) {
      const std::string name = PreparedName(sql);
      conn_->prepare(name, std::string(sql));  // registers once; a no-op for the same text
      r = tx_->exec_prepared(name, pqxx::prepare::make_dynamic_params(pointers));
    } else {
      r = tx_->exec_params(std::string(sql), pqxx::prepare::make_dynamic_params(pointers));
    }
    sql::Result result;
    result.affected = static_cast<int64_t>(r.affected_rows());
    result.rows.reserve(r.size());
    for (const auto& row : r) {
      std::vector<Value> values;
      values.reserve(row.size());
      for (const auto& field : row) {
        ASSIGN_OR_RETURN(Value v, ToValue(field));
        values.push_back(std::move(v));
      }
      result.rows.emplace_back(std::move(values));
    }
    return result;
  } catch (...) {
    return CurrentException(&broken_);
  }
}

Status PostgresTransaction::ExecScript(std::string_view sql) {
  if (tx_ == nullptr) return FailedPreconditionError("transaction already finished");
  try {
    tx_->exec(std::string(sql));
    return OkStatus();
  } catch (...) {
    return CurrentException(&broken_);
  }
}

Status PostgresTransaction::Commit() {
  if (tx_ == nullptr) return FailedPreconditionError("transaction already finished");
  Status s;
  try {
    tx_->commit();
  } catch (...) {
    s = CurrentException(&broken_);
  }
  Finish();
  return s;
}

void PostgresTransaction::Rollback() {
  if (tx_ == nullptr) return;
  try {
    tx_->abort();
  } catch (...) {
    CurrentException(&broken_).IgnoreError();
  }
  Finish();
}

// Replaces the value of a `password` parameter starting at `pos` (just after "password").
void RedactValueAt(std::string& dsn, size_t pos, bool uri) {
  size_t i = pos;
  while (i < dsn.size() && dsn[i] == ' ') ++i;
  if (i >= dsn.size() || dsn[i] != '=') return;
  ++i;
  while (i < dsn.size() && dsn[i] == ' ') ++i;
  size_t end = i;
  if (!uri && end < dsn.size() && dsn[end] == '\'') {
    for (++end; end < dsn.size() && dsn[end] != '\''; ++end) {
      if (dsn[end] == '\\') ++end;
    }
    end = std::min(end + 1, dsn.size());
  } else {
    while (end < dsn.size() && dsn[end] != ' ' && (!uri || dsn[end] != '&')) ++end;
  }
  dsn.replace(i, end - i, "<redacted>");
}

}  // namespace

std::string RedactDsn(std::string_view dsn_view) {
  std::string dsn(dsn_view);
  const bool uri = IsUri(dsn);
  if (uri) {
    size_t start = dsn.find("://") + 3;
    size_t end = dsn.find_first_of("/?", start);
    if (end == std::string::npos) end = dsn.size();
    size_t at = dsn.rfind('@', end);
    if (at != std::string::npos && at >= start) {
      size_t colon = dsn.find(':', start);
      if (colon != std::string::npos && colon < at) dsn.replace(colon + 1, at - colon - 1, "<redacted>");
    }
  }
  // Key/value form, or a URI's query parameters.
  for (size_t pos = 0; (pos = dsn.find("password", pos)) != std::string::npos; pos += 8) {
    bool boundary = pos == 0 || dsn[pos - 1] == ' ' || dsn[pos - 1] == '?' || dsn[pos - 1] == '&';
    if (boundary) RedactValueAt(dsn, pos + 8, uri);
  }
  return dsn;
}

std::string DsnWithConnectTimeout(std::string_view dsn, int64_t seconds) {
  std::string out(dsn);
  if (out.find("connect_timeout") != std::string::npos) return out;
  std::string param = "connect_timeout=" + std::to_string(seconds);
  if (IsUri(out)) {
    out += (out.find('?') == std::string::npos ? "?" : "&") + param;
  } else {
    out += (out.empty() ? "" : " ") + param;
  }
  return out;
}

StatusOr<std::unique_ptr<sql::Database>> OpenPostgresDatabase(const StorageConfig& config) {
  if (config.dsn.empty()) return InvalidArgumentError("storage.dsn is empty");
  using SteadyClock = std::chrono::steady_clock;
  const auto start = SteadyClock::now();
  const auto deadline = start + config.connect_timeout;
  const std::string redacted = RedactDsn(config.dsn);
  std::chrono::milliseconds delay(100);
  for (int attempt = 1;; ++attempt) {
    auto remaining = std::chrono::duration_cast<std::chrono::seconds>(deadline - SteadyClock::now());
    // libpq's own timeout bounds an attempt against a host that drops packets (2 s is its minimum).
    std::string dsn = DsnWithConnectTimeout(config.dsn, std::clamp<int64_t>(remaining.count(), 2, 10));
    auto conn = Connect(dsn);
    if (conn.ok()) {
      auto db = std::make_unique<PostgresDatabase>(
          dsn, static_cast<size_t>(std::max<int64_t>(1, config.pool_size)), std::move(conn).value());
      if (attempt > 1) spdlog::info("connected to PostgreSQL at {} after {} attempts", redacted, attempt);
      return std::unique_ptr<sql::Database>(std::move(db));
    }
    const auto now = SteadyClock::now();
    if (now >= deadline) {
      return UnavailableError(
          "cannot connect to PostgreSQL at " + redacted + " within " +
          FormatDuration(config.connect_timeout) + " (" + std::to_string(attempt) +
          " attempts): " + conn.status().message());
    }
    auto wait = std::min<SteadyClock::duration>(delay, deadline - now);
    spdlog::warn("PostgreSQL at {} unreachable (attempt {}): {}; retrying in {} ms", redacted,
                 attempt, conn.status().message(),
                 std::chrono::duration_cast<std::chrono::milliseconds>(wait).count());
    std::this_thread::sleep_for(wait);
    delay = std::min<std::chrono::milliseconds>(delay * 2, std::chrono::seconds(5));
  }
}

}  // namespace custos::postgres
