// Conformance tests of PostureStore (posture_store.h), on SQLite and PostgreSQL (the latter needs
// scripts/with-postgres.sh).
#include <gtest/gtest.h>

#include <string>

#include "storage/storage.h"
#include "storage/testing.h"

namespace custos {
namespace {

class PostureStoreTest : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres" && !PostgresAvailable()) GTEST_SKIP() << "no PostgreSQL";
    auto s = OpenTestStorage(GetParam());
    ASSERT_TRUE(s.ok()) << s.status();
    storage_ = std::move(*s);
  }

  Status Tx(const std::function<Status(PostureStore&)>& fn) {
    return storage_->Transact([&](Stores& s) { return fn(s.posture()); });
  }

  std::unique_ptr<Storage> storage_;
};

PostureRequestRecord Request(std::string uuid, std::string device, int64_t t) {
  PostureRequestRecord r;
  r.command_uuid = std::move(uuid);
  r.device_id = std::move(device);
  // Binary nonce with a NUL and high bytes: stored as bytes, never as text.
  r.nonce = std::string("\x00\xff", 2) + std::string(30, static_cast<char>('a' + t % 20));
  r.trigger = "api";
  r.requested_at = FromUnixSeconds(1800000000 + t);
  return r;
}

TEST_P(PostureStoreTest, MigrationApplied) {
  auto v = storage_->SchemaVersion();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_GE(*v, 8);
}

TEST_P(PostureStoreTest, RequestRoundTripAndDuplicate) {
  PostureRequestRecord in = Request("U1", "DEV1", 1);
  in.forced = true;
  in.trigger = "os-change";
  ASSERT_TRUE(Tx([&](PostureStore& p) { return p.InsertRequest(in); }).ok());
  PostureRequestRecord out;
  ASSERT_TRUE(Tx([&](PostureStore& p) -> Status {
                ASSIGN_OR_RETURN(out, p.GetRequest("U1"));
                return OkStatus();
              }).ok());
  EXPECT_EQ(out.command_uuid, "U1");
  EXPECT_EQ(out.device_id, "DEV1");
  EXPECT_EQ(out.nonce, in.nonce);
  EXPECT_EQ(out.trigger, "os-change");
  EXPECT_TRUE(out.forced);
  EXPECT_EQ(out.status, kPosturePending);
  EXPECT_EQ(out.requested_at, in.requested_at);
  EXPECT_FALSE(out.completed_at.has_value());

  // A duplicate is ALREADY_EXISTS and the transaction goes on (PostgreSQL included).
  Status s = Tx([&](PostureStore& p) -> Status {
    Status dup = p.InsertRequest(in);
    EXPECT_EQ(dup.code(), StatusCode::kAlreadyExists) << dup;
    return p.InsertRequest(Request("U2", "DEV1", 2));
  });
  EXPECT_TRUE(s.ok()) << s;
  Status missing = Tx([&](PostureStore& p) { return p.GetRequest("nope").status(); });
  EXPECT_EQ(missing.code(), StatusCode::kNotFound);
}

TEST_P(PostureStoreTest, FindByNonceListAndPending) {
  ASSERT_TRUE(Tx([&](PostureStore& p) -> Status {
                RETURN_IF_ERROR(p.InsertRequest(Request("A", "DEV1", 1)));
                RETURN_IF_ERROR(p.InsertRequest(Request("B", "DEV1", 2)));
                RETURN_IF_ERROR(p.InsertRequest(Request("C", "DEV2", 3)));
                return OkStatus();
              }).ok());
  ASSERT_TRUE(Tx([&](PostureStore& p) -> Status {
                ASSIGN_OR_RETURN(auto found, p.FindRequestByNonce("DEV1", Request("", "", 2).nonce));
                EXPECT_TRUE(found.has_value());
                if (found) {
                  EXPECT_EQ(found->command_uuid, "B");
                }
                // Another device's nonce is not this device's.
                ASSIGN_OR_RETURN(auto other, p.FindRequestByNonce("DEV1", Request("", "", 3).nonce));
                EXPECT_FALSE(other.has_value());
                ASSIGN_OR_RETURN(auto list, p.ListRequests("DEV1", 10));
                EXPECT_EQ(list.size(), 2u);
                if (list.size() == 2) {
                  EXPECT_EQ(list[0].command_uuid, "B");  // newest first
                  EXPECT_EQ(list[1].command_uuid, "A");
                }
                ASSIGN_OR_RETURN(auto pending, p.ListPendingRequests(FromUnixSeconds(1800000002), 10));
                EXPECT_EQ(pending.size(), 2u);  // A, B (C is later)
                if (!pending.empty()) {
                  EXPECT_EQ(pending[0].command_uuid, "A");
                }
                return OkStatus();
              }).ok());
}

TEST_P(PostureStoreTest, FinishRequestOnlyOnce) {
  ASSERT_TRUE(Tx([&](PostureStore& p) { return p.InsertRequest(Request("A", "DEV1", 1)); }).ok());
  Time now = FromUnixSeconds(1800000100);
  ASSERT_TRUE(Tx([&](PostureStore& p) -> Status {
                ASSIGN_OR_RETURN(bool first, p.FinishRequest("A", kPostureAnswered, now));
                EXPECT_TRUE(first);
                ASSIGN_OR_RETURN(bool second, p.FinishRequest("A", kPostureFailed, now));
                EXPECT_FALSE(second);
                ASSIGN_OR_RETURN(auto r, p.GetRequest("A"));
                EXPECT_EQ(r.status, kPostureAnswered);
                EXPECT_EQ(r.completed_at, now);
                ASSIGN_OR_RETURN(auto pending, p.ListPendingRequests(now, 10));
                EXPECT_TRUE(pending.empty());
                return OkStatus();
              }).ok());
  Status unknown = Tx([&](PostureStore& p) { return p.FinishRequest("Z", kPostureFailed, now).status(); });
  EXPECT_EQ(unknown.code(), StatusCode::kNotFound);
}

TEST_P(PostureStoreTest, ResultsNewestFirstAndLatestByVerdict) {
  auto result = [](std::string verdict, int64_t t) {
    PostureResultRecord r;
    r.device_id = "DEV1";
    r.command_uuid = "U" + std::to_string(t);
    r.received_at = FromUnixSeconds(1800000000 + t);
    r.verdict = std::move(verdict);
    r.reason = "reason " + std::to_string(t);
    r.findings_json = R"(["note: x"])";
    r.properties_json = R"({"serial_number":"C02"})";
    r.freshness_hex = "00ff";
    r.attested_at = FromUnixSeconds(1799999000 + t);
    r.reported_os_version = "17." + std::to_string(t);
    return r;
  };
  ASSERT_TRUE(Tx([&](PostureStore& p) -> Status {
                ASSIGN_OR_RETURN(int64_t a, p.InsertResult(result("fresh", 1)));
                ASSIGN_OR_RETURN(int64_t b, p.InsertResult(result("cached", 2)));
                EXPECT_GT(b, a);
                PostureResultRecord other = result("fresh", 3);
                other.device_id = "DEV2";
                other.attested_at.reset();
                RETURN_IF_ERROR(p.InsertResult(other).status());
                return OkStatus();
              }).ok());
  ASSERT_TRUE(Tx([&](PostureStore& p) -> Status {
                ASSIGN_OR_RETURN(auto list, p.ListResults("DEV1", 0));
                EXPECT_EQ(list.size(), 2u);
                if (list.size() == 2) {
                  EXPECT_EQ(list[0].verdict, "cached");
                  EXPECT_EQ(list[0].reason, "reason 2");
                  EXPECT_EQ(list[0].findings_json, R"(["note: x"])");
                  EXPECT_EQ(list[0].properties_json, R"({"serial_number":"C02"})");
                  EXPECT_EQ(list[0].freshness_hex, "00ff");
                  EXPECT_EQ(list[0].attested_at, FromUnixSeconds(1799999002));
                  EXPECT_EQ(list[0].reported_os_version, "17.2");
                  EXPECT_EQ(list[1].verdict, "fresh");
                }
                ASSIGN_OR_RETURN(auto fresh, p.LatestResult("DEV1", "fresh"));
                EXPECT_TRUE(fresh.has_value());
                if (fresh) {
                  EXPECT_EQ(fresh->command_uuid, "U1");
                }
                ASSIGN_OR_RETURN(auto any, p.LatestResult("DEV1", ""));
                if (any) {
                  EXPECT_EQ(any->command_uuid, "U2");
                }
                ASSIGN_OR_RETURN(auto none, p.LatestResult("DEV3", ""));
                EXPECT_FALSE(none.has_value());
                ASSIGN_OR_RETURN(auto dev2, p.LatestResult("DEV2", "fresh"));
                EXPECT_TRUE(dev2.has_value());
                if (dev2) {
                  EXPECT_FALSE(dev2->attested_at.has_value());
                }
                return OkStatus();
              }).ok());
}

TEST_P(PostureStoreTest, DeviceStateUpsertAndDue) {
  PostureDeviceRecord d;
  d.device_id = "DEV1";
  d.os_version = "17.4";
  d.os_version_at = FromUnixSeconds(1800000000);
  d.next_due_at = FromUnixSeconds(1800000500);
  d.due_reason = "random";
  d.updated_at = FromUnixSeconds(1800000000);
  PostureDeviceRecord e = d;
  e.device_id = "DEV2";
  e.next_due_at = FromUnixSeconds(1800000100);
  e.due_reason = "os-change";
  PostureDeviceRecord f = d;
  f.device_id = "DEV3";
  f.next_due_at.reset();
  ASSERT_TRUE(Tx([&](PostureStore& p) -> Status {
                RETURN_IF_ERROR(p.PutDevice(d));
                RETURN_IF_ERROR(p.PutDevice(e));
                return p.PutDevice(f);
              }).ok());
  ASSERT_TRUE(Tx([&](PostureStore& p) -> Status {
                ASSIGN_OR_RETURN(auto due, p.ListDueDevices(FromUnixSeconds(1800000500), 10));
                EXPECT_EQ(due.size(), 2u);
                if (due.size() == 2) {
                  EXPECT_EQ(due[0].device_id, "DEV2");  // earliest first
                  EXPECT_EQ(due[1].device_id, "DEV1");
                }
                ASSIGN_OR_RETURN(auto early, p.ListDueDevices(FromUnixSeconds(1800000099), 10));
                EXPECT_TRUE(early.empty());
                return OkStatus();
              }).ok());
  d.os_version = "18.0";
  d.next_due_at.reset();
  d.due_reason = "";
  ASSERT_TRUE(Tx([&](PostureStore& p) { return p.PutDevice(d); }).ok());
  ASSERT_TRUE(Tx([&](PostureStore& p) -> Status {
                ASSIGN_OR_RETURN(auto got, p.GetDevice("DEV1"));
                EXPECT_EQ(got.os_version, "18.0");
                EXPECT_FALSE(got.next_due_at.has_value());
                EXPECT_EQ(got.os_version_at, FromUnixSeconds(1800000000));
                EXPECT_EQ(got.due_reason, "");
                return OkStatus();
              }).ok());
  Status missing = Tx([&](PostureStore& p) { return p.GetDevice("DEV9").status(); });
  EXPECT_EQ(missing.code(), StatusCode::kNotFound);
}

INSTANTIATE_TEST_SUITE_P(Drivers, PostureStoreTest, testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace custos
