#include "push/apns.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <thread>

#include "base/encoding.h"
#include "base/metrics.h"
#include "push/testing/fake_apns_process.h"
#include "push/testing/test_pki.h"

namespace custos::push {
namespace {

using testing::FakeApnsProcess;
using testing::KeyAndCert;

constexpr char kTopic[] = "com.apple.mgmt.External.2f9c8a44-5b1e-4d7a-8c3f-0e6b9d2a7c15";

// Token i as 32 raw bytes.
std::string Token(uint32_t i, uint8_t prefix = 0xa0) {
  std::string t(32, '\0');
  t[0] = static_cast<char>(prefix);
  for (int b = 0; b < 4; ++b) t[31 - b] = static_cast<char>((i >> (8 * b)) & 0xff);
  return t;
}

PushTarget Target(std::string enrollment, std::string token, std::string topic = kTopic) {
  return PushTarget{std::move(enrollment), std::move(topic), std::move(token),
                    "magic-" + std::to_string(token.size())};
}

class ApnsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto ca = testing::MakeCa("fake Apple push CA");
    ASSERT_TRUE(ca.ok()) << ca.status();
    push_ca_ = new KeyAndCert(*std::move(ca));
    Time now = std::chrono::system_clock::now();
    auto leaf = testing::MakePushCert(*push_ca_, kTopic, now - std::chrono::hours(1),
                                      now + std::chrono::hours(24 * 365));
    ASSERT_TRUE(leaf.ok()) << leaf.status();
    auto pc = PushCertificate::FromPem(leaf->cert_pem, leaf->key_pem);
    ASSERT_TRUE(pc.ok()) << pc.status();
    cert_ = new std::shared_ptr<const PushCertificate>(*std::move(pc));
  }
  static void TearDownTestSuite() {
    delete cert_;
    delete push_ca_;
  }

  void SetUp() override {
    auto dir = testing::MakeTempDir("custos-push-test");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = *dir;
    certs_.Put(*cert_);
  }
  void TearDown() override {
    provider_.reset();
    fake_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void StartFake(std::vector<std::string> rules = {}, std::string client_ca_pem = "") {
    FakeApnsProcess::Options o;
    o.dir = dir_;
    o.client_ca_pem = client_ca_pem.empty() ? push_ca_->cert_pem : client_ca_pem;
    o.rules = std::move(rules);
    auto fake = FakeApnsProcess::Start(std::move(o));
    ASSERT_TRUE(fake.ok()) << fake.status();
    fake_ = *std::move(fake);
  }

  ApnsOptions Options() {
    ApnsOptions o;
    o.base_url = fake_->url();
    o.ca_file = fake_->server_ca_file();
    o.retry_base_delay = std::chrono::milliseconds(20);
    o.request_timeout = std::chrono::milliseconds(60000);  // generous: the machine is shared
    o.max_retries = 3;
    o.expiration = Duration(3600);
    o.clock = &clock_;
    o.metrics = &registry_;
    return o;
  }

  void StartProvider(ApnsOptions o) {
    auto p = ApnsProvider::Create(std::move(o), &certs_);
    ASSERT_TRUE(p.ok()) << p.status();
    provider_ = *std::move(p);
  }

  static KeyAndCert* push_ca_;
  static std::shared_ptr<const PushCertificate>* cert_;
  std::string dir_;
  FakeClock clock_{std::chrono::time_point_cast<std::chrono::seconds>(
      std::chrono::system_clock::now())};
  metrics::Registry registry_;
  StaticPushCertificates certs_;
  std::unique_ptr<FakeApnsProcess> fake_;
  std::unique_ptr<ApnsProvider> provider_;
};
KeyAndCert* ApnsTest::push_ca_ = nullptr;
std::shared_ptr<const PushCertificate>* ApnsTest::cert_ = nullptr;

TEST_F(ApnsTest, PushArrivesWithPathHeadersBodyAndClientCertificate) {
  StartFake();
  StartProvider(Options());
  std::string token = Token(7);
  PushTarget t{"UDID-0001", kTopic, token, "PUSH-MAGIC-\"quoted\""};
  std::vector<PushResult> results = provider_->PushAndWait({t});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, PushOutcome::kDelivered) << results[0].reason;
  EXPECT_EQ(results[0].http_status, 200);
  EXPECT_EQ(results[0].enrollment_id, "UDID-0001");
  EXPECT_EQ(results[0].attempts, 1);
  EXPECT_FALSE(results[0].apns_id.empty());

  auto pushes = fake_->Pushes();
  ASSERT_EQ(pushes.size(), 1u);
  const auto& p = pushes[0];
  EXPECT_EQ(p["method"], "POST");
  EXPECT_EQ(p["path"], "/3/device/" + HexEncode(token));
  EXPECT_EQ(p["headers"]["apns-topic"], kTopic);
  EXPECT_EQ(p["headers"]["apns-push-type"], "mdm");
  EXPECT_EQ(p["headers"]["apns-priority"], "10");
  EXPECT_EQ(p["headers"]["apns-expiration"], std::to_string(ToUnixSeconds(clock_.Now()) + 3600));
  auto body = nlohmann::json::parse(p["body"].get<std::string>());
  EXPECT_EQ(body, (nlohmann::json{{"mdm", "PUSH-MAGIC-\"quoted\""}}));
  EXPECT_NE(p["client_subject"].get<std::string>().find(std::string("UID=") + kTopic),
            std::string::npos)
      << p["client_subject"];
  EXPECT_EQ(registry_.AddCounter("custos_push_results_total", "", {"outcome"})
                .WithLabels({"delivered"})
                .Value(),
            1);
}

TEST_F(ApnsTest, GoneIsReportedAsUnregistered) {
  std::string token = Token(410);
  StartFake({HexEncode(token) + ",410,Unregistered"});
  StartProvider(Options());
  auto results = provider_->PushAndWait({Target("UDID-GONE", token)});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, PushOutcome::kUnregistered);
  EXPECT_EQ(results[0].http_status, 410);
  EXPECT_EQ(results[0].reason, "Unregistered");
  EXPECT_EQ(results[0].attempts, 1);
  EXPECT_TRUE(results[0].unregistered_since.has_value());
  EXPECT_EQ(fake_->Pushes().size(), 1u);
}

TEST_F(ApnsTest, TooManyRequestsIsRetriedThenSucceeds) {
  std::string token = Token(429);
  StartFake({HexEncode(token) + ",429,TooManyRequests,2"});
  StartProvider(Options());
  auto results = provider_->PushAndWait({Target("UDID-BUSY", token)});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, PushOutcome::kDelivered) << results[0].reason;
  EXPECT_EQ(results[0].attempts, 3);
  EXPECT_EQ(fake_->Pushes().size(), 3u);
}

TEST_F(ApnsTest, ServerErrorsExhaustRetries) {
  std::string token = Token(503);
  StartFake({HexEncode(token) + ",503,ServiceUnavailable"});
  ApnsOptions o = Options();
  o.max_retries = 2;
  StartProvider(o);
  auto results = provider_->PushAndWait({Target("UDID-DOWN", token)});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, PushOutcome::kFailed);
  EXPECT_EQ(results[0].http_status, 503);
  EXPECT_EQ(results[0].reason, "ServiceUnavailable");
  EXPECT_EQ(results[0].attempts, 3);
  EXPECT_EQ(fake_->Pushes().size(), 3u);
}

TEST_F(ApnsTest, BadDeviceTokenIsRecordedNotRetried) {
  std::string token = Token(400);
  StartFake({HexEncode(token) + ",400,BadDeviceToken"});
  StartProvider(Options());
  auto results = provider_->PushAndWait({Target("UDID-BAD", token), Target("UDID-OK", Token(1))});
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].outcome, PushOutcome::kRejected);
  EXPECT_EQ(results[0].http_status, 400);
  EXPECT_EQ(results[0].reason, "BadDeviceToken");
  EXPECT_EQ(results[0].attempts, 1);
  EXPECT_EQ(results[1].outcome, PushOutcome::kDelivered) << results[1].reason;
  EXPECT_EQ(fake_->Pushes().size(), 2u);
}

TEST_F(ApnsTest, BurstForOneEnrollmentSendsOnePush) {
  StartFake();
  StartProvider(Options());
  std::vector<PushTarget> burst(100, Target("UDID-BURST", Token(100)));
  auto results = provider_->PushAndWait(burst);
  ASSERT_EQ(results.size(), 100u);
  int coalesced = 0;
  for (const auto& r : results) {
    EXPECT_EQ(r.outcome, PushOutcome::kDelivered) << r.reason;
    EXPECT_EQ(r.enrollment_id, "UDID-BURST");
    coalesced += r.coalesced ? 1 : 0;
  }
  EXPECT_EQ(coalesced, 99);
  EXPECT_EQ(fake_->Pushes().size(), 1u);
}

TEST_F(ApnsTest, PushesWhilePendingJoinThePendingPush) {
  // The first attempt is throttled and waits 400 ms for its retry: calls made meanwhile join it.
  std::string token = Token(4290);
  StartFake({HexEncode(token) + ",429,TooManyRequests,1"});
  ApnsOptions o = Options();
  o.retry_base_delay = std::chrono::milliseconds(400);
  StartProvider(o);
  std::atomic<int> done{0};
  std::atomic<int> coalesced{0};
  std::atomic<int> delivered{0};
  auto count = [&](std::vector<PushResult> rs) {
    for (const auto& r : rs) {
      coalesced += r.coalesced ? 1 : 0;
      delivered += r.outcome == PushOutcome::kDelivered ? 1 : 0;
    }
    ++done;
  };
  provider_->Push({Target("UDID-PENDING", token)}, count);
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  for (int i = 0; i < 50; ++i) provider_->Push({Target("UDID-PENDING", token)}, count);
  for (int i = 0; i < 500 && done.load() < 51; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(done.load(), 51);
  EXPECT_EQ(delivered.load(), 51);
  EXPECT_EQ(coalesced.load(), 50);
  EXPECT_EQ(fake_->Pushes().size(), 2u);  // the throttled attempt and its retry
}

TEST_F(ApnsTest, ThousandDistinctTokensOverFewConnections) {
  StartFake();
  StartProvider(Options());
  std::vector<PushTarget> targets;
  for (uint32_t i = 0; i < 1000; ++i) {
    targets.push_back(Target("UDID-" + std::to_string(i), Token(i, 0xb0)));
  }
  auto results = provider_->PushAndWait(targets);
  ASSERT_EQ(results.size(), 1000u);
  for (const auto& r : results) {
    ASSERT_EQ(r.outcome, PushOutcome::kDelivered) << r.enrollment_id << ": " << r.reason;
    EXPECT_FALSE(r.coalesced);
  }
  auto pushes = fake_->Pushes();
  EXPECT_EQ(pushes.size(), 1000u);
  std::set<std::string> tokens;
  for (const auto& p : pushes) tokens.insert(p["token"].get<std::string>());
  EXPECT_EQ(tokens.size(), 1000u);
  // HTTP/2 multiplexing: a handful of connections, not one per push.
  size_t connections = fake_->ConnectionCount();
  EXPECT_GE(connections, 1u);
  EXPECT_LE(connections, 4u);
}

TEST_F(ApnsTest, UnknownTopicHasNoCertificate) {
  StartFake();
  StartProvider(Options());
  auto results = provider_->PushAndWait({Target("UDID-X", Token(2), "com.apple.mgmt.External.other")});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, PushOutcome::kNoCertificate);
  EXPECT_EQ(results[0].attempts, 0);
  EXPECT_TRUE(fake_->Pushes().empty());
}

TEST_F(ApnsTest, ExpiredCertificateIsNotUsed) {
  StartFake();
  clock_.Advance(std::chrono::hours(24 * 400));
  StartProvider(Options());
  auto results = provider_->PushAndWait({Target("UDID-X", Token(3))});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, PushOutcome::kNoCertificate);
  EXPECT_NE(results[0].reason.find("not valid"), std::string::npos) << results[0].reason;
}

TEST_F(ApnsTest, InvalidTargetsAreRefused) {
  StartFake();
  StartProvider(Options());
  auto results = provider_->PushAndWait(
      {PushTarget{"A", kTopic, "", "m"}, PushTarget{"B", kTopic, Token(4), ""},
       PushTarget{"C", "", Token(5), "m"}});
  ASSERT_EQ(results.size(), 3u);
  for (const auto& r : results) EXPECT_EQ(r.outcome, PushOutcome::kInvalidTarget);
  EXPECT_TRUE(provider_->PushAndWait({}).empty());
}

TEST_F(ApnsTest, UntrustedClientCertificateFailsTheHandshake) {
  // The fake requires certificates from a different CA: every attempt fails in TLS.
  auto other = testing::MakeCa("some other CA");
  ASSERT_TRUE(other.ok());
  StartFake({}, other->cert_pem);
  ApnsOptions o = Options();
  o.max_retries = 1;
  StartProvider(o);
  auto results = provider_->PushAndWait({Target("UDID-TLS", Token(6))});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, PushOutcome::kFailed);
  EXPECT_EQ(results[0].http_status, 0);
  EXPECT_EQ(results[0].attempts, 2);
  EXPECT_FALSE(results[0].reason.empty());
  EXPECT_TRUE(fake_->Pushes().empty());
}

TEST_F(ApnsTest, ConnectionRefusedIsRetried) {
  StartFake();
  ApnsOptions o = Options();
  o.base_url = "https://127.0.0.1:1";
  o.max_retries = 2;
  StartProvider(o);
  auto results = provider_->PushAndWait({Target("UDID-REFUSED", Token(8))});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, PushOutcome::kFailed);
  EXPECT_EQ(results[0].attempts, 3);
  EXPECT_NE(results[0].reason.find("connect"), std::string::npos) << results[0].reason;
}

TEST_F(ApnsTest, ShutdownAnswersPendingPushes) {
  std::string token = Token(9);
  StartFake({HexEncode(token) + ",429,TooManyRequests"});
  ApnsOptions o = Options();
  o.retry_base_delay = std::chrono::milliseconds(10000);
  StartProvider(o);
  std::atomic<bool> called{false};
  PushOutcome outcome = PushOutcome::kDelivered;
  provider_->Push({Target("UDID-SLOW", token)}, [&](std::vector<PushResult> rs) {
    outcome = rs.at(0).outcome;
    called = true;
  });
  for (int i = 0; i < 300 && fake_->Pushes().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  provider_.reset();
  EXPECT_TRUE(called.load());
  EXPECT_EQ(outcome, PushOutcome::kFailed);
}

TEST_F(ApnsTest, ForgetCertificateSwitchesToTheNewIdentity) {
  StartFake();
  StartProvider(Options());
  auto first = provider_->PushAndWait({Target("UDID-R1", Token(11))});
  ASSERT_EQ(first.at(0).outcome, PushOutcome::kDelivered) << first.at(0).reason;
  EXPECT_EQ(fake_->ConnectionCount(), 1u);

  // A renewed certificate for the same topic (new key): new connections carry it.
  Time now = std::chrono::system_clock::now();
  auto renewed = testing::MakePushCert(*push_ca_, kTopic, now - std::chrono::hours(1),
                                       now + std::chrono::hours(48));
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  auto pc = PushCertificate::FromPem(renewed->cert_pem, renewed->key_pem);
  ASSERT_TRUE(pc.ok()) << pc.status();
  certs_.Put(std::shared_ptr<const PushCertificate>(*std::move(pc)));
  provider_->ForgetCertificate(kTopic);

  auto second = provider_->PushAndWait({Target("UDID-R2", Token(12))});
  ASSERT_EQ(second.at(0).outcome, PushOutcome::kDelivered) << second.at(0).reason;
  EXPECT_EQ(fake_->ConnectionCount(), 2u);
  EXPECT_EQ(fake_->Pushes().size(), 2u);
}

// The HTTP/2 transport (apns.cc speaks nghttp2 directly): connection loss, GOAWAY, request
// timeouts and many answers multiplexed on one connection.

TEST_F(ApnsTest, ConnectionLostMidStreamIsRetriedOnANewConnection) {
  std::string lost = Token(20, 0xc0);
  StartFake({HexEncode(lost) + ",close,,1"});
  StartProvider(Options());
  std::vector<PushTarget> targets{Target("UDID-LOST", lost)};
  for (uint32_t i = 0; i < 20; ++i) {
    targets.push_back(Target("UDID-NEIGHBOUR-" + std::to_string(i), Token(i, 0xc1)));
  }
  auto results = provider_->PushAndWait(targets);
  ASSERT_EQ(results.size(), targets.size());
  for (const auto& r : results) {
    EXPECT_EQ(r.outcome, PushOutcome::kDelivered) << r.enrollment_id << ": " << r.reason;
  }
  // The dropped stream's push was sent again, on a new connection.
  EXPECT_EQ(results[0].attempts, 2);
  EXPECT_GE(fake_->ConnectionCount(), 2u);
  EXPECT_GE(registry_.AddCounter("custos_push_requests_total", "", {"result"})
                .WithLabels({"error"})
                .Value(),
            1);
  // The connection is usable afterwards.
  auto after = provider_->PushAndWait({Target("UDID-AFTER", Token(21, 0xc0))});
  EXPECT_EQ(after.at(0).outcome, PushOutcome::kDelivered) << after.at(0).reason;
  EXPECT_EQ(after.at(0).attempts, 1);
}

TEST_F(ApnsTest, StreamRefusedByGoawayIsRetriedOnANewConnection) {
  std::string refused = Token(30, 0xc2);
  StartFake({HexEncode(refused) + ",goaway,,1"});
  StartProvider(Options());
  auto first = provider_->PushAndWait({Target("UDID-BEFORE", Token(29, 0xc2))});
  ASSERT_EQ(first.at(0).outcome, PushOutcome::kDelivered) << first.at(0).reason;
  auto results = provider_->PushAndWait({Target("UDID-REFUSED", refused)});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, PushOutcome::kDelivered) << results[0].reason;
  EXPECT_EQ(results[0].attempts, 2);
  EXPECT_EQ(fake_->ConnectionCount(), 2u);
}

TEST_F(ApnsTest, UnansweredRequestTimesOutAndIsRetried) {
  std::string hung = Token(40, 0xc3);
  StartFake({HexEncode(hung) + ",hang,,1"});
  ApnsOptions o = Options();
  o.request_timeout = std::chrono::milliseconds(1500);
  StartProvider(o);
  auto results = provider_->PushAndWait({Target("UDID-HUNG", hung), Target("UDID-OK", Token(41, 0xc3))});
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].outcome, PushOutcome::kDelivered) << results[0].reason;
  EXPECT_GE(results[0].attempts, 2);
  EXPECT_EQ(results[1].outcome, PushOutcome::kDelivered) << results[1].reason;
  EXPECT_EQ(fake_->Pushes().size(), 3u);  // the hung attempt, its retry and the other push
}

TEST_F(ApnsTest, UnansweredRequestsFailAfterRetries) {
  std::string hung = Token(42, 0xc3);
  StartFake({HexEncode(hung) + ",hang"});
  ApnsOptions o = Options();
  o.request_timeout = std::chrono::milliseconds(300);
  o.max_retries = 1;
  StartProvider(o);
  auto results = provider_->PushAndWait({Target("UDID-HUNG", hung)});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, PushOutcome::kFailed);
  EXPECT_EQ(results[0].attempts, 2);
  EXPECT_NE(results[0].reason.find("within 300 ms"), std::string::npos) << results[0].reason;
}

TEST_F(ApnsTest, ErrorAnswersMultiplexedWithSuccessesOnOneConnection) {
  // 300 pushes in one burst: every 7th token is unregistered (410), every 11th a bad token
  // (400); the answers arrive interleaved on one connection and each lands on its own push.
  std::vector<std::string> rules;
  std::vector<PushTarget> targets;
  for (uint32_t i = 0; i < 300; ++i) {
    std::string token = Token(i, 0xd0);
    if (i % 7 == 0) {
      rules.push_back(HexEncode(token) + ",410,Unregistered");
    } else if (i % 11 == 0) {
      rules.push_back(HexEncode(token) + ",400,BadDeviceToken");
    }
    targets.push_back(Target("UDID-MUX-" + std::to_string(i), token));
  }
  StartFake(rules);
  StartProvider(Options());
  auto results = provider_->PushAndWait(targets);
  ASSERT_EQ(results.size(), 300u);
  int unregistered = 0;
  for (uint32_t i = 0; i < 300; ++i) {
    const PushResult& r = results[i];
    EXPECT_EQ(r.enrollment_id, "UDID-MUX-" + std::to_string(i));
    EXPECT_EQ(r.attempts, 1) << r.enrollment_id;
    if (i % 7 == 0) {
      EXPECT_EQ(r.outcome, PushOutcome::kUnregistered) << r.enrollment_id;
      EXPECT_EQ(r.http_status, 410);
      EXPECT_EQ(r.reason, "Unregistered");
      EXPECT_TRUE(r.unregistered_since.has_value());
      ++unregistered;
    } else if (i % 11 == 0) {
      EXPECT_EQ(r.outcome, PushOutcome::kRejected) << r.enrollment_id;
      EXPECT_EQ(r.reason, "BadDeviceToken");
    } else {
      EXPECT_EQ(r.outcome, PushOutcome::kDelivered) << r.enrollment_id << ": " << r.reason;
      EXPECT_FALSE(r.apns_id.empty());
    }
  }
  EXPECT_EQ(unregistered, 43);
  EXPECT_EQ(fake_->ConnectionCount(), 1u);  // error answers do not cost the connection
  EXPECT_EQ(fake_->Pushes().size(), 300u);
}

TEST_F(ApnsTest, EachTopicUsesItsOwnCertificate) {
  constexpr char kOtherTopic[] = "com.apple.mgmt.External.0b1f7d2e-6c3a-4e5f-9a8b-7c6d5e4f3a21";
  Time now = std::chrono::system_clock::now();
  auto other = testing::MakePushCert(*push_ca_, kOtherTopic, now - std::chrono::hours(1),
                                     now + std::chrono::hours(24));
  ASSERT_TRUE(other.ok()) << other.status();
  auto pc = PushCertificate::FromPem(other->cert_pem, other->key_pem);
  ASSERT_TRUE(pc.ok()) << pc.status();
  certs_.Put(std::shared_ptr<const PushCertificate>(*std::move(pc)));
  StartFake();
  StartProvider(Options());
  // The fake answers 400 TopicDisallowed unless apns-topic matches the client certificate.
  auto results = provider_->PushAndWait({Target("UDID-T1", Token(50, 0xe0)),
                                         Target("UDID-T2", Token(51, 0xe0), kOtherTopic),
                                         Target("UDID-T3", Token(52, 0xe0))});
  ASSERT_EQ(results.size(), 3u);
  for (const auto& r : results) {
    EXPECT_EQ(r.outcome, PushOutcome::kDelivered) << r.enrollment_id << ": " << r.reason;
  }
  EXPECT_EQ(fake_->ConnectionCount(), 2u);
}

TEST(ApnsCreateTest, ParsesTheBaseUrl) {
  StaticPushCertificates certs;
  ApnsOptions o;
  for (const char* bad : {"https://", "https://host:0", "https://host:99999", "https://host:x",
                          "https://host/path", "https://[::1", "https://[::1]x", "https://u@host"}) {
    o.base_url = bad;
    EXPECT_FALSE(ApnsProvider::Create(o, &certs).ok()) << bad;
  }
  for (const char* good : {"https://api.push.apple.com", "https://api.sandbox.push.apple.com:443/",
                           "https://127.0.0.1:2197", "https://[::1]:8443"}) {
    o.base_url = good;
    EXPECT_TRUE(ApnsProvider::Create(o, &certs).ok()) << good;
  }
}

TEST(ApnsCreateTest, RejectsBadOptions) {
  StaticPushCertificates certs;
  ApnsOptions o;
  o.base_url = "http://api.push.apple.com";
  EXPECT_FALSE(ApnsProvider::Create(o, &certs).ok());
  o.base_url = std::string(kApnsSandboxUrl);
  o.max_concurrent_streams = 0;
  EXPECT_FALSE(ApnsProvider::Create(o, &certs).ok());
  o.max_concurrent_streams = 100;
  EXPECT_FALSE(ApnsProvider::Create(o, nullptr).ok());
}

TEST(ApnsTokenLogIdTest, IsShortStableAndNotTheToken) {
  std::string token(32, '\x11');
  std::string id = TokenLogId(token);
  EXPECT_EQ(id.size(), 12u);
  EXPECT_EQ(id, TokenLogId(token));
  EXPECT_NE(id, TokenLogId(std::string(32, '\x12')));
  EXPECT_EQ(HexEncode(token).find(id), std::string::npos);
}

}  // namespace
}  // namespace custos::push
