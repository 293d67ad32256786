// The ABM client, the syncer and MAID JWT issuer lookup against the ABM simulator (loopback).
#include <gtest/gtest.h>

#include "abmsim.h"
#include "dep/client.h"
#include "dep/maid_jwt.h"
#include "dep/maid_token_service.h"
#include "dep/service.h"
#include "dep/syncer.h"
#include "pki/x509.h"
#include "storage/testing.h"

namespace custos::dep {
namespace {

const DepTokens kTokens{"CK_sim", "CS_sim", "AT_sim", "AS_sim", std::nullopt};

class AbmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto sim = abmsim::AbmSimulator::Start(kTokens);
    ASSERT_TRUE(sim.ok()) << sim.status();
    sim_ = std::move(*sim);
  }
  AbmClientOptions Options() {
    AbmClientOptions o;
    o.base_url = sim_->base_url();
    o.clock = &clock_;
    o.random = &random_;
    o.timeout = Duration(10);
    o.sleep = [this](Duration d) { waits_.push_back(d); };
    return o;
  }
  FakeClock clock_{FromUnixSeconds(1'800'000'000)};
  FakeRandom random_{3};
  std::vector<Duration> waits_;
  std::unique_ptr<abmsim::AbmSimulator> sim_;
};

TEST_F(AbmTest, SignedSessionThenAccount) {
  AbmClient client(kTokens, Options());
  auto account = client.Account();
  ASSERT_TRUE(account.ok()) << account.status();
  EXPECT_EQ((*account)["server_uuid"], abmsim::kServerUuid);
  EXPECT_EQ(sim_->sessions(), 1);
  EXPECT_EQ(sim_->bad_signatures(), 0);
  EXPECT_EQ(sim_->missing_protocol_version(), 0);
  ASSERT_TRUE(client.Account().ok());
  EXPECT_EQ(sim_->sessions(), 1);  // the session is reused

  DepTokens wrong = kTokens;
  wrong.access_secret = "nope";
  AbmClient bad(wrong, Options());
  EXPECT_EQ(bad.Account().status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(sim_->bad_signatures(), 1);
}

TEST_F(AbmTest, ReauthenticatesOnceAfter401And403Forbidden) {
  AbmClient client(kTokens, Options());
  ASSERT_TRUE(client.Account().ok());
  sim_->ExpireSessions(/*forbidden=*/false);
  ASSERT_TRUE(client.Account().ok());
  EXPECT_EQ(client.sessions_started(), 2);
  sim_->ExpireSessions(/*forbidden=*/true);
  ASSERT_TRUE(client.Account().ok());
  EXPECT_EQ(client.sessions_started(), 3);
  EXPECT_EQ(sim_->calls("/account"), 3);
}

TEST_F(AbmTest, HonoursRetryAfterOn429) {
  AbmClient client(kTokens, Options());
  ASSERT_TRUE(client.Authenticate().ok());
  sim_->Fail429(2, 7);
  ASSERT_TRUE(client.Account().ok());
  ASSERT_EQ(waits_.size(), 2u);
  EXPECT_EQ(waits_[0], Duration(7));
  EXPECT_EQ(waits_[1], Duration(7));
  sim_->Fail429(10, 1);
  auto r = client.Account();
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status();  // retries exhausted
}

TEST_F(AbmTest, FetchPagesWithCursorsAndProfiles) {
  for (int i = 0; i < 5; ++i) sim_->AddDevice("SER" + std::to_string(i));
  AbmClient client(kTokens, Options());
  std::string cursor;
  int pages = 0, devices = 0;
  for (;;) {
    auto page = client.FetchDevices(cursor, 2);
    ASSERT_TRUE(page.ok()) << page.status();
    ++pages;
    devices += static_cast<int>(page->devices.size());
    cursor = page->cursor;
    if (!page->more_to_follow) break;
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(devices, 5);
  auto sync = client.SyncDevices(cursor, 100);
  ASSERT_TRUE(sync.ok());
  EXPECT_TRUE(sync->devices.empty());

  nlohmann::json profile = {{"profile_name", "default"}, {"url", "https://mdm.test/mdm/enroll"},
                            {"is_supervised", true}, {"devices", {"SER0"}}};
  auto defined = client.DefineProfile(profile);
  ASSERT_TRUE(defined.ok()) << defined.status();
  std::string uuid = (*defined)["profile_uuid"];
  EXPECT_EQ((*defined)["devices"]["SER0"], "SUCCESS");
  auto got = client.GetProfile(uuid);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)["profile_name"], "default");
  auto assigned = client.AssignProfile(uuid, {"SER1", "NOPE"});
  ASSERT_TRUE(assigned.ok());
  EXPECT_EQ((*assigned)["devices"]["SER1"], "SUCCESS");
  EXPECT_EQ((*assigned)["devices"]["NOPE"], "NOT_ACCESSIBLE");
  auto details = client.DeviceDetails({"SER1"});
  ASSERT_TRUE(details.ok());
  EXPECT_EQ((*details)["devices"]["SER1"]["profile_uuid"], uuid);
  ASSERT_TRUE(client.RemoveProfile({"SER1"}).ok());
  EXPECT_EQ(sim_->device("SER1")["profile_status"], "empty");
  ASSERT_TRUE(client.DisownDevices({"SER4"}).ok());
  EXPECT_TRUE(sim_->device("SER4").is_null());
  EXPECT_EQ(client.GetProfile("unknown").status().code(), StatusCode::kInvalidArgument);

  // Changes since the cursor: assigned, removed, disowned, ...
  auto changes = client.SyncDevices(cursor, 100);
  ASSERT_TRUE(changes.ok());
  EXPECT_GE(changes->devices.size(), 4u);

  sim_->ExpireCursors();
  auto expired = client.SyncDevices(cursor, 100);
  EXPECT_TRUE(IsCursorError(expired.status())) << expired.status();
  auto invalid = client.SyncDevices("garbage", 100);
  EXPECT_TRUE(IsCursorError(invalid.status())) << invalid.status();
}

class RecordingSink : public mdm::EventSink {
 public:
  void Publish(mdm::MdmEvent e) override {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back(std::move(e));
  }
  std::mutex mu;
  std::vector<mdm::MdmEvent> events;
};

class SyncTest : public AbmTest {
 protected:
  void SetUp() override {
    AbmTest::SetUp();
    auto s = OpenTestStorage("sqlite", &clock_);
    ASSERT_TRUE(s.ok());
    storage_ = std::move(*s);
    ASSERT_TRUE(storage_->Transact([](Stores& s) {
      RETURN_IF_ERROR(s.dep().SetStaging("abm", "", "", FromUnixSeconds(0)));
      return s.dep().SetTokens("abm", kTokens, FromUnixSeconds(0));
    }).ok());
  }
  std::unique_ptr<DepService> Service(const std::string& default_profile = "") {
    DepConfig config;
    config.base_url = sim_->base_url();
    config.default_profile_uuid = default_profile;
    auto svc = DepService::Create(config, storage_.get(), &clock_, &random_, "", &registry_);
    EXPECT_TRUE(svc.ok());
    (*svc)->set_client_options(Options());
    return std::move(*svc);
  }
  std::vector<DepDeviceRecord> Devices() {
    std::vector<DepDeviceRecord> out;
    EXPECT_TRUE(storage_->Transact([&](Stores& s) {
      ASSIGN_OR_RETURN(out, s.dep().ListDevices("abm", "", 1000));
      return OkStatus();
    }).ok());
    return out;
  }
  metrics::Registry registry_;
  std::unique_ptr<Storage> storage_;
};

TEST_F(SyncTest, FetchThenSyncThenRestartOnExpiredCursor) {
  for (int i = 0; i < 5; ++i) sim_->AddDevice("S" + std::to_string(i));
  auto service = Service();
  RecordingSink sink;
  Syncer syncer(service.get(), "abm", &sink, /*page_limit=*/2);
  auto r = syncer.RunOnce();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->fetch_pages, 3);
  EXPECT_EQ(r->new_devices, 5);
  auto devices = Devices();
  ASSERT_EQ(devices.size(), 5u);
  EXPECT_EQ(devices[0].model, "MacBook Pro");
  EXPECT_EQ(devices[0].color, "SPACE GRAY");
  EXPECT_EQ(devices[0].os, "OSX");
  EXPECT_EQ(devices[0].profile_status, "empty");
  ASSERT_TRUE(devices[0].device_assigned_date.has_value());
  EXPECT_TRUE(service->Show("abm")->fetch_completed);
  EXPECT_EQ(sink.events.size(), 3u);
  EXPECT_EQ(sink.events[0].topic, "dep.FetchDevices");
  EXPECT_NE(sink.events[0].json_payload.find("\"devices\""), std::string::npos);

  // Next round syncs from the persisted cursor.
  sim_->AddDevice("S9", "iPad");
  Syncer again(service.get(), "abm", &sink, 2);  // a new syncer: the cursor comes from storage
  r = again.RunOnce();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->fetch_pages, 0);
  EXPECT_EQ(r->sync_pages, 1);
  EXPECT_EQ(r->new_devices, 1);
  EXPECT_EQ(sink.events.back().topic, "dep.SyncDevices");
  DepDeviceRecord s9;
  ASSERT_TRUE(storage_->Transact([&](Stores& s) {
    ASSIGN_OR_RETURN(s9, s.dep().GetDevice("abm", "S9"));
    return OkStatus();
  }).ok());
  EXPECT_EQ(s9.op_type, "added");
  EXPECT_EQ(s9.model, "iPad");
  ASSERT_TRUE(s9.op_date.has_value());

  // Expired cursor: restart with a fetch.
  sim_->ExpireCursors();
  r = again.RunOnce();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->restarted);
  EXPECT_EQ(r->fetch_pages, 3);
  EXPECT_EQ(r->new_devices, 0);
}

TEST_F(SyncTest, AssignsTheDefaultProfileToNewDevices) {
  AbmClient client(kTokens, Options());
  auto p = client.DefineProfile({{"profile_name", "default"}, {"url", "https://mdm.test/mdm/enroll"}});
  ASSERT_TRUE(p.ok());
  std::string uuid = (*p)["profile_uuid"];
  sim_->AddDevice("N1");
  sim_->AddDevice("N2");
  auto service = Service(uuid);
  Syncer syncer(service.get(), "abm", nullptr);
  auto r = syncer.RunOnce();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->assigned, 2);
  EXPECT_EQ(sim_->device("N1")["profile_uuid"], uuid);
  // The assignment comes back as a modification at the next sync; nothing is assigned twice.
  r = syncer.RunOnce();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->assigned, 0);
  DepDeviceRecord n1;
  ASSERT_TRUE(storage_->Transact([&](Stores& s) {
    ASSIGN_OR_RETURN(n1, s.dep().GetDevice("abm", "N1"));
    return OkStatus();
  }).ok());
  EXPECT_EQ(n1.profile_status, "assigned");
  EXPECT_EQ(n1.op_type, "modified");
}

TEST_F(SyncTest, MaidJwtIssuerComesFromTheAccountAndIsCached) {
  // Give the name a current key through the real workflow-free path: stage and promote.
  auto service = Service();
  auto pem = service->NewStagingCertificate("abm");
  ASSERT_TRUE(pem.ok());
  ASSERT_TRUE(storage_->Transact([&](Stores& s) {
    return s.dep().PromoteStaging("abm", *pem, clock_.Now());
  }).ok());
  auto jwt = service->MaidJwt("abm");
  ASSERT_TRUE(jwt.ok()) << jwt.status();
  auto claims = VerifyRs256Jwt(*jwt, CertificatePublicKey(ParseCertificate(*pem)->get()).get());
  ASSERT_TRUE(claims.ok());
  EXPECT_EQ(nlohmann::json::parse(*claims)["iss"], abmsim::kServerUuid);
  ASSERT_TRUE(service->MaidJwt("abm").ok());
  EXPECT_EQ(sim_->calls("/account"), 1);  // cached
  EXPECT_EQ(service->Show("abm")->server_uuid, abmsim::kServerUuid);
}

// The GetToken check-in path: the com.apple.maid TokenService answers with a JWT signed by the
// current key, and keeps doing so while a staging pair exists, then switches with the upload.
TEST_F(SyncTest, MaidGetTokenServiceSignsWithTheCurrentKey) {
  auto service = Service();
  MaidTokenService maid(service.get());
  mdm::TokenRequest request;
  request.enrollment_id = "UDID-1";
  request.token_service_type = "com.apple.maid";
  EXPECT_EQ(maid.GetToken(request).status().code(), StatusCode::kFailedPrecondition);  // no key

  auto first = service->NewStagingCertificate("abm");
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(storage_->Transact([&](Stores& s) {
    return s.dep().PromoteStaging("abm", *first, clock_.Now());
  }).ok());
  auto second = service->NewStagingCertificate("abm");  // staged, not live
  ASSERT_TRUE(second.ok());
  auto jwt = maid.GetToken(request);
  ASSERT_TRUE(jwt.ok()) << jwt.status();
  EXPECT_TRUE(VerifyRs256Jwt(*jwt, CertificatePublicKey(ParseCertificate(*first)->get()).get()).ok());
  EXPECT_FALSE(VerifyRs256Jwt(*jwt, CertificatePublicKey(ParseCertificate(*second)->get()).get()).ok());

  ASSERT_TRUE(storage_->Transact([&](Stores& s) {
    return s.dep().PromoteStaging("abm", *second, clock_.Now());
  }).ok());
  jwt = maid.GetToken(request);
  ASSERT_TRUE(jwt.ok()) << jwt.status();
  EXPECT_TRUE(VerifyRs256Jwt(*jwt, CertificatePublicKey(ParseCertificate(*second)->get()).get()).ok());

  request.token_service_type = "com.example.other";
  EXPECT_EQ(maid.GetToken(request).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace custos::dep
