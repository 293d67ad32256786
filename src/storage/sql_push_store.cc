// PushStore (see push_store.h) in portable SQL over the driver interface (sql.h).
#include "storage/sql_parts.h"

namespace custos {
namespace {

class SqlPushStore : public PushStore {
 public:
  explicit SqlPushStore(sql::Transaction& tx) : tx_(tx) {}

 private:
  [[maybe_unused]] sql::Transaction& tx_;
};

}  // namespace

std::unique_ptr<PushStore> NewSqlPushStore(sql::Transaction& tx) { return std::make_unique<SqlPushStore>(tx); }

}  // namespace custos
