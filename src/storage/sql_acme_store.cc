// AcmeStore (see acme_store.h) in portable SQL over the driver interface (sql.h).
#include "storage/sql_parts.h"

namespace custos {
namespace {

class SqlAcmeStore : public AcmeStore {
 public:
  explicit SqlAcmeStore(sql::Transaction& tx) : tx_(tx) {}

 private:
  [[maybe_unused]] sql::Transaction& tx_;
};

}  // namespace

std::unique_ptr<AcmeStore> NewSqlAcmeStore(sql::Transaction& tx) { return std::make_unique<SqlAcmeStore>(tx); }

}  // namespace custos
