// The MdmStore role of storage.h: MDM enrollments, devices, users, the command queue and command results, device-certificate associations, bootstrap tokens (issue 4).
//
// Records and the interface live here; the portable-SQL implementation is sql_mdm_store.cc, its
// tables are migration 3 ("mdm") in migrations.cc, and its conformance tests (run on SQLite and
// PostgreSQL) are mdm_store_test.cc.
#ifndef CUSTOS_STORAGE_MDM_STORE_H_
#define CUSTOS_STORAGE_MDM_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/time.h"

namespace custos {

class MdmStore {
 public:
  virtual ~MdmStore() = default;
};

}  // namespace custos

#endif  // CUSTOS_STORAGE_MDM_STORE_H_
