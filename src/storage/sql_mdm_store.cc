// MdmStore (see mdm_store.h) in portable SQL over the driver interface (sql.h).
#include "storage/sql_parts.h"

namespace custos {
namespace {

class SqlMdmStore : public MdmStore {
 public:
  explicit SqlMdmStore(sql::Transaction& tx) : tx_(tx) {}

 private:
  [[maybe_unused]] sql::Transaction& tx_;
};

}  // namespace

std::unique_ptr<MdmStore> NewSqlMdmStore(sql::Transaction& tx) { return std::make_unique<SqlMdmStore>(tx); }

}  // namespace custos
