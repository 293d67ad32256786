// MdmStore (see mdm_store.h) in portable SQL over the driver interface (sql.h).
//
// Statements over many enrollment ids bind them set-based, never one round trip per id:
// Enqueue and GetPushInfo pass up to kJsonBatch ids as ONE parameter, a JSON array expanded by
// the database (SQLite json_each, PostgreSQL json_array_elements_text), so 100,000 ids are ten
// statements; ListEnrollments by ids uses IN lists of kIdBatch placeholders.
#include <algorithm>

#include "storage/sql_parts.h"

namespace custos {
namespace {

using sql::Row;
using sql::Value;

constexpr size_t kIdBatch = 1000;
constexpr size_t kJsonBatch = 10000;

// A JSON array of ids[begin, begin+n) (strings escaped per RFC 8259).
std::string JsonArray(const std::vector<std::string>& ids, size_t begin, size_t n) {
  std::string out = "[";
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (unsigned char c : ids[begin + i]) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c < 0x20) {
        static const char kHex[] = "0123456789abcdef";
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 15];
      } else {
        out += static_cast<char>(c);
      }
    }
    out += '"';
  }
  out += ']';
  return out;
}

// "(SELECT <the elements of JSON array parameter $n as text>)", for `x IN ...`.
std::string JsonIdSet(sql::Dialect dialect, int n) {
  const std::string p = "$" + std::to_string(n);
  return dialect == sql::Dialect::kPostgres
             ? "(SELECT json_array_elements_text(CAST(" + p + " AS JSON)))"
             : "(SELECT value FROM json_each(" + p + "))";
}

// "$first, $first+1, ..., $first+n-1"
std::string Placeholders(size_t first, size_t n) {
  std::string out;
  out.reserve(n * 7);
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) out += ", ";
    out += "$" + std::to_string(first + i);
  }
  return out;
}

Value OptTime(const std::optional<Time>& t) { return t ? sql::UnixTime(*t) : sql::Null(); }

StatusOr<std::optional<Time>> GetOptTime(const Row& row, size_t i) {
  if (row.IsNull(i)) return std::optional<Time>();
  ASSIGN_OR_RETURN(Time t, row.GetTime(i));
  return std::optional<Time>(t);
}

StatusOr<std::string> GetOptText(const Row& row, size_t i) {
  if (row.IsNull(i)) return std::string();
  return row.GetText(i);
}

StatusOr<std::string> GetOptBytes(const Row& row, size_t i) {
  if (row.IsNull(i)) return std::string();
  return row.GetBytes(i);
}

int64_t ClampLimit(int64_t limit) {
  if (limit <= 0) return 100;
  return std::min<int64_t>(limit, 10000);
}

constexpr std::string_view kDeviceColumns =
    "id, serial_number, model, model_name, product_name, device_name, os_version, build_version, "
    "imei, meid, authenticate_raw, created_at, updated_at";

StatusOr<MdmDeviceRecord> ParseDevice(const Row& row) {
  MdmDeviceRecord d;
  ASSIGN_OR_RETURN(d.id, row.GetText(0));
  ASSIGN_OR_RETURN(d.serial_number, row.GetText(1));
  ASSIGN_OR_RETURN(d.model, row.GetText(2));
  ASSIGN_OR_RETURN(d.model_name, row.GetText(3));
  ASSIGN_OR_RETURN(d.product_name, row.GetText(4));
  ASSIGN_OR_RETURN(d.device_name, row.GetText(5));
  ASSIGN_OR_RETURN(d.os_version, row.GetText(6));
  ASSIGN_OR_RETURN(d.build_version, row.GetText(7));
  ASSIGN_OR_RETURN(d.imei, row.GetText(8));
  ASSIGN_OR_RETURN(d.meid, row.GetText(9));
  ASSIGN_OR_RETURN(d.authenticate_raw, row.GetBytes(10));
  ASSIGN_OR_RETURN(d.created_at, row.GetTime(11));
  ASSIGN_OR_RETURN(d.updated_at, row.GetTime(12));
  return d;
}

// Enrollment columns, with the device's serial joined (alias e for enrollments, d for devices).
constexpr std::string_view kEnrollmentColumns =
    "e.id, e.type, e.parent_id, e.device_id, e.user_id, e.user_short_name, e.user_long_name, "
    "e.enrollment_user_id, e.topic, e.push_token_hex, e.push_magic, e.unlock_token, e.enabled, "
    "e.token_unregistered, e.token_update_tally, e.last_seen, e.created_at, e.updated_at, "
    "d.serial_number, COALESCE(d.hardware_attested, 0)";  // hardware_attested: migration 7 (policy)
constexpr std::string_view kEnrollmentFrom =
    " FROM mdm_enrollments e LEFT JOIN mdm_devices d ON d.id = e.device_id";

StatusOr<MdmEnrollmentRecord> ParseEnrollment(const Row& row) {
  MdmEnrollmentRecord e;
  ASSIGN_OR_RETURN(e.id, row.GetText(0));
  ASSIGN_OR_RETURN(e.type, row.GetText(1));
  ASSIGN_OR_RETURN(e.parent_id, row.GetText(2));
  ASSIGN_OR_RETURN(e.device_id, row.GetText(3));
  ASSIGN_OR_RETURN(e.user_id, row.GetText(4));
  ASSIGN_OR_RETURN(e.user_short_name, row.GetText(5));
  ASSIGN_OR_RETURN(e.user_long_name, row.GetText(6));
  ASSIGN_OR_RETURN(e.enrollment_user_id, row.GetText(7));
  ASSIGN_OR_RETURN(e.topic, row.GetText(8));
  ASSIGN_OR_RETURN(e.push_token_hex, row.GetText(9));
  ASSIGN_OR_RETURN(e.push_magic, row.GetText(10));
  ASSIGN_OR_RETURN(e.unlock_token, row.GetBytes(11));
  ASSIGN_OR_RETURN(e.enabled, row.GetBool(12));
  ASSIGN_OR_RETURN(e.token_unregistered, row.GetBool(13));
  ASSIGN_OR_RETURN(e.token_update_tally, row.GetInt(14));
  ASSIGN_OR_RETURN(e.last_seen, GetOptTime(row, 15));
  ASSIGN_OR_RETURN(e.created_at, row.GetTime(16));
  ASSIGN_OR_RETURN(e.updated_at, row.GetTime(17));
  ASSIGN_OR_RETURN(e.serial_number, GetOptText(row, 18));
  ASSIGN_OR_RETURN(e.hardware_attested, row.GetBool(19));
  return e;
}

StatusOr<MdmCertAssociation> ParseAssociation(const Row& row) {
  MdmCertAssociation a;
  ASSIGN_OR_RETURN(a.cert_sha256, row.GetText(0));
  ASSIGN_OR_RETURN(a.serial_hex, row.GetText(1));
  ASSIGN_OR_RETURN(a.device_id, row.GetText(2));
  ASSIGN_OR_RETURN(a.created_at, row.GetTime(3));
  return a;
}

constexpr std::string_view kQueueColumns =
    "q.seq, q.enrollment_id, q.command_uuid, c.request_type, q.priority, q.status, q.active, "
    "q.result, q.error_chain_json, q.expires_at, q.queued_at, q.sent_at, q.result_at";
constexpr std::string_view kQueueFrom =
    " FROM mdm_queue q JOIN mdm_commands c ON c.command_uuid = q.command_uuid";

StatusOr<MdmQueueEntry> ParseQueueEntry(const Row& row) {
  MdmQueueEntry q;
  ASSIGN_OR_RETURN(q.seq, row.GetInt(0));
  ASSIGN_OR_RETURN(q.enrollment_id, row.GetText(1));
  ASSIGN_OR_RETURN(q.command_uuid, row.GetText(2));
  ASSIGN_OR_RETURN(q.request_type, row.GetText(3));
  ASSIGN_OR_RETURN(q.priority, row.GetInt(4));
  ASSIGN_OR_RETURN(q.status, row.GetText(5));
  ASSIGN_OR_RETURN(q.active, row.GetBool(6));
  ASSIGN_OR_RETURN(q.result, GetOptBytes(row, 7));
  ASSIGN_OR_RETURN(q.error_chain_json, GetOptText(row, 8));
  ASSIGN_OR_RETURN(q.expires_at, GetOptTime(row, 9));
  ASSIGN_OR_RETURN(q.queued_at, row.GetTime(10));
  ASSIGN_OR_RETURN(q.sent_at, GetOptTime(row, 11));
  ASSIGN_OR_RETURN(q.result_at, GetOptTime(row, 12));
  return q;
}

class SqlMdmStore : public MdmStore {
 public:
  explicit SqlMdmStore(sql::Transaction& tx) : tx_(tx) {}

  // ---- Devices and enrollments -----------------------------------------------------------------

  Status UpsertDevice(const MdmDeviceRecord& d) override {
    return tx_
        .Exec("INSERT INTO mdm_devices (id, serial_number, model, model_name, product_name, "
              "device_name, os_version, build_version, imei, meid, authenticate_raw, created_at, "
              "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "
              "ON CONFLICT (id) DO UPDATE SET serial_number = excluded.serial_number, "
              "model = excluded.model, model_name = excluded.model_name, "
              "product_name = excluded.product_name, device_name = excluded.device_name, "
              "os_version = excluded.os_version, build_version = excluded.build_version, "
              "imei = excluded.imei, meid = excluded.meid, "
              "authenticate_raw = excluded.authenticate_raw, updated_at = excluded.updated_at",
              {sql::Text(d.id), sql::Text(d.serial_number), sql::Text(d.model),
               sql::Text(d.model_name), sql::Text(d.product_name), sql::Text(d.device_name),
               sql::Text(d.os_version), sql::Text(d.build_version), sql::Text(d.imei),
               sql::Text(d.meid), sql::Bytes(d.authenticate_raw), sql::UnixTime(d.created_at),
               sql::UnixTime(d.updated_at)})
        .status();
  }

  StatusOr<MdmDeviceRecord> GetDevice(std::string_view id) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("SELECT " + std::string(kDeviceColumns) +
                                          " FROM mdm_devices WHERE id = $1",
                                      {sql::Text(id)}));
    if (r.rows.empty()) return NotFoundError("no MDM device " + std::string(id));
    return ParseDevice(r.rows[0]);
  }

  Status UpsertEnrollment(const MdmEnrollmentRecord& e) override {
    return tx_
        .Exec("INSERT INTO mdm_enrollments (id, type, parent_id, device_id, user_id, "
              "user_short_name, user_long_name, enrollment_user_id, topic, push_token_hex, "
              "push_magic, unlock_token, enabled, token_unregistered, token_update_tally, "
              "last_seen, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
              "$10, $11, $12, $13, $14, $15, $16, $17, $18) "
              "ON CONFLICT (id) DO UPDATE SET type = excluded.type, "
              "parent_id = excluded.parent_id, device_id = excluded.device_id, "
              "user_id = excluded.user_id, user_short_name = excluded.user_short_name, "
              "user_long_name = excluded.user_long_name, "
              "enrollment_user_id = excluded.enrollment_user_id, topic = excluded.topic, "
              "push_token_hex = excluded.push_token_hex, push_magic = excluded.push_magic, "
              "unlock_token = excluded.unlock_token, enabled = excluded.enabled, "
              "token_unregistered = excluded.token_unregistered, "
              "token_update_tally = excluded.token_update_tally, last_seen = excluded.last_seen, "
              "updated_at = excluded.updated_at",
              {sql::Text(e.id), sql::Text(e.type), sql::Text(e.parent_id), sql::Text(e.device_id),
               sql::Text(e.user_id), sql::Text(e.user_short_name), sql::Text(e.user_long_name),
               sql::Text(e.enrollment_user_id), sql::Text(e.topic), sql::Text(e.push_token_hex),
               sql::Text(e.push_magic), sql::Bytes(e.unlock_token), sql::Bool(e.enabled),
               sql::Bool(e.token_unregistered), sql::Int(e.token_update_tally),
               OptTime(e.last_seen), sql::UnixTime(e.created_at), sql::UnixTime(e.updated_at)})
        .status();
  }

  StatusOr<MdmEnrollmentRecord> GetEnrollment(std::string_view id) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("SELECT " + std::string(kEnrollmentColumns) +
                                          std::string(kEnrollmentFrom) + " WHERE e.id = $1",
                                      {sql::Text(id)}));
    if (r.rows.empty()) return NotFoundError("no MDM enrollment " + std::string(id));
    return ParseEnrollment(r.rows[0]);
  }

  StatusOr<std::vector<MdmEnrollmentRecord>> ListEnrollments(
      const MdmEnrollmentFilter& filter) override {
    const int64_t limit = ClampLimit(filter.limit);
    // Byte order on both drivers (PostgreSQL would otherwise use the database's locale).
    const std::string collate = tx_.dialect() == sql::Dialect::kPostgres ? " COLLATE \"C\"" : "";
    std::vector<MdmEnrollmentRecord> out;
    // With ids: one statement per batch of ids, the other filters applied to each; merged and
    // cut to the limit in id order.
    const size_t batches =
        filter.ids.empty() ? 1 : (filter.ids.size() + kIdBatch - 1) / kIdBatch;
    for (size_t b = 0; b < batches; ++b) {
      std::string sql = "SELECT " + std::string(kEnrollmentColumns) + std::string(kEnrollmentFrom) +
                        " WHERE e.id" + collate + " > $1";
      std::vector<Value> params = {sql::Text(filter.after_id)};
      auto add = [&](std::string_view clause, Value v) {
        params.push_back(std::move(v));
        sql += " AND " + std::string(clause) + " $" + std::to_string(params.size());
      };
      if (!filter.type.empty()) add("e.type =", sql::Text(filter.type));
      if (!filter.serial_number.empty()) add("d.serial_number =", sql::Text(filter.serial_number));
      if (!filter.device_id.empty()) add("e.device_id =", sql::Text(filter.device_id));
      if (filter.enabled) add("e.enabled =", sql::Bool(*filter.enabled));
      if (!filter.ids.empty()) {
        const size_t begin = b * kIdBatch;
        const size_t n = std::min(kIdBatch, filter.ids.size() - begin);
        sql += " AND e.id IN (" + Placeholders(params.size() + 1, n) + ")";
        for (size_t i = 0; i < n; ++i) params.push_back(sql::Text(filter.ids[begin + i]));
      }
      sql += " ORDER BY e.id" + collate + " LIMIT " + std::to_string(limit);
      ASSIGN_OR_RETURN(auto r, tx_.Exec(sql, params));
      for (const Row& row : r.rows) {
        ASSIGN_OR_RETURN(auto e, ParseEnrollment(row));
        out.push_back(std::move(e));
      }
    }
    if (batches > 1) {
      // Text order as the database compares (both drivers use byte order here: ids are ASCII).
      std::sort(out.begin(), out.end(),
                [](const auto& a, const auto& b) { return a.id < b.id; });
      if (out.size() > static_cast<size_t>(limit)) out.resize(limit);
    }
    return out;
  }

  StatusOr<int64_t> DisableEnrollment(std::string_view id, bool with_user_channels,
                                      Time now) override {
    std::string sql =
        "UPDATE mdm_enrollments SET enabled = 0, updated_at = $2 WHERE enabled = 1 AND (id = $1";
    sql += with_user_channels ? " OR parent_id = $1)" : ")";
    ASSIGN_OR_RETURN(auto r, tx_.Exec(sql, {sql::Text(id), sql::UnixTime(now)}));
    return r.affected;
  }

  Status TouchEnrollment(std::string_view id, Time now) override {
    return tx_
        .Exec("UPDATE mdm_enrollments SET last_seen = $2 WHERE id = $1",
              {sql::Text(id), sql::UnixTime(now)})
        .status();
  }

  // ---- Push ------------------------------------------------------------------------------------

  StatusOr<std::vector<MdmPushInfo>> GetPushInfo(const std::vector<std::string>& ids) override {
    std::vector<MdmPushInfo> out;
    out.reserve(ids.size());
    for (size_t begin = 0; begin < ids.size(); begin += kJsonBatch) {
      const size_t n = std::min(kJsonBatch, ids.size() - begin);
      ASSIGN_OR_RETURN(
          auto r, tx_.Exec("SELECT id, topic, push_token_hex, push_magic, enabled, "
                           "token_unregistered FROM mdm_enrollments WHERE id IN " +
                               JsonIdSet(tx_.dialect(), 1),
                           {sql::Text(JsonArray(ids, begin, n))}));
      for (const Row& row : r.rows) {
        MdmPushInfo p;
        ASSIGN_OR_RETURN(p.enrollment_id, row.GetText(0));
        ASSIGN_OR_RETURN(p.topic, row.GetText(1));
        ASSIGN_OR_RETURN(p.push_token_hex, row.GetText(2));
        ASSIGN_OR_RETURN(p.push_magic, row.GetText(3));
        ASSIGN_OR_RETURN(p.enabled, row.GetBool(4));
        ASSIGN_OR_RETURN(p.token_unregistered, row.GetBool(5));
        out.push_back(std::move(p));
      }
    }
    return out;
  }

  StatusOr<bool> MarkTokenUnregistered(std::string_view enrollment_id,
                                       std::string_view push_token_hex, Time now) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("UPDATE mdm_enrollments SET token_unregistered = 1, "
                                      "updated_at = $3 WHERE id = $1 AND push_token_hex = $2 "
                                      "AND token_unregistered = 0",
                                      {sql::Text(enrollment_id), sql::Text(push_token_hex),
                                       sql::UnixTime(now)}));
    return r.affected > 0;
  }

  // ---- Certificate associations ----------------------------------------------------------------

  Status AssociateCert(const MdmCertAssociation& a) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("INSERT INTO mdm_cert_associations (cert_sha256, "
                                      "serial_hex, device_id, created_at) VALUES ($1, $2, $3, $4) "
                                      "ON CONFLICT (cert_sha256) DO NOTHING",
                                      {sql::Text(a.cert_sha256), sql::Text(a.serial_hex),
                                       sql::Text(a.device_id), sql::UnixTime(a.created_at)}));
    if (r.affected > 0) return OkStatus();
    ASSIGN_OR_RETURN(auto existing, GetCertAssociation(a.cert_sha256));
    if (existing.device_id == a.device_id) return OkStatus();
    return AlreadyExistsError("certificate " + a.cert_sha256 +
                              " is associated with another device (" + existing.device_id + ")");
  }

  StatusOr<MdmCertAssociation> GetCertAssociation(std::string_view cert_sha256) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("SELECT cert_sha256, serial_hex, device_id, created_at "
                                      "FROM mdm_cert_associations WHERE cert_sha256 = $1",
                                      {sql::Text(cert_sha256)}));
    if (r.rows.empty()) return NotFoundError("certificate not associated");
    return ParseAssociation(r.rows[0]);
  }

  StatusOr<MdmCertAssociation> GetCertAssociationBySerial(std::string_view serial_hex) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("SELECT cert_sha256, serial_hex, device_id, created_at "
                                      "FROM mdm_cert_associations WHERE serial_hex = $1 "
                                      "ORDER BY created_at LIMIT 1",
                                      {sql::Text(serial_hex)}));
    if (r.rows.empty()) return NotFoundError("no associated certificate with serial " +
                                             std::string(serial_hex));
    return ParseAssociation(r.rows[0]);
  }

  StatusOr<std::vector<MdmCertAssociation>> ListCertAssociations(
      std::string_view device_id) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("SELECT cert_sha256, serial_hex, device_id, created_at "
                                      "FROM mdm_cert_associations WHERE device_id = $1 "
                                      "ORDER BY created_at, cert_sha256",
                                      {sql::Text(device_id)}));
    std::vector<MdmCertAssociation> out;
    for (const Row& row : r.rows) {
      ASSIGN_OR_RETURN(auto a, ParseAssociation(row));
      out.push_back(std::move(a));
    }
    return out;
  }

  // ---- Bootstrap tokens ------------------------------------------------------------------------

  Status PutBootstrapToken(std::string_view device_id, std::string_view ciphertext,
                           Time now) override {
    if (ciphertext.empty()) {
      return tx_.Exec("DELETE FROM mdm_bootstrap_tokens WHERE device_id = $1",
                      {sql::Text(device_id)})
          .status();
    }
    return tx_
        .Exec("INSERT INTO mdm_bootstrap_tokens (device_id, ciphertext, updated_at) "
              "VALUES ($1, $2, $3) ON CONFLICT (device_id) DO UPDATE SET "
              "ciphertext = excluded.ciphertext, updated_at = excluded.updated_at",
              {sql::Text(device_id), sql::Bytes(ciphertext), sql::UnixTime(now)})
        .status();
  }

  StatusOr<std::string> GetBootstrapToken(std::string_view device_id) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("SELECT ciphertext FROM mdm_bootstrap_tokens "
                                      "WHERE device_id = $1",
                                      {sql::Text(device_id)}));
    if (r.rows.empty()) return NotFoundError("no bootstrap token");
    return r.rows[0].GetBytes(0);
  }

  // ---- Commands and queues ---------------------------------------------------------------------

  Status InsertCommand(const MdmCommandRecord& c) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("INSERT INTO mdm_commands (command_uuid, request_type, "
                                      "payload, priority, expires_at, created_at) VALUES ($1, $2, "
                                      "$3, $4, $5, $6) ON CONFLICT (command_uuid) DO NOTHING",
                                      {sql::Text(c.command_uuid), sql::Text(c.request_type),
                                       sql::Bytes(c.payload), sql::Int(c.priority),
                                       OptTime(c.expires_at), sql::UnixTime(c.created_at)}));
    if (r.affected == 0) {
      return AlreadyExistsError("CommandUUID " + c.command_uuid + " is already used");
    }
    return OkStatus();
  }

  StatusOr<MdmCommandRecord> GetCommand(std::string_view command_uuid) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("SELECT command_uuid, request_type, payload, priority, "
                                      "expires_at, created_at FROM mdm_commands "
                                      "WHERE command_uuid = $1",
                                      {sql::Text(command_uuid)}));
    if (r.rows.empty()) return NotFoundError("no command " + std::string(command_uuid));
    const Row& row = r.rows[0];
    MdmCommandRecord c;
    ASSIGN_OR_RETURN(c.command_uuid, row.GetText(0));
    ASSIGN_OR_RETURN(c.request_type, row.GetText(1));
    ASSIGN_OR_RETURN(c.payload, row.GetBytes(2));
    ASSIGN_OR_RETURN(c.priority, row.GetInt(3));
    ASSIGN_OR_RETURN(c.expires_at, GetOptTime(row, 4));
    ASSIGN_OR_RETURN(c.created_at, row.GetTime(5));
    return c;
  }

  StatusOr<std::vector<std::string>> Enqueue(std::string_view command_uuid,
                                             const std::vector<std::string>& enrollment_ids,
                                             Time now) override {
    std::vector<std::string> queued;
    queued.reserve(enrollment_ids.size());
    for (size_t begin = 0; begin < enrollment_ids.size(); begin += kJsonBatch) {
      const size_t n = std::min(kJsonBatch, enrollment_ids.size() - begin);
      // IN (a semi-join) yields each enrollment once however often the array names it; NOT
      // EXISTS skips enrollments already holding the command. (Cheaper than ON CONFLICT DO
      // NOTHING, whose speculative insertion costs PostgreSQL about twice per row.)
      ASSIGN_OR_RETURN(
          auto r,
          tx_.Exec("INSERT INTO mdm_queue (enrollment_id, command_uuid, priority, expires_at, "
                   "status, active, queued_at) SELECT e.id, c.command_uuid, c.priority, "
                   "c.expires_at, 'queued', 1, CAST($2 AS BIGINT) FROM mdm_enrollments e, "
                   "mdm_commands c WHERE c.command_uuid = $1 AND e.id IN " +
                       JsonIdSet(tx_.dialect(), 3) +
                       " AND NOT EXISTS (SELECT 1 FROM mdm_queue q WHERE q.enrollment_id = e.id "
                       "AND q.command_uuid = $1) RETURNING enrollment_id",
                   {sql::Text(command_uuid), sql::UnixTime(now),
                    sql::Text(JsonArray(enrollment_ids, begin, n))}));
      for (const Row& row : r.rows) {
        ASSIGN_OR_RETURN(auto id, row.GetText(0));
        queued.push_back(std::move(id));
      }
    }
    return queued;
  }

  StatusOr<std::optional<MdmNextCommand>> NextCommand(std::string_view enrollment_id, Time now,
                                                      bool skip_not_now) override {
    std::string sql =
        "SELECT q.command_uuid, c.request_type, c.payload, q.status FROM mdm_queue q "
        "JOIN mdm_commands c ON c.command_uuid = q.command_uuid "
        "WHERE q.enrollment_id = $1 AND q.active = 1 "
        "AND (q.expires_at IS NULL OR q.expires_at > $2)";
    if (skip_not_now) sql += " AND q.status <> 'NotNow'";
    sql += " ORDER BY q.priority DESC, q.seq LIMIT 1";
    ASSIGN_OR_RETURN(auto r, tx_.Exec(sql, {sql::Text(enrollment_id), sql::UnixTime(now)}));
    if (r.rows.empty()) return std::optional<MdmNextCommand>();
    const Row& row = r.rows[0];
    MdmNextCommand next;
    ASSIGN_OR_RETURN(next.command_uuid, row.GetText(0));
    ASSIGN_OR_RETURN(next.request_type, row.GetText(1));
    ASSIGN_OR_RETURN(next.payload, row.GetBytes(2));
    ASSIGN_OR_RETURN(next.status, row.GetText(3));
    return std::optional<MdmNextCommand>(std::move(next));
  }

  StatusOr<MdmIdleState> GetIdleState(std::string_view cert_sha256, std::string_view enrollment_id,
                                      Time now) override {
    // Three primary-key / partial-index probes in one statement: one round trip on PostgreSQL.
    ASSIGN_OR_RETURN(
        auto r, tx_.Exec("SELECT (SELECT device_id FROM mdm_cert_associations WHERE cert_sha256 = $1), "
                         "(SELECT last_seen FROM mdm_enrollments WHERE id = $2), "
                         "EXISTS (SELECT 1 FROM mdm_enrollments WHERE id = $2), "
                         "EXISTS (SELECT 1 FROM mdm_queue WHERE enrollment_id = $2 AND active = 1 "
                         "AND (expires_at IS NULL OR expires_at > $3))",
                         {sql::Text(cert_sha256), sql::Text(enrollment_id), sql::UnixTime(now)}));
    if (r.rows.size() != 1) return InternalError("idle state: expected one row");
    const Row& row = r.rows[0];
    MdmIdleState state;
    if (!row.IsNull(0)) {
      ASSIGN_OR_RETURN(std::string device_id, row.GetText(0));
      state.cert_device_id = std::move(device_id);
    }
    ASSIGN_OR_RETURN(state.last_seen, GetOptTime(row, 1));
    ASSIGN_OR_RETURN(state.enrollment_found, row.GetBool(2));
    ASSIGN_OR_RETURN(state.command_pending, row.GetBool(3));
    return state;
  }

  Status MarkSent(std::string_view enrollment_id, std::string_view command_uuid,
                  Time now) override {
    // A NotNow'd command offered again keeps its NotNow status until the device answers: that
    // it was deferred is still true, and "sent" would lose it.
    ASSIGN_OR_RETURN(auto r,
                     tx_.Exec("UPDATE mdm_queue SET status = CASE WHEN status = 'NotNow' THEN "
                              "status ELSE 'sent' END, sent_at = $3 WHERE enrollment_id = $1 AND "
                              "command_uuid = $2 AND active = 1",
                              {sql::Text(enrollment_id), sql::Text(command_uuid),
                               sql::UnixTime(now)}));
    if (r.affected == 0) return NotFoundError("command not queued for this enrollment");
    return OkStatus();
  }

  StatusOr<MdmQueueEntry> GetQueueEntry(std::string_view enrollment_id,
                                        std::string_view command_uuid) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("SELECT " + std::string(kQueueColumns) +
                                          std::string(kQueueFrom) +
                                          " WHERE q.enrollment_id = $1 AND q.command_uuid = $2",
                                      {sql::Text(enrollment_id), sql::Text(command_uuid)}));
    if (r.rows.empty()) return NotFoundError("command not in this enrollment's queue");
    return ParseQueueEntry(r.rows[0]);
  }

  Status RecordResult(std::string_view enrollment_id, std::string_view command_uuid,
                      std::string_view status, std::string_view result,
                      std::string_view error_chain_json, Time now) override {
    const bool retire = status != kMdmNotNow;
    ASSIGN_OR_RETURN(
        auto r, tx_.Exec("UPDATE mdm_queue SET status = $3, active = $4, result = $5, "
                         "error_chain_json = $6, result_at = $7 WHERE enrollment_id = $1 AND "
                         "command_uuid = $2",
                         {sql::Text(enrollment_id), sql::Text(command_uuid), sql::Text(status),
                          sql::Bool(!retire), sql::Bytes(result),
                          error_chain_json.empty() ? sql::Null() : sql::Text(error_chain_json),
                          sql::UnixTime(now)}));
    if (r.affected == 0) return NotFoundError("command not in this enrollment's queue");
    return OkStatus();
  }

  StatusOr<std::vector<MdmQueueEntry>> ListQueue(const MdmQueueFilter& filter) override {
    std::string sql = "SELECT " + std::string(kQueueColumns) + std::string(kQueueFrom) +
                      " WHERE q.seq > $1";
    std::vector<Value> params = {sql::Int(filter.after_seq)};
    if (!filter.enrollment_id.empty()) {
      params.push_back(sql::Text(filter.enrollment_id));
      sql += " AND q.enrollment_id = $" + std::to_string(params.size());
    }
    if (!filter.command_uuid.empty()) {
      params.push_back(sql::Text(filter.command_uuid));
      sql += " AND q.command_uuid = $" + std::to_string(params.size());
    }
    if (filter.active_only) sql += " AND q.active = 1";
    sql += " ORDER BY q.seq LIMIT " + std::to_string(ClampLimit(filter.limit));
    ASSIGN_OR_RETURN(auto r, tx_.Exec(sql, params));
    std::vector<MdmQueueEntry> out;
    out.reserve(r.rows.size());
    for (const Row& row : r.rows) {
      ASSIGN_OR_RETURN(auto q, ParseQueueEntry(row));
      out.push_back(std::move(q));
    }
    return out;
  }

  StatusOr<int64_t> DeleteQueued(std::string_view enrollment_id,
                                 std::string_view command_uuid) override {
    StatusOr<sql::Result> r =
        command_uuid.empty()
            ? tx_.Exec("DELETE FROM mdm_queue WHERE enrollment_id = $1 AND active = 1",
                       {sql::Text(enrollment_id)})
            : tx_.Exec("DELETE FROM mdm_queue WHERE enrollment_id = $1 AND command_uuid = $2 "
                       "AND active = 1",
                       {sql::Text(enrollment_id), sql::Text(command_uuid)});
    if (!r.ok()) return r.status();
    return r->affected;
  }

  StatusOr<int64_t> ClearQueue(std::string_view device_id, Time now) override {
    ASSIGN_OR_RETURN(
        auto r, tx_.Exec("UPDATE mdm_queue SET status = 'cleared', active = 0, result_at = $2 "
                         "WHERE active = 1 AND enrollment_id IN (SELECT id FROM mdm_enrollments "
                         "WHERE id = $1 OR device_id = $1)",
                         {sql::Text(device_id), sql::UnixTime(now)}));
    return r.affected;
  }

  StatusOr<int64_t> ExpireCommands(Time now) override {
    ASSIGN_OR_RETURN(
        auto r, tx_.Exec("UPDATE mdm_queue SET status = 'expired', active = 0, result_at = $1 "
                         "WHERE active = 1 AND expires_at IS NOT NULL AND expires_at <= $1",
                         {sql::UnixTime(now)}));
    return r.affected;
  }

 private:
  sql::Transaction& tx_;
};

}  // namespace

std::unique_ptr<MdmStore> NewSqlMdmStore(sql::Transaction& tx) { return std::make_unique<SqlMdmStore>(tx); }

}  // namespace custos
