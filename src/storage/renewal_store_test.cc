// Conformance tests of RenewalStore (renewal_store.h), on SQLite and PostgreSQL (the latter needs
// scripts/with-postgres.sh, as `make test` does).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "storage/storage.h"
#include "storage/testing.h"

namespace custos {
namespace {

const Time kNow = FromUnixSeconds(1800000000);
constexpr auto kDay = std::chrono::hours(24);

class RenewalStoreTest : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres" && !PostgresAvailable()) GTEST_SKIP() << "no PostgreSQL";
    auto s = OpenTestStorage(GetParam());
    ASSERT_TRUE(s.ok()) << s.status();
    storage_ = std::move(*s);
    Status st = storage_->Transact([&](Stores& s) -> Status {
      ASSIGN_OR_RETURN(int64_t key_id, s.ca().InsertKey({0, "pem", false, kNow}));
      CaCertRecord ca;
      ca.role = "issuing";
      ca.key_id = key_id;
      ca.der = "ca-der";
      ca.subject = "CN=issuing";
      ca.serial_hex = "01";
      ca.sha256_hex = "ca01";
      ca.not_before = kNow - 100 * kDay;
      ca.not_after = kNow + 3650 * kDay;
      ca.active = true;
      ca.created_at = kNow;
      ASSIGN_OR_RETURN(issuer_, s.ca().InsertCert(ca));
      return OkStatus();
    });
    ASSERT_TRUE(st.ok()) << st;
  }

  Status Tx(const std::function<Status(Stores&)>& fn) { return storage_->Transact(fn); }

  // A certificate issued at `issued` (created_at), expiring at `not_after`.
  Status AddCert(const std::string& serial, Time issued, Time not_after,
                 const std::string& requester = "scep", const std::string& ref = "",
                 const std::string& renewal_of = "") {
    CertificateRecord c;
    c.serial_hex = serial;
    c.subject = "CN=" + serial;
    c.sans_json = "[]";
    c.spki_sha256 = "spki" + serial;
    c.cert_sha256 = "sha" + serial;
    c.not_before = issued;
    c.not_after = not_after;
    c.issuer_id = issuer_;
    c.requester = requester;
    c.requester_ref = ref.empty() ? "ref-" + serial : ref;
    c.renewal_of = renewal_of;
    c.der = "der" + serial;
    c.created_at = issued;
    return Tx([&](Stores& s) { return s.certs().Insert(c); });
  }

  // An enrolled device channel `id` (enabled or not) with identity `serial`.
  Status AddDevice(const std::string& id, bool enabled) {
    return Tx([&](Stores& s) -> Status {
      MdmDeviceRecord d;
      d.id = id;
      d.serial_number = "SER-" + id;
      d.product_name = "iPhone15,2";
      d.os_version = "17.4";
      d.created_at = d.updated_at = kNow - 300 * kDay;
      RETURN_IF_ERROR(s.mdm().UpsertDevice(d));
      MdmEnrollmentRecord e;
      e.id = id;
      e.type = "Device";
      e.device_id = id;
      e.topic = "topic";
      e.enabled = enabled;
      e.created_at = e.updated_at = kNow - 300 * kDay;
      return s.mdm().UpsertEnrollment(e);
    });
  }
  Status Associate(const std::string& device, const std::string& serial, Time at) {
    return Tx([&](Stores& s) {
      return s.mdm().AssociateCert({"sha" + serial, serial, device, at});
    });
  }

  std::vector<RenewalCandidate> Due(Time now, Duration window = 30 * kDay,
                                    Duration retry = 1 * kDay) {
    std::vector<RenewalCandidate> out;
    Status s = storage_->Transact(
        [&](Stores& st) -> Status {
          ASSIGN_OR_RETURN(out, st.renewal().ListDue(now, now + window, now - retry, 100));
          return OkStatus();
        },
        TxMode::kReadOnly);
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }
  static std::vector<std::string> Serials(const std::vector<RenewalCandidate>& c) {
    std::vector<std::string> out;
    for (const auto& x : c) out.push_back(x.serial_hex);
    return out;
  }

  int64_t Insert(RenewalRequestRecord r) {
    int64_t id = 0;
    Status s = Tx([&](Stores& st) -> Status {
      ASSIGN_OR_RETURN(id, st.renewal().InsertRequest(r));
      return OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    return id;
  }

  std::unique_ptr<Storage> storage_;
  int64_t issuer_ = 0;
};

RenewalRequestRecord Request(const std::string& old_serial, const std::string& enrollment,
                             Time at, const std::string& kind = "scep",
                             const std::string& secret = "") {
  RenewalRequestRecord r;
  r.old_serial = old_serial;
  r.enrollment_id = enrollment;
  r.command_uuid = "cmd-" + old_serial + "-" + std::to_string(ToUnixSeconds(at));
  r.identity_kind = kind;
  r.secret_sha256 = secret;
  r.reason = "policy says " + kind;
  r.old_not_after = at + 10 * kDay;
  r.requested_at = at;
  return r;
}

TEST_P(RenewalStoreTest, InsertGetListDelete) {
  RenewalRequestRecord in = Request("a1", "UDID-1", kNow, "acme", "ab12");
  int64_t id = Insert(in);
  ASSERT_GT(id, 0);
  int64_t id2 = Insert(Request("b2", "UDID-2", kNow + kDay));
  EXPECT_GT(id2, id);
  RenewalRequestRecord out;
  ASSERT_TRUE(Tx([&](Stores& s) -> Status {
                ASSIGN_OR_RETURN(out, s.renewal().GetRequest(id));
                return OkStatus();
              }).ok());
  EXPECT_EQ(out.old_serial, "a1");
  EXPECT_EQ(out.enrollment_id, "UDID-1");
  EXPECT_EQ(out.command_uuid, in.command_uuid);
  EXPECT_EQ(out.identity_kind, "acme");
  EXPECT_EQ(out.secret_sha256, "ab12");
  EXPECT_EQ(out.status, "pending");
  EXPECT_EQ(out.reason, in.reason);
  EXPECT_EQ(out.old_not_after, in.old_not_after);
  EXPECT_EQ(out.requested_at, kNow);
  EXPECT_FALSE(out.completed_at.has_value());

  std::vector<RenewalRequestRecord> list;
  RenewalRequestFilter f;
  f.enrollment_id = "UDID-2";
  ASSERT_TRUE(Tx([&](Stores& s) -> Status {
                ASSIGN_OR_RETURN(list, s.renewal().ListRequests(f));
                return OkStatus();
              }).ok());
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].id, id2);
  f = {};
  f.after_id = id;
  ASSERT_TRUE(Tx([&](Stores& s) -> Status {
                ASSIGN_OR_RETURN(list, s.renewal().ListRequests(f));
                return OkStatus();
              }).ok());
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].id, id2);

  EXPECT_TRUE(Tx([&](Stores& s) { return s.renewal().DeleteRequest(id); }).ok());
  EXPECT_EQ(Tx([&](Stores& s) { return s.renewal().DeleteRequest(id); }).code(),
            StatusCode::kNotFound);
  EXPECT_EQ(Tx([&](Stores& s) { return s.renewal().GetRequest(id).status(); }).code(),
            StatusCode::kNotFound);
  RenewalRequestRecord bad = Request("", "UDID-1", kNow);
  EXPECT_EQ(Tx([&](Stores& s) { return s.renewal().InsertRequest(bad).status(); }).code(),
            StatusCode::kInvalidArgument);
}

TEST_P(RenewalStoreTest, DueWindowEdgesAndOrder) {
  ASSERT_TRUE(AddDevice("D1", true).ok());
  ASSERT_TRUE(AddDevice("D2", true).ok());
  ASSERT_TRUE(AddDevice("D3", true).ok());
  ASSERT_TRUE(AddDevice("D4", true).ok());
  Time issued = kNow - 300 * kDay;
  ASSERT_TRUE(AddCert("c1", issued, kNow + 30 * kDay).ok());  // exactly at the window's end
  ASSERT_TRUE(AddCert("c2", issued, kNow + 30 * kDay + std::chrono::seconds(1)).ok());  // just past
  ASSERT_TRUE(AddCert("c3", issued, kNow + 2 * kDay).ok());   // soonest
  ASSERT_TRUE(AddCert("c4", issued, kNow).ok());              // expired at now: not renewable
  ASSERT_TRUE(Associate("D1", "c1", issued).ok());
  ASSERT_TRUE(Associate("D2", "c2", issued).ok());
  ASSERT_TRUE(Associate("D3", "c3", issued).ok());
  ASSERT_TRUE(Associate("D4", "c4", issued).ok());
  auto due = Due(kNow);
  EXPECT_EQ(Serials(due), (std::vector<std::string>{"c3", "c1"}));
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].enrollment_id, "D3");
  EXPECT_EQ(due[0].requester, "scep");
  EXPECT_EQ(due[0].not_after, kNow + 2 * kDay);
  EXPECT_EQ(due[0].device_serial, "SER-D3");
  EXPECT_EQ(due[0].product_name, "iPhone15,2");
  EXPECT_EQ(due[0].os_version, "17.4");
  EXPECT_EQ(due[0].attempts, 0);
  // One second later c2 is inside the window too.
  EXPECT_EQ(Serials(Due(kNow + std::chrono::seconds(1))),
            (std::vector<std::string>{"c3", "c1", "c2"}));
}

TEST_P(RenewalStoreTest, DisabledUserChannelsAndRevokedAreNotDue) {
  ASSERT_TRUE(AddDevice("D1", false).ok());  // disabled (CheckOut / before TokenUpdate)
  ASSERT_TRUE(AddDevice("D2", true).ok());
  Time issued = kNow - 300 * kDay;
  ASSERT_TRUE(AddCert("c1", issued, kNow + 5 * kDay).ok());
  ASSERT_TRUE(AddCert("c2", issued, kNow + 5 * kDay).ok());
  ASSERT_TRUE(Associate("D1", "c1", issued).ok());
  ASSERT_TRUE(Associate("D2", "c2", issued).ok());
  // A user channel of D2 (enabled) is not a candidate of its own.
  ASSERT_TRUE(Tx([&](Stores& s) {
                MdmEnrollmentRecord e;
                e.id = "D2:user";
                e.type = "User";
                e.parent_id = "D2";
                e.device_id = "D2";
                e.topic = "topic";
                e.enabled = true;
                e.created_at = e.updated_at = kNow;
                return s.mdm().UpsertEnrollment(e);
              }).ok());
  EXPECT_EQ(Serials(Due(kNow)), (std::vector<std::string>{"c2"}));
  ASSERT_TRUE(Tx([&](Stores& s) { return s.certs().Revoke("c2", kNow, 1); }).ok());
  EXPECT_TRUE(Due(kNow).empty());
}

TEST_P(RenewalStoreTest, RenewedIdentitiesAreNotDue) {
  Time issued = kNow - 300 * kDay;
  for (const char* d : {"D1", "D2", "D3"}) ASSERT_TRUE(AddDevice(d, true).ok());
  ASSERT_TRUE(AddCert("c1", issued, kNow + 5 * kDay).ok());
  ASSERT_TRUE(AddCert("c2", issued, kNow + 5 * kDay).ok());
  ASSERT_TRUE(AddCert("c3", issued, kNow + 5 * kDay).ok());
  ASSERT_TRUE(Associate("D1", "c1", issued).ok());
  ASSERT_TRUE(Associate("D2", "c2", issued).ok());
  ASSERT_TRUE(Associate("D3", "c3", issued).ok());
  EXPECT_EQ(Due(kNow).size(), 3u);
  // D1 renewed through a renewal request (the store links n1 to c1 on completion).
  ASSERT_TRUE(AddCert("n1", kNow - kDay, kNow + 360 * kDay).ok());
  int64_t id = Insert(Request("c1", "D1", kNow - 2 * kDay));
  ASSERT_TRUE(Tx([&](Stores& s) { return s.renewal().CompleteRequest(id, "n1", kNow - kDay); }).ok());
  // D2 enrolled again: a newer certificate associated with the device.
  ASSERT_TRUE(AddCert("n2", kNow - kDay, kNow + 360 * kDay).ok());
  ASSERT_TRUE(Associate("D2", "n2", kNow - kDay).ok());
  EXPECT_EQ(Serials(Due(kNow)), (std::vector<std::string>{"c3"}));
  // D3 renewed over SCEP RenewalReq (renewal_of set at issuance, not yet associated).
  ASSERT_TRUE(AddCert("r3", kNow - kDay, kNow + 360 * kDay, "scep", "", "c3").ok());
  EXPECT_TRUE(Due(kNow).empty());
  ASSERT_TRUE(Tx([&](Stores& s) { return s.certs().Revoke("r3", kNow, 1); }).ok());
  // A revoked renewal still counts as renewed (an administrator decides, not the job); a revoked
  // newer association does not supersede the current one.
  EXPECT_TRUE(Due(kNow).empty());
  ASSERT_TRUE(AddDevice("D5", true).ok());
  ASSERT_TRUE(AddCert("c5", issued, kNow + 5 * kDay).ok());
  ASSERT_TRUE(Associate("D5", "c5", issued).ok());
  EXPECT_EQ(Serials(Due(kNow)), (std::vector<std::string>{"c5"}));
  ASSERT_TRUE(AddCert("n3", kNow - kDay, kNow + 360 * kDay).ok());
  ASSERT_TRUE(Associate("D5", "n3", kNow - kDay).ok());
  EXPECT_TRUE(Due(kNow).empty());
  ASSERT_TRUE(Tx([&](Stores& s) { return s.certs().Revoke("n3", kNow, 1); }).ok());
  EXPECT_EQ(Serials(Due(kNow)), (std::vector<std::string>{"c5"}));

  // A renewal issued in the same second as the identity it renews (lower serial): the renewal is
  // current, whatever the serials, and the renewed one is not.
  ASSERT_TRUE(AddDevice("D6", true).ok());
  ASSERT_TRUE(AddCert("f6", kNow - kDay, kNow + 5 * kDay).ok());
  ASSERT_TRUE(AddCert("06", kNow - kDay, kNow + 5 * kDay, "acme", "", "f6").ok());
  ASSERT_TRUE(Associate("D6", "f6", kNow - kDay).ok());
  ASSERT_TRUE(Associate("D6", "06", kNow - kDay).ok());
  EXPECT_EQ(Serials(Due(kNow)), (std::vector<std::string>{"c5", "06"}));
  ASSERT_TRUE(Tx([&](Stores& s) { return s.certs().Revoke("06", kNow, 1); }).ok());

  CertificateRecord n1;
  ASSERT_TRUE(Tx([&](Stores& s) -> Status {
                ASSIGN_OR_RETURN(n1, s.certs().GetBySerial("n1"));
                return OkStatus();
              }).ok());
  EXPECT_EQ(n1.renewal_of, "c1");
  RenewalRequestRecord done;
  ASSERT_TRUE(Tx([&](Stores& s) -> Status {
                ASSIGN_OR_RETURN(done, s.renewal().GetRequest(id));
                return OkStatus();
              }).ok());
  EXPECT_EQ(done.status, "completed");
  EXPECT_EQ(done.new_serial, "n1");
  ASSERT_TRUE(done.completed_at.has_value());
  EXPECT_EQ(*done.completed_at, kNow - kDay);
  EXPECT_EQ(Tx([&](Stores& s) { return s.renewal().CompleteRequest(id, "n1", kNow); }).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(Tx([&](Stores& s) { return s.renewal().CompleteRequest(id + 100, "n1", kNow); }).code(),
            StatusCode::kNotFound);
}

TEST_P(RenewalStoreTest, RecentRequestSuppressesUntilRetry) {
  Time issued = kNow - 300 * kDay;
  ASSERT_TRUE(AddDevice("D1", true).ok());
  ASSERT_TRUE(AddCert("c1", issued, kNow + 5 * kDay).ok());
  ASSERT_TRUE(Associate("D1", "c1", issued).ok());
  Insert(Request("c1", "D1", kNow));
  EXPECT_TRUE(Due(kNow + std::chrono::hours(23)).empty());
  EXPECT_TRUE(Due(kNow + kDay).empty());  // requested_at > retry_before: still too recent
  auto later = Due(kNow + kDay + std::chrono::seconds(1));
  ASSERT_EQ(Serials(later), (std::vector<std::string>{"c1"}));
  EXPECT_EQ(later[0].attempts, 1);
  ASSERT_TRUE(later[0].last_requested_at.has_value());
  EXPECT_EQ(*later[0].last_requested_at, kNow);
}

TEST_P(RenewalStoreTest, InsertUnlessRecentRefusesASecondAttempt) {
  ASSERT_TRUE(AddDevice("D1", true).ok());
  ASSERT_TRUE(AddCert("c1", kNow - 300 * kDay, kNow + 5 * kDay).ok());
  auto claim = [&](Time at, Time retry_before) {
    return Tx([&](Stores& s) {
      return s.renewal().InsertRequestUnlessRecent(Request("c1", "D1", at), retry_before).status();
    });
  };
  EXPECT_TRUE(claim(kNow, kNow - kDay).ok());
  EXPECT_EQ(claim(kNow + std::chrono::hours(1), kNow + std::chrono::hours(1) - kDay).code(),
            StatusCode::kAlreadyExists);
  EXPECT_TRUE(claim(kNow + kDay + std::chrono::seconds(1), kNow + std::chrono::seconds(1)).ok())
      << "after retry_after, a new attempt is allowed";
  EXPECT_TRUE(Tx([&](Stores& s) {  // another identity is independent
                ASSIGN_OR_RETURN(int64_t id, s.renewal().InsertRequestUnlessRecent(
                                                 Request("c2", "D1", kNow), kNow - kDay));
                return id > 0 ? OkStatus() : InternalError("no id");
              }).ok());
}

// Two processes' renewal jobs on one database pick the same identity at once: the first
// transaction to record it wins, the other (blocked on PostgreSQL's row lock, or on SQLite's
// exclusive writer until the first commits) sees the attempt and stands down.
TEST_P(RenewalStoreTest, ConcurrentClaimsRecordOneAttempt) {
  ASSERT_TRUE(AddDevice("D1", true).ok());
  ASSERT_TRUE(AddCert("c1", kNow - 300 * kDay, kNow + 5 * kDay).ok());
  std::atomic<int> inside{0};
  auto claim = [&](int who) {
    return storage_->Transact([&](Stores& s) -> Status {
      RenewalRequestRecord r = Request("c1", "D1", kNow);
      r.command_uuid += "-" + std::to_string(who);
      ASSIGN_OR_RETURN(int64_t id, s.renewal().InsertRequestUnlessRecent(r, kNow - kDay));
      (void)id;
      ++inside;
      std::this_thread::sleep_for(std::chrono::milliseconds(300));  // hold the claim open
      return OkStatus();
    });
  };
  Status a, b;
  std::thread ta([&] { a = claim(1); });
  std::thread tb([&] { b = claim(2); });
  ta.join();
  tb.join();
  EXPECT_NE(a.ok(), b.ok()) << "a: " << a << " b: " << b;
  const Status& loser = a.ok() ? b : a;
  EXPECT_EQ(loser.code(), StatusCode::kAlreadyExists) << loser;
  EXPECT_EQ(inside.load(), 1);
  std::vector<RenewalRequestRecord> all;
  ASSERT_TRUE(Tx([&](Stores& s) -> Status {
                ASSIGN_OR_RETURN(all, s.renewal().ListRequests({}));
                return OkStatus();
              }).ok());
  EXPECT_EQ(all.size(), 1u);
}

TEST_P(RenewalStoreTest, FindRequestForIssuedCertThroughScepAndAcme) {
  Time issued = kNow - 300 * kDay;
  ASSERT_TRUE(AddDevice("D1", true).ok());
  ASSERT_TRUE(AddDevice("D2", true).ok());
  ASSERT_TRUE(AddCert("c1", issued, kNow + 5 * kDay).ok());
  ASSERT_TRUE(AddCert("c2", issued, kNow + 5 * kDay).ok());
  ASSERT_TRUE(Associate("D1", "c1", issued).ok());
  ASSERT_TRUE(Associate("D2", "c2", issued).ok());
  int64_t scep_id = Insert(Request("c1", "D1", kNow, "scep", "5ce9"));
  int64_t acme_id = Insert(Request("c2", "D2", kNow, "acme", "ac3e"));
  // Issuance: a SCEP transaction spent challenge 5ce9 and issued 5ee1; an ACME order spent the
  // ClientIdentifier ac3e and holds a0e1.
  ASSERT_TRUE(Tx([&](Stores& s) -> Status {
                ScepChallengeRecord ch;
                ch.challenge_sha256 = "5ce9";
                ch.created_at = kNow;
                ch.expires_at = kNow + kDay;
                RETURN_IF_ERROR(s.scep().InsertChallenge(ch));
                RETURN_IF_ERROR(s.scep().SpendChallenge("5ce9", kNow, "txn-1"));
                ScepTransactionRecord t;
                t.transaction_id = "txn-1";
                t.spki_sha256 = "k";
                t.message_type = "PKCSReq";
                t.status = "issued";
                t.subject = "CN=x";
                t.cert_serial = "5ee1";
                t.created_at = t.updated_at = kNow;
                RETURN_IF_ERROR(s.scep().InsertTransaction(t));
                AcmeAccountRecord acct;
                acct.id = "acct";
                acct.key_thumbprint = "tp";
                acct.jwk_json = "{}";
                acct.created_at = kNow;
                RETURN_IF_ERROR(s.acme().InsertAccount(acct));
                AcmeOrderRecord o;
                o.id = "order-1";
                o.account_id = "acct";
                o.status = "valid";
                o.expires_at = kNow + kDay;
                o.cert_serial = "a0e1";
                o.created_at = kNow;
                RETURN_IF_ERROR(s.acme().InsertOrder(o));
                AcmeClientIdentifierRecord ci;
                ci.identifier_sha256 = "ac3e";
                ci.bound_to = "SER-D2";
                ci.created_at = kNow;
                ci.expires_at = kNow + kDay;
                RETURN_IF_ERROR(s.acme().InsertClientIdentifier(ci));
                return s.acme().SpendClientIdentifier("ac3e", kNow, "order-1");
              }).ok());
  auto find = [&](const std::string& device, const std::string& serial) {
    std::optional<RenewalRequestRecord> r;
    Status s = Tx([&](Stores& st) -> Status {
      ASSIGN_OR_RETURN(r, st.renewal().FindRequestForIssuedCert(device, serial));
      return OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    return r;
  };
  auto scep = find("D1", "5ee1");
  ASSERT_TRUE(scep.has_value());
  EXPECT_EQ(scep->id, scep_id);
  auto acme = find("D2", "a0e1");
  ASSERT_TRUE(acme.has_value());
  EXPECT_EQ(acme->id, acme_id);
  // Another device cannot claim them; unrelated certificates match nothing.
  EXPECT_FALSE(find("D2", "5ee1").has_value());
  EXPECT_FALSE(find("D1", "a0e1").has_value());
  EXPECT_FALSE(find("D1", "c2").has_value());
  // Once completed, a request matches no more.
  ASSERT_TRUE(AddCert("5ee1", kNow, kNow + 365 * kDay, "scep", "txn-1").ok());
  ASSERT_TRUE(Tx([&](Stores& s) { return s.renewal().CompleteRequest(scep_id, "5ee1", kNow); }).ok());
  EXPECT_FALSE(find("D1", "5ee1").has_value());
  // A revoked old identity can no longer be renewed this way.
  ASSERT_TRUE(Tx([&](Stores& s) { return s.certs().Revoke("c2", kNow, 1); }).ok());
  EXPECT_FALSE(find("D2", "a0e1").has_value());
}

INSTANTIATE_TEST_SUITE_P(Drivers, RenewalStoreTest, testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace custos
