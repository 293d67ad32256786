// OtaStore (see ota_store.h) in portable SQL over the driver interface (sql.h).
#include "storage/sql_parts.h"

namespace custos {
namespace {

constexpr std::string_view kColumns =
    "challenge_sha256, state, created_at, expires_at, udid, serial, product, os_version, imei, "
    "meid, device_cert_subject, phase2_at, identity_serial, phase3_at";

StatusOr<std::optional<Time>> OptTime(const sql::Row& row, size_t i) {
  if (row.IsNull(i)) return std::optional<Time>();
  ASSIGN_OR_RETURN(Time t, row.GetTime(i));
  return std::optional<Time>(t);
}

StatusOr<OtaSessionRecord> ParseSession(const sql::Row& row) {
  OtaSessionRecord s;
  ASSIGN_OR_RETURN(s.challenge_sha256, row.GetText(0));
  ASSIGN_OR_RETURN(s.state, row.GetText(1));
  ASSIGN_OR_RETURN(s.created_at, row.GetTime(2));
  ASSIGN_OR_RETURN(s.expires_at, row.GetTime(3));
  ASSIGN_OR_RETURN(s.udid, row.GetText(4));
  ASSIGN_OR_RETURN(s.serial, row.GetText(5));
  ASSIGN_OR_RETURN(s.product, row.GetText(6));
  ASSIGN_OR_RETURN(s.os_version, row.GetText(7));
  ASSIGN_OR_RETURN(s.imei, row.GetText(8));
  ASSIGN_OR_RETURN(s.meid, row.GetText(9));
  ASSIGN_OR_RETURN(s.device_cert_subject, row.GetText(10));
  ASSIGN_OR_RETURN(s.phase2_at, OptTime(row, 11));
  ASSIGN_OR_RETURN(s.identity_serial, row.GetText(12));
  ASSIGN_OR_RETURN(s.phase3_at, OptTime(row, 13));
  return s;
}

class SqlOtaStore : public OtaStore {
 public:
  explicit SqlOtaStore(sql::Transaction& tx) : tx_(tx) {}

  Status InsertSession(const OtaSessionRecord& s) override {
    if (s.challenge_sha256.empty()) return InvalidArgumentError("OTA session needs a challenge digest");
    return tx_
        .Exec("INSERT INTO ota_sessions (" + std::string(kColumns) +
                  ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
              {sql::Text(s.challenge_sha256), sql::Text(s.state), sql::UnixTime(s.created_at),
               sql::UnixTime(s.expires_at), sql::Text(s.udid), sql::Text(s.serial),
               sql::Text(s.product), sql::Text(s.os_version), sql::Text(s.imei),
               sql::Text(s.meid), sql::Text(s.device_cert_subject),
               s.phase2_at ? sql::UnixTime(*s.phase2_at) : sql::Null(),
               sql::Text(s.identity_serial),
               s.phase3_at ? sql::UnixTime(*s.phase3_at) : sql::Null()})
        .status();
  }

  StatusOr<OtaSessionRecord> GetSession(std::string_view sha256) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("SELECT " + std::string(kColumns) +
                                          " FROM ota_sessions WHERE challenge_sha256 = $1",
                                      {sql::Text(sha256)}));
    if (r.rows.empty()) return NotFoundError("no such OTA session");
    return ParseSession(r.rows[0]);
  }

  Status CompletePhase2(std::string_view sha256, const OtaSessionRecord& d, Time now,
                        Time expires_at) override {
    ASSIGN_OR_RETURN(
        auto r,
        tx_.Exec("UPDATE ota_sessions SET state = $2, udid = $3, serial = $4, product = $5, "
                 "os_version = $6, imei = $7, meid = $8, device_cert_subject = $9, "
                 "phase2_at = $10, expires_at = $11 "
                 "WHERE challenge_sha256 = $1 AND state = $12 AND expires_at > $10",
                 {sql::Text(sha256), sql::Text(kOtaStateIdentity), sql::Text(d.udid),
                  sql::Text(d.serial), sql::Text(d.product), sql::Text(d.os_version),
                  sql::Text(d.imei), sql::Text(d.meid), sql::Text(d.device_cert_subject),
                  sql::UnixTime(now), sql::UnixTime(expires_at), sql::Text(kOtaStateIssued)}));
    if (r.affected == 1) return OkStatus();
    return WhyNot(sha256, now, kOtaStateIssued);
  }

  Status CompletePhase3(std::string_view sha256, std::string_view udid,
                        std::string_view identity_serial, Time now) override {
    ASSIGN_OR_RETURN(
        auto r, tx_.Exec("UPDATE ota_sessions SET state = $2, identity_serial = $3, phase3_at = $4 "
                         "WHERE challenge_sha256 = $1 AND state = $5 AND expires_at > $4 "
                         "AND udid = $6",
                         {sql::Text(sha256), sql::Text(kOtaStateEnrolled),
                          sql::Text(identity_serial), sql::UnixTime(now),
                          sql::Text(kOtaStateIdentity), sql::Text(udid)}));
    if (r.affected == 1) return OkStatus();
    RETURN_IF_ERROR(WhyNot(sha256, now, kOtaStateIdentity));
    return FailedPreconditionError("OTA session belongs to another device");
  }

  StatusOr<int64_t> DeleteExpiredSessions(Time before) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("DELETE FROM ota_sessions WHERE expires_at < $1",
                                      {sql::UnixTime(before)}));
    return r.affected;
  }

 private:
  // Why a conditional step changed nothing; OK when the session is in `expected` and unexpired
  // (the caller's own extra condition failed).
  Status WhyNot(std::string_view sha256, Time now, std::string_view expected) {
    ASSIGN_OR_RETURN(auto found, tx_.Exec("SELECT state, expires_at FROM ota_sessions "
                                          "WHERE challenge_sha256 = $1",
                                          {sql::Text(sha256)}));
    if (found.rows.empty()) return NotFoundError("no such OTA session");
    ASSIGN_OR_RETURN(std::string state, found.rows[0].GetText(0));
    ASSIGN_OR_RETURN(Time expires_at, found.rows[0].GetTime(1));
    if (state != expected) {
      return FailedPreconditionError("OTA challenge already used (session is " + state + ")");
    }
    if (expires_at <= now) return FailedPreconditionError("OTA challenge expired");
    return OkStatus();
  }

  sql::Transaction& tx_;
};

}  // namespace

std::unique_ptr<OtaStore> NewSqlOtaStore(sql::Transaction& tx) { return std::make_unique<SqlOtaStore>(tx); }

}  // namespace custos
