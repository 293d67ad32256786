// DepStore (see dep_store.h) in portable SQL over the driver interface (sql.h).
#include "storage/sql_parts.h"

namespace custos {
namespace {

class SqlDepStore : public DepStore {
 public:
  explicit SqlDepStore(sql::Transaction& tx) : tx_(tx) {}

 private:
  [[maybe_unused]] sql::Transaction& tx_;
};

}  // namespace

std::unique_ptr<DepStore> NewSqlDepStore(sql::Transaction& tx) { return std::make_unique<SqlDepStore>(tx); }

}  // namespace custos
