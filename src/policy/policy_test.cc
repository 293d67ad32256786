// The enrollment policy (policy.h, enforcement.h): the eligibility rule table, the setting
// (configuration default, database override), the ABM check, the profile identity choice,
// refusal recording with its event, and the Authenticate gate.
#include <gtest/gtest.h>

#include <mutex>

#include "base/random.h"
#include "policy/enforcement.h"
#include "policy/policy.h"
#include "storage/testing.h"

namespace custos::policy {
namespace {

const Time kT0 = FromUnixSeconds(1'800'000'000);

struct PlatformCase {
  const char* product;
  const char* os_version;
  bool eligible;
  const char* reason_part;  // a substring the reason must contain
};

TEST(PlatformSupportsAttestedIdentityTest, Table) {
  const PlatformCase kCases[] = {
      // iPhone: A11 (iPhone10,x) and later, iOS 16 or later.
      {"iPhone10,1", "16.0", true, "supports"},
      {"iPhone10,6", "16", true, "supports"},
      {"iPhone15,2", "17.4.1", true, "iOS 17.4.1"},
      {"iPhone10,1", "15.7.9", false, "iOS 16 or later"},
      {"iPhone9,1", "16.0", false, "A10"},
      {"iPhone9,4", "17.0", false, "A10"},
      {"iPhone8,1", "15.8", false, "A10"},
      // iPad: iPad7,x are A10/A10X; iPad8,x (A12X) and later qualify.
      {"iPad7,5", "17.0", false, "A10"},
      {"iPad7,12", "16.1", false, "A10"},
      {"iPad8,1", "16.0", true, "iPadOS 16.0"},
      {"iPad11,6", "17.2", true, "supports"},
      {"iPad13,4", "15.1", false, "iPadOS 16 or later"},
      // Apple-silicon Macs on macOS 14 or later.
      {"MacBookAir10,1", "14.0", true, "macOS 14.0"},
      {"MacBookPro17,1", "14.2.1", true, "supports"},
      {"MacBookPro18,3", "15.1", true, "supports"},
      {"MacBookPro18,4", "14.5", true, "supports"},
      {"Macmini9,1", "14.1", true, "supports"},
      {"iMac21,1", "14.0", true, "supports"},
      {"iMac21,2", "15.0", true, "supports"},
      {"Mac13,1", "14.0", true, "supports"},
      {"Mac14,2", "14.4", true, "supports"},
      {"Mac15,12", "15.0", true, "supports"},
      {"MacBookAir10,1", "13.6", false, "macOS 14 or later"},
      {"Mac14,2", "12.7", false, "macOS 14 or later"},
      // Intel Macs.
      {"MacBookPro16,1", "14.0", false, "Intel"},
      {"MacBookAir9,1", "14.0", false, "Intel"},
      {"Macmini8,1", "14.0", false, "Intel"},
      {"iMac20,1", "14.0", false, "Intel"},
      {"Mac12,1", "14.0", false, "Intel"},
      {"MacPro7,1", "14.0", false, "Intel"},
      {"iMacPro1,1", "14.0", false, "Intel"},
      // Unknown, other platforms, malformed.
      {"", "17.0", false, "unknown"},
      {"iPod9,1", "15.0", false, "does not support"},
      {"AppleTV14,1", "17.0", false, "does not support"},
      {"iPhone", "17.0", false, "unknown product"},
      {"iPhone15", "17.0", false, "unknown product"},
      {"15,2", "17.0", false, "unknown product"},
      {"iPhone15,x", "17.0", false, "unknown product"},
      {"iPhone15,2", "", false, "unknown iOS version"},
      {"iPhone15,2", "seventeen", false, "unknown iOS version"},
      {"iPhone15,2", "17..1", false, "unknown iOS version"},
      {"Mac14,2", "14.", false, "unknown macOS version"},
  };
  for (const auto& c : kCases) {
    Eligibility e = PlatformSupportsAttestedIdentity(c.product, c.os_version);
    EXPECT_EQ(e.eligible, c.eligible) << c.product << " " << c.os_version << ": " << e.reason;
    EXPECT_NE(e.reason.find(c.reason_part), std::string::npos)
        << c.product << " " << c.os_version << ": " << e.reason;
  }
}

// Collects published events.
class RecordingSink : public mdm::EventSink {
 public:
  void Publish(mdm::MdmEvent event) override {
    std::lock_guard<std::mutex> lock(mu_);
    events.push_back(std::move(event));
  }
  std::mutex mu_;
  std::vector<mdm::MdmEvent> events;
};

class EnrollmentPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = OpenTestStorage("sqlite", &clock_);
    ASSERT_TRUE(s.ok()) << s.status();
    storage_ = *std::move(s);
    auto p = EnrollmentPolicy::Create(config_, storage_.get(), &clock_);
    ASSERT_TRUE(p.ok()) << p.status();
    policy_ = *std::move(p);
  }
  void AddAbmDevice(const std::string& serial, const std::string& op_type = "added") {
    Status st = storage_->Transact([&](Stores& s) -> Status {
      auto name = s.dep().GetName("abm");
      if (!name.ok()) RETURN_IF_ERROR(s.dep().SetStaging("abm", "K", "C", kT0));
      DepDeviceRecord d;
      d.dep_name = "abm";
      d.serial_number = serial;
      d.op_type = op_type;
      d.updated_at = kT0;
      return s.dep().UpsertDevice(d).status();
    });
    ASSERT_TRUE(st.ok()) << st;
  }
  void AddCert(const std::string& serial_hex, const std::string& requester,
               const std::string& attributes) {
    CertificateRecord c;
    c.serial_hex = serial_hex;
    c.subject = "CN=device";
    c.sans_json = "[]";
    c.spki_sha256 = "spki" + serial_hex;
    c.cert_sha256 = "sha" + serial_hex;
    c.not_before = kT0;
    c.not_after = kT0 + std::chrono::hours(24 * 365);
    c.requester = requester;
    c.attributes_json = attributes;
    c.der = "der" + serial_hex;
    c.created_at = kT0;
    Status st = storage_->Transact([&](Stores& s) -> Status {
      if (issuer_id_ == 0) {  // the issuing CA the records point at
        ASSIGN_OR_RETURN(int64_t key_id, s.ca().InsertKey({0, "PEM", false, kT0}));
        CaCertRecord ca;
        ca.role = "issuing";
        ca.key_id = key_id;
        ca.der = "ca-der";
        ca.subject = "CN=test CA";
        ca.serial_hex = "1";
        ca.sha256_hex = "ca-sha";
        ca.not_before = kT0;
        ca.not_after = kT0 + std::chrono::hours(24 * 365);
        ca.created_at = kT0;
        ASSIGN_OR_RETURN(issuer_id_, s.ca().InsertCert(ca));
      }
      c.issuer_id = issuer_id_;
      return s.certs().Insert(c);
    });
    ASSERT_TRUE(st.ok()) << st;
  }

  FakeClock clock_{kT0};
  Config config_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<EnrollmentPolicy> policy_;
  int64_t issuer_id_ = 0;
};

TEST_F(EnrollmentPolicyTest, SettingDefaultsToConfigurationAndTheDatabaseOverrides) {
  auto on = policy_->RequireHardwareAttestation();
  ASSERT_TRUE(on.ok()) << on.status();
  EXPECT_FALSE(*on);  // configuration default: off

  Config config_on;
  config_on.policy.require_hardware_attestation = true;
  auto other = EnrollmentPolicy::Create(config_on, storage_.get(), &clock_);
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(*(*other)->RequireHardwareAttestation());

  // A stored value wins over either default, for every process on the database.
  ASSERT_TRUE(policy_->SetRequireHardwareAttestation(true, "cli").ok());
  EXPECT_TRUE(*policy_->RequireHardwareAttestation());
  ASSERT_TRUE((*other)->SetRequireHardwareAttestation(false, "api").ok());
  EXPECT_FALSE(*policy_->RequireHardwareAttestation());
  EXPECT_FALSE(*(*other)->RequireHardwareAttestation());

  EXPECT_FALSE(EnrollmentPolicy::Create(config_, nullptr, &clock_).ok());
}

TEST_F(EnrollmentPolicyTest, EvaluateNeedsTheSerialKnownFromAbm) {
  DeviceFacts facts{"C02ELIGIBLE1", "iPhone14,2", "17.4"};
  auto e = policy_->Evaluate(facts);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_FALSE(e->eligible);
  EXPECT_NE(e->reason.find("not known from Apple Business Manager"), std::string::npos) << e->reason;

  AddAbmDevice("C02ELIGIBLE1");
  e = policy_->Evaluate(facts);
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->eligible) << e->reason;
  EXPECT_NE(e->reason.find("abm"), std::string::npos) << e->reason;

  // Known from ABM but the platform cannot attest.
  AddAbmDevice("C02OLDPHONE1");
  e = policy_->Evaluate({"C02OLDPHONE1", "iPhone9,1", "16.0"});
  ASSERT_TRUE(e.ok());
  EXPECT_FALSE(e->eligible);
  EXPECT_NE(e->reason.find("A10"), std::string::npos) << e->reason;

  // ABM deleted it: no longer known.
  AddAbmDevice("C02GONE00001", "deleted");
  e = policy_->Evaluate({"C02GONE00001", "iPhone14,2", "17.4"});
  ASSERT_TRUE(e.ok());
  EXPECT_FALSE(e->eligible);

  e = policy_->Evaluate({"", "iPhone14,2", "17.4"});
  ASSERT_TRUE(e.ok());
  EXPECT_FALSE(e->eligible);
}

TEST_F(EnrollmentPolicyTest, IdentityForAndAbmProfileChoice) {
  AddAbmDevice("C02ELIGIBLE1");
  DeviceFacts eligible{"C02ELIGIBLE1", "MacBookPro18,3", "14.1"};
  DeviceFacts intel{"C02ELIGIBLE1", "MacBookPro16,1", "14.1"};
  DeviceFacts unknown{"C02UNKNOWN01", "Mac14,2", "14.1"};

  // Off: SCEP for everyone, and the ABM profile keeps today's choice.
  EXPECT_EQ(*policy_->IdentityFor(eligible), IdentityKind::kScep);
  auto choice = ChooseAbmIdentity(*policy_, eligible);
  ASSERT_TRUE(choice.ok());
  EXPECT_FALSE(choice->has_value());

  ASSERT_TRUE(policy_->SetRequireHardwareAttestation(true, "test").ok());
  EXPECT_EQ(*policy_->IdentityFor(eligible), IdentityKind::kAttestedAcme);
  EXPECT_EQ(*policy_->IdentityFor(intel), IdentityKind::kScep);
  EXPECT_EQ(*policy_->IdentityFor(unknown), IdentityKind::kScep);
  Eligibility why;
  choice = ChooseAbmIdentity(*policy_, eligible, &why);
  ASSERT_TRUE(choice.ok() && choice->has_value());
  EXPECT_EQ(**choice, IdentityKind::kAttestedAcme);
  EXPECT_TRUE(why.eligible);
  choice = ChooseAbmIdentity(*policy_, intel, &why);
  ASSERT_TRUE(choice.ok() && choice->has_value());
  EXPECT_EQ(**choice, IdentityKind::kScep);
  EXPECT_NE(why.reason.find("Intel"), std::string::npos) << why.reason;
}

TEST_F(EnrollmentPolicyTest, RefusalsAreStoredLoggedAndPublished) {
  RecordingSink sink;
  FakeRandom random(7);
  RefusalRecorder recorder(storage_.get(), &clock_, &random, &sink);
  Refusal r;
  r.serial = "C02SERIAL001";
  r.udid = "00008030-0001";
  r.stage = "acme";
  r.reason = "the freshness code is not SHA-256 of the token";
  r.detail = {{"order", "o1"}};
  ASSERT_TRUE(recorder.Record(r).ok());
  auto list = recorder.List({});
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].serial, "C02SERIAL001");
  EXPECT_EQ((*list)[0].reason, r.reason);
  EXPECT_EQ((*list)[0].created_at, kT0);
  nlohmann::json j = RefusalToJson((*list)[0]);
  EXPECT_EQ(j["detail"]["order"], "o1");
  EXPECT_EQ(j["udid"], "00008030-0001");
  ASSERT_EQ(sink.events.size(), 1u);
  EXPECT_EQ(sink.events[0].topic, "enroll.Refused");
  EXPECT_EQ(sink.events[0].udid, "00008030-0001");
  auto payload = nlohmann::json::parse(sink.events[0].json_payload);
  EXPECT_EQ(payload["reason"], r.reason);
  EXPECT_EQ(payload["stage"], "acme");
}

TEST_F(EnrollmentPolicyTest, AuthenticateGateRefusesNonAttestedIdentitiesOfEligibleDevices) {
  RecordingSink sink;
  FakeRandom random(7);
  RefusalRecorder recorder(storage_.get(), &clock_, &random, &sink);
  AuthenticateGate gate(policy_.get(), storage_.get(), &recorder);
  AddAbmDevice("C02ELIGIBLE1");
  AddCert("a1", "scep", "{}");
  AddCert("b1", "acme",
          R"({"challenge":"device-attest-01","hardware_bound":true,"attested":{"serial_number":"C02ELIGIBLE1"}})");
  AddCert("c1", "acme", R"({"challenge":"http-01"})");
  mdm::AuthenticateFacts scep{"UDID-1", "C02ELIGIBLE1", "iPhone14,2", "17.4", "a1", "mdm-signature"};
  mdm::AuthenticateFacts attested = scep;
  attested.cert_serial_hex = "b1";
  mdm::AuthenticateFacts http01 = scep;
  http01.cert_serial_hex = "c1";
  mdm::AuthenticateFacts ineligible = scep;
  ineligible.product_name = "iPhone9,1";

  // Off: nothing is refused.
  EXPECT_TRUE(gate.CheckAuthenticate(scep).ok());

  ASSERT_TRUE(policy_->SetRequireHardwareAttestation(true, "test").ok());
  Status refused = gate.CheckAuthenticate(scep);
  EXPECT_EQ(refused.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(refused.message().find("not hardware-attested"), std::string::npos) << refused;
  EXPECT_NE(refused.message().find("scep"), std::string::npos) << refused;
  EXPECT_EQ(gate.CheckAuthenticate(http01).code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(gate.CheckAuthenticate(attested).ok());
  EXPECT_TRUE(gate.CheckAuthenticate(ineligible).ok());

  auto list = recorder.List({});
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].stage, "authenticate");
  EXPECT_EQ((*list)[0].udid, "UDID-1");
  EXPECT_EQ(sink.events.size(), 2u);
}

TEST(IsHardwareAttestedIdentityTest, OnlyDeviceAttestedAcmeCertificates) {
  CertificateRecord c;
  c.requester = "acme";
  c.attributes_json =
      R"({"challenge":"device-attest-01","hardware_bound":true,"attested":{"udid":"U"}})";
  EXPECT_TRUE(mdm::IsHardwareAttestedIdentity(c));
  c.requester = "scep";
  EXPECT_FALSE(mdm::IsHardwareAttestedIdentity(c));
  c.requester = "acme";
  c.attributes_json = R"({"challenge":"device-attest-01","hardware_bound":false,"attested":{}})";
  EXPECT_FALSE(mdm::IsHardwareAttestedIdentity(c));
  c.attributes_json = R"({"challenge":"http-01"})";
  EXPECT_FALSE(mdm::IsHardwareAttestedIdentity(c));
  c.attributes_json = "not json";
  EXPECT_FALSE(mdm::IsHardwareAttestedIdentity(c));
}

}  // namespace
}  // namespace custos::policy
