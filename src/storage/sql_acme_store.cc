// AcmeStore (see acme_store.h) in portable SQL over the driver interface (sql.h).
#include <string>

#include "storage/sql_parts.h"

namespace custos {
namespace {

using sql::Row;

constexpr char kAccountColumns[] =
    "id, key_thumbprint, jwk_json, status, contact_json, created_at";
constexpr char kOrderColumns[] =
    "id, account_id, status, identifiers_json, not_before, not_after, expires_at, error_json, "
    "cert_serial, created_at";
constexpr char kAuthzColumns[] =
    "id, order_id, account_id, identifier_type, identifier_value, status, expires_at, "
    "attested_json";
constexpr char kChallengeColumns[] =
    "id, authz_id, type, token, status, validated_at, error_json";
constexpr char kClientIdColumns[] =
    "identifier_sha256, bound_to, created_at, expires_at, spent_at, spent_by";

sql::Value OptTime(const std::optional<Time>& t) {
  return t ? sql::UnixTime(*t) : sql::Null();
}

StatusOr<std::optional<Time>> GetOptTime(const Row& row, size_t i) {
  if (row.IsNull(i)) return std::optional<Time>();
  ASSIGN_OR_RETURN(Time t, row.GetTime(i));
  return std::optional<Time>(t);
}

StatusOr<AcmeAccountRecord> AccountFromRow(const Row& row) {
  AcmeAccountRecord a;
  ASSIGN_OR_RETURN(a.id, row.GetText(0));
  ASSIGN_OR_RETURN(a.key_thumbprint, row.GetText(1));
  ASSIGN_OR_RETURN(a.jwk_json, row.GetText(2));
  ASSIGN_OR_RETURN(a.status, row.GetText(3));
  ASSIGN_OR_RETURN(a.contact_json, row.GetText(4));
  ASSIGN_OR_RETURN(a.created_at, row.GetTime(5));
  return a;
}

StatusOr<AcmeOrderRecord> OrderFromRow(const Row& row) {
  AcmeOrderRecord o;
  ASSIGN_OR_RETURN(o.id, row.GetText(0));
  ASSIGN_OR_RETURN(o.account_id, row.GetText(1));
  ASSIGN_OR_RETURN(o.status, row.GetText(2));
  ASSIGN_OR_RETURN(o.identifiers_json, row.GetText(3));
  ASSIGN_OR_RETURN(o.not_before, GetOptTime(row, 4));
  ASSIGN_OR_RETURN(o.not_after, GetOptTime(row, 5));
  ASSIGN_OR_RETURN(o.expires_at, row.GetTime(6));
  ASSIGN_OR_RETURN(o.error_json, row.GetText(7));
  ASSIGN_OR_RETURN(o.cert_serial, row.GetText(8));
  ASSIGN_OR_RETURN(o.created_at, row.GetTime(9));
  return o;
}

StatusOr<AcmeAuthzRecord> AuthzFromRow(const Row& row) {
  AcmeAuthzRecord a;
  ASSIGN_OR_RETURN(a.id, row.GetText(0));
  ASSIGN_OR_RETURN(a.order_id, row.GetText(1));
  ASSIGN_OR_RETURN(a.account_id, row.GetText(2));
  ASSIGN_OR_RETURN(a.identifier_type, row.GetText(3));
  ASSIGN_OR_RETURN(a.identifier_value, row.GetText(4));
  ASSIGN_OR_RETURN(a.status, row.GetText(5));
  ASSIGN_OR_RETURN(a.expires_at, row.GetTime(6));
  ASSIGN_OR_RETURN(a.attested_json, row.GetText(7));
  return a;
}

StatusOr<AcmeChallengeRecord> ChallengeFromRow(const Row& row) {
  AcmeChallengeRecord c;
  ASSIGN_OR_RETURN(c.id, row.GetText(0));
  ASSIGN_OR_RETURN(c.authz_id, row.GetText(1));
  ASSIGN_OR_RETURN(c.type, row.GetText(2));
  ASSIGN_OR_RETURN(c.token, row.GetText(3));
  ASSIGN_OR_RETURN(c.status, row.GetText(4));
  ASSIGN_OR_RETURN(c.validated_at, GetOptTime(row, 5));
  ASSIGN_OR_RETURN(c.error_json, row.GetText(6));
  return c;
}

StatusOr<AcmeClientIdentifierRecord> ClientIdFromRow(const Row& row) {
  AcmeClientIdentifierRecord c;
  ASSIGN_OR_RETURN(c.identifier_sha256, row.GetText(0));
  ASSIGN_OR_RETURN(c.bound_to, row.GetText(1));
  ASSIGN_OR_RETURN(c.created_at, row.GetTime(2));
  ASSIGN_OR_RETURN(c.expires_at, row.GetTime(3));
  ASSIGN_OR_RETURN(c.spent_at, GetOptTime(row, 4));
  ASSIGN_OR_RETURN(c.spent_by, row.GetText(5));
  return c;
}

class SqlAcmeStore : public AcmeStore {
 public:
  explicit SqlAcmeStore(sql::Transaction& tx) : tx_(tx) {}

  Status InsertAccount(const AcmeAccountRecord& a) override {
    return Insert("acme_accounts", kAccountColumns, 6,
                  {sql::Text(a.id), sql::Text(a.key_thumbprint), sql::Text(a.jwk_json),
                   sql::Text(a.status), sql::Text(a.contact_json), sql::UnixTime(a.created_at)},
                  "ACME account");
  }
  StatusOr<AcmeAccountRecord> GetAccount(std::string_view id) override {
    return GetOne<AcmeAccountRecord>("acme_accounts", kAccountColumns, "id", id, AccountFromRow,
                                     "no such ACME account");
  }
  StatusOr<AcmeAccountRecord> GetAccountByThumbprint(std::string_view thumbprint) override {
    return GetOne<AcmeAccountRecord>("acme_accounts", kAccountColumns, "key_thumbprint",
                                     thumbprint, AccountFromRow, "no ACME account for this key");
  }
  Status UpdateAccount(const AcmeAccountRecord& a) override {
    if (!a.key_thumbprint.empty()) {
      ASSIGN_OR_RETURN(auto taken, tx_.Exec("SELECT id FROM acme_accounts WHERE key_thumbprint = $1 "
                                            "AND id <> $2",
                                            {sql::Text(a.key_thumbprint), sql::Text(a.id)}));
      if (!taken.rows.empty()) return AlreadyExistsError("the key belongs to another ACME account");
    }
    ASSIGN_OR_RETURN(auto r, tx_.Exec("UPDATE acme_accounts SET key_thumbprint = $2, jwk_json = $3, "
                                      "status = $4, contact_json = $5 WHERE id = $1",
                                      {sql::Text(a.id), sql::Text(a.key_thumbprint),
                                       sql::Text(a.jwk_json), sql::Text(a.status),
                                       sql::Text(a.contact_json)}));
    if (r.affected != 1) return NotFoundError("no such ACME account");
    return OkStatus();
  }

  Status InsertOrder(const AcmeOrderRecord& o) override {
    return Insert("acme_orders", kOrderColumns, 10,
                  {sql::Text(o.id), sql::Text(o.account_id), sql::Text(o.status),
                   sql::Text(o.identifiers_json), OptTime(o.not_before), OptTime(o.not_after),
                   sql::UnixTime(o.expires_at), sql::Text(o.error_json), sql::Text(o.cert_serial),
                   sql::UnixTime(o.created_at)},
                  "ACME order");
  }
  StatusOr<AcmeOrderRecord> GetOrder(std::string_view id) override {
    return GetOne<AcmeOrderRecord>("acme_orders", kOrderColumns, "id", id, OrderFromRow,
                                   "no such ACME order");
  }
  Status UpdateOrder(std::string_view id, std::string_view status, std::string_view error_json,
                     std::string_view cert_serial) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("UPDATE acme_orders SET status = $2, error_json = $3, "
                                      "cert_serial = $4 WHERE id = $1",
                                      {sql::Text(id), sql::Text(status), sql::Text(error_json),
                                       sql::Text(cert_serial)}));
    if (r.affected != 1) return NotFoundError("no such ACME order");
    return OkStatus();
  }
  StatusOr<std::vector<AcmeOrderRecord>> ListOrders(std::string_view account_id,
                                                    int64_t limit) override {
    if (limit <= 0 || limit > 10000) limit = 1000;
    return GetMany<AcmeOrderRecord>(
        "SELECT " + std::string(kOrderColumns) +
            " FROM acme_orders WHERE account_id = $1 ORDER BY seq LIMIT $2",
        {sql::Text(account_id), sql::Int(limit)}, OrderFromRow);
  }

  Status InsertAuthz(const AcmeAuthzRecord& a) override {
    return Insert("acme_authzs", kAuthzColumns, 8,
                  {sql::Text(a.id), sql::Text(a.order_id), sql::Text(a.account_id),
                   sql::Text(a.identifier_type), sql::Text(a.identifier_value), sql::Text(a.status),
                   sql::UnixTime(a.expires_at), sql::Text(a.attested_json)},
                  "ACME authorization");
  }
  StatusOr<AcmeAuthzRecord> GetAuthz(std::string_view id) override {
    return GetOne<AcmeAuthzRecord>("acme_authzs", kAuthzColumns, "id", id, AuthzFromRow,
                                   "no such ACME authorization");
  }
  Status UpdateAuthz(std::string_view id, std::string_view status,
                     std::string_view attested_json) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("UPDATE acme_authzs SET status = $2, attested_json = $3 "
                                      "WHERE id = $1",
                                      {sql::Text(id), sql::Text(status), sql::Text(attested_json)}));
    if (r.affected != 1) return NotFoundError("no such ACME authorization");
    return OkStatus();
  }
  StatusOr<std::vector<AcmeAuthzRecord>> ListAuthzs(std::string_view order_id) override {
    return GetMany<AcmeAuthzRecord>("SELECT " + std::string(kAuthzColumns) +
                                        " FROM acme_authzs WHERE order_id = $1 ORDER BY seq",
                                    {sql::Text(order_id)}, AuthzFromRow);
  }

  Status InsertChallenge(const AcmeChallengeRecord& c) override {
    return Insert("acme_challenges", kChallengeColumns, 7,
                  {sql::Text(c.id), sql::Text(c.authz_id), sql::Text(c.type), sql::Text(c.token),
                   sql::Text(c.status), OptTime(c.validated_at), sql::Text(c.error_json)},
                  "ACME challenge");
  }
  StatusOr<AcmeChallengeRecord> GetChallenge(std::string_view id) override {
    return GetOne<AcmeChallengeRecord>("acme_challenges", kChallengeColumns, "id", id,
                                       ChallengeFromRow, "no such ACME challenge");
  }
  Status UpdateChallenge(std::string_view id, std::string_view status,
                         std::optional<Time> validated_at, std::string_view error_json) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("UPDATE acme_challenges SET status = $2, validated_at = $3, "
                                      "error_json = $4 WHERE id = $1",
                                      {sql::Text(id), sql::Text(status), OptTime(validated_at),
                                       sql::Text(error_json)}));
    if (r.affected != 1) return NotFoundError("no such ACME challenge");
    return OkStatus();
  }
  StatusOr<std::vector<AcmeChallengeRecord>> ListChallenges(std::string_view authz_id) override {
    return GetMany<AcmeChallengeRecord>(
        "SELECT " + std::string(kChallengeColumns) +
            " FROM acme_challenges WHERE authz_id = $1 ORDER BY seq",
        {sql::Text(authz_id)}, ChallengeFromRow);
  }

  StatusOr<std::vector<AcmeChallengeRecord>> ListChallengesWithStatus(std::string_view status,
                                                                      int64_t limit) override {
    return GetMany<AcmeChallengeRecord>(
        "SELECT " + std::string(kChallengeColumns) +
            " FROM acme_challenges WHERE status = $1 ORDER BY seq LIMIT $2",
        {sql::Text(status), sql::Int(limit)}, ChallengeFromRow);
  }

  Status InsertClientIdentifier(const AcmeClientIdentifierRecord& c) override {
    return Insert("acme_client_identifiers", kClientIdColumns, 6,
                  {sql::Text(c.identifier_sha256), sql::Text(c.bound_to),
                   sql::UnixTime(c.created_at), sql::UnixTime(c.expires_at), OptTime(c.spent_at),
                   sql::Text(c.spent_by)},
                  "ACME client identifier");
  }
  StatusOr<AcmeClientIdentifierRecord> GetClientIdentifier(std::string_view sha256) override {
    return GetOne<AcmeClientIdentifierRecord>("acme_client_identifiers", kClientIdColumns,
                                              "identifier_sha256", sha256, ClientIdFromRow,
                                              "no such ACME client identifier");
  }
  Status SpendClientIdentifier(std::string_view sha256, Time now,
                               std::string_view order_id) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("UPDATE acme_client_identifiers SET spent_at = $2, "
                                      "spent_by = $3 WHERE identifier_sha256 = $1 "
                                      "AND spent_at IS NULL AND expires_at > $2",
                                      {sql::Text(sha256), sql::UnixTime(now), sql::Text(order_id)}));
    if (r.affected == 1) return OkStatus();
    ASSIGN_OR_RETURN(auto found, tx_.Exec("SELECT spent_at FROM acme_client_identifiers "
                                          "WHERE identifier_sha256 = $1",
                                          {sql::Text(sha256)}));
    if (found.rows.empty()) return NotFoundError("no such ACME client identifier");
    return FailedPreconditionError(found.rows[0].IsNull(0) ? "ACME client identifier expired"
                                                           : "ACME client identifier already used");
  }

 private:
  // INSERT ... ON CONFLICT DO NOTHING, so a conflict is ALREADY_EXISTS without aborting the
  // transaction.
  Status Insert(const char* table, const char* columns, int n, const std::vector<sql::Value>& params,
                const char* what) {
    std::string placeholders;
    for (int i = 1; i <= n; ++i) placeholders += (i > 1 ? ", $" : "$") + std::to_string(i);
    ASSIGN_OR_RETURN(auto r, tx_.Exec("INSERT INTO " + std::string(table) + " (" + columns +
                                          ") VALUES (" + placeholders + ") ON CONFLICT DO NOTHING",
                                      params));
    if (r.affected != 1) return AlreadyExistsError(std::string(what) + " already exists");
    return OkStatus();
  }

  template <typename T, typename F>
  StatusOr<T> GetOne(const char* table, const char* columns, const char* key,
                     std::string_view value, F from_row, const char* not_found) {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("SELECT " + std::string(columns) + " FROM " + table +
                                          " WHERE " + key + " = $1",
                                      {sql::Text(value)}));
    if (r.rows.empty()) return NotFoundError(not_found);
    return from_row(r.rows[0]);
  }

  template <typename T, typename F>
  StatusOr<std::vector<T>> GetMany(const std::string& query, const std::vector<sql::Value>& params,
                                   F from_row) {
    ASSIGN_OR_RETURN(auto r, tx_.Exec(query, params));
    std::vector<T> out;
    out.reserve(r.rows.size());
    for (const Row& row : r.rows) {
      ASSIGN_OR_RETURN(T t, from_row(row));
      out.push_back(std::move(t));
    }
    return out;
  }

  sql::Transaction& tx_;
};

}  // namespace

std::unique_ptr<AcmeStore> NewSqlAcmeStore(sql::Transaction& tx) { return std::make_unique<SqlAcmeStore>(tx); }

}  // namespace custos
