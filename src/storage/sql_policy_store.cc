// PolicyStore (see policy_store.h) in portable SQL over the driver interface (sql.h).
#include "storage/sql_parts.h"

namespace custos {
namespace {

constexpr std::string_view kRefusalColumns =
    "id, serial, udid, stage, reason, detail_json, created_at";

StatusOr<EnrollmentRefusalRecord> ParseRefusal(const sql::Row& row) {
  EnrollmentRefusalRecord r;
  ASSIGN_OR_RETURN(r.id, row.GetInt(0));
  ASSIGN_OR_RETURN(r.serial, row.GetText(1));
  ASSIGN_OR_RETURN(r.udid, row.GetText(2));
  ASSIGN_OR_RETURN(r.stage, row.GetText(3));
  ASSIGN_OR_RETURN(r.reason, row.GetText(4));
  ASSIGN_OR_RETURN(r.detail_json, row.GetText(5));
  ASSIGN_OR_RETURN(r.created_at, row.GetTime(6));
  return r;
}

class SqlPolicyStore : public PolicyStore {
 public:
  explicit SqlPolicyStore(sql::Transaction& tx) : tx_(tx) {}

  StatusOr<PolicySettingRecord> GetSetting(std::string_view name) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("SELECT name, value, updated_by, updated_at "
                                      "FROM policy_settings WHERE name = $1",
                                      {sql::Text(name)}));
    if (r.rows.empty()) return NotFoundError("no policy setting " + std::string(name));
    PolicySettingRecord s;
    ASSIGN_OR_RETURN(s.name, r.rows[0].GetText(0));
    ASSIGN_OR_RETURN(s.value, r.rows[0].GetText(1));
    ASSIGN_OR_RETURN(s.updated_by, r.rows[0].GetText(2));
    ASSIGN_OR_RETURN(s.updated_at, r.rows[0].GetTime(3));
    return s;
  }

  Status PutSetting(const PolicySettingRecord& s) override {
    if (s.name.empty()) return InvalidArgumentError("a policy setting needs a name");
    return tx_
        .Exec("INSERT INTO policy_settings (name, value, updated_by, updated_at) "
              "VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE SET "
              "value = excluded.value, updated_by = excluded.updated_by, "
              "updated_at = excluded.updated_at",
              {sql::Text(s.name), sql::Text(s.value), sql::Text(s.updated_by),
               sql::UnixTime(s.updated_at)})
        .status();
  }

  StatusOr<int64_t> InsertRefusal(const EnrollmentRefusalRecord& r) override {
    ASSIGN_OR_RETURN(
        auto res,
        tx_.Exec("INSERT INTO enrollment_refusals (serial, udid, stage, reason, detail_json, "
                 "created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                 {sql::Text(r.serial), sql::Text(r.udid), sql::Text(r.stage), sql::Text(r.reason),
                  sql::Text(r.detail_json.empty() ? "{}" : r.detail_json),
                  sql::UnixTime(r.created_at)}));
    if (res.rows.empty()) return InternalError("INSERT returned no id");
    return res.rows[0].GetInt(0);
  }

  StatusOr<std::vector<EnrollmentRefusalRecord>> ListRefusals(
      const EnrollmentRefusalFilter& filter) override {
    int64_t limit = filter.limit <= 0 ? 100 : std::min<int64_t>(filter.limit, 10000);
    std::string q = "SELECT " + std::string(kRefusalColumns) +
                    " FROM enrollment_refusals WHERE id > $1";
    std::vector<sql::Value> params = {sql::Int(filter.after_id)};
    if (!filter.serial.empty()) {
      params.push_back(sql::Text(filter.serial));
      q += " AND serial = $" + std::to_string(params.size());
    }
    params.push_back(sql::Int(limit));
    q += " ORDER BY id LIMIT $" + std::to_string(params.size());
    ASSIGN_OR_RETURN(auto r, tx_.Exec(q, params));
    std::vector<EnrollmentRefusalRecord> out;
    for (const auto& row : r.rows) {
      ASSIGN_OR_RETURN(EnrollmentRefusalRecord rec, ParseRefusal(row));
      out.push_back(std::move(rec));
    }
    return out;
  }

  Status SetDeviceAttestation(const DeviceAttestationMark& m) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("UPDATE mdm_devices SET hardware_attested = $1, "
                                      "attested_cert_serial = $2 WHERE id = $3",
                                      {sql::Bool(m.hardware_attested), sql::Text(m.cert_serial),
                                       sql::Text(m.device_id)}));
    if (r.affected == 0) return NotFoundError("no MDM device " + m.device_id);
    return OkStatus();
  }

  StatusOr<DeviceAttestationMark> GetDeviceAttestation(std::string_view device_id) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("SELECT id, hardware_attested, attested_cert_serial "
                                      "FROM mdm_devices WHERE id = $1",
                                      {sql::Text(device_id)}));
    if (r.rows.empty()) return NotFoundError("no MDM device " + std::string(device_id));
    DeviceAttestationMark m;
    ASSIGN_OR_RETURN(m.device_id, r.rows[0].GetText(0));
    ASSIGN_OR_RETURN(m.hardware_attested, r.rows[0].GetBool(1));
    ASSIGN_OR_RETURN(m.cert_serial, r.rows[0].GetText(2));
    return m;
  }

 private:
  sql::Transaction& tx_;
};

}  // namespace

std::unique_ptr<PolicyStore> NewSqlPolicyStore(sql::Transaction& tx) {
  return std::make_unique<SqlPolicyStore>(tx);
}

}  // namespace custos
