// End to end over loopback (issue 5, "DeviceInformation attestation and device posture"): the real
// `custos serve` trusting a fake Apple-like attestation root ([acme] extra_attestation_roots), and
// a simulated device (tests/devicesim, DeviceAttester) that enrols over SCEP and answers
// DeviceInformation with a DevicePropertiesAttestation made by that root. An administrator asks
// for an attestation (POST /v1/devices/{id}/attest), the device answers, and
// GET /v1/devices/{id}/posture shows the attested properties and the trust level; a second forced
// request inside the 7-day rate limit is answered from the device's cache ("cached"); tampered
// answers (another serial, another root) are refused with their reason; `custos device attest`
// (another process) queues a request the server then verifies; `custos device posture` prints it.
// On SQLite, and on PostgreSQL when CUSTOS_TEST_PG_DSN is set (scripts/with-postgres.sh).
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "attest/testdata/fake_attestation.h"
#include "tests/devicesim/device_sim.h"
#include "tests/integration/mdm_fixture.h"

namespace custos::testing {
namespace {

using devicesim::Device;
using devicesim::DeviceAttester;
using devicesim::DeviceOptions;
using devicesim::ReceivedCommand;
using Json = nlohmann::json;

constexpr char kApiKey[] = "posture-e2e-api-key-0123456789";

class PostureE2eTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto now = std::chrono::system_clock::now();
    auto ca = attest::testing::MakeFakeAttestationCa(now - std::chrono::hours(24),
                                                     now + std::chrono::hours(24 * 3650));
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = std::make_unique<attest::testing::FakeAttestationCa>(*std::move(ca));

    MdmFixture::Options o;
    o.topic = "com.apple.mgmt.External.posture-e2e";
    o.api_key = kApiKey;
    o.driver = GetParam();
    o.args = {"--set", "acme.extra_attestation_roots=" +
                           mdm_.WriteFile("attestation-root.pem", ca_->RootPem()),
              // The policy job would ask on its own right after enrollment ("initial"); this
              // test drives every request itself.
              "--set", "posture.check_interval=0"};
    ASSERT_NO_FATAL_FAILURE(mdm_.Start(o));
  }

  Json Posture(const std::string& id) {
    return mdm_.ApiJson("GET", "/v1/devices/" + id + "/posture");
  }

  // Waits until the posture holds `n` verdicts (the server verifies asynchronously).
  Json PostureWithVerdicts(const std::string& id, size_t n) {
    Json p;
    for (int i = 0; i < 200; ++i) {
      p = Posture(id);
      if (p.is_object() && p["history"].is_array() && p["history"].size() >= n) return p;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "no verdict #" << n << " in " << p.dump(2);
    return p;
  }

  // POST /v1/devices/{id}/attest; returns the reply.
  HttpReply Attest(const std::string& id, bool force) {
    auto r = mdm_.Api("POST", "/v1/devices/" + id + "/attest", force ? R"({"force": true})" : "");
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : HttpReply();
  }

  // The device polls, must receive DeviceInformation `uuid`, and answers with `attester`.
  void ReceiveAndAnswer(Device& d, DeviceAttester& attester, const std::string& uuid) {
    std::optional<ReceivedCommand> cmd;
    auto idle = d.Idle(&cmd);
    ASSERT_TRUE(idle.ok()) << idle.status();
    ASSERT_EQ(idle->status, 200) << idle->body;
    ASSERT_TRUE(cmd.has_value()) << "no command for the device";
    EXPECT_EQ(cmd->request_type, "DeviceInformation");
    EXPECT_EQ(cmd->command_uuid, uuid);
    auto answered = attester.Answer(d, *cmd);
    ASSERT_TRUE(answered.ok()) << answered.status();
    EXPECT_EQ(answered->status, 200) << answered->body;
  }

  std::unique_ptr<attest::testing::FakeAttestationCa> ca_;
  MdmFixture mdm_;
};

TEST_P(PostureE2eTest, AttestVerifyPostureCachedAndTampered) {
  DeviceOptions o;
  o.base_url = mdm_.url();
  Device d(o);
  ASSERT_NO_FATAL_FAILURE(mdm_.Enroll(d));

  Json before = Posture(d.udid());
  EXPECT_EQ(before["trust_level"], "low") << before.dump(2);
  EXPECT_TRUE(before["latest_verdict"].is_null());
  EXPECT_EQ(mdm_.Api("GET", "/v1/devices/NO-SUCH-DEVICE/posture")->status, 404);
  EXPECT_EQ(mdm_.Api("POST", "/v1/devices/NO-SUCH-DEVICE/attest")->status, 404);
  // Without the API key: 401.
  EXPECT_EQ(HttpRequest(mdm_.url() + "/v1/devices/" + d.udid() + "/posture")->status, 401);

  // 1. An administrator asks; the device answers with a fresh attestation.
  DeviceAttester attester(ca_.get());
  HttpReply req = Attest(d.udid(), false);
  ASSERT_EQ(req.status, 201) << req.body;
  Json made = Json::parse(req.body);
  EXPECT_EQ(made["nonce"].get<std::string>().size(), 64u);  // 32 bytes, hex
  ReceiveAndAnswer(d, attester, made["command_uuid"]);
  Json p = PostureWithVerdicts(d.udid(), 1);
  EXPECT_EQ(p["latest_verdict"]["verdict"], "fresh") << p.dump(2);
  EXPECT_EQ(p["trust_level"], "medium") << p.dump(2);  // SCEP identity: not hardware-attested
  EXPECT_EQ(p["hardware_attested_identity"], false);
  EXPECT_EQ(p["attested"]["serial_number"], d.serial());
  EXPECT_EQ(p["attested"]["udid"], d.udid());
  EXPECT_EQ(p["attested"]["os_version"], "17.4");
  EXPECT_EQ(p["attested"]["freshness_code"], made["nonce"]);
  EXPECT_TRUE(p["last_fresh_attestation_at"].is_string());
  EXPECT_EQ(attester.fresh_attestations(), 1);

  // 2. Inside the rate limit: refused unless forced; forced, the device answers from its cache.
  HttpReply limited = Attest(d.udid(), false);
  EXPECT_EQ(limited.status, 409) << limited.body;
  HttpReply forced = Attest(d.udid(), true);
  ASSERT_EQ(forced.status, 201) << forced.body;
  ReceiveAndAnswer(d, attester, Json::parse(forced.body)["command_uuid"]);
  p = PostureWithVerdicts(d.udid(), 2);
  EXPECT_EQ(p["latest_verdict"]["verdict"], "cached") << p.dump(2);
  EXPECT_EQ(p["trust_level"], "medium");
  EXPECT_EQ(attester.fresh_attestations(), 1);  // the device made no new one

  // 3. A tampered answer (another serial): refused, untrusted, with the reason.
  attester.set_tamper(DeviceAttester::Tamper::kWrongSerial);
  forced = Attest(d.udid(), true);
  ASSERT_EQ(forced.status, 201) << forced.body;
  ReceiveAndAnswer(d, attester, Json::parse(forced.body)["command_uuid"]);
  p = PostureWithVerdicts(d.udid(), 3);
  EXPECT_EQ(p["latest_verdict"]["verdict"], "refused") << p.dump(2);
  EXPECT_NE(p["latest_verdict"]["reason"].get<std::string>().find("serial"), std::string::npos)
      << p.dump(2);
  EXPECT_EQ(p["trust_level"], "untrusted");
  EXPECT_EQ(p["attested_verdict"], "cached");  // the last trusted properties stay visible

  // 4. `custos device attest` in another process; the answer comes from an untrusted root.
  std::vector<std::string> cli = {"device", "attest", d.udid(), "--force", "--no-push", "--json"};
  cli.insert(cli.end(), mdm_.args().begin(), mdm_.args().end());
  CommandResult attest_cli = RunCustos(cli, std::chrono::seconds(60), mdm_.env());
  ASSERT_EQ(attest_cli.exit_code, 0) << attest_cli.out << attest_cli.err;
  Json cli_made = Json::parse(attest_cli.out, nullptr, false);
  ASSERT_TRUE(cli_made.is_object()) << attest_cli.out;
  EXPECT_EQ(cli_made["trigger"], "cli");
  attester.set_tamper(DeviceAttester::Tamper::kWrongRoot);
  ReceiveAndAnswer(d, attester, cli_made["command_uuid"]);
  p = PostureWithVerdicts(d.udid(), 4);
  EXPECT_EQ(p["latest_verdict"]["verdict"], "refused") << p.dump(2);
  EXPECT_NE(p["latest_verdict"]["reason"].get<std::string>().find("chain"), std::string::npos)
      << p.dump(2);

  // 5. A fresh nonce nobody sent: suspicious.
  attester.set_tamper(DeviceAttester::Tamper::kUnknownNonce);
  forced = Attest(d.udid(), true);
  ASSERT_EQ(forced.status, 201) << forced.body;
  ReceiveAndAnswer(d, attester, Json::parse(forced.body)["command_uuid"]);
  p = PostureWithVerdicts(d.udid(), 5);
  EXPECT_EQ(p["latest_verdict"]["verdict"], "suspicious") << p.dump(2);

  // `custos device posture` prints the same.
  std::vector<std::string> show = {"device", "posture", d.udid()};
  show.insert(show.end(), mdm_.args().begin(), mdm_.args().end());
  CommandResult posture_cli = RunCustos(show, std::chrono::seconds(60), mdm_.env());
  ASSERT_EQ(posture_cli.exit_code, 0) << posture_cli.out << posture_cli.err;
  EXPECT_NE(posture_cli.out.find("trust_level: untrusted"), std::string::npos) << posture_cli.out;
  EXPECT_NE(posture_cli.out.find("latest_verdict: suspicious"), std::string::npos) << posture_cli.out;
  EXPECT_NE(posture_cli.out.find("attested.serial_number: " + d.serial()), std::string::npos)
      << posture_cli.out;

  // The OpenAPI document describes both routes.
  auto doc = mdm_.Api("GET", "/v1/openapi.json");
  ASSERT_TRUE(doc.ok());
  Json openapi = Json::parse(doc->body, nullptr, false);
  EXPECT_TRUE(openapi["paths"].contains("/v1/devices/{id}/attest"));
  EXPECT_FALSE(openapi["paths"]["/v1/devices/{id}/posture"]["get"].value("x-custos-undocumented", false));
}

INSTANTIATE_TEST_SUITE_P(Drivers, PostureE2eTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace custos::testing
