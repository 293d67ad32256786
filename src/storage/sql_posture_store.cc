// PostureStore (see posture_store.h) in portable SQL over the driver interface (sql.h).
#include <algorithm>

#include "storage/sql_parts.h"

namespace custos {
namespace {

constexpr int64_t kDefaultLimit = 100;
constexpr int64_t kMaxLimit = 10000;

int64_t Limit(int64_t limit) {
  return limit <= 0 ? kDefaultLimit : std::min(limit, kMaxLimit);
}

sql::Value OptTime(const std::optional<Time>& t) {
  return t ? sql::UnixTime(*t) : sql::Null();
}

StatusOr<std::optional<Time>> GetOptTime(const sql::Row& row, size_t i) {
  if (row.IsNull(i)) return std::optional<Time>();
  ASSIGN_OR_RETURN(Time t, row.GetTime(i));
  return std::optional<Time>(t);
}

constexpr std::string_view kRequestColumns =
    "command_uuid, device_id, nonce, trigger_name, forced, status, requested_at, completed_at";

StatusOr<PostureRequestRecord> ParseRequest(const sql::Row& row) {
  PostureRequestRecord r;
  ASSIGN_OR_RETURN(r.command_uuid, row.GetText(0));
  ASSIGN_OR_RETURN(r.device_id, row.GetText(1));
  ASSIGN_OR_RETURN(r.nonce, row.GetBytes(2));
  ASSIGN_OR_RETURN(r.trigger, row.GetText(3));
  ASSIGN_OR_RETURN(r.forced, row.GetBool(4));
  ASSIGN_OR_RETURN(r.status, row.GetText(5));
  ASSIGN_OR_RETURN(r.requested_at, row.GetTime(6));
  ASSIGN_OR_RETURN(r.completed_at, GetOptTime(row, 7));
  return r;
}

StatusOr<std::vector<PostureRequestRecord>> ParseRequests(const sql::Result& result) {
  std::vector<PostureRequestRecord> out;
  for (const sql::Row& row : result.rows) {
    ASSIGN_OR_RETURN(PostureRequestRecord r, ParseRequest(row));
    out.push_back(std::move(r));
  }
  return out;
}

constexpr std::string_view kResultColumns =
    "id, device_id, command_uuid, received_at, verdict, reason, findings_json, properties_json, "
    "freshness_hex, attested_at, reported_os_version";

StatusOr<PostureResultRecord> ParseResult(const sql::Row& row) {
  PostureResultRecord r;
  ASSIGN_OR_RETURN(r.id, row.GetInt(0));
  ASSIGN_OR_RETURN(r.device_id, row.GetText(1));
  ASSIGN_OR_RETURN(r.command_uuid, row.GetText(2));
  ASSIGN_OR_RETURN(r.received_at, row.GetTime(3));
  ASSIGN_OR_RETURN(r.verdict, row.GetText(4));
  ASSIGN_OR_RETURN(r.reason, row.GetText(5));
  ASSIGN_OR_RETURN(r.findings_json, row.GetText(6));
  ASSIGN_OR_RETURN(r.properties_json, row.GetText(7));
  ASSIGN_OR_RETURN(r.freshness_hex, row.GetText(8));
  ASSIGN_OR_RETURN(r.attested_at, GetOptTime(row, 9));
  ASSIGN_OR_RETURN(r.reported_os_version, row.GetText(10));
  return r;
}

constexpr std::string_view kDeviceColumns =
    "device_id, os_version, os_version_at, next_due_at, due_reason, updated_at";

StatusOr<PostureDeviceRecord> ParseDevice(const sql::Row& row) {
  PostureDeviceRecord d;
  ASSIGN_OR_RETURN(d.device_id, row.GetText(0));
  ASSIGN_OR_RETURN(d.os_version, row.GetText(1));
  ASSIGN_OR_RETURN(d.os_version_at, GetOptTime(row, 2));
  ASSIGN_OR_RETURN(d.next_due_at, GetOptTime(row, 3));
  ASSIGN_OR_RETURN(d.due_reason, row.GetText(4));
  ASSIGN_OR_RETURN(d.updated_at, row.GetTime(5));
  return d;
}

class SqlPostureStore : public PostureStore {
 public:
  explicit SqlPostureStore(sql::Transaction& tx) : tx_(tx) {}

  Status InsertRequest(const PostureRequestRecord& r) override {
    if (r.command_uuid.empty() || r.device_id.empty()) {
      return InvalidArgumentError("a posture request needs a command UUID and a device id");
    }
    ASSIGN_OR_RETURN(
        auto res,
        tx_.Exec("INSERT INTO posture_requests (" + std::string(kRequestColumns) +
                     ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING "
                     "RETURNING seq",
                 {sql::Text(r.command_uuid), sql::Text(r.device_id), sql::Bytes(r.nonce),
                  sql::Text(r.trigger), sql::Bool(r.forced), sql::Text(r.status),
                  sql::UnixTime(r.requested_at), OptTime(r.completed_at)}));
    if (res.rows.empty()) {
      return AlreadyExistsError("posture request " + r.command_uuid + " already exists");
    }
    return OkStatus();
  }

  StatusOr<PostureRequestRecord> GetRequest(std::string_view command_uuid) override {
    ASSIGN_OR_RETURN(auto res, tx_.Exec("SELECT " + std::string(kRequestColumns) +
                                            " FROM posture_requests WHERE command_uuid = $1",
                                        {sql::Text(command_uuid)}));
    if (res.rows.empty()) {
      return NotFoundError("no posture request " + std::string(command_uuid));
    }
    return ParseRequest(res.rows[0]);
  }

  StatusOr<std::optional<PostureRequestRecord>> FindRequestByNonce(
      std::string_view device_id, std::string_view nonce) override {
    ASSIGN_OR_RETURN(auto res, tx_.Exec("SELECT " + std::string(kRequestColumns) +
                                            " FROM posture_requests WHERE device_id = $1 "
                                            "AND nonce = $2 ORDER BY requested_at DESC, seq DESC "
                                            "LIMIT 1",
                                        {sql::Text(device_id), sql::Bytes(nonce)}));
    if (res.rows.empty()) return std::optional<PostureRequestRecord>();
    ASSIGN_OR_RETURN(PostureRequestRecord r, ParseRequest(res.rows[0]));
    return std::optional<PostureRequestRecord>(std::move(r));
  }

  StatusOr<std::vector<PostureRequestRecord>> ListRequests(std::string_view device_id,
                                                           int64_t limit) override {
    ASSIGN_OR_RETURN(auto res, tx_.Exec("SELECT " + std::string(kRequestColumns) +
                                            " FROM posture_requests WHERE device_id = $1 "
                                            "ORDER BY requested_at DESC, seq DESC LIMIT $2",
                                        {sql::Text(device_id), sql::Int(Limit(limit))}));
    return ParseRequests(res);
  }

  StatusOr<std::vector<PostureRequestRecord>> ListPendingRequests(Time before,
                                                                  int64_t limit) override {
    ASSIGN_OR_RETURN(auto res, tx_.Exec("SELECT " + std::string(kRequestColumns) +
                                            " FROM posture_requests WHERE status = $1 AND "
                                            "requested_at <= $2 ORDER BY requested_at, seq "
                                            "LIMIT $3",
                                        {sql::Text(kPosturePending), sql::UnixTime(before),
                                         sql::Int(Limit(limit))}));
    return ParseRequests(res);
  }

  StatusOr<bool> FinishRequest(std::string_view command_uuid, std::string_view status,
                               Time now) override {
    ASSIGN_OR_RETURN(auto res, tx_.Exec("UPDATE posture_requests SET status = $2, "
                                        "completed_at = $3 WHERE command_uuid = $1 AND "
                                        "status = $4",
                                        {sql::Text(command_uuid), sql::Text(status),
                                         sql::UnixTime(now), sql::Text(kPosturePending)}));
    if (res.affected > 0) return true;
    ASSIGN_OR_RETURN(auto found, tx_.Exec("SELECT seq FROM posture_requests "
                                          "WHERE command_uuid = $1",
                                          {sql::Text(command_uuid)}));
    if (found.rows.empty()) {
      return NotFoundError("no posture request " + std::string(command_uuid));
    }
    return false;
  }

  StatusOr<int64_t> InsertResult(const PostureResultRecord& r) override {
    ASSIGN_OR_RETURN(
        auto res,
        tx_.Exec("INSERT INTO posture_results (device_id, command_uuid, received_at, verdict, "
                 "reason, findings_json, properties_json, freshness_hex, attested_at, "
                 "reported_os_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
                 "RETURNING id",
                 {sql::Text(r.device_id), sql::Text(r.command_uuid), sql::UnixTime(r.received_at),
                  sql::Text(r.verdict), sql::Text(r.reason), sql::Text(r.findings_json),
                  sql::Text(r.properties_json), sql::Text(r.freshness_hex),
                  OptTime(r.attested_at), sql::Text(r.reported_os_version)}));
    if (res.rows.empty()) return InternalError("INSERT returned no id");
    return res.rows[0].GetInt(0);
  }

  StatusOr<std::vector<PostureResultRecord>> ListResults(std::string_view device_id,
                                                         int64_t limit) override {
    return Results(device_id, "", Limit(limit));
  }

  StatusOr<std::optional<PostureResultRecord>> LatestResult(std::string_view device_id,
                                                            std::string_view verdict) override {
    ASSIGN_OR_RETURN(auto list, Results(device_id, verdict, 1));
    if (list.empty()) return std::optional<PostureResultRecord>();
    return std::optional<PostureResultRecord>(std::move(list[0]));
  }

  Status PutDevice(const PostureDeviceRecord& d) override {
    if (d.device_id.empty()) return InvalidArgumentError("a posture device needs a device id");
    return tx_
        .Exec("INSERT INTO posture_devices (" + std::string(kDeviceColumns) +
                  ") VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (device_id) DO UPDATE SET "
                  "os_version = excluded.os_version, os_version_at = excluded.os_version_at, "
                  "next_due_at = excluded.next_due_at, due_reason = excluded.due_reason, "
                  "updated_at = excluded.updated_at",
              {sql::Text(d.device_id), sql::Text(d.os_version), OptTime(d.os_version_at),
               OptTime(d.next_due_at), sql::Text(d.due_reason), sql::UnixTime(d.updated_at)})
        .status();
  }

  StatusOr<PostureDeviceRecord> GetDevice(std::string_view device_id) override {
    ASSIGN_OR_RETURN(auto res, tx_.Exec("SELECT " + std::string(kDeviceColumns) +
                                            " FROM posture_devices WHERE device_id = $1",
                                        {sql::Text(device_id)}));
    if (res.rows.empty()) {
      return NotFoundError("no posture state for device " + std::string(device_id));
    }
    return ParseDevice(res.rows[0]);
  }

  StatusOr<std::vector<PostureDeviceRecord>> ListDueDevices(Time now, int64_t limit) override {
    ASSIGN_OR_RETURN(auto res, tx_.Exec("SELECT " + std::string(kDeviceColumns) +
                                            " FROM posture_devices WHERE next_due_at IS NOT NULL "
                                            "AND next_due_at <= $1 ORDER BY next_due_at, "
                                            "device_id LIMIT $2",
                                        {sql::UnixTime(now), sql::Int(Limit(limit))}));
    std::vector<PostureDeviceRecord> out;
    for (const sql::Row& row : res.rows) {
      ASSIGN_OR_RETURN(PostureDeviceRecord d, ParseDevice(row));
      out.push_back(std::move(d));
    }
    return out;
  }

 private:
  StatusOr<std::vector<PostureResultRecord>> Results(std::string_view device_id,
                                                     std::string_view verdict, int64_t limit) {
    ASSIGN_OR_RETURN(auto res, tx_.Exec("SELECT " + std::string(kResultColumns) +
                                            " FROM posture_results WHERE device_id = $1 AND "
                                            "($2 = '' OR verdict = $2) ORDER BY id DESC LIMIT $3",
                                        {sql::Text(device_id), sql::Text(verdict),
                                         sql::Int(limit)}));
    std::vector<PostureResultRecord> out;
    for (const sql::Row& row : res.rows) {
      ASSIGN_OR_RETURN(PostureResultRecord r, ParseResult(row));
      out.push_back(std::move(r));
    }
    return out;
  }

  sql::Transaction& tx_;
};

}  // namespace

std::unique_ptr<PostureStore> NewSqlPostureStore(sql::Transaction& tx) {
  return std::make_unique<SqlPostureStore>(tx);
}

}  // namespace custos
