// The AcmeStore role of storage.h: ACME accounts, nonces, orders, authorizations, challenges, device-attest-01 client identifiers (issue 5).
//
// Records and the interface live here; the portable-SQL implementation is sql_acme_store.cc, its
// tables are migration 5 ("acme") in migrations.cc, and its conformance tests (run on SQLite and
// PostgreSQL) are acme_store_test.cc.
#ifndef CUSTOS_STORAGE_ACME_STORE_H_
#define CUSTOS_STORAGE_ACME_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/time.h"

namespace custos {

class AcmeStore {
 public:
  virtual ~AcmeStore() = default;
};

}  // namespace custos

#endif  // CUSTOS_STORAGE_ACME_STORE_H_
