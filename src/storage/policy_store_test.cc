// Conformance tests of PolicyStore (policy_store.h), on SQLite and PostgreSQL (the latter needs
// scripts/with-postgres.sh, as `make test` does).
#include <gtest/gtest.h>

#include "storage/storage.h"
#include "storage/testing.h"

namespace custos {
namespace {

const Time kT0 = FromUnixSeconds(1'800'000'000);

class PolicyStoreTest : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres" && !PostgresAvailable()) GTEST_SKIP() << "no PostgreSQL";
    auto s = OpenTestStorage(GetParam());
    ASSERT_TRUE(s.ok()) << s.status();
    storage_ = std::move(*s);
  }
  Status Tx(const std::function<Status(Stores&)>& fn) { return storage_->Transact(fn); }
  std::unique_ptr<Storage> storage_;
};

TEST_P(PolicyStoreTest, SettingsRoundTripAndReplace) {
  Status s = Tx([](Stores& st) {
    EXPECT_EQ(st.policy().GetSetting("require_hardware_attestation").status().code(),
              StatusCode::kNotFound);
    EXPECT_EQ(st.policy().PutSetting({"", "x", "cli", kT0}).code(), StatusCode::kInvalidArgument);
    RETURN_IF_ERROR(st.policy().PutSetting({"require_hardware_attestation", "true", "cli", kT0}));
    RETURN_IF_ERROR(st.policy().PutSetting(
        {"require_hardware_attestation", "false", "api", kT0 + std::chrono::seconds(5)}));
    ASSIGN_OR_RETURN(auto got, st.policy().GetSetting("require_hardware_attestation"));
    EXPECT_EQ(got.value, "false");
    EXPECT_EQ(got.updated_by, "api");
    EXPECT_EQ(got.updated_at, kT0 + std::chrono::seconds(5));
    return OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s;
}

TEST_P(PolicyStoreTest, RefusalsAreListedInOrderWithFiltersAndPaging) {
  std::vector<int64_t> ids;
  Status s = Tx([&](Stores& st) -> Status {
    ids.clear();
    for (int i = 0; i < 5; ++i) {
      EnrollmentRefusalRecord r;
      r.serial = i % 2 == 0 ? "SER-EVEN" : "SER-ODD";
      r.udid = "UDID-" + std::to_string(i);
      r.stage = i == 4 ? "authenticate" : "acme";
      r.reason = "reason " + std::to_string(i);
      r.detail_json = i == 0 ? "" : "{\"order\":\"o" + std::to_string(i) + "\"}";
      r.created_at = kT0 + std::chrono::seconds(i);
      ASSIGN_OR_RETURN(int64_t id, st.policy().InsertRefusal(r));
      ids.push_back(id);
    }
    return OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s;
  for (size_t i = 1; i < ids.size(); ++i) EXPECT_GT(ids[i], ids[i - 1]);

  std::vector<EnrollmentRefusalRecord> all, even, page;
  s = Tx([&](Stores& st) -> Status {
    ASSIGN_OR_RETURN(all, st.policy().ListRefusals({}));
    ASSIGN_OR_RETURN(even, st.policy().ListRefusals({"SER-EVEN", 0, 100}));
    ASSIGN_OR_RETURN(page, st.policy().ListRefusals({"", ids[1], 2}));
    return OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[0].udid, "UDID-0");
  EXPECT_EQ(all[0].detail_json, "{}");
  EXPECT_EQ(all[4].stage, "authenticate");
  EXPECT_EQ(all[4].reason, "reason 4");
  EXPECT_EQ(all[3].created_at, kT0 + std::chrono::seconds(3));
  ASSERT_EQ(even.size(), 3u);
  for (const auto& r : even) EXPECT_EQ(r.serial, "SER-EVEN");
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(page[0].id, ids[2]);
  EXPECT_EQ(page[1].id, ids[3]);
}

TEST_P(PolicyStoreTest, HardwareAttestedMarkOnMdmDevices) {
  Status s = Tx([](Stores& st) -> Status {
    EXPECT_EQ(st.policy()
                  .SetDeviceAttestation({"NO-SUCH-DEVICE", true, "01"})
                  .code(),
              StatusCode::kNotFound);
    MdmDeviceRecord d;
    d.id = "UDID-A";
    d.serial_number = "SER-A";
    d.created_at = kT0;
    d.updated_at = kT0;
    RETURN_IF_ERROR(st.mdm().UpsertDevice(d));
    ASSIGN_OR_RETURN(auto fresh, st.policy().GetDeviceAttestation("UDID-A"));
    EXPECT_FALSE(fresh.hardware_attested);
    EXPECT_EQ(fresh.cert_serial, "");
    RETURN_IF_ERROR(st.policy().SetDeviceAttestation({"UDID-A", true, "abc1"}));
    // A later Authenticate upserts the device again: the mark is the policy's to change.
    d.os_version = "17.5";
    d.updated_at = kT0 + std::chrono::seconds(1);
    RETURN_IF_ERROR(st.mdm().UpsertDevice(d));
    ASSIGN_OR_RETURN(auto marked, st.policy().GetDeviceAttestation("UDID-A"));
    EXPECT_TRUE(marked.hardware_attested);
    EXPECT_EQ(marked.cert_serial, "abc1");
    return OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s;
}

INSTANTIATE_TEST_SUITE_P(Drivers, PolicyStoreTest, testing::Values("sqlite", "postgres"));

}  // namespace
}  // namespace custos
