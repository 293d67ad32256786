// RenewalStore (see renewal_store.h) in portable SQL over the driver interface (sql.h).
#include <algorithm>

#include "storage/sql_parts.h"

namespace custos {
namespace {

constexpr std::string_view kColumns =
    "r.id, r.old_serial, r.enrollment_id, r.command_uuid, r.identity_kind, r.secret_sha256, "
    "r.status, r.reason, r.new_serial, r.old_not_after, r.requested_at, r.completed_at";

StatusOr<RenewalRequestRecord> ParseRequest(const sql::Row& row) {
  RenewalRequestRecord r;
  ASSIGN_OR_RETURN(r.id, row.GetInt(0));
  ASSIGN_OR_RETURN(r.old_serial, row.GetText(1));
  ASSIGN_OR_RETURN(r.enrollment_id, row.GetText(2));
  ASSIGN_OR_RETURN(r.command_uuid, row.GetText(3));
  ASSIGN_OR_RETURN(r.identity_kind, row.GetText(4));
  ASSIGN_OR_RETURN(r.secret_sha256, row.GetText(5));
  ASSIGN_OR_RETURN(r.status, row.GetText(6));
  ASSIGN_OR_RETURN(r.reason, row.GetText(7));
  ASSIGN_OR_RETURN(r.new_serial, row.GetText(8));
  ASSIGN_OR_RETURN(r.old_not_after, row.GetTime(9));
  ASSIGN_OR_RETURN(r.requested_at, row.GetTime(10));
  if (!row.IsNull(11)) {
    ASSIGN_OR_RETURN(Time t, row.GetTime(11));
    r.completed_at = t;
  }
  return r;
}

int64_t ClampLimit(int64_t limit) {
  if (limit <= 0) return 100;
  return std::min<int64_t>(limit, 10000);
}

class SqlRenewalStore : public RenewalStore {
 public:
  explicit SqlRenewalStore(sql::Transaction& tx) : tx_(tx) {}

  StatusOr<int64_t> InsertRequest(const RenewalRequestRecord& r) override {
    if (r.old_serial.empty() || r.enrollment_id.empty() || r.identity_kind.empty()) {
      return InvalidArgumentError(
          "a renewal request needs the renewed serial, the enrollment and the identity kind");
    }
    ASSIGN_OR_RETURN(
        auto res,
        tx_.Exec("INSERT INTO renewal_requests (old_serial, enrollment_id, command_uuid, "
                 "identity_kind, secret_sha256, status, reason, new_serial, old_not_after, "
                 "requested_at, completed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
                 "RETURNING id",
                 {sql::Text(r.old_serial), sql::Text(r.enrollment_id), sql::Text(r.command_uuid),
                  sql::Text(r.identity_kind), sql::Text(r.secret_sha256), sql::Text(r.status),
                  sql::Text(r.reason), sql::Text(r.new_serial), sql::UnixTime(r.old_not_after),
                  sql::UnixTime(r.requested_at),
                  r.completed_at ? sql::UnixTime(*r.completed_at) : sql::Null()}));
    if (res.rows.empty()) return InternalError("INSERT INTO renewal_requests returned no id");
    return res.rows[0].GetInt(0);
  }

  StatusOr<int64_t> InsertRequestUnlessRecent(const RenewalRequestRecord& r,
                                              Time retry_before) override {
    if (tx_.dialect() == sql::Dialect::kPostgres) {
      RETURN_IF_ERROR(tx_.Exec("SELECT 1 FROM certificates WHERE serial_hex = $1 FOR UPDATE",
                               {sql::Text(r.old_serial)})
                          .status());
    }
    ASSIGN_OR_RETURN(auto recent,
                     tx_.Exec("SELECT 1 FROM renewal_requests WHERE old_serial = $1 "
                              "AND requested_at >= $2 LIMIT 1",
                              {sql::Text(r.old_serial), sql::UnixTime(retry_before)}));
    if (!recent.rows.empty()) {
      return AlreadyExistsError("identity " + r.old_serial +
                                " has a recent renewal attempt (another custos process made it)");
    }
    return InsertRequest(r);
  }

  StatusOr<RenewalRequestRecord> GetRequest(int64_t id) override {
    ASSIGN_OR_RETURN(auto res, tx_.Exec("SELECT " + std::string(kColumns) +
                                            " FROM renewal_requests r WHERE r.id = $1",
                                        {sql::Int(id)}));
    if (res.rows.empty()) return NotFoundError("no renewal request " + std::to_string(id));
    return ParseRequest(res.rows[0]);
  }

  Status DeleteRequest(int64_t id) override {
    ASSIGN_OR_RETURN(auto res,
                     tx_.Exec("DELETE FROM renewal_requests WHERE id = $1", {sql::Int(id)}));
    if (res.affected == 0) return NotFoundError("no renewal request " + std::to_string(id));
    return OkStatus();
  }

  StatusOr<std::vector<RenewalRequestRecord>> ListRequests(
      const RenewalRequestFilter& f) override {
    std::string q = "SELECT " + std::string(kColumns) + " FROM renewal_requests r WHERE r.id > $1";
    std::vector<sql::Value> params = {sql::Int(f.after_id)};
    if (!f.enrollment_id.empty()) {
      params.push_back(sql::Text(f.enrollment_id));
      q += " AND r.enrollment_id = $" + std::to_string(params.size());
    }
    if (!f.status.empty()) {
      params.push_back(sql::Text(f.status));
      q += " AND r.status = $" + std::to_string(params.size());
    }
    params.push_back(sql::Int(ClampLimit(f.limit)));
    q += " ORDER BY r.id LIMIT $" + std::to_string(params.size());
    ASSIGN_OR_RETURN(auto res, tx_.Exec(q, params));
    std::vector<RenewalRequestRecord> out;
    out.reserve(res.rows.size());
    for (const auto& row : res.rows) {
      ASSIGN_OR_RETURN(auto r, ParseRequest(row));
      out.push_back(std::move(r));
    }
    return out;
  }

  StatusOr<std::vector<RenewalCandidate>> ListDue(Time now, Time window_end, Time retry_before,
                                                  int64_t limit) override {
    // From the enabled device channels through their certificate associations to the
    // certificates; the NOT EXISTS clauses keep only the current, unrenewed identity without a
    // recent attempt (see renewal_store.h).
    ASSIGN_OR_RETURN(
        auto res,
        tx_.Exec(
            "SELECT e.id, c.serial_hex, c.requester, c.not_after, "
            "COALESCE(d.serial_number, ''), COALESCE(d.product_name, ''), "
            "COALESCE(d.os_version, ''), "
            "(SELECT COUNT(*) FROM renewal_requests r WHERE r.old_serial = c.serial_hex), "
            "(SELECT MAX(r.requested_at) FROM renewal_requests r WHERE r.old_serial = c.serial_hex) "
            "FROM mdm_enrollments e "
            "JOIN mdm_cert_associations a ON a.device_id = e.id "
            "JOIN certificates c ON c.serial_hex = a.serial_hex "
            "LEFT JOIN mdm_devices d ON d.id = e.id "
            "WHERE e.parent_id = '' AND e.enabled = 1 AND c.status = 'valid' "
            "AND c.not_after > $1 AND c.not_after <= $2 "
            "AND NOT EXISTS (SELECT 1 FROM certificates n WHERE n.renewal_of = c.serial_hex) "
            "AND NOT EXISTS (SELECT 1 FROM mdm_cert_associations a2 "
            "  JOIN certificates c2 ON c2.serial_hex = a2.serial_hex "
            "  WHERE a2.device_id = e.id AND c2.serial_hex <> c.serial_hex "
            "  AND c2.status = 'valid' AND c2.serial_hex <> c.renewal_of "
            "  AND (c2.created_at > c.created_at OR (c2.created_at = c.created_at "
            "  AND (c2.not_after > c.not_after OR (c2.not_after = c.not_after "
            "  AND c2.serial_hex > c.serial_hex))))) "
            "AND NOT EXISTS (SELECT 1 FROM renewal_requests r "
            "  WHERE r.old_serial = c.serial_hex AND r.requested_at >= $3) "
            "ORDER BY c.not_after, e.id LIMIT $4",
            {sql::UnixTime(now), sql::UnixTime(window_end), sql::UnixTime(retry_before),
             sql::Int(ClampLimit(limit))}));
    std::vector<RenewalCandidate> out;
    out.reserve(res.rows.size());
    for (const auto& row : res.rows) {
      RenewalCandidate c;
      ASSIGN_OR_RETURN(c.enrollment_id, row.GetText(0));
      ASSIGN_OR_RETURN(c.serial_hex, row.GetText(1));
      ASSIGN_OR_RETURN(c.requester, row.GetText(2));
      ASSIGN_OR_RETURN(c.not_after, row.GetTime(3));
      ASSIGN_OR_RETURN(c.device_serial, row.GetText(4));
      ASSIGN_OR_RETURN(c.product_name, row.GetText(5));
      ASSIGN_OR_RETURN(c.os_version, row.GetText(6));
      ASSIGN_OR_RETURN(c.attempts, row.GetInt(7));
      if (!row.IsNull(8)) {
        ASSIGN_OR_RETURN(Time t, row.GetTime(8));
        c.last_requested_at = t;
      }
      out.push_back(std::move(c));
    }
    return out;
  }

  StatusOr<std::optional<RenewalRequestRecord>> FindRequestForIssuedCert(
      std::string_view device_id, std::string_view cert_serial) override {
    // The request's secret -> the SCEP transaction or ACME order that spent it -> the certificate
    // that transaction/order issued. Starts from this device's requests (indexed), so it costs a
    // few primary-key lookups.
    ASSIGN_OR_RETURN(
        auto res,
        tx_.Exec("SELECT " + std::string(kColumns) +
                     " FROM renewal_requests r "
                     "JOIN certificates o ON o.serial_hex = r.old_serial AND o.status = 'valid' "
                     "JOIN mdm_cert_associations oa ON oa.serial_hex = r.old_serial "
                     "  AND oa.device_id = r.enrollment_id "
                     "LEFT JOIN scep_challenges sc ON r.identity_kind = 'scep' "
                     "  AND sc.challenge_sha256 = r.secret_sha256 "
                     "LEFT JOIN scep_transactions st ON st.transaction_id = sc.spent_by "
                     "  AND st.status = 'issued' "
                     "LEFT JOIN acme_client_identifiers ci ON r.identity_kind = 'acme' "
                     "  AND ci.identifier_sha256 = r.secret_sha256 "
                     "LEFT JOIN acme_orders ao ON ao.id = ci.spent_by "
                     "WHERE r.enrollment_id = $1 AND r.status = 'pending' AND r.secret_sha256 <> '' "
                     "AND (st.cert_serial = $2 OR ao.cert_serial = $2) "
                     "ORDER BY r.id LIMIT 1",
                 {sql::Text(device_id), sql::Text(cert_serial)}));
    if (res.rows.empty()) return std::optional<RenewalRequestRecord>();
    ASSIGN_OR_RETURN(auto r, ParseRequest(res.rows[0]));
    return std::optional<RenewalRequestRecord>(std::move(r));
  }

  Status CompleteRequest(int64_t id, std::string_view new_serial, Time now) override {
    ASSIGN_OR_RETURN(RenewalRequestRecord r, GetRequest(id));
    if (r.status != kRenewalPending) {
      return FailedPreconditionError("renewal request " + std::to_string(id) + " is " + r.status);
    }
    RETURN_IF_ERROR(tx_.Exec("UPDATE renewal_requests SET status = $1, new_serial = $2, "
                             "completed_at = $3 WHERE id = $4",
                             {sql::Text(kRenewalCompleted), sql::Text(new_serial),
                              sql::UnixTime(now), sql::Int(id)})
                        .status());
    return tx_
        .Exec("UPDATE certificates SET renewal_of = $1 WHERE serial_hex = $2 AND renewal_of = ''",
              {sql::Text(r.old_serial), sql::Text(new_serial)})
        .status();
  }

 private:
  sql::Transaction& tx_;
};

}  // namespace

std::unique_ptr<RenewalStore> NewSqlRenewalStore(sql::Transaction& tx) {
  return std::make_unique<SqlRenewalStore>(tx);
}

}  // namespace custos
