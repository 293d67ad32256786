// End to end over loopback (issue 7, "Identity renewal"): the real `custos serve`, the fake APNs
// (tests/fakeapns) and simulated devices (tests/devicesim).
//
// Time is moved, not waited for: the renewal job is run through the admin API with an `at` instant
// (POST /v1/renewals/run {"at": now + 340 days}), which selects exactly what the background job
// would select on that day; everything else (issuance, device requests) runs on the real clock.
//
//   1. A device enrolled over SCEP: the run queues InstallProfile with a SCEP profile and pushes;
//      the device polls, installs the profile, enrols with its challenge, switches to the new
//      identity, acknowledges with it and keeps checking in without a new Authenticate; the renewal
//      is recorded as completed, the old identity still works, and a second run leaves it alone.
//   2. With require_hardware_attestation on and the device's serial known from ABM (an eligible
//      iPhone on iOS 17), the SCEP identity is renewed to an attested ACME one (fake Apple
//      attestation root configured for the test) while the device stays enrolled.
// On SQLite, and on PostgreSQL when CUSTOS_TEST_PG_DSN is set (scripts/with-postgres.sh).
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "attest/testdata/fake_attestation.h"
#include "base/encoding.h"
#include "base/openssl_util.h"
#include "base/time.h"
#include "pki/x509.h"
#include "storage/storage.h"
#include "tests/devicesim/device_sim.h"
#include "tests/integration/mdm_fixture.h"

namespace custos::testing {
namespace {

using devicesim::Device;
using devicesim::DeviceOptions;
using devicesim::InstallProfileOutcome;
using devicesim::ReceivedCommand;
using Json = nlohmann::json;

constexpr char kTopic[] = "com.apple.mgmt.External.renewal-5a0f3c1e-8d44-4b7e-9f21-0c6a7e2d9b13";
constexpr char kApiKey[] = "renewal-e2e-api-key-0123456789";

class RenewalE2eTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    // The fake Apple attestation CA that custos trusts for this test only.
    auto now = std::chrono::system_clock::now();
    auto attestation = attest::testing::MakeFakeAttestationCa(
        now - std::chrono::hours(24), now + std::chrono::hours(24 * 3650));
    ASSERT_TRUE(attestation.ok()) << attestation.status();
    attestation_ca_ = std::make_unique<attest::testing::FakeAttestationCa>(*std::move(attestation));

    MdmFixture::Options o;
    o.topic = kTopic;
    o.api_key = kApiKey;
    o.driver = GetParam();
    o.fake_apns = true;
    o.args = {
        "--set", "acme.extra_attestation_roots=" +
                     mdm_.WriteFile("attestation-root.pem", attestation_ca_->RootPem()),
        "--set", "renewal.window=30d",
        "--set", "renewal.retry_after=1d",
    };
    ASSERT_NO_FATAL_FAILURE(mdm_.Start(o));
  }

  // POST /v1/renewals/run as of `days` from now.
  Json RunRenewals(int days, bool dry_run) {
    Time at = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now()) +
              std::chrono::hours(24 * days);
    Json body = {{"at", FormatRfc3339(at)}, {"dry_run", dry_run}};
    return mdm_.ApiJson("POST", "/v1/renewals/run", body.dump());
  }

  std::unique_ptr<Device> NewDevice(const std::string& serial = "") {
    DeviceOptions o;
    o.base_url = mdm_.url();
    o.serial = serial;
    o.product = "iPhone14,2";  // A15
    o.os_version = "17.4";
    return std::make_unique<Device>(o);
  }

  // Makes `serial` known from Apple Business Manager, as a DEP sync would (same database).
  void MakeKnownFromAbm(const std::string& serial) {
    StorageConfig config;
    if (GetParam() == "postgres") {
      config.driver = "postgres";
      config.dsn = mdm_.dsn();
    } else {
      config.driver = "sqlite";
      config.sqlite_path = mdm_.dir() + "/custos.db";
    }
    config.pool_size = 1;
    auto storage = Storage::Open(config, Clock::Real());
    ASSERT_TRUE(storage.ok()) << storage.status();
    Status s = (*storage)->Transact([&](Stores& st) -> Status {
      const Time now = Clock::Real()->Now();
      RETURN_IF_ERROR(st.dep().SetStaging("renewal-e2e", "key", "cert", now));
      DepDeviceRecord d;
      d.dep_name = "renewal-e2e";
      d.serial_number = serial;
      d.model = "iPhone 13 Pro";
      d.os = "iOS";
      d.device_family = "iPhone";
      d.profile_status = "pushed";
      d.updated_at = now;
      return st.dep().UpsertDevice(d).status();
    });
    ASSERT_TRUE(s.ok()) << s;
  }

  // The renewal requests of `enrollment`.
  Json Renewals(const std::string& enrollment) {
    return mdm_.ApiJson("GET", "/v1/renewals?enrollment_id=" + enrollment);
  }

  std::unique_ptr<attest::testing::FakeAttestationCa> attestation_ca_;
  MdmFixture mdm_;
};

TEST_P(RenewalE2eTest, ScepIdentityRenewedWithoutAuthenticate) {
  auto d = NewDevice();
  ASSERT_NO_FATAL_FAILURE(mdm_.Enroll(*d, "/mdm/enroll?identity=scep"));
  const std::string old_serial = CertSerialHex(d->certificate());
  X509_up_ref(d->certificate());
  X509Ptr old_cert(d->certificate());
  EVP_PKEY_up_ref(d->key());
  EvpPkeyPtr old_key(d->key());

  // Today nothing is due; 340 days on (25 days before expiry) the identity is.
  EXPECT_TRUE(RunRenewals(0, false)["renewals"].empty());
  Json preview = RunRenewals(340, /*dry_run=*/true);
  ASSERT_EQ(preview["renewals"].size(), 1u) << preview.dump();
  EXPECT_EQ(preview["renewals"][0].value("serial", ""), old_serial);
  EXPECT_EQ(preview["renewals"][0].value("identity", ""), "scep");
  EXPECT_TRUE(Renewals(d->udid()).empty()) << "a dry run records nothing";

  const size_t pushes_before = mdm_.PushesFor(d->push_token_hex(), 0).size();
  Json run = RunRenewals(340, false);
  ASSERT_EQ(run.value("queued", 0), 1) << run.dump();
  const std::string uuid = run["renewals"][0].value("command_uuid", "");
  ASSERT_FALSE(uuid.empty());
  EXPECT_GT(mdm_.PushesFor(d->push_token_hex(), pushes_before + 1).size(), pushes_before)
      << "no push";
  // Recorded once; the next run the same day does not send another profile.
  EXPECT_EQ(RunRenewals(340, false).value("queued", -1), 0);

  // The device polls, gets InstallProfile with a SCEP profile, installs it and enrols.
  std::optional<ReceivedCommand> cmd;
  auto idle = d->Idle(&cmd);
  ASSERT_TRUE(idle.ok()) << idle.status();
  ASSERT_TRUE(cmd.has_value()) << idle->body;
  EXPECT_EQ(cmd->command_uuid, uuid);
  EXPECT_EQ(cmd->request_type, "InstallProfile");
  auto payload = devicesim::InstallProfilePayload(*cmd);
  ASSERT_TRUE(payload.ok()) << payload.status();
  auto profile = devicesim::ParseEnrollmentProfile(*payload);
  ASSERT_TRUE(profile.ok()) << profile.status();
  EXPECT_EQ(profile->identity, "scep");
  EXPECT_TRUE(profile->signed_profile);
  EXPECT_EQ(profile->topic, kTopic);

  InstallProfileOutcome outcome;
  std::optional<ReceivedCommand> next;
  Status installed = d->InstallProfile(*cmd, &outcome, &next);
  ASSERT_TRUE(installed.ok()) << installed;
  EXPECT_EQ(outcome.http_status, 200);
  EXPECT_EQ(outcome.old_serial, old_serial);
  EXPECT_NE(outcome.new_serial, old_serial);
  EXPECT_EQ(CertSerialHex(d->certificate()), outcome.new_serial);
  EXPECT_FALSE(next.has_value());

  // It keeps checking in with the new identity, without Authenticate.
  auto idle2 = d->Idle(&cmd);
  ASSERT_TRUE(idle2.ok());
  EXPECT_EQ(idle2->status, 200) << idle2->body;
  auto token = d->TokenUpdate();
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(token->status, 200) << token->body;
  Json enrollment = mdm_.ApiJson("GET", "/v1/enrollments/" + d->udid());
  EXPECT_EQ(enrollment.value("enabled", false), true) << enrollment.dump();

  Json renewals = Renewals(d->udid());
  ASSERT_EQ(renewals.size(), 1u) << renewals.dump();
  EXPECT_EQ(renewals[0].value("status", ""), "completed");
  EXPECT_EQ(renewals[0].value("old_serial", ""), old_serial);
  EXPECT_EQ(renewals[0].value("new_serial", ""), outcome.new_serial);
  EXPECT_EQ(renewals[0].value("identity_kind", ""), "scep");
  EXPECT_EQ(renewals[0].value("command_uuid", ""), uuid);

  // The old identity stays valid until it expires or is revoked.
  d->SetIdentity(old_key.get(), old_cert.get());
  auto old_idle = d->Idle(&cmd);
  ASSERT_TRUE(old_idle.ok());
  EXPECT_EQ(old_idle->status, 200) << old_idle->body;

  // Renewed: the old identity is never due again. (The new one was issued on the real clock, so
  // on the simulated day it looks due itself; only the selection moves in time.)
  Json after = RunRenewals(340, true);
  for (const Json& r : after["renewals"]) EXPECT_NE(r.value("serial", ""), old_serial);
}

TEST_P(RenewalE2eTest, EligibleDeviceMovesFromScepToAttestedAcme) {
  auto d = NewDevice("RNWL0E2E0001");
  ASSERT_NO_FATAL_FAILURE(mdm_.Enroll(*d, "/mdm/enroll?identity=scep"));
  const std::string old_serial = CertSerialHex(d->certificate());
  ASSERT_NO_FATAL_FAILURE(MakeKnownFromAbm(d->serial()));

  // Setting off: the renewal stays SCEP.
  Json off = RunRenewals(340, true);
  ASSERT_EQ(off["renewals"].size(), 1u) << off.dump();
  EXPECT_EQ(off["renewals"][0].value("identity", ""), "scep") << off.dump();

  mdm_.ApiJson("PUT", "/v1/policy", R"({"require_hardware_attestation": true})");
  Json run = RunRenewals(340, false);
  ASSERT_EQ(run.value("queued", 0), 1) << run.dump();
  EXPECT_EQ(run["renewals"][0].value("identity", ""), "acme") << run.dump();

  std::optional<ReceivedCommand> cmd;
  auto idle = d->Idle(&cmd);
  ASSERT_TRUE(idle.ok()) << idle.status();
  ASSERT_TRUE(cmd.has_value()) << idle->body;
  ASSERT_EQ(cmd->request_type, "InstallProfile");
  devicesim::AcmeEnrollOptions acme;
  acme.attestation_ca = attestation_ca_.get();
  InstallProfileOutcome outcome;
  Status installed = d->InstallProfile(*cmd, &outcome, nullptr, &acme);
  ASSERT_TRUE(installed.ok()) << installed;
  EXPECT_EQ(outcome.identity, "acme");
  EXPECT_EQ(outcome.http_status, 200);
  EXPECT_NE(outcome.new_serial, old_serial);

  // Still enrolled, speaking with the attested identity, no Authenticate.
  auto idle2 = d->Idle(&cmd);
  ASSERT_TRUE(idle2.ok());
  EXPECT_EQ(idle2->status, 200) << idle2->body;
  Json renewals = Renewals(d->udid());
  ASSERT_EQ(renewals.size(), 1u) << renewals.dump();
  EXPECT_EQ(renewals[0].value("status", ""), "completed") << renewals.dump();
  EXPECT_EQ(renewals[0].value("identity_kind", ""), "acme");
  EXPECT_EQ(renewals[0].value("new_serial", ""), outcome.new_serial);
  Json enrollment = mdm_.ApiJson("GET", "/v1/enrollments/" + d->udid());
  EXPECT_EQ(enrollment.value("enabled", false), true);
  if (enrollment.contains("hardware_attested")) {
    EXPECT_EQ(enrollment.value("hardware_attested", false), true) << enrollment.dump();
  }
  // ACME to ACME: the attested identity is renewed with attested ACME again (it was issued on the
  // real clock, so it is due on the same simulated day).
  Json later = RunRenewals(340, true);
  ASSERT_EQ(later["renewals"].size(), 1u) << later.dump();
  EXPECT_EQ(later["renewals"][0].value("serial", ""), outcome.new_serial);
  EXPECT_EQ(later["renewals"][0].value("current_kind", ""), "acme");
  EXPECT_EQ(later["renewals"][0].value("identity", ""), "acme");
}

INSTANTIATE_TEST_SUITE_P(Drivers, RenewalE2eTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace custos::testing
