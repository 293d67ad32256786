// PushStore (see push_store.h) in portable SQL over the driver interface (sql.h).
#include "storage/sql_parts.h"

namespace custos {
namespace {

constexpr std::string_view kColumns =
    "topic, cert_pem, key_pem, key_encrypted, subject, sha256_hex, not_before, not_after, "
    "created_at, updated_at";

StatusOr<PushCertRecord> ParseCert(const sql::Row& row) {
  PushCertRecord c;
  ASSIGN_OR_RETURN(c.topic, row.GetText(0));
  ASSIGN_OR_RETURN(c.cert_pem, row.GetText(1));
  ASSIGN_OR_RETURN(c.key_pem, row.GetText(2));
  ASSIGN_OR_RETURN(c.key_encrypted, row.GetBool(3));
  ASSIGN_OR_RETURN(c.subject, row.GetText(4));
  ASSIGN_OR_RETURN(c.sha256_hex, row.GetText(5));
  ASSIGN_OR_RETURN(c.not_before, row.GetTime(6));
  ASSIGN_OR_RETURN(c.not_after, row.GetTime(7));
  ASSIGN_OR_RETURN(c.created_at, row.GetTime(8));
  ASSIGN_OR_RETURN(c.updated_at, row.GetTime(9));
  return c;
}

class SqlPushStore : public PushStore {
 public:
  explicit SqlPushStore(sql::Transaction& tx) : tx_(tx) {}

  Status PutCert(const PushCertRecord& c) override {
    if (c.topic.empty() || c.cert_pem.empty() || c.key_pem.empty()) {
      return InvalidArgumentError("push certificate needs a topic, a certificate and a key");
    }
    return tx_
        .Exec("INSERT INTO push_certs (" + std::string(kColumns) +
                  ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
                  "ON CONFLICT (topic) DO UPDATE SET cert_pem = excluded.cert_pem, "
                  "key_pem = excluded.key_pem, key_encrypted = excluded.key_encrypted, "
                  "subject = excluded.subject, sha256_hex = excluded.sha256_hex, "
                  "not_before = excluded.not_before, not_after = excluded.not_after, "
                  "updated_at = excluded.updated_at",
              {sql::Text(c.topic), sql::Text(c.cert_pem), sql::Text(c.key_pem),
               sql::Bool(c.key_encrypted), sql::Text(c.subject), sql::Text(c.sha256_hex),
               sql::UnixTime(c.not_before), sql::UnixTime(c.not_after),
               sql::UnixTime(c.created_at), sql::UnixTime(c.updated_at)})
        .status();
  }

  StatusOr<PushCertRecord> GetCert(std::string_view topic) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("SELECT " + std::string(kColumns) +
                                          " FROM push_certs WHERE topic = $1",
                                      {sql::Text(topic)}));
    if (r.rows.empty()) {
      return NotFoundError("no push certificate for topic " + std::string(topic));
    }
    return ParseCert(r.rows[0]);
  }

  StatusOr<std::vector<PushCertRecord>> ListCerts() override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("SELECT " + std::string(kColumns) +
                                      " FROM push_certs ORDER BY topic"));
    std::vector<PushCertRecord> out;
    out.reserve(r.rows.size());
    for (const auto& row : r.rows) {
      ASSIGN_OR_RETURN(auto c, ParseCert(row));
      out.push_back(std::move(c));
    }
    return out;
  }

  Status DeleteCert(std::string_view topic) override {
    ASSIGN_OR_RETURN(auto r, tx_.Exec("DELETE FROM push_certs WHERE topic = $1",
                                      {sql::Text(topic)}));
    if (r.affected == 0) {
      return NotFoundError("no push certificate for topic " + std::string(topic));
    }
    return OkStatus();
  }

 private:
  sql::Transaction& tx_;
};

}  // namespace

std::unique_ptr<PushStore> NewSqlPushStore(sql::Transaction& tx) { return std::make_unique<SqlPushStore>(tx); }

}  // namespace custos
