#include "push/service.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "base/encoding.h"
#include "base/metrics.h"
#include "push/testing/fake_apns_process.h"
#include "push/testing/test_pki.h"
#include "storage/testing.h"

namespace custos::push {
namespace {

using testing::FakeApnsProcess;
using testing::KeyAndCert;

constexpr char kTopic[] = "com.apple.mgmt.External.7d1c2b3a-0000-4000-8000-000000000001";
constexpr char kPassphrase[] = "ca-passphrase";

std::string TokenHex(int i) {
  std::string t(32, '\0');
  t[0] = static_cast<char>(0xb0);
  t[31] = static_cast<char>(i);
  return HexEncode(t);
}

class PushServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto ca = testing::MakeCa("fake Apple push CA");
    ASSERT_TRUE(ca.ok()) << ca.status();
    push_ca_ = new KeyAndCert(*std::move(ca));
    Time now = std::chrono::system_clock::now();
    auto leaf = testing::MakePushCert(*push_ca_, kTopic, now - std::chrono::hours(1),
                                      now + std::chrono::hours(24 * 30));
    ASSERT_TRUE(leaf.ok()) << leaf.status();
    leaf_ = new KeyAndCert(*std::move(leaf));
  }
  static void TearDownTestSuite() {
    delete leaf_;
    delete push_ca_;
  }

  void SetUp() override {
    auto s = OpenTestStorage("sqlite");
    ASSERT_TRUE(s.ok()) << s.status();
    storage_ = *std::move(s);
    auto dir = testing::MakeTempDir("custos-push-service-test");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = *dir;
  }
  void TearDown() override {
    service_.reset();
    fake_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::unique_ptr<PushCertificate> Cert() {
    auto pc = PushCertificate::FromPem(leaf_->cert_pem, leaf_->key_pem);
    EXPECT_TRUE(pc.ok()) << pc.status();
    return *std::move(pc);
  }

  // An enrollment as TokenUpdate leaves it.
  void AddEnrollment(const std::string& id, const std::string& token_hex, bool enabled = true) {
    MdmEnrollmentRecord e;
    e.id = id;
    e.type = "Device";
    e.device_id = id;
    e.topic = kTopic;
    e.push_token_hex = token_hex;
    e.push_magic = "magic-" + id;
    e.enabled = enabled;
    e.created_at = clock_.Now();
    e.updated_at = clock_.Now();
    Status s = storage_->Transact([&](Stores& st) { return st.mdm().UpsertEnrollment(e); });
    ASSERT_TRUE(s.ok()) << s;
  }

  MdmPushInfo Info(const std::string& id) {
    std::vector<MdmPushInfo> infos;
    Status s = storage_->Transact([&](Stores& st) -> Status {
      ASSIGN_OR_RETURN(infos, st.mdm().GetPushInfo({id}));
      return OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    EXPECT_EQ(infos.size(), 1u);
    return infos.empty() ? MdmPushInfo{} : infos[0];
  }

  void StartFakeAndService(std::vector<std::string> rules = {}) {
    FakeApnsProcess::Options o;
    o.dir = dir_;
    o.client_ca_pem = push_ca_->cert_pem;
    o.rules = std::move(rules);
    auto fake = FakeApnsProcess::Start(std::move(o));
    ASSERT_TRUE(fake.ok()) << fake.status();
    fake_ = *std::move(fake);
    ApnsOptions apns;
    apns.base_url = fake_->url();
    apns.ca_file = fake_->server_ca_file();
    apns.retry_base_delay = std::chrono::milliseconds(20);
    apns.request_timeout = std::chrono::milliseconds(60000);
    PushServiceOptions options;
    options.passphrase = kPassphrase;
    options.clock = &clock_;
    options.metrics = &registry_;
    auto service = PushService::CreateWithApns(storage_.get(), apns, options);
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = *std::move(service);
  }

  static KeyAndCert* push_ca_;
  static KeyAndCert* leaf_;
  FakeClock clock_{std::chrono::time_point_cast<std::chrono::seconds>(
      std::chrono::system_clock::now())};
  metrics::Registry registry_;
  std::unique_ptr<Storage> storage_;
  std::string dir_;
  std::unique_ptr<FakeApnsProcess> fake_;
  std::unique_ptr<PushService> service_;
};
KeyAndCert* PushServiceTest::push_ca_ = nullptr;
KeyAndCert* PushServiceTest::leaf_ = nullptr;

TEST_F(PushServiceTest, InstallEncryptsKeyWithPassphrase) {
  auto info = InstallPushCertificate(*storage_, *Cert(), kPassphrase, &clock_);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->topic, kTopic);
  EXPECT_TRUE(info->key_encrypted);
  PushCertRecord stored;
  ASSERT_TRUE(storage_
                  ->Transact([&](Stores& s) -> Status {
                    ASSIGN_OR_RETURN(stored, s.push().GetCert(kTopic));
                    return OkStatus();
                  })
                  .ok());
  EXPECT_NE(stored.key_pem.find("BEGIN ENCRYPTED PRIVATE KEY"), std::string::npos);
  EXPECT_EQ(stored.cert_pem.find("PRIVATE KEY"), std::string::npos);

  StoragePushCertificates good(storage_.get(), kPassphrase);
  auto loaded = good.Lookup(kTopic);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->sha256(), Cert()->sha256());

  StoragePushCertificates wrong(storage_.get(), "wrong");
  EXPECT_EQ(wrong.Lookup(kTopic).status().code(), StatusCode::kPermissionDenied);
  StoragePushCertificates none(storage_.get(), "");
  EXPECT_EQ(none.Lookup(kTopic).status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(good.Lookup("com.apple.mgmt.other").status().code(), StatusCode::kNotFound);

  auto list = ListPushCertificates(*storage_);
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].not_after, Cert()->not_after());
}

TEST_F(PushServiceTest, InstallWithoutPassphraseStoresPlainKey) {
  auto info = InstallPushCertificate(*storage_, *Cert(), "", &clock_);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_FALSE(info->key_encrypted);
  StoragePushCertificates source(storage_.get(), "");
  EXPECT_TRUE(source.Lookup(kTopic).ok());
}

TEST_F(PushServiceTest, ExpiredCertificateIsRefused) {
  clock_.Advance(std::chrono::hours(24 * 60));
  auto info = InstallPushCertificate(*storage_, *Cert(), kPassphrase, &clock_);
  EXPECT_EQ(info.status().code(), StatusCode::kFailedPrecondition) << info.status();
}

TEST_F(PushServiceTest, PushesEnabledEnrollmentsAndMarksGoneTokens) {
  ASSERT_NO_FATAL_FAILURE(AddEnrollment("UDID-OK", TokenHex(1)));
  ASSERT_NO_FATAL_FAILURE(AddEnrollment("UDID-GONE", TokenHex(2)));
  ASSERT_NO_FATAL_FAILURE(AddEnrollment("UDID-OFF", TokenHex(3), /*enabled=*/false));
  ASSERT_NO_FATAL_FAILURE(AddEnrollment("UDID-NOTOKEN", ""));
  ASSERT_NO_FATAL_FAILURE(StartFakeAndService({TokenHex(2) + ",410,Unregistered"}));
  ASSERT_TRUE(service_->Install(*Cert()).ok());
  EXPECT_EQ(registry_.AddGauge("custos_push_certificate_not_after_seconds", "", {"topic"})
                .WithLabels({kTopic})
                .Value(),
            static_cast<double>(ToUnixSeconds(Cert()->not_after())));

  // A burst for one enrollment plus the others: one push each for the pushable ones.
  service_->PushEnrollments({"UDID-OK", "UDID-GONE", "UDID-OFF", "UDID-NOTOKEN", "UNKNOWN"});
  service_->PushEnrollments({"UDID-OK"});
  service_->PushEnrollments({"UDID-OK"});
  ASSERT_TRUE(service_->WaitIdle(std::chrono::seconds(60)));

  auto pushes = fake_->Pushes();
  std::map<std::string, int> per_token;
  for (const auto& p : pushes) per_token[p["token"].get<std::string>()]++;
  EXPECT_EQ(per_token[TokenHex(1)], 1);
  EXPECT_EQ(per_token[TokenHex(2)], 1);
  EXPECT_EQ(per_token.count(TokenHex(3)), 0u);
  EXPECT_EQ(pushes.size(), 2u);
  for (const auto& p : pushes) {
    EXPECT_EQ(p["headers"]["apns-topic"], kTopic);
    if (p["token"] == TokenHex(1)) {
      EXPECT_EQ(nlohmann::json::parse(p["body"].get<std::string>())["mdm"], "magic-UDID-OK");
    }
  }
  EXPECT_TRUE(Info("UDID-GONE").token_unregistered);
  EXPECT_FALSE(Info("UDID-OK").token_unregistered);

  // The unregistered token is no longer pushed.
  service_->PushEnrollments({"UDID-GONE"});
  ASSERT_TRUE(service_->WaitIdle(std::chrono::seconds(60)));
  EXPECT_EQ(fake_->Pushes().size(), 2u);
}

TEST_F(PushServiceTest, PushNowReportsPerEnrollment) {
  ASSERT_NO_FATAL_FAILURE(AddEnrollment("UDID-A", TokenHex(10)));
  ASSERT_NO_FATAL_FAILURE(AddEnrollment("UDID-BAD", TokenHex(11)));
  ASSERT_NO_FATAL_FAILURE(StartFakeAndService({TokenHex(11) + ",400,BadDeviceToken"}));
  ASSERT_TRUE(service_->Install(*Cert()).ok());
  auto results = service_->PushNow({"UDID-A", "UDID-BAD", "NOPE"}, std::chrono::seconds(60));
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 3u);
  EXPECT_TRUE((*results)[0].ok) << (*results)[0].error;
  EXPECT_FALSE((*results)[0].apns_id.empty());
  EXPECT_FALSE((*results)[1].ok);
  EXPECT_NE((*results)[1].error.find("BadDeviceToken"), std::string::npos) << (*results)[1].error;
  EXPECT_FALSE((*results)[2].ok);
  EXPECT_EQ((*results)[2].error, "unknown enrollment");
}

TEST_F(PushServiceTest, NoCertificateIsReported) {
  ASSERT_NO_FATAL_FAILURE(AddEnrollment("UDID-A", TokenHex(20)));
  ASSERT_NO_FATAL_FAILURE(StartFakeAndService());
  auto results = service_->PushNow({"UDID-A"}, std::chrono::seconds(60));
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 1u);
  EXPECT_FALSE((*results)[0].ok);
  EXPECT_NE((*results)[0].error.find("no_certificate"), std::string::npos) << (*results)[0].error;
  EXPECT_TRUE(fake_->Pushes().empty());
}

}  // namespace
}  // namespace custos::push
