// DepStore (see dep_store.h) in portable SQL over the driver interface (sql.h).
#include <algorithm>

#include "storage/sql_parts.h"

namespace custos {
namespace {

using sql::Row;

sql::Value OptTime(const std::optional<Time>& t) { return t ? sql::UnixTime(*t) : sql::Null(); }

StatusOr<std::optional<Time>> GetOptTime(const Row& row, size_t i) {
  if (row.IsNull(i)) return std::optional<Time>();
  ASSIGN_OR_RETURN(Time t, row.GetTime(i));
  return std::optional<Time>(t);
}

constexpr std::string_view kNameColumns =
    "name, current_key_pem, current_cert_pem, staging_key_pem, staging_cert_pem, consumer_key, "
    "consumer_secret, access_token, access_secret, access_token_expiry, tokens_updated_at, "
    "server_uuid, cursor, cursor_at, fetch_completed_at, created_at, updated_at";

StatusOr<DepNameRecord> ParseName(const Row& row) {
  DepNameRecord r;
  ASSIGN_OR_RETURN(r.name, row.GetText(0));
  ASSIGN_OR_RETURN(r.current_key_pem, row.GetText(1));
  ASSIGN_OR_RETURN(r.current_cert_pem, row.GetText(2));
  ASSIGN_OR_RETURN(r.staging_key_pem, row.GetText(3));
  ASSIGN_OR_RETURN(r.staging_cert_pem, row.GetText(4));
  ASSIGN_OR_RETURN(r.tokens.consumer_key, row.GetText(5));
  ASSIGN_OR_RETURN(r.tokens.consumer_secret, row.GetText(6));
  ASSIGN_OR_RETURN(r.tokens.access_token, row.GetText(7));
  ASSIGN_OR_RETURN(r.tokens.access_secret, row.GetText(8));
  ASSIGN_OR_RETURN(r.tokens.access_token_expiry, GetOptTime(row, 9));
  ASSIGN_OR_RETURN(r.tokens_updated_at, GetOptTime(row, 10));
  ASSIGN_OR_RETURN(r.server_uuid, row.GetText(11));
  ASSIGN_OR_RETURN(r.cursor, row.GetText(12));
  ASSIGN_OR_RETURN(r.cursor_at, GetOptTime(row, 13));
  ASSIGN_OR_RETURN(r.fetch_completed_at, GetOptTime(row, 14));
  ASSIGN_OR_RETURN(r.created_at, row.GetTime(15));
  ASSIGN_OR_RETURN(r.updated_at, row.GetTime(16));
  return r;
}

constexpr std::string_view kDeviceColumns =
    "dep_name, serial_number, model, description, color, os, device_family, profile_status, "
    "profile_uuid, profile_assign_time, profile_push_time, device_assigned_by, "
    "device_assigned_date, op_type, op_date, updated_at";

StatusOr<DepDeviceRecord> ParseDevice(const Row& row) {
  DepDeviceRecord d;
  ASSIGN_OR_RETURN(d.dep_name, row.GetText(0));
  ASSIGN_OR_RETURN(d.serial_number, row.GetText(1));
  ASSIGN_OR_RETURN(d.model, row.GetText(2));
  ASSIGN_OR_RETURN(d.description, row.GetText(3));
  ASSIGN_OR_RETURN(d.color, row.GetText(4));
  ASSIGN_OR_RETURN(d.os, row.GetText(5));
  ASSIGN_OR_RETURN(d.device_family, row.GetText(6));
  ASSIGN_OR_RETURN(d.profile_status, row.GetText(7));
  ASSIGN_OR_RETURN(d.profile_uuid, row.GetText(8));
  ASSIGN_OR_RETURN(d.profile_assign_time, GetOptTime(row, 9));
  ASSIGN_OR_RETURN(d.profile_push_time, GetOptTime(row, 10));
  ASSIGN_OR_RETURN(d.device_assigned_by, row.GetText(11));
  ASSIGN_OR_RETURN(d.device_assigned_date, GetOptTime(row, 12));
  ASSIGN_OR_RETURN(d.op_type, row.GetText(13));
  ASSIGN_OR_RETURN(d.op_date, GetOptTime(row, 14));
  ASSIGN_OR_RETURN(d.updated_at, row.GetTime(15));
  return d;
}

Status RequireOneRow(const sql::Result& r, std::string_view name) {
  if (r.affected == 0) return NotFoundError("no DEP name \"" + std::string(name) + "\"");
  return OkStatus();
}

class SqlDepStore : public DepStore {
 public:
  explicit SqlDepStore(sql::Transaction& tx) : tx_(tx) {}

  StatusOr<DepNameRecord> GetName(std::string_view name) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("SELECT " + std::string(kNameColumns) +
                                          " FROM dep_names WHERE name = $1",
                                      {sql::Text(name)}));
    if (r.rows.empty()) return NotFoundError("no DEP name \"" + std::string(name) + "\"");
    return ParseName(r.rows[0]);
  }

  StatusOr<std::vector<DepNameRecord>> ListNames() override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("SELECT " + std::string(kNameColumns) +
                                      " FROM dep_names ORDER BY name"));
    std::vector<DepNameRecord> out;
    for (const Row& row : r.rows) {
      ASSIGN_OR_RETURN(DepNameRecord n, ParseName(row));
      out.push_back(std::move(n));
    }
    return out;
  }

  Status SetStaging(std::string_view name, std::string_view key_pem, std::string_view cert_pem,
                    Time now) override {
    return tx_
        .Exec("INSERT INTO dep_names (name, current_key_pem, current_cert_pem, staging_key_pem, "
              "staging_cert_pem, consumer_key, consumer_secret, access_token, access_secret, "
              "server_uuid, cursor, created_at, updated_at) "
              "VALUES ($1, '', '', $2, $3, '', '', '', '', '', '', $4, $4) "
              "ON CONFLICT (name) DO UPDATE SET staging_key_pem = excluded.staging_key_pem, "
              "staging_cert_pem = excluded.staging_cert_pem, updated_at = excluded.updated_at",
              {sql::Text(name), sql::Text(key_pem), sql::Text(cert_pem), sql::UnixTime(now)})
        .status();
  }

  Status PromoteStaging(std::string_view name, std::string_view expected_staging_cert_pem,
                        Time now) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("UPDATE dep_names SET current_key_pem = staging_key_pem, "
                                      "current_cert_pem = staging_cert_pem, staging_key_pem = '', "
                                      "staging_cert_pem = '', updated_at = $3 WHERE name = $1 "
                                      "AND staging_cert_pem <> '' AND staging_cert_pem = $2",
                                      {sql::Text(name), sql::Text(expected_staging_cert_pem),
                                       sql::UnixTime(now)}));
    if (r.affected == 1) return OkStatus();
    ASSIGN_OR_RETURN(DepNameRecord rec, GetName(name));  // NOT_FOUND for an unknown name
    if (rec.staging_cert_pem.empty()) {
      return FailedPreconditionError("DEP name \"" + std::string(name) + "\" has no staging pair");
    }
    return FailedPreconditionError("the staging pair of DEP name \"" + std::string(name) +
                                   "\" changed meanwhile");
  }

  Status SetTokens(std::string_view name, const DepTokens& t, Time now) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("UPDATE dep_names SET consumer_key = $2, "
                                      "consumer_secret = $3, access_token = $4, "
                                      "access_secret = $5, access_token_expiry = $6, "
                                      "tokens_updated_at = $7, updated_at = $7 WHERE name = $1",
                                      {sql::Text(name), sql::Text(t.consumer_key),
                                       sql::Text(t.consumer_secret), sql::Text(t.access_token),
                                       sql::Text(t.access_secret),
                                       OptTime(t.access_token_expiry), sql::UnixTime(now)}));
    return RequireOneRow(r, name);
  }

  Status SetServerUuid(std::string_view name, std::string_view server_uuid, Time now) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("UPDATE dep_names SET server_uuid = $2, updated_at = $3 "
                                      "WHERE name = $1",
                                      {sql::Text(name), sql::Text(server_uuid),
                                       sql::UnixTime(now)}));
    return RequireOneRow(r, name);
  }

  Status SetCursor(std::string_view name, std::string_view cursor, bool fetch_completed,
                   Time now) override {
    ASSIGN_OR_RETURN(
        auto r, tx_.Exec("UPDATE dep_names SET cursor = $2, cursor_at = $3, updated_at = $3, "
                         "fetch_completed_at = CASE WHEN $4 = 1 THEN COALESCE(fetch_completed_at, "
                         "$3) ELSE NULL END WHERE name = $1",
                         {sql::Text(name), sql::Text(cursor), sql::UnixTime(now),
                          sql::Bool(fetch_completed)}));
    return RequireOneRow(r, name);
  }

  StatusOr<bool> UpsertDevice(const DepDeviceRecord& d) override {
    // Ask first: ON CONFLICT cannot tell insert from update portably.
    ASSIGN_OR_RETURN(auto existing, tx_.Exec("SELECT 1 FROM dep_devices WHERE dep_name = $1 AND "
                                             "serial_number = $2",
                                             {sql::Text(d.dep_name), sql::Text(d.serial_number)}));
    ASSIGN_OR_RETURN(
        auto r,
        tx_.Exec("INSERT INTO dep_devices (" + std::string(kDeviceColumns) +
                     ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, "
                     "$16) ON CONFLICT (dep_name, serial_number) DO UPDATE SET "
                     "model = excluded.model, description = excluded.description, "
                     "color = excluded.color, os = excluded.os, "
                     "device_family = excluded.device_family, "
                     "profile_status = excluded.profile_status, "
                     "profile_uuid = excluded.profile_uuid, "
                     "profile_assign_time = excluded.profile_assign_time, "
                     "profile_push_time = excluded.profile_push_time, "
                     "device_assigned_by = excluded.device_assigned_by, "
                     "device_assigned_date = excluded.device_assigned_date, "
                     "op_type = excluded.op_type, op_date = excluded.op_date, "
                     "updated_at = excluded.updated_at",
                 {sql::Text(d.dep_name), sql::Text(d.serial_number), sql::Text(d.model),
                  sql::Text(d.description), sql::Text(d.color), sql::Text(d.os),
                  sql::Text(d.device_family), sql::Text(d.profile_status),
                  sql::Text(d.profile_uuid), OptTime(d.profile_assign_time),
                  OptTime(d.profile_push_time), sql::Text(d.device_assigned_by),
                  OptTime(d.device_assigned_date), sql::Text(d.op_type), OptTime(d.op_date),
                  sql::UnixTime(d.updated_at)}));
    (void)r;
    return existing.rows.empty();
  }

  StatusOr<DepDeviceRecord> GetDevice(std::string_view dep_name,
                                      std::string_view serial_number) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("SELECT " + std::string(kDeviceColumns) +
                                          " FROM dep_devices WHERE dep_name = $1 AND "
                                          "serial_number = $2",
                                      {sql::Text(dep_name), sql::Text(serial_number)}));
    if (r.rows.empty()) {
      return NotFoundError("DEP name \"" + std::string(dep_name) + "\" has no device " +
                           std::string(serial_number));
    }
    return ParseDevice(r.rows[0]);
  }

  StatusOr<DepDeviceRecord> FindKnownDevice(std::string_view serial_number) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("SELECT " + std::string(kDeviceColumns) +
                                          " FROM dep_devices WHERE serial_number = $1 AND "
                                          "op_type <> 'deleted' ORDER BY updated_at DESC, "
                                          "dep_name LIMIT 1",
                                      {sql::Text(serial_number)}));
    if (r.rows.empty()) {
      return NotFoundError("serial " + std::string(serial_number) + " is not known from ABM");
    }
    return ParseDevice(r.rows[0]);
  }

  StatusOr<std::vector<DepDeviceRecord>> ListDevices(std::string_view dep_name,
                                                     std::string_view after_serial,
                                                     int64_t limit) override {
    limit = limit <= 0 ? 100 : std::min<int64_t>(limit, 10000);
    ASSIGN_OR_RETURN(auto r, tx_.Exec("SELECT " + std::string(kDeviceColumns) +
                                          " FROM dep_devices WHERE dep_name = $1 AND "
                                          "serial_number > $2 ORDER BY serial_number LIMIT $3",
                                      {sql::Text(dep_name), sql::Text(after_serial),
                                       sql::Int(limit)}));
    std::vector<DepDeviceRecord> out;
    for (const Row& row : r.rows) {
      ASSIGN_OR_RETURN(DepDeviceRecord d, ParseDevice(row));
      out.push_back(std::move(d));
    }
    return out;
  }

 private:
  sql::Transaction& tx_;
};

}  // namespace

std::unique_ptr<DepStore> NewSqlDepStore(sql::Transaction& tx) { return std::make_unique<SqlDepStore>(tx); }

}  // namespace custos
