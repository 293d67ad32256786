// Conformance tests of DepStore (dep_store.h), on SQLite and PostgreSQL (the latter needs
// scripts/with-postgres.sh, as `make test` does).
#include <gtest/gtest.h>

#include "storage/storage.h"
#include "storage/testing.h"

namespace custos {
namespace {

const Time kT0 = FromUnixSeconds(1'800'000'000);

class DepStoreTest : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres" && !PostgresAvailable()) GTEST_SKIP() << "no PostgreSQL";
    auto s = OpenTestStorage(GetParam());
    ASSERT_TRUE(s.ok()) << s.status();
    storage_ = std::move(*s);
  }
  Status Tx(const std::function<Status(DepStore&)>& fn) {
    return storage_->Transact([&](Stores& s) { return fn(s.dep()); });
  }
  StatusOr<DepNameRecord> Get(const std::string& name) {
    StatusOr<DepNameRecord> out = NotFoundError("unset");
    Status s = Tx([&](DepStore& d) {
      out = d.GetName(name);
      return OkStatus();
    });
    if (!s.ok()) return s;
    return out;
  }
  std::unique_ptr<Storage> storage_;
};

TEST_P(DepStoreTest, MigrationApplied) {
  auto v = storage_->SchemaVersion();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_GE(*v, 6);
}

TEST_P(DepStoreTest, StagingPromotionAndTokens) {
  EXPECT_EQ(Get("a").status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(Tx([](DepStore& d) { return d.SetStaging("a", "K1", "C1", kT0); }).ok());
  auto r = Get("a");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->staging_key_pem, "K1");
  EXPECT_EQ(r->staging_cert_pem, "C1");
  EXPECT_EQ(r->current_cert_pem, "");
  EXPECT_EQ(r->created_at, kT0);

  // Promotion checks the staging certificate it decrypted with.
  Status s = Tx([](DepStore& d) { return d.PromoteStaging("a", "C-other", kT0); });
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s;
  ASSERT_TRUE(Tx([](DepStore& d) { return d.PromoteStaging("a", "C1", kT0); }).ok());
  r = Get("a");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->current_key_pem, "K1");
  EXPECT_EQ(r->current_cert_pem, "C1");
  EXPECT_EQ(r->staging_cert_pem, "");
  s = Tx([](DepStore& d) { return d.PromoteStaging("a", "C1", kT0); });
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s;

  // A new staging pair leaves current untouched.
  ASSERT_TRUE(Tx([](DepStore& d) { return d.SetStaging("a", "K2", "C2", kT0); }).ok());
  r = Get("a");
  EXPECT_EQ(r->current_key_pem, "K1");
  EXPECT_EQ(r->staging_key_pem, "K2");

  DepTokens t{"ck", "cs", "at", "as", kT0 + Duration(86400)};
  ASSERT_TRUE(Tx([&](DepStore& d) { return d.SetTokens("a", t, kT0); }).ok());
  r = Get("a");
  EXPECT_EQ(r->tokens.consumer_key, "ck");
  EXPECT_EQ(r->tokens.access_secret, "as");
  ASSERT_TRUE(r->tokens.access_token_expiry.has_value());
  EXPECT_EQ(*r->tokens.access_token_expiry, kT0 + Duration(86400));
  EXPECT_EQ(Tx([&](DepStore& d) { return d.SetTokens("zz", t, kT0); }).code(),
            StatusCode::kNotFound);

  // A failed transaction leaves everything as it was.
  s = Tx([&](DepStore& d) {
    RETURN_IF_ERROR(d.PromoteStaging("a", "C2", kT0));
    RETURN_IF_ERROR(d.SetTokens("a", DepTokens{"new", "", "", "", std::nullopt}, kT0));
    return InternalError("abort");
  });
  EXPECT_FALSE(s.ok());
  r = Get("a");
  EXPECT_EQ(r->current_key_pem, "K1");
  EXPECT_EQ(r->staging_key_pem, "K2");
  EXPECT_EQ(r->tokens.consumer_key, "ck");
}

TEST_P(DepStoreTest, CursorAndServerUuid) {
  ASSERT_TRUE(Tx([](DepStore& d) { return d.SetStaging("b", "K", "C", kT0); }).ok());
  ASSERT_TRUE(Tx([](DepStore& d) { return d.SetCursor("b", "c1", false, kT0); }).ok());
  auto r = Get("b");
  EXPECT_EQ(r->cursor, "c1");
  EXPECT_FALSE(r->fetch_completed_at.has_value());
  ASSERT_TRUE(Tx([](DepStore& d) { return d.SetCursor("b", "c2", true, kT0); }).ok());
  ASSERT_TRUE(
      Tx([](DepStore& d) { return d.SetCursor("b", "c3", true, kT0 + Duration(5)); }).ok());
  r = Get("b");
  EXPECT_EQ(r->cursor, "c3");
  ASSERT_TRUE(r->fetch_completed_at.has_value());
  EXPECT_EQ(*r->fetch_completed_at, kT0);  // the first completion is kept
  ASSERT_TRUE(Tx([](DepStore& d) { return d.SetServerUuid("b", "UUID1", kT0); }).ok());
  EXPECT_EQ(Get("b")->server_uuid, "UUID1");
  EXPECT_EQ(Tx([](DepStore& d) { return d.SetCursor("zz", "c", false, kT0); }).code(),
            StatusCode::kNotFound);
  auto names = [&] {
    std::vector<DepNameRecord> out;
    EXPECT_TRUE(Tx([&](DepStore& d) {
                  ASSIGN_OR_RETURN(out, d.ListNames());
                  return OkStatus();
                }).ok());
    return out;
  }();
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(names[0].name, "b");
}

TEST_P(DepStoreTest, Devices) {
  ASSERT_TRUE(Tx([](DepStore& d) { return d.SetStaging("c", "K", "C", kT0); }).ok());
  DepDeviceRecord dev;
  dev.dep_name = "c";
  dev.serial_number = "SER2";
  dev.model = "MacBook Pro";
  dev.profile_status = "empty";
  dev.op_type = "added";
  dev.op_date = kT0;
  dev.updated_at = kT0;
  bool inserted = false;
  ASSERT_TRUE(Tx([&](DepStore& d) {
                ASSIGN_OR_RETURN(inserted, d.UpsertDevice(dev));
                return OkStatus();
              }).ok());
  EXPECT_TRUE(inserted);
  dev.profile_status = "assigned";
  dev.profile_uuid = "P1";
  ASSERT_TRUE(Tx([&](DepStore& d) {
                ASSIGN_OR_RETURN(inserted, d.UpsertDevice(dev));
                return OkStatus();
              }).ok());
  EXPECT_FALSE(inserted);
  DepDeviceRecord dev1 = dev;
  dev1.serial_number = "SER1";
  ASSERT_TRUE(Tx([&](DepStore& d) { return d.UpsertDevice(dev1).status(); }).ok());

  std::vector<DepDeviceRecord> list;
  ASSERT_TRUE(Tx([&](DepStore& d) {
                ASSIGN_OR_RETURN(list, d.ListDevices("c", "", 0));
                return OkStatus();
              }).ok());
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].serial_number, "SER1");
  EXPECT_EQ(list[1].profile_uuid, "P1");
  ASSERT_TRUE(list[1].op_date.has_value());
  EXPECT_FALSE(list[1].profile_assign_time.has_value());
  ASSERT_TRUE(Tx([&](DepStore& d) {
                ASSIGN_OR_RETURN(list, d.ListDevices("c", "SER1", 10));
                return OkStatus();
              }).ok());
  ASSERT_EQ(list.size(), 1u);

  // Known from ABM until ABM reports it deleted.
  EXPECT_TRUE(Tx([&](DepStore& d) { return d.FindKnownDevice("SER2").status(); }).ok());
  dev.op_type = "deleted";
  ASSERT_TRUE(Tx([&](DepStore& d) { return d.UpsertDevice(dev).status(); }).ok());
  EXPECT_EQ(Tx([&](DepStore& d) { return d.FindKnownDevice("SER2").status(); }).code(),
            StatusCode::kNotFound);
  EXPECT_EQ(Tx([&](DepStore& d) { return d.GetDevice("c", "NOPE").status(); }).code(),
            StatusCode::kNotFound);
}

INSTANTIATE_TEST_SUITE_P(Drivers, DepStoreTest, testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace custos
