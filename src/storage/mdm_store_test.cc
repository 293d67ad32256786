// Conformance tests of MdmStore (mdm_store.h), on SQLite and PostgreSQL (the latter needs
// scripts/with-postgres.sh, as `make test` does).
//
// EnqueueMany queues one command for more enrollments than one statement takes (so the batching
// is exercised) and prints the time; CUSTOS_MDM_ENQUEUE_BENCH=N makes it N enrollments (the
// issue's target: 100,000 in under 5 s on PostgreSQL).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "storage/storage.h"
#include "storage/testing.h"

namespace custos {
namespace {

const Time kT0 = FromUnixSeconds(1'750'000'000);

Time At(int64_t s) { return kT0 + std::chrono::seconds(s); }

class MdmStoreTest : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres" && !PostgresAvailable()) GTEST_SKIP() << "no PostgreSQL";
    auto s = OpenTestStorage(GetParam());
    ASSERT_TRUE(s.ok()) << s.status();
    storage_ = std::move(*s);
  }

  Status Tx(const std::function<Status(MdmStore&)>& fn) {
    return storage_->Transact([&](Stores& s) { return fn(s.mdm()); });
  }

  static MdmEnrollmentRecord Enrollment(std::string id, std::string parent = "") {
    MdmEnrollmentRecord e;
    e.id = std::move(id);
    e.parent_id = std::move(parent);
    e.device_id = e.parent_id.empty() ? e.id : e.parent_id;
    e.type = e.parent_id.empty() ? "Device" : "User";
    e.topic = "com.apple.mgmt.External.test";
    e.push_token_hex = "00ff" + e.id.substr(0, 4);
    e.push_magic = "magic-" + e.id;
    e.enabled = true;
    e.created_at = At(0);
    e.updated_at = At(0);
    return e;
  }

  void AddEnrollments(const std::vector<std::string>& ids) {
    ASSERT_TRUE(Tx([&](MdmStore& m) -> Status {
                  for (const auto& id : ids) RETURN_IF_ERROR(m.UpsertEnrollment(Enrollment(id)));
                  return OkStatus();
                }).ok());
  }

  void AddCommand(const std::string& uuid, int64_t priority = 0,
                  std::optional<Time> expires = std::nullopt) {
    MdmCommandRecord c;
    c.command_uuid = uuid;
    c.request_type = "ProfileList";
    c.payload = "<plist>" + uuid + "</plist>";
    c.priority = priority;
    c.expires_at = expires;
    c.created_at = At(0);
    ASSERT_TRUE(Tx([&](MdmStore& m) { return m.InsertCommand(c); }).ok());
  }

  std::vector<std::string> Enqueue(const std::string& uuid, const std::vector<std::string>& ids) {
    std::vector<std::string> out;
    Status s = Tx([&](MdmStore& m) -> Status {
      ASSIGN_OR_RETURN(out, m.Enqueue(uuid, ids, At(1)));
      return OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }

  // The CommandUUID NextCommand returns ("" for none).
  std::string Next(const std::string& id, Time now, bool skip_not_now = false) {
    std::string out;
    Status s = Tx([&](MdmStore& m) -> Status {
      ASSIGN_OR_RETURN(auto n, m.NextCommand(id, now, skip_not_now));
      if (n) out = n->command_uuid;
      return OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }

  std::unique_ptr<Storage> storage_;
};

TEST_P(MdmStoreTest, MigrationApplied) {
  auto v = storage_->SchemaVersion();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_GE(*v, 3);
}

TEST_P(MdmStoreTest, DeviceUpsertKeepsCreatedAt) {
  MdmDeviceRecord d;
  d.id = "UDID-1";
  d.serial_number = "C02XX";
  d.model = "iPhone14,2";
  d.authenticate_raw = std::string("bplist00\0\x01", 10);
  d.created_at = At(0);
  d.updated_at = At(0);
  ASSERT_TRUE(Tx([&](MdmStore& m) { return m.UpsertDevice(d); }).ok());
  d.os_version = "17.1";
  d.created_at = At(50);
  d.updated_at = At(50);
  ASSERT_TRUE(Tx([&](MdmStore& m) { return m.UpsertDevice(d); }).ok());
  MdmDeviceRecord out;
  ASSERT_TRUE(Tx([&](MdmStore& m) -> Status {
                ASSIGN_OR_RETURN(out, m.GetDevice("UDID-1"));
                return OkStatus();
              }).ok());
  EXPECT_EQ(out.serial_number, "C02XX");
  EXPECT_EQ(out.model, "iPhone14,2");
  EXPECT_EQ(out.os_version, "17.1");
  EXPECT_EQ(out.authenticate_raw, d.authenticate_raw);
  EXPECT_EQ(out.created_at, At(0));
  EXPECT_EQ(out.updated_at, At(50));
  Status missing = Tx([&](MdmStore& m) { return m.GetDevice("nope").status(); });
  EXPECT_EQ(missing.code(), StatusCode::kNotFound);
}

TEST_P(MdmStoreTest, EnrollmentRoundTripListAndDisable) {
  MdmDeviceRecord d;
  d.id = "DEV-A";
  d.serial_number = "SERIAL-A";
  d.created_at = d.updated_at = At(0);
  MdmEnrollmentRecord dev = Enrollment("DEV-A");
  dev.unlock_token = std::string("\x00\x01\xff", 3);
  dev.token_update_tally = 3;
  dev.last_seen = At(7);
  MdmEnrollmentRecord user = Enrollment("DEV-A:USER-1", "DEV-A");
  user.user_id = "USER-1";
  user.user_short_name = "alice";
  ASSERT_TRUE(Tx([&](MdmStore& m) -> Status {
                RETURN_IF_ERROR(m.UpsertDevice(d));
                RETURN_IF_ERROR(m.UpsertEnrollment(dev));
                RETURN_IF_ERROR(m.UpsertEnrollment(user));
                return m.UpsertEnrollment(Enrollment("DEV-B"));
              }).ok());

  MdmEnrollmentRecord out;
  ASSERT_TRUE(Tx([&](MdmStore& m) -> Status {
                ASSIGN_OR_RETURN(out, m.GetEnrollment("DEV-A"));
                return OkStatus();
              }).ok());
  EXPECT_EQ(out.type, "Device");
  EXPECT_EQ(out.device_id, "DEV-A");
  EXPECT_EQ(out.unlock_token, dev.unlock_token);
  EXPECT_EQ(out.token_update_tally, 3);
  ASSERT_TRUE(out.last_seen.has_value());
  EXPECT_EQ(*out.last_seen, At(7));
  EXPECT_EQ(out.serial_number, "SERIAL-A");
  EXPECT_TRUE(out.enabled);

  std::vector<MdmEnrollmentRecord> list;
  auto list_with = [&](MdmEnrollmentFilter f) {
    list.clear();
    Status s = Tx([&](MdmStore& m) -> Status {
      ASSIGN_OR_RETURN(list, m.ListEnrollments(f));
      return OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    std::vector<std::string> ids;
    for (const auto& e : list) ids.push_back(e.id);
    return ids;
  };
  EXPECT_EQ(list_with({}), (std::vector<std::string>{"DEV-A", "DEV-A:USER-1", "DEV-B"}));
  MdmEnrollmentFilter by_device;
  by_device.device_id = "DEV-A";
  EXPECT_EQ(list_with(by_device), (std::vector<std::string>{"DEV-A", "DEV-A:USER-1"}));
  MdmEnrollmentFilter by_serial;
  by_serial.serial_number = "SERIAL-A";
  // A user channel carries its device's serial.
  EXPECT_EQ(list_with(by_serial), (std::vector<std::string>{"DEV-A", "DEV-A:USER-1"}));
  MdmEnrollmentFilter page;
  page.limit = 1;
  page.after_id = "DEV-A";
  EXPECT_EQ(list_with(page), (std::vector<std::string>{"DEV-A:USER-1"}));
  MdmEnrollmentFilter by_type;
  by_type.type = "User";
  EXPECT_EQ(list_with(by_type), (std::vector<std::string>{"DEV-A:USER-1"}));

  int64_t changed = 0;
  ASSERT_TRUE(Tx([&](MdmStore& m) -> Status {
                ASSIGN_OR_RETURN(changed, m.DisableEnrollment("DEV-A", true, At(9)));
                return OkStatus();
              }).ok());
  EXPECT_EQ(changed, 2);
  MdmEnrollmentFilter enabled;
  enabled.enabled = true;
  EXPECT_EQ(list_with(enabled), (std::vector<std::string>{"DEV-B"}));
  // Disabling only a user channel leaves its device alone.
  ASSERT_TRUE(Tx([&](MdmStore& m) -> Status {
                RETURN_IF_ERROR(m.UpsertEnrollment(dev));
                RETURN_IF_ERROR(m.UpsertEnrollment(user));
                ASSIGN_OR_RETURN(changed, m.DisableEnrollment("DEV-A:USER-1", false, At(9)));
                return OkStatus();
              }).ok());
  EXPECT_EQ(changed, 1);
  EXPECT_EQ(list_with(enabled), (std::vector<std::string>{"DEV-A", "DEV-B"}));
}

TEST_P(MdmStoreTest, ListEnrollmentsByManyIds) {
  std::vector<std::string> ids;
  for (int i = 0; i < 2100; ++i) ids.push_back("E" + std::to_string(100000 + i));
  AddEnrollments(ids);
  MdmEnrollmentFilter f;
  f.ids = {ids[5], ids[1500], "unknown", ids[2099]};
  f.limit = 10;
  std::vector<MdmEnrollmentRecord> list;
  ASSERT_TRUE(Tx([&](MdmStore& m) -> Status {
                ASSIGN_OR_RETURN(list, m.ListEnrollments(f));
                return OkStatus();
              }).ok());
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].id, ids[5]);
  EXPECT_EQ(list[2].id, ids[2099]);
}

TEST_P(MdmStoreTest, PushInfoAndUnregisteredToken) {
  AddEnrollments({"P1", "P2"});
  std::vector<std::string> ids = {"P1", "P2", "P3"};
  std::vector<MdmPushInfo> info;
  ASSERT_TRUE(Tx([&](MdmStore& m) -> Status {
                ASSIGN_OR_RETURN(info, m.GetPushInfo(ids));
                return OkStatus();
              }).ok());
  ASSERT_EQ(info.size(), 2u);
  std::sort(info.begin(), info.end(),
            [](const auto& a, const auto& b) { return a.enrollment_id < b.enrollment_id; });
  EXPECT_EQ(info[0].enrollment_id, "P1");
  EXPECT_EQ(info[0].push_magic, "magic-P1");
  EXPECT_EQ(info[0].push_token_hex, "00ffP1");
  EXPECT_EQ(info[0].topic, "com.apple.mgmt.External.test");
  EXPECT_TRUE(info[0].enabled);
  EXPECT_FALSE(info[0].token_unregistered);

  bool changed = false;
  // A stale token (replaced by a TokenUpdate meanwhile) does not mark the new one.
  ASSERT_TRUE(Tx([&](MdmStore& m) -> Status {
                ASSIGN_OR_RETURN(changed, m.MarkTokenUnregistered("P1", "deadbeef", At(3)));
                return OkStatus();
              }).ok());
  EXPECT_FALSE(changed);
  ASSERT_TRUE(Tx([&](MdmStore& m) -> Status {
                ASSIGN_OR_RETURN(changed, m.MarkTokenUnregistered("P1", "00ffP1", At(3)));
                return OkStatus();
              }).ok());
  EXPECT_TRUE(changed);
  ASSERT_TRUE(Tx([&](MdmStore& m) -> Status {
                ASSIGN_OR_RETURN(info, m.GetPushInfo({"P1"}));
                return OkStatus();
              }).ok());
  ASSERT_EQ(info.size(), 1u);
  EXPECT_TRUE(info[0].token_unregistered);
}

TEST_P(MdmStoreTest, CertAssociations) {
  MdmCertAssociation a{"aa11", "0a", "DEV-1", At(0)};
  ASSERT_TRUE(Tx([&](MdmStore& m) { return m.AssociateCert(a); }).ok());
  // Idempotent for the same device.
  ASSERT_TRUE(Tx([&](MdmStore& m) { return m.AssociateCert(a); }).ok());
  MdmCertAssociation other{"aa11", "0a", "DEV-2", At(1)};
  EXPECT_EQ(Tx([&](MdmStore& m) { return m.AssociateCert(other); }).code(),
            StatusCode::kAlreadyExists);
  MdmCertAssociation renewal{"bb22", "0b", "DEV-1", At(5)};
  ASSERT_TRUE(Tx([&](MdmStore& m) { return m.AssociateCert(renewal); }).ok());

  MdmCertAssociation got;
  ASSERT_TRUE(Tx([&](MdmStore& m) -> Status {
                ASSIGN_OR_RETURN(got, m.GetCertAssociation("aa11"));
                return OkStatus();
              }).ok());
  EXPECT_EQ(got.device_id, "DEV-1");
  EXPECT_EQ(got.serial_hex, "0a");
  ASSERT_TRUE(Tx([&](MdmStore& m) -> Status {
                ASSIGN_OR_RETURN(got, m.GetCertAssociationBySerial("0b"));
                return OkStatus();
              }).ok());
  EXPECT_EQ(got.cert_sha256, "bb22");
  EXPECT_EQ(Tx([&](MdmStore& m) { return m.GetCertAssociation("cc").status(); }).code(),
            StatusCode::kNotFound);
  std::vector<MdmCertAssociation> all;
  ASSERT_TRUE(Tx([&](MdmStore& m) -> Status {
                ASSIGN_OR_RETURN(all, m.ListCertAssociations("DEV-1"));
                return OkStatus();
              }).ok());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].cert_sha256, "aa11");
  EXPECT_EQ(all[1].cert_sha256, "bb22");
}

TEST_P(MdmStoreTest, BootstrapTokens) {
  const std::string sealed("\x01\x00secret\xff", 9);
  ASSERT_TRUE(Tx([&](MdmStore& m) { return m.PutBootstrapToken("DEV-1", sealed, At(0)); }).ok());
  std::string got;
  ASSERT_TRUE(Tx([&](MdmStore& m) -> Status {
                ASSIGN_OR_RETURN(got, m.GetBootstrapToken("DEV-1"));
                return OkStatus();
              }).ok());
  EXPECT_EQ(got, sealed);
  ASSERT_TRUE(Tx([&](MdmStore& m) { return m.PutBootstrapToken("DEV-1", "new", At(1)); }).ok());
  ASSERT_TRUE(Tx([&](MdmStore& m) -> Status {
                ASSIGN_OR_RETURN(got, m.GetBootstrapToken("DEV-1"));
                return OkStatus();
              }).ok());
  EXPECT_EQ(got, "new");
  ASSERT_TRUE(Tx([&](MdmStore& m) { return m.PutBootstrapToken("DEV-1", "", At(2)); }).ok());
  EXPECT_EQ(Tx([&](MdmStore& m) { return m.GetBootstrapToken("DEV-1").status(); }).code(),
            StatusCode::kNotFound);
}

TEST_P(MdmStoreTest, CommandUuidIsUnique) {
  AddCommand("C-1");
  MdmCommandRecord c;
  c.command_uuid = "C-1";
  c.request_type = "X";
  c.payload = "p";
  c.created_at = At(0);
  EXPECT_EQ(Tx([&](MdmStore& m) { return m.InsertCommand(c); }).code(),
            StatusCode::kAlreadyExists);
  MdmCommandRecord got;
  ASSERT_TRUE(Tx([&](MdmStore& m) -> Status {
                ASSIGN_OR_RETURN(got, m.GetCommand("C-1"));
                return OkStatus();
              }).ok());
  EXPECT_EQ(got.payload, "<plist>C-1</plist>");
  EXPECT_EQ(got.request_type, "ProfileList");
}

TEST_P(MdmStoreTest, EnqueueSkipsUnknownAndDuplicates) {
  AddEnrollments({"Q1", "Q2"});
  AddCommand("C-1");
  auto queued = Enqueue("C-1", {"Q1", "nope", "Q2"});
  std::sort(queued.begin(), queued.end());
  EXPECT_EQ(queued, (std::vector<std::string>{"Q1", "Q2"}));
  // Queuing the same command again changes nothing.
  EXPECT_TRUE(Enqueue("C-1", {"Q1"}).empty());
  // An unknown command queues nothing.
  EXPECT_TRUE(Enqueue("C-unknown", {"Q1"}).empty());
}

TEST_P(MdmStoreTest, PriorityThenFifo) {
  AddEnrollments({"Q1"});
  AddCommand("low-1", 0);
  AddCommand("high", 5);
  AddCommand("low-2", 0);
  for (const char* uuid : {"low-1", "high", "low-2"}) Enqueue(uuid, {"Q1"});
  std::vector<std::string> order;
  for (int i = 0; i < 3; ++i) {
    std::string next = Next("Q1", At(10));
    ASSERT_FALSE(next.empty());
    order.push_back(next);
    ASSERT_TRUE(Tx([&](MdmStore& m) -> Status {
                  RETURN_IF_ERROR(m.MarkSent("Q1", next, At(10)));
                  return m.RecordResult("Q1", next, "Acknowledged", "<ack/>", "", At(11));
                }).ok());
  }
  EXPECT_EQ(order, (std::vector<std::string>{"high", "low-1", "low-2"}));
  EXPECT_EQ(Next("Q1", At(12)), "");
}

TEST_P(MdmStoreTest, SentNotNowAndResults) {
  AddEnrollments({"Q1"});
  AddCommand("A");
  AddCommand("B");
  Enqueue("A", {"Q1"});
  Enqueue("B", {"Q1"});
  MdmQueueEntry e;
  auto entry = [&](const std::string& uuid) {
    Status s = Tx([&](MdmStore& m) -> Status {
      ASSIGN_OR_RETURN(e, m.GetQueueEntry("Q1", uuid));
      return OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    return e;
  };
  EXPECT_EQ(entry("A").status, "queued");
  EXPECT_EQ(entry("A").request_type, "ProfileList");
  ASSERT_TRUE(Tx([&](MdmStore& m) { return m.MarkSent("Q1", "A", At(2)); }).ok());
  EXPECT_EQ(entry("A").status, "sent");
  ASSERT_TRUE(entry("A").sent_at.has_value());
  // Sent but unanswered: offered again.
  EXPECT_EQ(Next("Q1", At(3)), "A");
  ASSERT_TRUE(Tx([&](MdmStore& m) {
                return m.RecordResult("Q1", "A", "NotNow", "<notnow/>", "", At(4));
              }).ok());
  EXPECT_EQ(entry("A").status, "NotNow");
  EXPECT_TRUE(entry("A").active);
  EXPECT_EQ(Next("Q1", At(5), /*skip_not_now=*/true), "B");
  EXPECT_EQ(Next("Q1", At(5), /*skip_not_now=*/false), "A");
  // Offering a NotNow'd command again keeps its status.
  ASSERT_TRUE(Tx([&](MdmStore& m) { return m.MarkSent("Q1", "A", At(6)); }).ok());
  EXPECT_EQ(entry("A").status, "NotNow");
  ASSERT_TRUE(Tx([&](MdmStore& m) {
                return m.RecordResult("Q1", "A", "Error", "<err/>",
                                      R"([{"ErrorCode":12021}])", At(7));
              }).ok());
  MdmQueueEntry done = entry("A");
  EXPECT_EQ(done.status, "Error");
  EXPECT_FALSE(done.active);
  EXPECT_EQ(done.result, "<err/>");
  EXPECT_EQ(done.error_chain_json, R"([{"ErrorCode":12021}])");
  ASSERT_TRUE(done.result_at.has_value());
  EXPECT_EQ(*done.result_at, At(7));
  EXPECT_EQ(Next("Q1", At(8)), "B");
  EXPECT_EQ(Tx([&](MdmStore& m) { return m.MarkSent("Q1", "A", At(8)); }).code(),
            StatusCode::kNotFound);
  EXPECT_EQ(Tx([&](MdmStore& m) { return m.RecordResult("Q1", "Z", "Error", "", "", At(8)); })
                .code(),
            StatusCode::kNotFound);

  std::vector<MdmQueueEntry> list;
  MdmQueueFilter f;
  f.enrollment_id = "Q1";
  ASSERT_TRUE(Tx([&](MdmStore& m) -> Status {
                ASSIGN_OR_RETURN(list, m.ListQueue(f));
                return OkStatus();
              }).ok());
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].command_uuid, "A");
  EXPECT_EQ(list[1].command_uuid, "B");
  EXPECT_LT(list[0].seq, list[1].seq);
  f.active_only = true;
  ASSERT_TRUE(Tx([&](MdmStore& m) -> Status {
                ASSIGN_OR_RETURN(list, m.ListQueue(f));
                return OkStatus();
              }).ok());
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].command_uuid, "B");
}

TEST_P(MdmStoreTest, DeleteQueuedKeepsResults) {
  AddEnrollments({"Q1"});
  AddCommand("A");
  AddCommand("B");
  AddCommand("C");
  for (const char* c : {"A", "B", "C"}) Enqueue(c, {"Q1"});
  ASSERT_TRUE(Tx([&](MdmStore& m) {
                return m.RecordResult("Q1", "A", "Acknowledged", "<ack/>", "", At(3));
              }).ok());
  int64_t n = 0;
  ASSERT_TRUE(Tx([&](MdmStore& m) -> Status {
                ASSIGN_OR_RETURN(n, m.DeleteQueued("Q1", "B"));
                return OkStatus();
              }).ok());
  EXPECT_EQ(n, 1);
  ASSERT_TRUE(Tx([&](MdmStore& m) -> Status {
                ASSIGN_OR_RETURN(n, m.DeleteQueued("Q1", ""));
                return OkStatus();
              }).ok());
  EXPECT_EQ(n, 1);  // C; A is a result and stays
  std::vector<MdmQueueEntry> list;
  ASSERT_TRUE(Tx([&](MdmStore& m) -> Status {
                ASSIGN_OR_RETURN(list, m.ListQueue({}));
                return OkStatus();
              }).ok());
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].command_uuid, "A");
  EXPECT_EQ(list[0].status, "Acknowledged");
}

TEST_P(MdmStoreTest, ClearQueueCoversUserChannels) {
  ASSERT_TRUE(Tx([&](MdmStore& m) -> Status {
                RETURN_IF_ERROR(m.UpsertEnrollment(Enrollment("D")));
                RETURN_IF_ERROR(m.UpsertEnrollment(Enrollment("D:U", "D")));
                return m.UpsertEnrollment(Enrollment("OTHER"));
              }).ok());
  AddCommand("A");
  Enqueue("A", {"D", "D:U", "OTHER"});
  int64_t n = 0;
  ASSERT_TRUE(Tx([&](MdmStore& m) -> Status {
                ASSIGN_OR_RETURN(n, m.ClearQueue("D", At(5)));
                return OkStatus();
              }).ok());
  EXPECT_EQ(n, 2);
  EXPECT_EQ(Next("D", At(6)), "");
  EXPECT_EQ(Next("D:U", At(6)), "");
  EXPECT_EQ(Next("OTHER", At(6)), "A");
}

TEST_P(MdmStoreTest, ExpiredCommandsAreNotDelivered) {
  AddEnrollments({"Q1"});
  AddCommand("old", 9, At(100));
  AddCommand("new", 0);
  Enqueue("old", {"Q1"});
  Enqueue("new", {"Q1"});
  EXPECT_EQ(Next("Q1", At(99)), "old");
  EXPECT_EQ(Next("Q1", At(100)), "new");
  int64_t n = 0;
  ASSERT_TRUE(Tx([&](MdmStore& m) -> Status {
                ASSIGN_OR_RETURN(n, m.ExpireCommands(At(100)));
                return OkStatus();
              }).ok());
  EXPECT_EQ(n, 1);
  MdmQueueEntry e;
  ASSERT_TRUE(Tx([&](MdmStore& m) -> Status {
                ASSIGN_OR_RETURN(e, m.GetQueueEntry("Q1", "old"));
                return OkStatus();
              }).ok());
  EXPECT_EQ(e.status, "expired");
  EXPECT_FALSE(e.active);
}

// GetIdleState agrees with GetCertAssociation, GetEnrollment and NextCommand (Idle's read path).
TEST_P(MdmStoreTest, IdleStateInOneLookup) {
  auto idle = [&](const std::string& cert, const std::string& id, Time now) {
    MdmIdleState state;
    Status s = storage_->Transact(
        [&](Stores& st) -> Status {
          ASSIGN_OR_RETURN(state, st.mdm().GetIdleState(cert, id, now));
          return OkStatus();
        },
        TxMode::kReadOnly);
    EXPECT_TRUE(s.ok()) << s;
    return state;
  };
  // Nothing known.
  MdmIdleState none = idle("c0ffee", "I1", At(1));
  EXPECT_FALSE(none.enrollment_found);
  EXPECT_FALSE(none.cert_device_id.has_value());
  EXPECT_FALSE(none.last_seen.has_value());
  EXPECT_FALSE(none.command_pending);

  AddEnrollments({"I1", "I2"});
  ASSERT_TRUE(Tx([&](MdmStore& m) {
                return m.AssociateCert({"c0ffee", "0c", "I1", At(0)});
              }).ok());
  MdmIdleState fresh = idle("c0ffee", "I1", At(1));
  EXPECT_TRUE(fresh.enrollment_found);
  EXPECT_EQ(fresh.cert_device_id, std::optional<std::string>("I1"));
  EXPECT_FALSE(fresh.last_seen.has_value());
  EXPECT_FALSE(fresh.command_pending);
  // Another device's certificate shows as such; the enrollment's own facts are unaffected.
  EXPECT_EQ(idle("c0ffee", "I2", At(1)).cert_device_id, std::optional<std::string>("I1"));
  EXPECT_FALSE(idle("beef", "I2", At(1)).cert_device_id.has_value());

  ASSERT_TRUE(Tx([&](MdmStore& m) { return m.TouchEnrollment("I1", At(30)); }).ok());
  MdmIdleState seen = idle("c0ffee", "I1", At(31));
  ASSERT_TRUE(seen.last_seen.has_value());
  EXPECT_EQ(*seen.last_seen, At(30));

  // Pending: queued, NotNow'd (Idle offers it again), until retired or expired.
  AddCommand("soon-expired", 0, At(100));
  Enqueue("soon-expired", {"I1"});
  EXPECT_TRUE(idle("c0ffee", "I1", At(99)).command_pending);
  EXPECT_FALSE(idle("c0ffee", "I1", At(100)).command_pending);
  EXPECT_FALSE(idle("c0ffee", "I2", At(99)).command_pending);
  AddCommand("later");
  Enqueue("later", {"I2"});
  ASSERT_TRUE(Tx([&](MdmStore& m) { return m.MarkSent("I2", "later", At(2)); }).ok());
  ASSERT_TRUE(Tx([&](MdmStore& m) {
                return m.RecordResult("I2", "later", "NotNow", "<n/>", "", At(3));
              }).ok());
  EXPECT_TRUE(idle("x", "I2", At(4)).command_pending);
  EXPECT_EQ(Next("I2", At(4)), "later");
  ASSERT_TRUE(Tx([&](MdmStore& m) {
                return m.RecordResult("I2", "later", "Acknowledged", "<a/>", "", At(5));
              }).ok());
  EXPECT_FALSE(idle("x", "I2", At(6)).command_pending);
  EXPECT_EQ(Next("I2", At(6)), "");
}

TEST_P(MdmStoreTest, EnqueueAcrossBatches) {
  std::vector<std::string> ids;
  for (int i = 0; i < 2500; ++i) ids.push_back("B-" + std::to_string(i));
  AddEnrollments(ids);
  AddCommand("C-many");
  std::vector<std::string> request = ids;
  request.push_back("missing");
  auto queued = Enqueue("C-many", request);
  EXPECT_EQ(queued.size(), ids.size());
  std::set<std::string> got(queued.begin(), queued.end());
  EXPECT_EQ(got, std::set<std::string>(ids.begin(), ids.end()));
  EXPECT_EQ(Next("B-2499", At(2)), "C-many");
  std::vector<MdmPushInfo> info;
  ASSERT_TRUE(Tx([&](MdmStore& m) -> Status {
                ASSIGN_OR_RETURN(info, m.GetPushInfo(request));
                return OkStatus();
              }).ok());
  EXPECT_EQ(info.size(), ids.size());
}

// Timed: one command to N enrollments (default just over one statement's batch).
TEST_P(MdmStoreTest, EnqueueMany) {
  const char* env = std::getenv("CUSTOS_MDM_ENQUEUE_BENCH");
  const int n = env == nullptr ? 10'500 : std::atoi(env);
  ASSERT_GT(n, 0);
  std::vector<std::string> ids;
  ids.reserve(n);
  for (int i = 0; i < n; ++i) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "0000%04X-%012X", i % 0xffff, i);
    ids.emplace_back(buf);
  }
  AddEnrollments(ids);
  AddCommand("C-bench");
  auto start = std::chrono::steady_clock::now();
  auto queued = Enqueue("C-bench", ids);
  auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(queued.size(), ids.size());
  std::printf("[bench] %s: enqueue 1 command to %d enrollments: %.3f s\n", GetParam().c_str(), n,
              elapsed);
}

INSTANTIATE_TEST_SUITE_P(Drivers, MdmStoreTest, testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace custos
