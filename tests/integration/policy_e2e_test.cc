// The enrollment policy end to end through the real binary (issue 7, "The setting"): Apple
// Business Manager enrollment (POST /mdm/enroll with a MachineInfo signed by a test device CA,
// [dep] device_ca_file), serials made known from ABM by a `custos dep sync` against the ABM
// simulator, and simulated devices (tests/devicesim) that enrol over SCEP or over attested ACME
// with a fake attestation CA ([acme] extra_attestation_roots).
//   - setting off: an eligible ABM device gets SCEP as before; manual ACME still works when asked;
//   - setting on (PUT /v1/policy, and `custos policy` on the CLI): the eligible ABM device enrols
//     with attested ACME and is hardware_attested in /v1/enrollments and `custos device list`;
//     the same device with each broken attestation (none, wrong root, nonce, serial, key) gets
//     nothing and the refusal, with its reason, is in /v1/enrollment-refusals and reaches the
//     webhook as enroll.Refused; an ineligible device (A10 iPhone, or a serial ABM never
//     reported) enrols with SCEP; an eligible device presenting a SCEP identity at Authenticate
//     is refused (400) and that refusal is recorded too.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "attest/testdata/fake_attestation.h"
#include "dep/testing.h"
#include "pki/test_support.h"
#include "push/testing/test_pki.h"
#include "tests/abmsim/abmsim.h"
#include "tests/devicesim/device_sim.h"
#include "tests/integration/custos_process.h"
#include "tests/integration/mdm_fixture.h"
#include "webhook/testing/hook_receiver.h"

namespace custos::testing {
namespace {

using devicesim::AcmeEnrollOptions;
using devicesim::AcmeEnrollResult;
using devicesim::AttestationBreakage;
using devicesim::Device;
using devicesim::DeviceOptions;
using Json = nlohmann::json;
using webhook::testing::HookReceiver;

constexpr char kTopic[] = "com.apple.mgmt.External.policy-5b1c2d3e-0f4a-4b6c-8d9e-0a1b2c3d4e5f";
constexpr char kApiKey[] = "policy-e2e-api-key";
constexpr char kEligibleSerial[] = "C02POLICY001";
constexpr char kOldPhoneSerial[] = "C02POLICY009";
constexpr char kUnknownSerial[] = "C02NOTINABM1";

class PolicyE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto events = HookReceiver::Start();
    ASSERT_TRUE(events.ok()) << events.status();
    events_ = std::move(events).value();

    // Serials known from ABM: a sync against the simulator through the CLI, before serving.
    auto sim = abmsim::AbmSimulator::Start(DepTokens{"CKP", "CS-CKP", "AT-CKP", "AS-CKP", std::nullopt});
    ASSERT_TRUE(sim.ok()) << sim.status();
    abm_ = *std::move(sim);
    abm_->AddDevice(kEligibleSerial, "iPhone 13 Pro");
    abm_->AddDevice(kOldPhoneSerial, "iPhone 7");
    auto cert = RunCustos(Args({"dep", "cert", "abm"}), std::chrono::seconds(60), env_);
    ASSERT_EQ(cert.exit_code, 0) << cert.err;
    auto tokens = dep::MakeTokenFile(files_, cert.out, dep::TokenJson("CKP", "2030-01-01T00:00:00Z"));
    ASSERT_TRUE(tokens.ok()) << tokens.status();
    auto up = RunCustos(Args({"dep", "tokens", "abm", files_.File("t.p7m", *tokens)}),
                        std::chrono::seconds(60), env_);
    ASSERT_EQ(up.exit_code, 0) << up.err;
    auto sync = RunCustos(Args({"dep", "sync", "abm", "--set", "dep.base_url=" + abm_->base_url()}),
                          std::chrono::seconds(60), env_);
    ASSERT_EQ(sync.exit_code, 0) << sync.err;

    // The device CA that signs MachineInfo (standing in for Apple's), and the fake attestation CA.
    auto device_root = push::testing::MakeCa("policy e2e device root");
    ASSERT_TRUE(device_root.ok());
    auto device_leaf = push::testing::MakeServerCert(*device_root);
    ASSERT_TRUE(device_leaf.ok());
    device_root_ = *std::move(device_root);
    device_leaf_ = *std::move(device_leaf);
    const Time now = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
    auto attestation_ca = attest::testing::MakeFakeAttestationCa(now - std::chrono::hours(24),
                                                                 now + std::chrono::hours(24 * 365));
    ASSERT_TRUE(attestation_ca.ok()) << attestation_ca.status();
    attestation_ca_ = *std::move(attestation_ca);

    MdmFixture::Options o;
    o.topic = kTopic;
    o.api_key = kApiKey;
    o.env = env_;
    o.args = {
        "--set", "dep.base_url=" + abm_->base_url(),
        "--set", "dep.sync_interval=0",
        "--set", "dep.device_ca_file=" + files_.File("device-roots.pem", device_root_.cert_pem),
        "--set", "acme.extra_attestation_roots=" +
                     files_.File("attestation-root.pem", attestation_ca_.RootPem()),
        "--set", "webhook.url=" + events_->url(),
    };
    ASSERT_NO_FATAL_FAILURE(mdm_.Start(o));
  }

  std::vector<std::string> Args(std::vector<std::string> a) {
    a.push_back("--data-dir");
    a.push_back(mdm_.dir());
    return a;
  }

  std::unique_ptr<Device> NewDevice(const std::string& serial, const std::string& product,
                                    const std::string& os_version) {
    DeviceOptions o;
    o.serial = serial;
    o.product = product;
    o.os_version = os_version;
    return std::make_unique<Device>(o);
  }
  // The ABM enrollment profile for `d` (signed MachineInfo).
  Status FetchAbmProfile(Device& d) {
    return d.DownloadAbmProfile(mdm_.url() + "/mdm/enroll", device_leaf_.key.get(),
                                device_leaf_.cert.get());
  }
  Json Api(const std::string& method, const std::string& path, const std::string& body = "") {
    return mdm_.ApiJson(method, path, body);
  }
  void SetPolicy(bool on) {
    Json j = Api("PUT", "/v1/policy", Json{{"require_hardware_attestation", on}}.dump());
    EXPECT_EQ(j.value("require_hardware_attestation", !on), on) << j.dump();
  }
  // The enrollment as /v1/enrollments shows it ({} when there is none).
  Json Enrollment(const std::string& udid) {
    Json list = Api("GET", "/v1/enrollments?id=" + udid);
    if (!list.is_array() || list.size() != 1 || !list[0].is_object()) return Json::object();
    return list[0];
  }
  // The enroll.Refused webhook events so far, after waiting up to 10 s for at least `n`.
  std::vector<HookReceiver::Received> Refusals(size_t n) {
    return events_->WaitFor(n, [](const HookReceiver::Received& r) {
      return r.json.is_object() && r.json.value("topic", "") == "enroll.Refused";
    });
  }
  AcmeEnrollOptions Acme(AttestationBreakage breakage = AttestationBreakage::kNone) {
    AcmeEnrollOptions o;
    o.attestation_ca = &attestation_ca_;
    o.breakage = breakage;
    return o;
  }

  testing_support::TempDir files_;
  std::vector<std::string> env_ = {"CUSTOS_CA_PASSPHRASE=policy e2e passphrase"};
  std::unique_ptr<abmsim::AbmSimulator> abm_;
  push::testing::KeyAndCert device_root_, device_leaf_;
  attest::testing::FakeAttestationCa attestation_ca_;
  std::unique_ptr<HookReceiver> events_;  // outlives the server
  MdmFixture mdm_;
};

TEST_F(PolicyE2eTest, SettingOffChangesNothing) {
  Json policy = Api("GET", "/v1/policy");
  EXPECT_EQ(policy["require_hardware_attestation"], false) << policy.dump();

  // The eligible ABM device gets SCEP, as before issue 7.
  auto d = NewDevice(kEligibleSerial, "iPhone14,2", "17.4");
  ASSERT_TRUE(FetchAbmProfile(*d).ok());
  EXPECT_EQ(d->profile().identity, "scep");
  ASSERT_TRUE(d->EnrollScep().ok());
  auto a = d->Authenticate();
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->status, 200) << a->body << mdm_.server().Log();
  Json e = Enrollment(d->udid());
  EXPECT_EQ(e.value("hardware_attested", true), false) << e.dump();

  // Manual enrollment still offers attested ACME when asked, and that identity is marked.
  auto m = NewDevice("C02MANUAL001", "Mac14,2", "14.4");
  ASSERT_TRUE(m->DownloadProfile(mdm_.url() + "/mdm/enroll?identity=acme").ok());
  EXPECT_EQ(m->profile().identity, "acme");
  Status acme = m->EnrollAcme(Acme());
  ASSERT_TRUE(acme.ok()) << acme << mdm_.server().Log();
  a = m->Authenticate();
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->status, 200) << a->body;
  EXPECT_EQ(Enrollment(m->udid()).value("hardware_attested", false), true);
  EXPECT_EQ(Api("GET", "/v1/enrollment-refusals").size(), 0u);

  // The policy routes are documented in the OpenAPI document.
  Json doc = Api("GET", "/v1/openapi.json");
  for (auto [path, method] : {std::pair{"/v1/policy", "get"}, std::pair{"/v1/policy", "put"},
                              std::pair{"/v1/policy/eligibility", "get"},
                              std::pair{"/v1/enrollment-refusals", "get"}}) {
    ASSERT_TRUE(doc["paths"].contains(path)) << path;
    EXPECT_FALSE(doc["paths"][path][method].value("x-custos-undocumented", false)) << path;
  }
  Json eligibility = Api("GET", std::string("/v1/policy/eligibility?serial=") + kEligibleSerial +
                                    "&product=MacBookPro18,3&os_version=14.1");
  EXPECT_EQ(eligibility.value("eligible", false), true) << eligibility.dump();
  EXPECT_EQ(mdm_.server().Stop(), 0);
}

TEST_F(PolicyE2eTest, SettingOnRequiresAttestedAcmeFromEligibleAbmDevices) {
  // The CLI sees the configuration default, then the API's setting (same database).
  auto show = RunCustos(Args({"policy", "show"}), std::chrono::seconds(60), env_);
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("require_hardware_attestation: off"), std::string::npos) << show.out;
  SetPolicy(true);
  show = RunCustos(Args({"policy", "show"}), std::chrono::seconds(60), env_);
  EXPECT_NE(show.out.find("require_hardware_attestation: on"), std::string::npos) << show.out;

  // 1. The eligible ABM device: an ACME profile as the issue asks, an attested identity, marked.
  auto d = NewDevice(kEligibleSerial, "iPhone14,2", "17.4");
  ASSERT_TRUE(FetchAbmProfile(*d).ok());
  const devicesim::EnrollmentProfile& p = d->profile();
  EXPECT_EQ(p.identity, "acme");
  EXPECT_EQ(p.acme_key_type, "ECSECPrimeRandom");
  EXPECT_EQ(p.acme_key_size, 384);
  EXPECT_TRUE(p.acme_hardware_bound);
  EXPECT_TRUE(p.acme_attest);
  EXPECT_FALSE(p.acme_client_identifier.empty());
  EXPECT_NE(mdm_.server().Log().find("policy: "), std::string::npos);
  Status acme = d->EnrollAcme(Acme());
  ASSERT_TRUE(acme.ok()) << acme << mdm_.server().Log();
  auto a = d->Authenticate();
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a->status, 200) << a->body << mdm_.server().Log();
  Json e = Enrollment(d->udid());
  EXPECT_EQ(e.value("hardware_attested", false), true) << e.dump();
  auto list = RunCustos(Args({"device", "list", "--serial", kEligibleSerial}),
                        std::chrono::seconds(60), env_);
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("HARDWARE_ATTESTED"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find(std::string(kEligibleSerial) + "\ttrue"), std::string::npos) << list.out;

  // 2. The same device with each broken attestation: nothing issued, the refusal recorded.
  struct Broken {
    AttestationBreakage breakage;
    const char* failed_step;
    const char* reason_part;
  };
  const Broken kBroken[] = {
      {AttestationBreakage::kNoAttestation, "challenge", "x5c"},
      {AttestationBreakage::kWrongRoot, "challenge", "chain does not verify"},
      {AttestationBreakage::kWrongNonce, "challenge", "freshness"},
      {AttestationBreakage::kWrongSerial, "challenge", "not the device"},
      {AttestationBreakage::kOtherKey, "finalize", "not the attested key"},
  };
  size_t refusals = 0;
  for (const Broken& b : kBroken) {
    SCOPED_TRACE(std::string(devicesim::AttestationBreakageName(b.breakage)));
    auto bad = NewDevice(kEligibleSerial, "iPhone14,2", "17.4");
    ASSERT_TRUE(FetchAbmProfile(*bad).ok());
    ASSERT_EQ(bad->profile().identity, "acme");
    AcmeEnrollResult result;
    Status st = bad->EnrollAcme(Acme(b.breakage), &result);
    EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st;
    EXPECT_EQ(result.failed_step, b.failed_step) << result.problem;
    EXPECT_EQ(bad->certificate(), nullptr);  // nothing issued
    ++refusals;
    Json all = Api("GET", "/v1/enrollment-refusals?serial=" + std::string(kEligibleSerial));
    ASSERT_EQ(all.size(), refusals) << all.dump();
    const Json& r = all.back();
    EXPECT_EQ(r["stage"], "acme");
    EXPECT_EQ(r["serial"], kEligibleSerial);
    std::string reason = r.value("reason", "");
    EXPECT_NE(reason.find(b.reason_part), std::string::npos) << reason;
    EXPECT_FALSE(r.value("created_at", "").empty());
  }
  EXPECT_GE(Refusals(refusals).size(), refusals);

  // 3. Ineligible devices get SCEP and enrol: an A10 iPhone known from ABM, and an eligible
  // platform whose serial ABM never reported.
  for (auto [serial, product] : {std::pair{kOldPhoneSerial, "iPhone9,1"},
                                 std::pair{kUnknownSerial, "iPhone15,2"}}) {
    SCOPED_TRACE(serial);
    auto s = NewDevice(serial, product, "16.7");
    ASSERT_TRUE(FetchAbmProfile(*s).ok());
    EXPECT_EQ(s->profile().identity, "scep");
    ASSERT_TRUE(s->EnrollScep().ok());
    auto auth = s->Authenticate();
    ASSERT_TRUE(auth.ok());
    EXPECT_EQ(auth->status, 200) << auth->body;
    EXPECT_EQ(Enrollment(s->udid()).value("hardware_attested", true), false);
  }

  // 4. The eligible device with a SCEP identity (manual profile) is refused at Authenticate.
  auto bypass = NewDevice(kEligibleSerial, "iPhone14,2", "17.4");
  ASSERT_TRUE(bypass->DownloadProfile(mdm_.url() + "/mdm/enroll").ok());
  ASSERT_EQ(bypass->profile().identity, "scep");
  ASSERT_TRUE(bypass->EnrollScep().ok());
  auto refused = bypass->Authenticate();
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->status, 400) << refused->body;
  EXPECT_NE(refused->body.find("not hardware-attested"), std::string::npos) << refused->body;
  Json all = Api("GET", "/v1/enrollment-refusals");
  ASSERT_EQ(all.size(), refusals + 1) << all.dump();
  EXPECT_EQ(all.back()["stage"], "authenticate");
  EXPECT_EQ(all.back()["udid"], bypass->udid());
  EXPECT_EQ(Enrollment(bypass->udid()), Json::object());  // nothing stored
  std::vector<HookReceiver::Received> hooks = Refusals(refusals + 1);
  ASSERT_GE(hooks.size(), refusals + 1);
  EXPECT_EQ(hooks.back().json["enroll_event"]["stage"], "authenticate");
  auto cli = RunCustos(Args({"policy", "refusals"}), std::chrono::seconds(60), env_);
  EXPECT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_NE(cli.out.find("not hardware-attested"), std::string::npos) << cli.out;

  // Turning the setting off lets the SCEP identity through again.
  auto off = RunCustos(Args({"policy", "set", "require-hardware-attestation", "off"}),
                       std::chrono::seconds(60), env_);
  ASSERT_EQ(off.exit_code, 0) << off.err;
  auto again = bypass->Authenticate();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->status, 200) << again->body;
  EXPECT_EQ(mdm_.server().Stop(), 0);
}

}  // namespace
}  // namespace custos::testing
