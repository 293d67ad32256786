// Tests of MdmService (service.h): every check-in type, the command queue (priority + FIFO,
// NotNow, expiry, results, many-id enqueue), certificate association rules, events and pushes.
// Runs on SQLite (and PostgreSQL when scripts/with-postgres.sh provides one).
#include "mdm/service.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>

#include "base/encoding.h"
#include "mdm/service_test_util.h"
#include "storage/testing.h"

namespace custos::mdm {
namespace {

using testutil::B;
using testutil::D;
using testutil::S;
using testutil::Xml;

class MdmServiceTest : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres" && !PostgresAvailable()) GTEST_SKIP() << "no PostgreSQL";
    auto s = OpenTestStorage(GetParam());
    ASSERT_TRUE(s.ok()) << s.status();
    storage_ = std::move(*s);
    service_ = NewService(std::string(32, 'k'), false);
  }

  std::unique_ptr<MdmService> NewService(std::string key, bool digest) {
    MdmServiceOptions options;
    options.bootstrap_token_key = std::move(key);
    options.user_authenticate_digest_challenge = digest;
    auto s = MdmService::Create(options, storage_.get(), &clock_, &random_);
    EXPECT_TRUE(s.ok()) << s.status();
    (*s)->SetEventSink(&sink_);
    (*s)->SetPushTrigger(&push_);
    return std::move(*s);
  }

  // Authenticate + TokenUpdate of `udid` with `cert`.
  void Enroll(const std::string& udid, const VerifiedDevice& cert) {
    auto a = service_->Checkin(cert, testutil::Authenticate(udid));
    ASSERT_TRUE(a.ok()) << a.status();
    auto t = service_->Checkin(cert, testutil::TokenUpdate(udid));
    ASSERT_TRUE(t.ok()) << t.status();
  }

  std::string EnqueueBuilt(const std::vector<std::string>& ids, const std::string& type,
                           int64_t priority = 0, std::optional<Time> expires = std::nullopt) {
    EnqueueRequest r;
    r.enrollment_ids = ids;
    r.request_type = type;
    r.priority = priority;
    r.expires_at = expires;
    auto res = service_->Enqueue(r);
    EXPECT_TRUE(res.ok()) << res.status();
    return res.ok() ? res->command_uuid : "";
  }

  // The CommandUUID in a reply ("" for an empty one).
  static std::string ReplyUuid(const MdmReply& reply) {
    if (reply.body.empty()) return "";
    auto p = Plist::Parse(reply.body);
    if (!p.ok()) return "unparsable";
    auto d = PlistDict::Of(p->get());
    if (!d.ok()) return "not a dict";
    return d->StringOr("CommandUUID", "").value_or("");
  }

  StatusOr<MdmReply> Report(const VerifiedDevice& dev, const std::string& udid,
                            const std::string& status, const std::string& uuid = "",
                            const std::string& extra = "") {
    return service_->Report(dev, testutil::Report(udid, status, uuid, extra));
  }

  std::vector<MdmQueueEntry> Commands(const std::string& id) {
    MdmQueueFilter f;
    f.enrollment_id = id;
    auto l = service_->ListCommands(f);
    EXPECT_TRUE(l.ok()) << l.status();
    return l.ok() ? *l : std::vector<MdmQueueEntry>{};
  }

  FakeClock clock_{FromUnixSeconds(1'750'000'000)};
  FakeRandom random_{42};
  testutil::RecordingSink sink_;
  testutil::RecordingPush push_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<MdmService> service_;
  const VerifiedDevice cert_a_ = testutil::Cert("a");
  const VerifiedDevice cert_b_ = testutil::Cert("b");
};

TEST_P(MdmServiceTest, AuthenticateStoresDeviceDisabledUntilTokenUpdate) {
  auto r = service_->Checkin(cert_a_, testutil::Authenticate("UDID-A"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->http_status, 200);
  EXPECT_TRUE(r->body.empty());
  auto e = service_->GetEnrollment("UDID-A");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_FALSE(e->enabled);
  EXPECT_EQ(e->type, "Device");
  EXPECT_EQ(e->serial_number, "SERIAL-UDID-A");
  ASSERT_EQ(sink_.events.size(), 1u);
  EXPECT_EQ(sink_.events[0].topic, "mdm.Authenticate");
  EXPECT_EQ(sink_.events[0].udid, "UDID-A");
  EXPECT_EQ(sink_.events[0].raw_payload, testutil::Authenticate("UDID-A"));

  auto t = service_->Checkin(cert_a_, testutil::TokenUpdate("UDID-A"));
  ASSERT_TRUE(t.ok()) << t.status();
  e = service_->GetEnrollment("UDID-A");
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->enabled);
  EXPECT_EQ(e->push_token_hex, HexEncode("token-UDID-A"));
  EXPECT_EQ(e->push_magic, "magic-UDID-A");
  EXPECT_EQ(e->unlock_token, "unlock");
  EXPECT_EQ(e->token_update_tally, 1);
  EXPECT_EQ(sink_.events.back().topic, "mdm.TokenUpdate");

  auto info = service_->GetPushInfo({"UDID-A", "nope"});
  ASSERT_TRUE(info.ok());
  ASSERT_EQ(info->size(), 1u);
  EXPECT_EQ((*info)[0].push_magic, "magic-UDID-A");
  ASSERT_TRUE(service_->MarkTokenUnregistered("UDID-A", HexEncode("token-UDID-A")).ok());
  info = service_->GetPushInfo({"UDID-A"});
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE((*info)[0].token_unregistered);
  // The next TokenUpdate clears it.
  ASSERT_TRUE(service_->Checkin(cert_a_, testutil::TokenUpdate("UDID-A")).ok());
  info = service_->GetPushInfo({"UDID-A"});
  EXPECT_FALSE((*info)[0].token_unregistered);
}

TEST_P(MdmServiceTest, RealVectorsAuthenticateAndTokenUpdate) {
  const std::string dir = "/work/shared/vectors/nanomdm/mdm/testdata/";
  auto read = [&](const std::string& name) {
    std::ifstream in(dir + name, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  std::string auth = read("Authenticate.1.plist"), token = read("TokenUpdate.1.plist");
  if (auth.empty() || token.empty()) GTEST_SKIP() << "vectors not available";
  ASSERT_TRUE(service_->Checkin(cert_a_, auth).ok());
  auto t = service_->Checkin(cert_a_, token);
  ASSERT_TRUE(t.ok()) << t.status();
  auto e = service_->GetEnrollment("663b07bb783e9ade1dae4fbb92ea12afc0ce5b69");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_TRUE(e->enabled);
  EXPECT_EQ(e->serial_number, "F5JM992LF193");
  EXPECT_EQ(e->push_magic, "CEFDF0BD-E342-4A27-8742-E930EA116B0A");
  EXPECT_FALSE(e->unlock_token.empty());
}

TEST_P(MdmServiceTest, AuthenticateClearsQueueAndDisablesUserChannels) {
  Enroll("UDID-A", cert_a_);
  ASSERT_TRUE(service_->Checkin(cert_a_, testutil::TokenUpdate("UDID-A", "USER-1")).ok());
  auto user = service_->GetEnrollment("UDID-A:USER-1");
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(user->type, "User");
  EXPECT_EQ(user->parent_id, "UDID-A");
  EXPECT_TRUE(user->enabled);
  std::string uuid = EnqueueBuilt({"UDID-A", "UDID-A:USER-1"}, "ProfileList");
  ASSERT_TRUE(service_->Checkin(cert_a_, testutil::Authenticate("UDID-A")).ok());
  for (const char* id : {"UDID-A", "UDID-A:USER-1"}) {
    auto cmds = Commands(id);
    ASSERT_EQ(cmds.size(), 1u) << id;
    EXPECT_EQ(cmds[0].status, "cleared");
    EXPECT_FALSE(cmds[0].active);
    auto e = service_->GetEnrollment(id);
    ASSERT_TRUE(e.ok());
    EXPECT_FALSE(e->enabled) << id;
  }
}

TEST_P(MdmServiceTest, CheckOutDisables) {
  Enroll("UDID-A", cert_a_);
  ASSERT_TRUE(service_->Checkin(cert_a_, testutil::TokenUpdate("UDID-A", "USER-1")).ok());
  // A user channel's CheckOut leaves the device enabled.
  ASSERT_TRUE(service_->Checkin(cert_a_, testutil::Message("CheckOut", "UDID-A", "USER-1")).ok());
  EXPECT_FALSE(service_->GetEnrollment("UDID-A:USER-1")->enabled);
  EXPECT_TRUE(service_->GetEnrollment("UDID-A")->enabled);
  ASSERT_TRUE(service_->Checkin(cert_a_, testutil::TokenUpdate("UDID-A", "USER-1")).ok());
  ASSERT_TRUE(service_->Checkin(cert_a_, testutil::Message("CheckOut", "UDID-A")).ok());
  EXPECT_FALSE(service_->GetEnrollment("UDID-A")->enabled);
  EXPECT_FALSE(service_->GetEnrollment("UDID-A:USER-1")->enabled);
  EXPECT_EQ(sink_.events.back().topic, "mdm.CheckOut");
}

TEST_P(MdmServiceTest, UserChannelOfUnknownDeviceRefused) {
  ASSERT_TRUE(service_->Checkin(cert_a_, testutil::Authenticate("UDID-A")).ok());
  // The certificate belongs to UDID-A, so a user channel of UDID-B is refused outright.
  auto r = service_->Checkin(cert_a_, testutil::TokenUpdate("UDID-B", "USER-1"));
  EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(service_->GetEnrollment("UDID-B:USER-1").status().code(), StatusCode::kNotFound);
}

TEST_P(MdmServiceTest, UserAuthenticateRefusedOrChallenged) {
  Enroll("UDID-A", cert_a_);
  const std::string first = testutil::Message("UserAuthenticate", "UDID-A", "USER-1");
  auto r = service_->Checkin(cert_a_, first);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->http_status, 410);

  service_ = NewService(std::string(32, 'k'), /*digest=*/true);
  r = service_->Checkin(cert_a_, first);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->http_status, 200);
  auto p = Plist::Parse(r->body);
  ASSERT_TRUE(p.ok());
  auto d = PlistDict::Of(p->get());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->StringOr("DigestChallenge", "absent").value_or("?"), "");
  r = service_->Checkin(cert_a_, testutil::Message("UserAuthenticate", "UDID-A", "USER-1",
                                                   S("DigestResponse", "resp")));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->http_status, 200);
  EXPECT_TRUE(r->body.empty());
}

TEST_P(MdmServiceTest, BootstrapTokenEncryptedAtRest) {
  Enroll("UDID-A", cert_a_);
  const std::string secret = "bootstrap-secret-bytes";
  ASSERT_TRUE(service_
                  ->Checkin(cert_a_, testutil::Message("SetBootstrapToken", "UDID-A", "",
                                                       D("BootstrapToken", secret)))
                  .ok());
  std::string stored;
  ASSERT_TRUE(storage_
                  ->Transact([&](Stores& s) -> Status {
                    ASSIGN_OR_RETURN(stored, s.mdm().GetBootstrapToken("UDID-A"));
                    return OkStatus();
                  })
                  .ok());
  EXPECT_EQ(stored.find(secret), std::string::npos);
  EXPECT_GT(stored.size(), secret.size());

  auto r = service_->Checkin(cert_a_, testutil::Message("GetBootstrapToken", "UDID-A"));
  ASSERT_TRUE(r.ok()) << r.status();
  auto p = Plist::Parse(r->body);
  ASSERT_TRUE(p.ok());
  auto d = PlistDict::Of(p->get());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->Data("BootstrapToken").value_or(""), secret);

  // Another key cannot read it.
  auto other = NewService(std::string(32, 'x'), false);
  EXPECT_EQ(other->Checkin(cert_a_, testutil::Message("GetBootstrapToken", "UDID-A")).status().code(),
            StatusCode::kDataLoss);

  // Clearing: SetBootstrapToken without a token; GetBootstrapToken answers an empty dict.
  ASSERT_TRUE(service_->Checkin(cert_a_, testutil::Message("SetBootstrapToken", "UDID-A")).ok());
  r = service_->Checkin(cert_a_, testutil::Message("GetBootstrapToken", "UDID-A"));
  ASSERT_TRUE(r.ok());
  p = Plist::Parse(r->body);
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(PlistDict::Of(p->get())->Has("BootstrapToken"));
}

TEST_P(MdmServiceTest, DeclarativeManagementForwardedOrRefused) {
  Enroll("UDID-A", cert_a_);
  const std::string dm = testutil::Message("DeclarativeManagement", "UDID-A", "",
                                           S("Endpoint", "tokens") + D("Data", "{\"x\":1}"));
  EXPECT_EQ(service_->Checkin(cert_a_, dm).status().code(), StatusCode::kFailedPrecondition);
  auto forwarder = std::make_unique<testutil::FakeForwarder>();
  auto* f = forwarder.get();
  service_->SetDeclarativeManagement(std::move(forwarder));
  auto r = service_->Checkin(cert_a_, dm);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "{\"SyncTokens\":{}}");
  EXPECT_EQ(r->content_type, "application/json");
  ASSERT_EQ(f->requests.size(), 1u);
  EXPECT_EQ(f->requests[0].endpoint, "tokens");
  EXPECT_EQ(f->requests[0].data, "{\"x\":1}");
  EXPECT_EQ(f->requests[0].enrollment_id, "UDID-A");
}

TEST_P(MdmServiceTest, GetTokenThroughRegistry) {
  Enroll("UDID-A", cert_a_);
  const std::string msg = testutil::Message("GetToken", "UDID-A", "",
                                            S("TokenServiceType", "com.apple.maid"));
  EXPECT_EQ(service_->Checkin(cert_a_, msg).status().code(), StatusCode::kInvalidArgument);
  auto svc = std::make_shared<testutil::FakeTokenService>();
  service_->RegisterTokenService("com.apple.maid", svc);
  auto r = service_->Checkin(cert_a_, msg);
  ASSERT_TRUE(r.ok()) << r.status();
  auto p = Plist::Parse(r->body);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(PlistDict::Of(p->get())->Data("TokenData").value_or(""), "jwt-for-UDID-A");
  EXPECT_EQ(sink_.events.back().topic, "mdm.GetToken");
}

TEST_P(MdmServiceTest, MalformedCheckinsRefused) {
  EXPECT_EQ(service_->Checkin(cert_a_, "not a plist").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->Checkin(cert_a_, Xml(S("MessageType", "Bogus") + S("UDID", "U"))).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->Checkin(cert_a_, Xml(S("MessageType", "Authenticate") + S("Topic", "t")))
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(sink_.events.empty());
}

// ---- Certificate association ---------------------------------------------------------------------

TEST_P(MdmServiceTest, CertificateOfAnotherDeviceRefusedAndNothingStored) {
  Enroll("UDID-A", cert_a_);
  const size_t events = sink_.events.size();
  auto r = service_->Checkin(cert_a_, testutil::Authenticate("UDID-B"));
  EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(service_->GetEnrollment("UDID-B").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(sink_.events.size(), events);
  // And a command report from UDID-B with A's certificate.
  EXPECT_EQ(Report(cert_a_, "UDID-B", "Idle").status().code(), StatusCode::kPermissionDenied);
}

TEST_P(MdmServiceTest, UnassociatedCertificateRefusedAfterAuthenticate) {
  Enroll("UDID-A", cert_a_);
  VerifiedDevice stranger = testutil::Cert("stranger");
  EXPECT_EQ(Report(stranger, "UDID-A", "Idle").status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(service_->Checkin(stranger, testutil::TokenUpdate("UDID-A")).status().code(),
            StatusCode::kPermissionDenied);
  // A new Authenticate with a fresh certificate (re-enrollment) associates it.
  ASSERT_TRUE(service_->Checkin(stranger, testutil::Authenticate("UDID-A")).ok());
  EXPECT_TRUE(Report(stranger, "UDID-A", "Idle").ok());
}

TEST_P(MdmServiceTest, RenewalAcceptedWithoutAuthenticate) {
  Enroll("UDID-A", cert_a_);
  VerifiedDevice renewed = testutil::Cert("a2");
  renewed.renewal_of = cert_a_.serial_hex;
  auto r = Report(renewed, "UDID-A", "Idle");
  ASSERT_TRUE(r.ok()) << r.status();
  // Now associated: a second renewal of the renewal works too, and the old one still does.
  VerifiedDevice renewed2 = testutil::Cert("a3");
  renewed2.renewal_of = renewed.serial_hex;
  EXPECT_TRUE(service_->Checkin(renewed2, testutil::TokenUpdate("UDID-A")).ok());
  EXPECT_TRUE(Report(cert_a_, "UDID-A", "Idle").ok());
  // A renewal of another device's certificate is refused.
  Enroll("UDID-B", cert_b_);
  VerifiedDevice thief = testutil::Cert("b2");
  thief.renewal_of = cert_b_.serial_hex;
  EXPECT_EQ(Report(thief, "UDID-A", "Idle").status().code(), StatusCode::kPermissionDenied);
}

TEST_P(MdmServiceTest, NoIdentityRefused) {
  EXPECT_EQ(service_->Checkin(VerifiedDevice{}, testutil::Authenticate("UDID-A")).status().code(),
            StatusCode::kPermissionDenied);
}

// ---- Commands ------------------------------------------------------------------------------------

TEST_P(MdmServiceTest, PriorityFifoAndResults) {
  Enroll("UDID-A", cert_a_);
  std::string first = EnqueueBuilt({"UDID-A"}, "ProfileList");
  std::string second = EnqueueBuilt({"UDID-A"}, "SecurityInfo");
  std::string urgent = EnqueueBuilt({"UDID-A"}, "DeviceLock", 10);
  ASSERT_EQ(push_.batches.size(), 3u);
  EXPECT_EQ(push_.batches[0], std::vector<std::string>{"UDID-A"});

  auto r = Report(cert_a_, "UDID-A", "Idle");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReplyUuid(*r), urgent);
  EXPECT_EQ(r->content_type, "application/xml");
  r = Report(cert_a_, "UDID-A", "Acknowledged", urgent);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReplyUuid(*r), first);
  r = Report(cert_a_, "UDID-A", "Error", first,
             "<key>ErrorChain</key><array><dict><key>ErrorCode</key><integer>12021</integer>"
             "<key>ErrorDomain</key><string>MCInstallationErrorDomain</string></dict></array>");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReplyUuid(*r), second);
  r = Report(cert_a_, "UDID-A", "CommandFormatError", second);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReplyUuid(*r), "");

  auto cmds = Commands("UDID-A");
  ASSERT_EQ(cmds.size(), 3u);
  std::map<std::string, MdmQueueEntry> by_uuid;
  for (auto& c : cmds) by_uuid[c.command_uuid] = c;
  EXPECT_EQ(by_uuid[urgent].status, "Acknowledged");
  EXPECT_EQ(by_uuid[first].status, "Error");
  EXPECT_NE(by_uuid[first].error_chain_json.find("12021"), std::string::npos);
  EXPECT_NE(by_uuid[first].result.find("MCInstallationErrorDomain"), std::string::npos);
  EXPECT_EQ(by_uuid[second].status, "CommandFormatError");
  EXPECT_EQ(by_uuid[second].request_type, "SecurityInfo");
  for (auto& c : cmds) EXPECT_FALSE(c.active);

  // mdm.Connect events carry status and CommandUUID.
  std::vector<std::string> statuses;
  for (const auto& e : sink_.events) {
    if (e.topic == "mdm.Connect") statuses.push_back(e.status + ":" + e.command_uuid);
  }
  EXPECT_EQ(statuses, (std::vector<std::string>{"Idle:", "Acknowledged:" + urgent,
                                                "Error:" + first,
                                                "CommandFormatError:" + second}));
}

TEST_P(MdmServiceTest, NotNowSkippedUntilNextIdle) {
  Enroll("UDID-A", cert_a_);
  std::string a = EnqueueBuilt({"UDID-A"}, "ProfileList");
  std::string b = EnqueueBuilt({"UDID-A"}, "SecurityInfo");
  auto r = Report(cert_a_, "UDID-A", "Idle");
  ASSERT_EQ(ReplyUuid(*r), a);
  r = Report(cert_a_, "UDID-A", "NotNow", a);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReplyUuid(*r), b);  // a skipped
  r = Report(cert_a_, "UDID-A", "Acknowledged", b);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ReplyUuid(*r), "");  // still skipped for the rest of this connection
  r = Report(cert_a_, "UDID-A", "Idle");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ReplyUuid(*r), a);  // offered again
  r = Report(cert_a_, "UDID-A", "Acknowledged", a);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ReplyUuid(*r), "");
  EXPECT_EQ(Commands("UDID-A")[0].status, "Acknowledged");
}

TEST_P(MdmServiceTest, ResultForCommandNeverSentRefused) {
  Enroll("UDID-A", cert_a_);
  std::string a = EnqueueBuilt({"UDID-A"}, "ProfileList");
  const size_t events = sink_.events.size();
  // Queued but not yet sent.
  EXPECT_EQ(Report(cert_a_, "UDID-A", "Acknowledged", a).status().code(),
            StatusCode::kInvalidArgument);
  // Unknown.
  EXPECT_EQ(Report(cert_a_, "UDID-A", "Acknowledged", "NOT-A-COMMAND").status().code(),
            StatusCode::kInvalidArgument);
  auto cmds = Commands("UDID-A");
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].status, "queued");
  EXPECT_TRUE(cmds[0].result.empty());
  EXPECT_EQ(sink_.events.size(), events);
  // Sent to another enrollment only.
  Enroll("UDID-B", cert_b_);
  std::string b = EnqueueBuilt({"UDID-B"}, "ProfileList");
  ASSERT_EQ(ReplyUuid(*Report(cert_b_, "UDID-B", "Idle")), b);
  EXPECT_EQ(Report(cert_a_, "UDID-A", "Acknowledged", b).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_P(MdmServiceTest, RepeatedResultKeepsTheFirst) {
  Enroll("UDID-A", cert_a_);
  std::string a = EnqueueBuilt({"UDID-A"}, "ProfileList");
  ASSERT_EQ(ReplyUuid(*Report(cert_a_, "UDID-A", "Idle")), a);
  ASSERT_TRUE(Report(cert_a_, "UDID-A", "Acknowledged", a).ok());
  auto again = Report(cert_a_, "UDID-A", "Error", a);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(Commands("UDID-A")[0].status, "Acknowledged");
}

TEST_P(MdmServiceTest, SentButUnansweredIsSentAgain) {
  Enroll("UDID-A", cert_a_);
  std::string a = EnqueueBuilt({"UDID-A"}, "ProfileList");
  ASSERT_EQ(ReplyUuid(*Report(cert_a_, "UDID-A", "Idle")), a);
  ASSERT_EQ(ReplyUuid(*Report(cert_a_, "UDID-A", "Idle")), a);
  EXPECT_EQ(Commands("UDID-A")[0].status, "sent");
}

TEST_P(MdmServiceTest, ExpiredCommandsNotDelivered) {
  Enroll("UDID-A", cert_a_);
  std::string a =
      EnqueueBuilt({"UDID-A"}, "ProfileList", 0, clock_.Now() + std::chrono::seconds(60));
  clock_.Set(clock_.Now() + std::chrono::seconds(61));
  auto r = Report(cert_a_, "UDID-A", "Idle");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ReplyUuid(*r), "");
  auto cmds = Commands("UDID-A");
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].status, "expired");
}

TEST_P(MdmServiceTest, ExpireCommandsRetiresOnlyExpired) {
  Enroll("UDID-A", cert_a_);
  std::string soon =
      EnqueueBuilt({"UDID-A"}, "ProfileList", 0, clock_.Now() + std::chrono::seconds(60));
  std::string later =
      EnqueueBuilt({"UDID-A"}, "SecurityInfo", 0, clock_.Now() + std::chrono::seconds(600));
  std::string never = EnqueueBuilt({"UDID-A"}, "CertificateList");
  auto none = service_->ExpireCommands();
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(*none, 0);
  clock_.Set(clock_.Now() + std::chrono::seconds(61));
  auto n = service_->ExpireCommands();
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 1);
  EXPECT_EQ(*service_->ExpireCommands(), 0);  // already retired
  std::map<std::string, std::string> status;
  for (const auto& c : Commands("UDID-A")) status[c.command_uuid] = c.status;
  EXPECT_EQ(status[soon], "expired");
  EXPECT_EQ(status[later], "queued");
  EXPECT_EQ(status[never], "queued");
  // The next Idle gets the first live command.
  EXPECT_EQ(ReplyUuid(*Report(cert_a_, "UDID-A", "Idle")), later);
}

TEST_P(MdmServiceTest, EnqueueManyRawAndNoPush) {
  std::vector<std::string> ids;
  ASSERT_TRUE(storage_
                  ->Transact([&](Stores& s) -> Status {
                    for (int i = 0; i < 3000; ++i) {
                      MdmEnrollmentRecord e;
                      e.id = "DEV-" + std::to_string(i);
                      e.device_id = e.id;
                      e.type = "Device";
                      e.enabled = true;
                      e.created_at = e.updated_at = clock_.Now();
                      RETURN_IF_ERROR(s.mdm().UpsertEnrollment(e));
                      ids.push_back(e.id);
                    }
                    return OkStatus();
                  })
                  .ok());
  EnqueueRequest r;
  r.enrollment_ids = ids;
  r.enrollment_ids.push_back("UNKNOWN");
  r.enrollment_ids.push_back(ids[0]);  // duplicates are ignored
  r.raw_command = Xml(S("CommandUUID", "RAW-1") +
                      "<key>Command</key><dict>" + S("RequestType", "ProfileList") + "</dict>");
  auto res = service_->Enqueue(r);
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->command_uuid, "RAW-1");
  EXPECT_EQ(res->request_type, "ProfileList");
  EXPECT_EQ(res->queued.size(), 3000u);
  EXPECT_EQ(res->unknown, std::vector<std::string>{"UNKNOWN"});
  EXPECT_TRUE(res->push_requested);
  ASSERT_EQ(push_.batches.size(), 1u);
  EXPECT_EQ(push_.batches[0].size(), 3000u);
  auto cmd = service_->GetCommand("RAW-1");
  ASSERT_TRUE(cmd.ok());
  EXPECT_NE(cmd->payload.find("ProfileList"), std::string::npos);

  // The same CommandUUID again is refused.
  EXPECT_EQ(service_->Enqueue(r).status().code(), StatusCode::kAlreadyExists);
  // nopush.
  EnqueueRequest quiet;
  quiet.enrollment_ids = {ids[1]};
  quiet.request_type = "SecurityInfo";
  quiet.no_push = true;
  res = service_->Enqueue(quiet);
  ASSERT_TRUE(res.ok());
  EXPECT_FALSE(res->push_requested);
  EXPECT_EQ(push_.batches.size(), 1u);
  // Bad requests.
  EnqueueRequest empty;
  empty.request_type = "SecurityInfo";
  EXPECT_EQ(service_->Enqueue(empty).status().code(), StatusCode::kInvalidArgument);
  EnqueueRequest bad;
  bad.enrollment_ids = {ids[1]};
  bad.request_type = "NoSuchCommand";
  EXPECT_EQ(service_->Enqueue(bad).status().code(), StatusCode::kInvalidArgument);
  bad.request_type = "";
  bad.raw_command = "garbage";
  EXPECT_EQ(service_->Enqueue(bad).status().code(), StatusCode::kInvalidArgument);
}

TEST_P(MdmServiceTest, DeleteQueued) {
  Enroll("UDID-A", cert_a_);
  std::string a = EnqueueBuilt({"UDID-A"}, "ProfileList");
  std::string b = EnqueueBuilt({"UDID-A"}, "SecurityInfo");
  auto n = service_->DeleteQueued("UDID-A", a);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1);
  EXPECT_EQ(ReplyUuid(*Report(cert_a_, "UDID-A", "Idle")), b);
  // A result for the deleted command is refused.
  EXPECT_EQ(Report(cert_a_, "UDID-A", "Acknowledged", a).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_P(MdmServiceTest, ReportFromUnknownEnrollmentRefused) {
  // Associated certificate, but the enrollment row was never created for this user channel.
  Enroll("UDID-A", cert_a_);
  auto r = service_->Report(cert_a_, testutil::Report("UDID-A", "Idle", "", "", "USER-9"));
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
}

TEST_P(MdmServiceTest, BootstrapKeyFile) {
  char tmpl[] = "/tmp/custos-mdm-key-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string path = std::string(tmpl) + "/key";
  auto k1 = LoadOrCreateBootstrapTokenKey(path, &random_);
  ASSERT_TRUE(k1.ok()) << k1.status();
  EXPECT_EQ(k1->size(), 32u);
  auto k2 = LoadOrCreateBootstrapTokenKey(path, &random_);
  ASSERT_TRUE(k2.ok());
  EXPECT_EQ(*k1, *k2);
  std::ofstream(path, std::ios::trunc) << "short";
  EXPECT_EQ(LoadOrCreateBootstrapTokenKey(path, &random_).status().code(),
            StatusCode::kFailedPrecondition);
  std::remove(path.c_str());
  rmdir(tmpl);
}

INSTANTIATE_TEST_SUITE_P(Drivers, MdmServiceTest, testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace custos::mdm
