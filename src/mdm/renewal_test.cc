// Tests of the identity renewal job (renewal.h) and of the MDM service's association of a renewed
// identity without Authenticate, on SQLite and PostgreSQL (scripts/with-postgres.sh). Time moves
// with a FakeClock; nothing waits for real expiry.
#include "mdm/renewal.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "base/encoding.h"
#include "mdm/plist_util.h"
#include "mdm/service_test_util.h"
#include "pki/key.h"
#include "storage/testing.h"

namespace custos::mdm {
namespace {

using namespace testutil;  // NOLINT: plist and identity helpers

constexpr auto kDay = std::chrono::hours(24);
const Time kStart = FromUnixSeconds(1800000000);

// Profiles with a counter as the secret, recording what was asked.
class FakeProfiles : public RenewalProfileSource {
 public:
  StatusOr<RenewalProfile> Make(EnrollIdentity identity, const EnrollingDevice& device) override {
    std::lock_guard<std::mutex> lock(mu);
    if (fail) return UnavailableError("profile service down");
    calls.push_back({identity, device.udid, device.serial});
    RenewalProfile p;
    p.identity = identity;
    p.secret = "secret-" + std::to_string(calls.size());
    p.body = "<plist>renewal profile " + p.secret + "</plist>";
    return p;
  }
  struct Call {
    EnrollIdentity identity;
    std::string udid;
    std::string serial;
  };
  std::mutex mu;
  std::vector<Call> calls;
  bool fail = false;
};

// The enrollment policy: attested ACME for the serials in `eligible`, errors for `broken`.
class FakePolicy : public policy::EnrollmentPolicy {
 public:
  StatusOr<bool> RequireHardwareAttestation() override { return require; }
  Status SetRequireHardwareAttestation(bool on, std::string_view) override {
    require = on;
    return OkStatus();
  }
  StatusOr<policy::Eligibility> Evaluate(const policy::DeviceFacts& facts) override {
    if (broken.count(facts.serial)) return UnavailableError("policy store down");
    if (eligible.count(facts.serial)) return policy::Eligibility{true, facts.product + " is eligible"};
    return policy::Eligibility{false, "serial " + facts.serial + " is not known from ABM"};
  }
  StatusOr<policy::IdentityKind> IdentityFor(const policy::DeviceFacts& facts) override {
    ASSIGN_OR_RETURN(policy::Eligibility e, Evaluate(facts));
    return require && e.eligible ? policy::IdentityKind::kAttestedAcme : policy::IdentityKind::kScep;
  }
  bool require = true;
  std::set<std::string> eligible;
  std::set<std::string> broken;
};

class RenewalTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres" && !PostgresAvailable()) GTEST_SKIP() << "no PostgreSQL";
    auto storage = OpenTestStorage(GetParam(), &clock_);
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = std::move(*storage);
    MdmServiceOptions o;
    o.bootstrap_token_key = std::string(32, 'k');
    auto mdm = MdmService::Create(o, storage_.get(), &clock_, Random::Secure());
    ASSERT_TRUE(mdm.ok()) << mdm.status();
    mdm_ = std::move(*mdm);
    mdm_->SetPushTrigger(&push_);
    Status s = storage_->Transact([&](Stores& st) -> Status {
      ASSIGN_OR_RETURN(int64_t key_id, st.ca().InsertKey({0, "pem", false, kStart}));
      CaCertRecord ca;
      ca.role = "issuing";
      ca.key_id = key_id;
      ca.der = "ca";
      ca.subject = "CN=issuing";
      ca.serial_hex = "01";
      ca.sha256_hex = "ca01";
      ca.not_before = kStart - kDay;
      ca.not_after = kStart + 3650 * kDay;
      ca.active = true;
      ca.created_at = kStart;
      ASSIGN_OR_RETURN(issuer_, st.ca().InsertCert(ca));
      return OkStatus();
    });
    ASSERT_TRUE(s.ok()) << s;
    NewJob(nullptr);
  }

  void NewJob(policy::EnrollmentPolicy* policy) {
    job_.reset();
    RenewalOptions o;
    o.enabled = true;
    o.window = 30 * kDay;
    o.interval = Duration(3600);
    o.retry_after = kDay;
    auto job = RenewalJob::Create(o, {storage_.get(), &clock_, Random::Secure(), mdm_.get(),
                                      &profiles_, policy});
    ASSERT_TRUE(job.ok()) << job.status();
    job_ = std::move(*job);
  }

  // Records certificate `name` (as custos' CA would) issued now, valid for `validity`.
  VerifiedDevice Issue(const std::string& name, Duration validity = 365 * kDay,
                       const std::string& requester = "scep", const std::string& ref = "",
                       const std::string& renewal_of = "") {
    VerifiedDevice d = Cert(name);
    d.renewal_of = renewal_of;
    CertificateRecord c;
    c.serial_hex = d.serial_hex;
    c.subject = "CN=" + name;
    c.sans_json = "[]";
    c.spki_sha256 = "spki-" + d.serial_hex;
    c.cert_sha256 = d.cert_sha256;
    c.not_before = clock_.Now();
    c.not_after = clock_.Now() + validity;
    c.issuer_id = issuer_;
    c.requester = requester;
    c.requester_ref = ref.empty() ? "txn-" + name : ref;
    c.renewal_of = renewal_of;
    c.der = "der-" + name;
    c.created_at = clock_.Now();
    Status s = storage_->Transact([&](Stores& st) { return st.certs().Insert(c); });
    EXPECT_TRUE(s.ok()) << s;
    return d;
  }

  // Authenticate + TokenUpdate of `udid` with identity `cert`.
  void Enroll(const std::string& udid, const VerifiedDevice& cert) {
    auto a = mdm_->Checkin(cert, Authenticate(udid));
    ASSERT_TRUE(a.ok()) << a.status();
    auto t = mdm_->Checkin(cert, TokenUpdate(udid));
    ASSERT_TRUE(t.ok()) << t.status();
  }

  RenewalRunResult Run(bool dry_run = false) {
    auto r = job_->RunOnce(std::nullopt, dry_run);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : RenewalRunResult{};
  }

  std::vector<RenewalRequestRecord> Requests(const std::string& enrollment = "") {
    RenewalRequestFilter f;
    f.enrollment_id = enrollment;
    auto r = job_->ListRequests(f);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : std::vector<RenewalRequestRecord>{};
  }

  std::vector<MdmQueueEntry> Queue(const std::string& enrollment) {
    MdmQueueFilter f;
    f.enrollment_id = enrollment;
    auto q = mdm_->ListCommands(f);
    EXPECT_TRUE(q.ok()) << q.status();
    return q.ok() ? *q : std::vector<MdmQueueEntry>{};
  }

  // The device installs the profile of `request` over SCEP: the challenge is spent by
  // transaction `txn`, which issues `name`.
  VerifiedDevice ScepIssueFromRenewal(const RenewalRequestRecord& request, const std::string& secret,
                                      const std::string& name) {
    const std::string txn = "txn-" + name;
    Status s = storage_->Transact([&](Stores& st) -> Status {
      ScepChallengeRecord ch;
      ch.challenge_sha256 = Sha256Hex(secret);
      EXPECT_EQ(ch.challenge_sha256, request.secret_sha256);
      ch.created_at = clock_.Now();
      ch.expires_at = clock_.Now() + kDay;
      RETURN_IF_ERROR(st.scep().InsertChallenge(ch));
      RETURN_IF_ERROR(st.scep().SpendChallenge(ch.challenge_sha256, clock_.Now(), txn));
      ScepTransactionRecord t;
      t.transaction_id = txn;
      t.spki_sha256 = "spki";
      t.message_type = "PKCSReq";
      t.status = "issued";
      t.subject = "CN=" + name;
      t.cert_serial = Cert(name).serial_hex;
      t.created_at = t.updated_at = clock_.Now();
      return st.scep().InsertTransaction(t);
    });
    EXPECT_TRUE(s.ok()) << s;
    return Issue(name, 365 * kDay, "scep", txn);
  }

  FakeClock clock_{kStart};
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<MdmService> mdm_;
  RecordingPush push_;
  FakeProfiles profiles_;
  std::unique_ptr<RenewalJob> job_;
  int64_t issuer_ = 0;
};

TEST_P(RenewalTest, WindowEdgesByMovingTheClock) {
  VerifiedDevice cert = Issue("dev1", 365 * kDay);
  ASSERT_NO_FATAL_FAILURE(Enroll("UDID-1", cert));
  const Time expiry = kStart + 365 * kDay;

  EXPECT_TRUE(Run().actions.empty()) << "a fresh identity is not due";
  clock_.Set(expiry - 30 * kDay - std::chrono::seconds(1));
  EXPECT_TRUE(Run().actions.empty()) << "one second before the window";
  clock_.Set(expiry - 30 * kDay);
  RenewalRunResult r = Run();
  ASSERT_EQ(r.actions.size(), 1u);
  EXPECT_EQ(r.queued, 1);
  const RenewalAction& a = r.actions[0];
  EXPECT_EQ(a.enrollment_id, "UDID-1");
  EXPECT_EQ(a.serial_hex, cert.serial_hex);
  EXPECT_EQ(a.not_after, expiry);
  EXPECT_EQ(a.identity, "scep");
  EXPECT_EQ(a.current_kind, "scep");
  EXPECT_TRUE(a.error.empty()) << a.error;
  ASSERT_FALSE(a.command_uuid.empty());

  // The InstallProfile is queued with the profile as its Payload, and pushed.
  auto queue = Queue("UDID-1");
  ASSERT_EQ(queue.size(), 1u);
  EXPECT_EQ(queue[0].command_uuid, a.command_uuid);
  EXPECT_EQ(queue[0].request_type, "InstallProfile");
  ASSERT_TRUE(queue[0].expires_at.has_value());
  EXPECT_EQ(*queue[0].expires_at, clock_.Now() + kDay);
  auto command = mdm_->GetCommand(a.command_uuid);
  ASSERT_TRUE(command.ok()) << command.status();
  EXPECT_NE(command->payload.find(Base64Encode("<plist>renewal profile secret-1</plist>")),
            std::string::npos)
      << command->payload;
  {
    std::lock_guard<std::mutex> lock(push_.mu);
    ASSERT_FALSE(push_.batches.empty());
    EXPECT_EQ(push_.batches.back(), std::vector<std::string>{"UDID-1"});
  }
  ASSERT_EQ(profiles_.calls.size(), 1u);
  EXPECT_EQ(profiles_.calls[0].identity, EnrollIdentity::kScep);
  EXPECT_EQ(profiles_.calls[0].udid, "UDID-1");
  EXPECT_EQ(profiles_.calls[0].serial, "SERIAL-UDID-1");

  // The request is recorded (secret as its digest only).
  auto requests = Requests("UDID-1");
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].old_serial, cert.serial_hex);
  EXPECT_EQ(requests[0].command_uuid, a.command_uuid);
  EXPECT_EQ(requests[0].identity_kind, "scep");
  EXPECT_EQ(requests[0].secret_sha256, Sha256Hex("secret-1"));
  EXPECT_EQ(requests[0].status, "pending");
  EXPECT_EQ(requests[0].requested_at, clock_.Now());
  EXPECT_EQ(requests[0].old_not_after, expiry);

  // Not sent again on every run; retried once retry_after passed without a new identity.
  EXPECT_TRUE(Run().actions.empty());
  clock_.Advance(kDay);
  EXPECT_TRUE(Run().actions.empty()) << "exactly retry_after later is still the same attempt";
  clock_.Advance(std::chrono::seconds(1));
  RenewalRunResult retry = Run();
  ASSERT_EQ(retry.actions.size(), 1u);
  EXPECT_EQ(retry.actions[0].attempts, 1);
  EXPECT_NE(retry.actions[0].command_uuid, a.command_uuid);
  EXPECT_EQ(Requests("UDID-1").size(), 2u);
  // The first InstallProfile expired: the device is not offered a profile with a stale secret.
  std::map<std::string, std::string> status;
  for (const auto& q : Queue("UDID-1")) status[q.command_uuid] = q.status;
  EXPECT_EQ(status[a.command_uuid], "expired");
  EXPECT_EQ(status[retry.actions[0].command_uuid], "queued");

  // An expired identity is not renewed (the device can no longer authenticate with it).
  clock_.Set(expiry);
  EXPECT_TRUE(Run().actions.empty());
}

TEST_P(RenewalTest, DisabledRevokedAndUserChannelsAreSkipped) {
  VerifiedDevice c1 = Issue("dev1", 20 * kDay);
  VerifiedDevice c2 = Issue("dev2", 20 * kDay);
  VerifiedDevice c3 = Issue("dev3", 20 * kDay);
  ASSERT_NO_FATAL_FAILURE(Enroll("UDID-1", c1));
  ASSERT_NO_FATAL_FAILURE(Enroll("UDID-2", c2));
  ASSERT_NO_FATAL_FAILURE(Enroll("UDID-3", c3));
  ASSERT_TRUE(mdm_->Checkin(c1, TokenUpdate("UDID-1", "user-a")).ok());  // a user channel
  ASSERT_TRUE(mdm_->Checkin(c2, Message("CheckOut", "UDID-2")).ok());    // disabled
  ASSERT_TRUE(storage_->Transact([&](Stores& s) {
                return s.certs().Revoke(c3.serial_hex, clock_.Now(), 1);
              }).ok());
  RenewalRunResult r = Run();
  ASSERT_EQ(r.actions.size(), 1u);
  EXPECT_EQ(r.actions[0].enrollment_id, "UDID-1");
  EXPECT_EQ(Queue("UDID-1:user-a").size(), 0u);
}

TEST_P(RenewalTest, AlreadyRenewedIdentitiesAreSkipped) {
  VerifiedDevice c1 = Issue("dev1", 20 * kDay);
  VerifiedDevice c2 = Issue("dev2", 20 * kDay);
  ASSERT_NO_FATAL_FAILURE(Enroll("UDID-1", c1));
  ASSERT_NO_FATAL_FAILURE(Enroll("UDID-2", c2));
  // UDID-1 renewed over SCEP RenewalReq (not yet used); UDID-2 enrolled again with a new identity.
  clock_.Advance(std::chrono::seconds(10));
  Issue("dev1-renewed", 365 * kDay, "scep", "", c1.serial_hex);
  VerifiedDevice c2b = Issue("dev2-new", 365 * kDay);
  ASSERT_NO_FATAL_FAILURE(Enroll("UDID-2", c2b));
  EXPECT_TRUE(Run().actions.empty());
  EXPECT_TRUE(Requests().empty());
}

TEST_P(RenewalTest, PolicyChoosesTheIdentity) {
  FakePolicy policy;
  policy.eligible = {"SERIAL-UDID-A"};
  NewJob(&policy);
  ASSERT_NO_FATAL_FAILURE(Enroll("UDID-A", Issue("a", 10 * kDay)));
  ASSERT_NO_FATAL_FAILURE(Enroll("UDID-B", Issue("b", 11 * kDay)));
  VerifiedDevice acme = Issue("c", 12 * kDay, "acme");
  ASSERT_NO_FATAL_FAILURE(Enroll("UDID-C", acme));
  policy.eligible.insert("SERIAL-UDID-C");

  RenewalRunResult r = Run();
  ASSERT_EQ(r.actions.size(), 3u);  // soonest expiry first
  EXPECT_EQ(r.actions[0].enrollment_id, "UDID-A");
  EXPECT_EQ(r.actions[0].identity, "acme") << "SCEP to attested ACME";
  EXPECT_NE(r.actions[0].reason.find("eligible"), std::string::npos) << r.actions[0].reason;
  EXPECT_EQ(r.actions[1].enrollment_id, "UDID-B");
  EXPECT_EQ(r.actions[1].identity, "scep");
  EXPECT_NE(r.actions[1].reason.find("not known from ABM"), std::string::npos);
  EXPECT_EQ(r.actions[2].identity, "acme") << "ACME to ACME";
  EXPECT_EQ(r.actions[2].current_kind, "acme");
  ASSERT_EQ(profiles_.calls.size(), 3u);
  EXPECT_EQ(profiles_.calls[0].identity, EnrollIdentity::kAcme);
  EXPECT_EQ(profiles_.calls[0].serial, "SERIAL-UDID-A") << "ClientIdentifier bound to the serial";
  EXPECT_EQ(profiles_.calls[1].identity, EnrollIdentity::kScep);
  auto a = Requests("UDID-A");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].identity_kind, "acme");

  // With the setting off, everyone gets SCEP.
  policy.require = false;
  clock_.Advance(kDay + std::chrono::seconds(1));
  RenewalRunResult off = Run();
  ASSERT_EQ(off.actions.size(), 3u);
  for (const auto& x : off.actions) EXPECT_EQ(x.identity, "scep") << x.enrollment_id;
}

TEST_P(RenewalTest, FailuresAreRecordedAndRetriedLater) {
  FakePolicy policy;
  policy.broken = {"SERIAL-UDID-1"};
  NewJob(&policy);
  ASSERT_NO_FATAL_FAILURE(Enroll("UDID-1", Issue("dev1", 10 * kDay)));
  ASSERT_NO_FATAL_FAILURE(Enroll("UDID-2", Issue("dev2", 10 * kDay)));
  profiles_.fail = true;
  RenewalRunResult r = Run();
  ASSERT_EQ(r.actions.size(), 2u);
  EXPECT_EQ(r.failed, 2);
  EXPECT_EQ(r.queued, 0);
  for (const auto& a : r.actions) {
    EXPECT_FALSE(a.error.empty());
    EXPECT_TRUE(a.command_uuid.empty());
  }
  auto recorded = Requests();
  ASSERT_EQ(recorded.size(), 2u);
  for (const auto& q : recorded) {
    EXPECT_EQ(q.status, "failed");
    EXPECT_TRUE(q.secret_sha256.empty());
  }
  EXPECT_NE(recorded[0].reason.find("policy store down"), std::string::npos) << recorded[0].reason;
  EXPECT_TRUE(Queue("UDID-2").empty());
  EXPECT_TRUE(Run().actions.empty()) << "not retried before retry_after";
  profiles_.fail = false;
  policy.broken.clear();
  clock_.Advance(kDay + std::chrono::seconds(1));
  RenewalRunResult later = Run();
  EXPECT_EQ(later.queued, 2);
}

TEST_P(RenewalTest, DryRunChangesNothing) {
  ASSERT_NO_FATAL_FAILURE(Enroll("UDID-1", Issue("dev1", 10 * kDay)));
  RenewalRunResult r = Run(/*dry_run=*/true);
  ASSERT_EQ(r.actions.size(), 1u);
  EXPECT_TRUE(r.dry_run);
  EXPECT_EQ(r.actions[0].identity, "scep");
  EXPECT_TRUE(r.actions[0].command_uuid.empty());
  EXPECT_TRUE(Requests().empty());
  EXPECT_TRUE(Queue("UDID-1").empty());
  EXPECT_TRUE(profiles_.calls.empty());
  // At a given instant: nothing is due 30 days before the window.
  auto early = job_->RunOnce(kStart - 30 * kDay, true);
  ASSERT_TRUE(early.ok());
  EXPECT_TRUE(early->actions.empty());
  EXPECT_EQ(early->at, kStart - 30 * kDay);
}

TEST_P(RenewalTest, NewIdentityIsAssociatedWithoutAuthenticate) {
  VerifiedDevice old_cert = Issue("dev1", 20 * kDay);
  ASSERT_NO_FATAL_FAILURE(Enroll("UDID-1", old_cert));
  VerifiedDevice other = Issue("dev2", 200 * kDay);
  ASSERT_NO_FATAL_FAILURE(Enroll("UDID-2", other));
  RenewalRunResult r = Run();
  ASSERT_EQ(r.queued, 1);
  const RenewalRequestRecord request = Requests("UDID-1").at(0);

  // The device takes the InstallProfile with its old identity and acknowledges it.
  auto idle = mdm_->Report(old_cert, Report("UDID-1", "Idle"));
  ASSERT_TRUE(idle.ok()) << idle.status();
  EXPECT_NE(idle->body.find(request.command_uuid), std::string::npos);

  // It enrols with the profile's challenge and speaks with the new identity: accepted.
  clock_.Advance(std::chrono::seconds(5));
  VerifiedDevice fresh = ScepIssueFromRenewal(request, "secret-1", "dev1-fresh");
  // Another device cannot use it, before or after.
  auto stolen = mdm_->Report(fresh, Report("UDID-2", "Idle"));
  EXPECT_EQ(stolen.status().code(), StatusCode::kPermissionDenied) << stolen.status();
  auto ack = mdm_->Report(fresh, Report("UDID-1", "Acknowledged", request.command_uuid));
  ASSERT_TRUE(ack.ok()) << ack.status();
  auto token = mdm_->Checkin(fresh, TokenUpdate("UDID-1"));
  ASSERT_TRUE(token.ok()) << token.status();
  // The old identity stays valid until it expires or is revoked.
  EXPECT_TRUE(mdm_->Report(old_cert, Report("UDID-1", "Idle")).ok());
  auto stolen_again = mdm_->Report(fresh, Report("UDID-2", "Idle"));
  EXPECT_EQ(stolen_again.status().code(), StatusCode::kPermissionDenied);

  auto done = Requests("UDID-1");
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].status, "completed");
  EXPECT_EQ(done[0].new_serial, fresh.serial_hex);
  CertificateRecord rec;
  ASSERT_TRUE(storage_->Transact([&](Stores& s) -> Status {
                ASSIGN_OR_RETURN(rec, s.certs().GetBySerial(fresh.serial_hex));
                return OkStatus();
              }).ok());
  EXPECT_EQ(rec.renewal_of, old_cert.serial_hex);
  bool enabled = false;
  auto e = mdm_->GetEnrollment("UDID-1");
  ASSERT_TRUE(e.ok());
  enabled = e->enabled;
  EXPECT_TRUE(enabled) << "still enrolled, no Authenticate";
  for (const auto& q : Queue("UDID-1")) {
    if (q.command_uuid == request.command_uuid) {
      EXPECT_EQ(q.status, "Acknowledged");
    }
  }
  // Renewed: never due again, even after the retry time.
  clock_.Advance(2 * kDay);
  EXPECT_TRUE(Run().actions.empty());
}

TEST_P(RenewalTest, CertificatesFromOtherSecretsAreRefused) {
  VerifiedDevice old_cert = Issue("dev1", 20 * kDay);
  ASSERT_NO_FATAL_FAILURE(Enroll("UDID-1", old_cert));
  ASSERT_EQ(Run().queued, 1);
  RenewalRequestRecord request = Requests("UDID-1").at(0);
  // A certificate from an ordinary enrollment challenge (not the renewal's) is not associated.
  RenewalRequestRecord unrelated = request;
  unrelated.secret_sha256 = Sha256Hex("another challenge");
  VerifiedDevice foreign = ScepIssueFromRenewal(unrelated, "another challenge", "foreign");
  auto r = mdm_->Report(foreign, Report("UDID-1", "Idle"));
  EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied) << r.status();
  // Revoking the old identity cancels the pending renewal.
  ASSERT_TRUE(storage_->Transact([&](Stores& s) {
                return s.certs().Revoke(old_cert.serial_hex, clock_.Now(), 1);
              }).ok());
  VerifiedDevice fresh = ScepIssueFromRenewal(request, "secret-1", "fresh");
  auto after_revoke = mdm_->Report(fresh, Report("UDID-1", "Idle"));
  EXPECT_EQ(after_revoke.status().code(), StatusCode::kPermissionDenied) << after_revoke.status();
}

TEST_P(RenewalTest, BackgroundThreadRunsAndStops) {
  ASSERT_NO_FATAL_FAILURE(Enroll("UDID-1", Issue("dev1", 10 * kDay)));
  job_->Start();
  job_->Start();  // idempotent
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (Requests("UDID-1").empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto begin = std::chrono::steady_clock::now();
  job_->Stop();
  job_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(5))
      << "Stop does not wait for the next interval";
  EXPECT_EQ(Requests("UDID-1").size(), 1u);
}

TEST_P(RenewalTest, DisabledJobHasNoThread) {
  RenewalOptions o;
  o.enabled = false;
  auto job = RenewalJob::Create(o, {storage_.get(), &clock_, Random::Secure(), mdm_.get(),
                                    &profiles_, nullptr});
  ASSERT_TRUE(job.ok());
  ASSERT_NO_FATAL_FAILURE(Enroll("UDID-1", Issue("dev1", 10 * kDay)));
  (*job)->Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  (*job)->Stop();
  EXPECT_TRUE(Requests().empty());
  // But it still runs on demand.
  auto r = (*job)->RunOnce();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->queued, 1);
}

INSTANTIATE_TEST_SUITE_P(Drivers, RenewalTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

TEST(RenewalJobCreate, RefusesMissingDependencies) {
  EXPECT_EQ(RenewalJob::Create({}, {}).status().code(), StatusCode::kInvalidArgument);
}

TEST(ProfileSecret, ReadsTheChallengeOrClientIdentifier) {
  ProfileContent c;
  c.identifier = "com.example.mdm";
  c.organization = "Example";
  c.display_name = "Example MDM";
  c.scep_url = "https://mdm.example.com/scep";
  c.acme_directory_url = "https://mdm.example.com/acme/directory";
  c.server_url = "https://mdm.example.com/mdm/connect";
  c.checkin_url = "https://mdm.example.com/mdm/checkin";
  c.topic = "com.apple.mgmt.External.x";
  c.subject_common_name = "%HardwareUUID%";
  auto scep = BuildEnrollmentProfile(c, EnrollIdentity::kScep, "the-challenge", Random::Secure());
  ASSERT_TRUE(scep.ok()) << scep.status();
  auto s = ProfileSecret(*scep);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, "the-challenge");
  auto acme = BuildEnrollmentProfile(c, EnrollIdentity::kAcme, "client-id", Random::Secure());
  ASSERT_TRUE(acme.ok()) << acme.status();
  auto a = ProfileSecret(*acme);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(*a, "client-id");
  EXPECT_EQ(ProfileSecret("not a plist").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ProfileSecret(Xml(S("PayloadType", "Configuration") +
                              "<key>PayloadContent</key><array/>"))
                .status()
                .code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace custos::mdm
