// OTA enrollment end to end over loopback (issue 7, "OTA enrollment (profile service)"): the
// real `custos serve` with a fake Apple device PKI as [dep] device_ca_file, and a simulated
// device (tests/devicesim, device_sim_ota.cc) going through Apple's three phases: phase 1 GET
// /mdm/ota (the Profile Service payload), phase 2 POST signed by the Apple device certificate (the
// identity profile, SCEP), phase 3 POST signed by that identity (the MDM enrollment profile,
// encrypted to it); then the device enrols over SCEP, Authenticates, sends TokenUpdate and Idle.
// Each phase refuses what it must: phase 1 without the required token; phase 2 a tampered
// signature, a foreign device CA and a spent challenge; phase 3 an identity custos did not issue
// and a spent session. Each refusal answers 400/403 and leaves a log line saying why, and nothing
// is issued on a refusal (the certificate count stays the same).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "pki/key.h"
#include "pki/x509.h"
#include "tests/devicesim/device_sim.h"
#include "tests/integration/custos_process.h"
#include "tests/integration/mdm_fixture.h"

namespace custos::testing {
namespace {

using devicesim::Device;
using devicesim::DeviceOptions;
using devicesim::FakeAppleDevicePki;
using devicesim::OtaEnrollment;
using Json = nlohmann::json;

constexpr char kTopic[] = "com.apple.mgmt.External.ota-e2e-5d0c9f7e-41b2-4a3c-8e6f-1a2b3c4d5e6f";
constexpr char kApiKey[] = "ota-e2e-api-key-0123456789abcdef";
constexpr char kUdid[] = "00008120-001E2D3C4B5A6978";

class OtaE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto apple = devicesim::MakeFakeAppleDevicePki(kUdid);
    ASSERT_TRUE(apple.ok()) << apple.status();
    apple_ = std::move(*apple);
    MdmFixture::Options options;
    options.topic = kTopic;
    options.api_key = kApiKey;
    options.args = {"--set",
                    "dep.device_ca_file=" + mdm_.WriteFile("apple-roots.pem", apple_.root_pem)};
    ASSERT_NO_FATAL_FAILURE(mdm_.Start(options));
    DeviceOptions o;
    o.udid = kUdid;
    o.serial = "F2LXK0AAHG7F";
    o.base_url = mdm_.url();
    device_ = std::make_unique<Device>(o);
    ota_ = std::make_unique<OtaEnrollment>(device_.get(), &apple_);
  }

  // How many certificates custos has issued (`custos cert list --json` beside the server).
  size_t IssuedCount() {
    CommandResult r = RunCustos({"cert", "list", "--json", "--limit", "10000", "--data-dir", mdm_.dir()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    Json j = Json::parse(r.out, nullptr, false);
    EXPECT_TRUE(j.is_array()) << r.out;
    return j.is_array() ? j.size() : 0;
  }

  // True when the server log has a line containing all of `parts`.
  bool LogHas(std::initializer_list<std::string_view> parts) {
    const std::string log = mdm_.server().Log();
    size_t start = 0;
    while (start < log.size()) {
      size_t end = log.find('\n', start);
      if (end == std::string::npos) end = log.size();
      std::string_view line(log.data() + start, end - start);
      bool all = true;
      for (std::string_view p : parts) all = all && line.find(p) != std::string_view::npos;
      if (all) return true;
      start = end + 1;
    }
    return false;
  }

  FakeAppleDevicePki apple_;
  MdmFixture mdm_;
  std::unique_ptr<Device> device_;
  std::unique_ptr<OtaEnrollment> ota_;
};

TEST_F(OtaE2eTest, PhasesOneToThreeThenEnrolAndCheckIn) {
  Status s = ota_->FetchProfileService(mdm_.url() + "/mdm/ota");
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_TRUE(ota_->payload().signed_profile);
  EXPECT_EQ(ota_->payload().url, mdm_.url() + "/mdm/ota");
  EXPECT_FALSE(ota_->payload().challenge.empty());

  s = ota_->Phase2();
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_NE(device_->certificate(), nullptr);
  EXPECT_NE(SubjectString(device_->certificate()).find(kUdid), std::string::npos);
  const std::string ota_identity = CertSerialHex(device_->certificate());

  s = ota_->Phase3();
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_TRUE(device_->profile().signed_profile);
  EXPECT_EQ(device_->profile().topic, kTopic);
  EXPECT_EQ(device_->profile().server_url, mdm_.url() + "/mdm/connect");
  EXPECT_TRUE(LogHas({"ota: phase 3", kUdid, ota_identity}));

  // The MDM enrollment itself, with the identity of the decrypted profile.
  s = device_->EnrollScep();
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_NE(CertSerialHex(device_->certificate()), ota_identity);
  auto a = device_->Authenticate();
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_EQ(a->status, 200) << a->body;
  auto t = device_->TokenUpdate();
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->status, 200) << t->body;
  auto idle = device_->Idle();
  ASSERT_TRUE(idle.ok()) << idle.status();
  EXPECT_EQ(idle->status, 200) << idle->body;
  auto e = mdm_.Api("GET", "/v1/enrollments/" + std::string(kUdid), "", /*content_type=*/"");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->status, 200) << e->body;
}

TEST_F(OtaE2eTest, Phase2RefusesBadSignatureForeignCaAndSpentChallenge) {
  ASSERT_TRUE(ota_->FetchProfileService(mdm_.url() + "/mdm/ota").ok());
  const std::string challenge = ota_->payload().challenge;
  const size_t issued = IssuedCount();

  // A bad signature: the content changed after signing.
  std::string tampered = ota_->SignAsApple(ota_->AttributesPlist(challenge));
  size_t at = tampered.find(kUdid);
  ASSERT_NE(at, std::string::npos);
  tampered[at + 1] = tampered[at + 1] == '0' ? '1' : '0';
  auto r = ota_->Post(tampered);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 403) << r->body;
  EXPECT_TRUE(LogHas({"ota: refused", "OTA request signature"}));

  // An unsigned plist.
  r = ota_->Post(ota_->AttributesPlist(challenge));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_TRUE(LogHas({"ota: refused", "not signed"}));

  // A device certificate from a CA that is not Apple's (here: not the configured one).
  auto foreign = devicesim::MakeFakeAppleDevicePki(kUdid);
  ASSERT_TRUE(foreign.ok());
  r = ota_->PostSigned(ota_->AttributesPlist(challenge), foreign->device_key.get(),
                       foreign->device.get(), {foreign->ca.get()}, "sha1");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 403) << r->body;
  EXPECT_TRUE(LogHas({"ota: refused", "OTA phase 2 signer not trusted"}));
  EXPECT_EQ(IssuedCount(), issued);

  // The refusals spent nothing: phase 2 works once, then the challenge is spent.
  Status s = ota_->Phase2();
  ASSERT_TRUE(s.ok()) << s;
  const size_t after = IssuedCount();
  EXPECT_EQ(after, issued + 1);
  r = ota_->PostSigned(ota_->AttributesPlist(challenge), apple_.device_key.get(),
                       apple_.device.get(), {apple_.ca.get()}, "sha1");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 403) << r->body;
  EXPECT_TRUE(LogHas({"ota: refused", "already used"}));
  EXPECT_EQ(IssuedCount(), after);
}

TEST_F(OtaE2eTest, Phase3RefusesForeignIdentityAndSpentSession) {
  ASSERT_TRUE(ota_->FetchProfileService(mdm_.url() + "/mdm/ota").ok());
  const std::string challenge = ota_->payload().challenge;
  ASSERT_TRUE(ota_->Phase2().ok());

  // An identity custos did not issue, naming the same device.
  auto key = GenerateKey(KeyAlgorithm::kRsa, 2048);
  ASSERT_TRUE(key.ok());
  CertificateTemplate t;
  t.subject = {{"CN", kUdid}};
  t.not_before = Clock::Real()->Now() - Duration(3600);
  t.not_after = Clock::Real()->Now() + Duration(86400);
  t.serial_hex = "4242";
  auto self_made = BuildCertificate(t, key->get(), nullptr, key->get());
  ASSERT_TRUE(self_made.ok());
  auto r = ota_->PostSigned(ota_->AttributesPlist(challenge), key->get(), self_made->get(), {},
                            "sha256");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 403) << r->body;
  EXPECT_TRUE(LogHas({"ota: refused", "not trusted"}));

  // The phase-2 identity still works once; then the session is spent.
  Status s = ota_->Phase3();
  ASSERT_TRUE(s.ok()) << s;
  r = ota_->PostSigned(ota_->AttributesPlist(challenge), device_->key(), device_->certificate(),
                       {}, "sha256");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 403) << r->body;
  EXPECT_TRUE(LogHas({"ota: refused", "OTA phase 3", "already used"}));
}

TEST(OtaE2eAccess, Phase1NeedsTheEnrollmentToken) {
  TempDir dir;
  auto server = CustosServer::Start({"--data-dir", dir.path(), "--set",
                                     std::string("enroll.topic=") + kTopic, "--set",
                                     "enroll.require_token=true"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto r = HttpRequest((*server)->url() + "/mdm/ota");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 403) << r->body;
  CommandResult token = RunCustos({"enroll", "token", "--data-dir", dir.path()});
  if (token.exit_code != 0) GTEST_SKIP() << "custos enroll token: " << token.err;
  std::string value = token.out;
  while (!value.empty() && (value.back() == '\n' || value.back() == ' ')) value.pop_back();
  if (size_t sp = value.rfind(' '); sp != std::string::npos) value = value.substr(sp + 1);
  r = HttpRequest((*server)->url() + "/mdm/ota?token=" + value);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200) << r->body << "\n" << token.out;
}

}  // namespace
}  // namespace custos::testing
