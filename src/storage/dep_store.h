// The DepStore role of storage.h: Apple Business Manager (DEP) names, token PKI pairs (current and staging), OAuth tokens, cursors, synced devices (issue 6).
//
// Records and the interface live here; the portable-SQL implementation is sql_dep_store.cc, its
// tables are migration 6 ("dep") in migrations.cc, and its conformance tests (run on SQLite and
// PostgreSQL) are dep_store_test.cc.
#ifndef CUSTOS_STORAGE_DEP_STORE_H_
#define CUSTOS_STORAGE_DEP_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/time.h"

namespace custos {

class DepStore {
 public:
  virtual ~DepStore() = default;
};

}  // namespace custos

#endif  // CUSTOS_STORAGE_DEP_STORE_H_
