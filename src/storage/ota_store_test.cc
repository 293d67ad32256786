// Conformance tests of OtaStore (ota_store.h), on SQLite and PostgreSQL (the latter needs
// scripts/with-postgres.sh, as `make test` does).
#include <gtest/gtest.h>

#include "storage/storage.h"
#include "storage/testing.h"

namespace custos {
namespace {

const Time kT0 = FromUnixSeconds(1'800'000'000);

class OtaStoreTest : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres" && !PostgresAvailable()) GTEST_SKIP() << "no PostgreSQL";
    auto s = OpenTestStorage(GetParam());
    ASSERT_TRUE(s.ok()) << s.status();
    storage_ = std::move(*s);
  }

  Status Run(const std::function<Status(OtaStore&)>& fn) {
    return storage_->Transact([&](Stores& s) { return fn(s.ota()); });
  }

  StatusOr<OtaSessionRecord> Get(const std::string& digest) {
    StatusOr<OtaSessionRecord> out = NotFoundError("unset");
    Status s = storage_->Transact(
        [&](Stores& st) -> Status {
          out = st.ota().GetSession(digest);
          return OkStatus();
        },
        TxMode::kReadOnly);
    if (!s.ok()) return s;
    return out;
  }

  Status Insert(const std::string& digest, Time expires_at) {
    OtaSessionRecord r;
    r.challenge_sha256 = digest;
    r.created_at = kT0;
    r.expires_at = expires_at;
    return Run([&](OtaStore& o) { return o.InsertSession(r); });
  }

  static OtaSessionRecord Device(std::string udid) {
    OtaSessionRecord d;
    d.udid = std::move(udid);
    d.serial = "C02XYZ";
    d.product = "iPhone14,2";
    d.os_version = "21A329";
    d.imei = "35 123456 789012 3";
    d.meid = "35123456789012";
    d.device_cert_subject = "CN=" + d.udid;
    return d;
  }

  std::unique_ptr<Storage> storage_;
};

TEST_P(OtaStoreTest, MigrationApplied) {
  auto v = storage_->SchemaVersion();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_GE(*v, 10);
}

TEST_P(OtaStoreTest, InsertGetAndDuplicate) {
  ASSERT_TRUE(Insert("aa01", kT0 + Duration(600)).ok());
  auto got = Get("aa01");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->state, kOtaStateIssued);
  EXPECT_EQ(got->created_at, kT0);
  EXPECT_EQ(got->expires_at, kT0 + Duration(600));
  EXPECT_FALSE(got->phase2_at.has_value());
  EXPECT_FALSE(got->phase3_at.has_value());
  EXPECT_EQ(Insert("aa01", kT0 + Duration(600)).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(Get("nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Insert("", kT0).code(), StatusCode::kInvalidArgument);
}

TEST_P(OtaStoreTest, PhasesAdvanceOnceEach) {
  ASSERT_TRUE(Insert("bb02", kT0 + Duration(600)).ok());
  const Time t2 = kT0 + Duration(60);
  OtaSessionRecord d = Device("UDID-1");
  ASSERT_TRUE(Run([&](OtaStore& o) { return o.CompletePhase2("bb02", d, t2, t2 + Duration(900)); }).ok());
  // The challenge is spent: a second phase 2 fails.
  Status again = Run([&](OtaStore& o) { return o.CompletePhase2("bb02", d, t2, t2 + Duration(900)); });
  EXPECT_EQ(again.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(again.message().find("already used"), std::string::npos) << again;

  auto got = Get("bb02");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state, kOtaStateIdentity);
  EXPECT_EQ(got->udid, "UDID-1");
  EXPECT_EQ(got->serial, "C02XYZ");
  EXPECT_EQ(got->product, "iPhone14,2");
  EXPECT_EQ(got->os_version, "21A329");
  EXPECT_EQ(got->imei, d.imei);
  EXPECT_EQ(got->meid, d.meid);
  EXPECT_EQ(got->device_cert_subject, "CN=UDID-1");
  ASSERT_TRUE(got->phase2_at.has_value());
  EXPECT_EQ(*got->phase2_at, t2);
  EXPECT_EQ(got->expires_at, t2 + Duration(900));

  // Phase 3 for another UDID is refused and changes nothing.
  const Time t3 = t2 + Duration(120);
  Status other = Run([&](OtaStore& o) { return o.CompletePhase3("bb02", "UDID-2", "0a", t3); });
  EXPECT_EQ(other.code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(Run([&](OtaStore& o) { return o.CompletePhase3("bb02", "UDID-1", "0a1b", t3); }).ok());
  EXPECT_EQ(Run([&](OtaStore& o) { return o.CompletePhase3("bb02", "UDID-1", "0a1b", t3); }).code(),
            StatusCode::kFailedPrecondition);
  got = Get("bb02");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state, kOtaStateEnrolled);
  EXPECT_EQ(got->identity_serial, "0a1b");
  ASSERT_TRUE(got->phase3_at.has_value());
  EXPECT_EQ(*got->phase3_at, t3);
}

TEST_P(OtaStoreTest, Phase3NeedsPhase2) {
  ASSERT_TRUE(Insert("cc03", kT0 + Duration(600)).ok());
  EXPECT_EQ(Run([&](OtaStore& o) { return o.CompletePhase3("cc03", "", "01", kT0); }).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(Run([&](OtaStore& o) { return o.CompletePhase3("zz", "U", "01", kT0); }).code(),
            StatusCode::kNotFound);
  EXPECT_EQ(Run([&](OtaStore& o) { return o.CompletePhase2("zz", Device("U"), kT0, kT0); }).code(),
            StatusCode::kNotFound);
}

TEST_P(OtaStoreTest, ExpiryRefusesAndCleansUp) {
  ASSERT_TRUE(Insert("dd04", kT0 + Duration(600)).ok());
  ASSERT_TRUE(Insert("ee05", kT0 + Duration(6000)).ok());
  const Time late = kT0 + Duration(601);
  Status s = Run([&](OtaStore& o) { return o.CompletePhase2("dd04", Device("U"), late, late + Duration(60)); });
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("expired"), std::string::npos) << s;
  // Phase 3 after its (moved) deadline is refused too.
  const Time t2 = kT0 + Duration(10);
  ASSERT_TRUE(Run([&](OtaStore& o) { return o.CompletePhase2("ee05", Device("U"), t2, t2 + Duration(60)); }).ok());
  s = Run([&](OtaStore& o) { return o.CompletePhase3("ee05", "U", "01", t2 + Duration(61)); });
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("expired"), std::string::npos) << s;

  int64_t removed = -1;
  ASSERT_TRUE(storage_->Transact([&](Stores& st) -> Status {
    ASSIGN_OR_RETURN(removed, st.ota().DeleteExpiredSessions(kT0 + Duration(700)));
    return OkStatus();
  }).ok());
  EXPECT_EQ(removed, 2);  // dd04 (600) and ee05 (moved to t2+60)
  EXPECT_EQ(Get("dd04").status().code(), StatusCode::kNotFound);
}

INSTANTIATE_TEST_SUITE_P(Drivers, OtaStoreTest, testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace custos
