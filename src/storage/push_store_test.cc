// Conformance tests of PushStore (push_store.h), on SQLite and PostgreSQL (the latter needs
// scripts/with-postgres.sh, as `make test` does).
#include <gtest/gtest.h>

#include "storage/storage.h"
#include "storage/testing.h"

namespace custos {
namespace {

class PushStoreTest : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres" && !PostgresAvailable()) GTEST_SKIP() << "no PostgreSQL";
    auto s = OpenTestStorage(GetParam());
    ASSERT_TRUE(s.ok()) << s.status();
    storage_ = std::move(*s);
  }
  std::unique_ptr<Storage> storage_;
};

TEST_P(PushStoreTest, MigrationApplied) {
  auto v = storage_->SchemaVersion();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_GE(*v, 4);
}

INSTANTIATE_TEST_SUITE_P(Drivers, PushStoreTest, testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace custos
