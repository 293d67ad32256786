// Internal to the storage component: the factories that bind each role's SQL implementation to a
// transaction (one sql_<role>_store.cc each), so that roles are written side by side without
// touching one another's files. SqlStores (sql_stores.cc) creates each on first use.
#ifndef CUSTOS_STORAGE_SQL_PARTS_H_
#define CUSTOS_STORAGE_SQL_PARTS_H_

#include <memory>

#include "storage/sql.h"
#include "storage/storage.h"

namespace custos {

std::unique_ptr<MdmStore> NewSqlMdmStore(sql::Transaction& tx);
std::unique_ptr<PushStore> NewSqlPushStore(sql::Transaction& tx);
std::unique_ptr<AcmeStore> NewSqlAcmeStore(sql::Transaction& tx);
std::unique_ptr<DepStore> NewSqlDepStore(sql::Transaction& tx);
std::unique_ptr<PolicyStore> NewSqlPolicyStore(sql::Transaction& tx);
std::unique_ptr<OtaStore> NewSqlOtaStore(sql::Transaction& tx);
std::unique_ptr<PostureStore> NewSqlPostureStore(sql::Transaction& tx);
std::unique_ptr<RenewalStore> NewSqlRenewalStore(sql::Transaction& tx);

}  // namespace custos

#endif  // CUSTOS_STORAGE_SQL_PARTS_H_
