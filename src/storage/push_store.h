// The PushStore role of storage.h: APNs push certificates per topic (issue 4).
//
// Records and the interface live here; the portable-SQL implementation is sql_push_store.cc, its
// tables are migration 4 ("push") in migrations.cc, and its conformance tests (run on SQLite and
// PostgreSQL) are push_store_test.cc.
#ifndef CUSTOS_STORAGE_PUSH_STORE_H_
#define CUSTOS_STORAGE_PUSH_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/time.h"

namespace custos {

class PushStore {
 public:
  virtual ~PushStore() = default;
};

}  // namespace custos

#endif  // CUSTOS_STORAGE_PUSH_STORE_H_
