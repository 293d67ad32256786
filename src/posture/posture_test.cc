// Tests of the posture service (posture.h): verdicts on DeviceInformation answers made with a
// fake Apple-like attestation PKI (src/attest/testdata), the request/answer flow through the real
// MDM service and storage, the policy job with a FakeClock, and the trust levels.
#include "posture/posture.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "attest/testdata/fake_attestation.h"
#include "base/encoding.h"
#include "mdm/plist_util.h"
#include "mdm/service_test_util.h"
#include "storage/testing.h"

namespace custos::posture {
namespace {

using attest::testing::FakeAttestationCa;
using attest::testing::FakeLeafSpec;
using attest::testing::IssueFakeLeaf;
using attest::testing::MakeFakeAttestationCa;
using mdm::testutil::Cert;
using Json = nlohmann::json;

constexpr Duration kDay{86400};
const Time kStart = FromUnixSeconds(1'790'000'000);  // 2026-09-21

std::string ChainXml(const std::vector<std::string>& chain) {
  std::string xml = "<key>DevicePropertiesAttestation</key><array>";
  for (const auto& der : chain) xml += "<data>" + Base64Encode(der) + "</data>";
  return xml + "</array>";
}

std::string AnswerXml(const std::string& udid, const std::string& uuid,
                      const std::vector<std::string>& chain, const std::string& os = "17.1",
                      const std::string& extra_responses = "") {
  using mdm::testutil::S;
  std::string responses = S("OSVersion", os) + S("SerialNumber", "SERIAL-" + udid) +
                          S("UDID", udid) + extra_responses;
  if (!chain.empty()) responses += ChainXml(chain);
  return mdm::testutil::Report(udid, "Acknowledged", uuid,
                               "<key>QueryResponses</key><dict>" + responses + "</dict>");
}

class PostureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = MakeFakeAttestationCa(kStart - 365 * kDay, kStart + 3650 * kDay);
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = std::make_unique<FakeAttestationCa>(*std::move(ca));
    auto other = MakeFakeAttestationCa(kStart - 365 * kDay, kStart + 3650 * kDay,
                                       "Another Attestation Root");
    ASSERT_TRUE(other.ok());
    other_ca_ = std::make_unique<FakeAttestationCa>(*std::move(other));

    attest::AttestationVerifier::Options vo;
    vo.clock = &clock_;
    vo.trust_apple_root = false;
    vo.extra_roots_pem = {ca_->RootPem()};
    auto verifier = attest::AttestationVerifier::Create(vo);
    ASSERT_TRUE(verifier.ok()) << verifier.status();
    verifier_ = *std::move(verifier);

    auto storage = OpenTestStorage("sqlite", &clock_);
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = *std::move(storage);
    mdm::MdmServiceOptions mo;
    mo.bootstrap_token_key = std::string(32, 'k');
    auto mdm = mdm::MdmService::Create(mo, storage_.get(), &clock_, &random_);
    ASSERT_TRUE(mdm.ok()) << mdm.status();
    mdm_ = *std::move(mdm);
    MakeService(options_);
  }

  void MakeService(PostureOptions options) {
    mdm_->SetEventSink(nullptr);
    service_.reset();
    auto service = PostureService::Create(options, storage_.get(), mdm_.get(), verifier_.get(),
                                          &clock_, &random_);
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = *std::move(service);
    mdm_->SetEventSink(service_.get());
  }

  // Authenticate + TokenUpdate of `udid` (serial SERIAL-udid, OSVersion 17.1).
  void Enroll(const std::string& udid) {
    auto a = mdm_->Checkin(Cert(udid), mdm::testutil::Authenticate(udid));
    ASSERT_TRUE(a.ok()) << a.status();
    auto t = mdm_->Checkin(Cert(udid), mdm::testutil::TokenUpdate(udid));
    ASSERT_TRUE(t.ok()) << t.status();
  }

  // The device polls and must receive `uuid`; returns the nonce it carries.
  std::string Receive(const std::string& udid, const std::string& uuid) {
    auto r = mdm_->Report(Cert(udid), mdm::testutil::Report(udid, "Idle"));
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return "";
    auto plist = mdm::Plist::Parse(r->body);
    EXPECT_TRUE(plist.ok()) << r->body;
    if (!plist.ok()) return "";
    auto root = mdm::PlistDict::Of(plist->get());
    EXPECT_EQ(root->String("CommandUUID").value_or(""), uuid);
    auto command = root->Dict("Command");
    EXPECT_TRUE(command.ok());
    EXPECT_EQ(command->String("RequestType").value_or(""), "DeviceInformation");
    auto queries = command->Array("Queries");
    EXPECT_TRUE(queries.ok());
    if (queries.ok()) {
      EXPECT_EQ(queries->Strings("Queries").value(), AttestationQueries());
    }
    return command->Data("DeviceAttestationNonce").value_or("");
  }

  std::vector<std::string> Chain(const FakeAttestationCa& ca, std::optional<std::string> nonce,
                                 const std::string& udid, Time not_before) {
    FakeLeafSpec spec;
    spec.not_before = not_before;
    spec.not_after = not_before + 30 * kDay;
    spec.serial_number = "SERIAL-" + udid;
    spec.udid = udid;
    spec.os_version = "17.1";
    spec.freshness_code = std::move(nonce);
    spec.device_information_eku = true;
    auto leaf = IssueFakeLeaf(ca, spec);
    EXPECT_TRUE(leaf.ok()) << leaf.status();
    return leaf.ok() ? leaf->chain : std::vector<std::string>();
  }

  void Answer(const std::string& udid, const std::string& uuid, const std::string& body) {
    auto r = mdm_->Report(Cert(udid), body);
    ASSERT_TRUE(r.ok()) << uuid << ": " << r.status();
  }

  Json Posture(const std::string& udid) {
    auto p = service_->GetPosture(udid);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? *p : Json();
  }

  std::vector<PostureRequestRecord> Requests(const std::string& udid) {
    std::vector<PostureRequestRecord> out;
    EXPECT_TRUE(storage_
                    ->Transact([&](Stores& s) -> Status {
                      ASSIGN_OR_RETURN(out, s.posture().ListRequests(udid, 100));
                      return OkStatus();
                    })
                    .ok());
    return out;
  }

  PostureDeviceRecord State(const std::string& udid) {
    PostureDeviceRecord d;
    EXPECT_TRUE(storage_
                    ->Transact([&](Stores& s) -> Status {
                      ASSIGN_OR_RETURN(d, s.posture().GetDevice(udid));
                      return OkStatus();
                    })
                    .ok());
    return d;
  }

  // Requests, receives and answers with a fresh attestation.
  void FreshRound(const std::string& udid, bool force = false) {
    auto req = service_->RequestAttestation(udid, "api", force);
    ASSERT_TRUE(req.ok()) << req.status();
    std::string nonce = Receive(udid, req->command_uuid);
    Answer(udid, req->command_uuid,
           AnswerXml(udid, req->command_uuid, Chain(*ca_, nonce, udid, clock_.Now() - std::chrono::minutes(1))));
    service_->Drain();
  }

  FakeClock clock_{kStart};
  FakeRandom random_{42};
  PostureOptions options_;
  std::unique_ptr<FakeAttestationCa> ca_, other_ca_;
  std::unique_ptr<attest::AttestationVerifier> verifier_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<mdm::MdmService> mdm_;
  std::unique_ptr<PostureService> service_;
};

// ---- JudgeAnswer ------------------------------------------------------------------------------

class JudgeTest : public PostureTest {
 protected:
  JudgeContext Context(std::string nonce) {
    JudgeContext c;
    c.device_id = "UDID-J";
    c.serial_number = "SERIAL-UDID-J";
    c.nonce = std::move(nonce);
    c.now = clock_.Now();
    c.rate_limit = 7 * kDay;
    c.find_nonce = [this](std::string_view n) -> std::optional<PostureRequestRecord> {
      if (n != earlier_.nonce) return std::nullopt;
      return earlier_;
    };
    return c;
  }
  DeviceInformationAnswer WithChain(std::vector<std::string> chain) {
    DeviceInformationAnswer a;
    a.status = "Acknowledged";
    a.attestation_chain = std::move(chain);
    return a;
  }
  PostureRequestRecord earlier_;
  const std::string nonce_ = std::string(32, '\x5a');
};

TEST_F(JudgeTest, GoodAnswerIsFresh) {
  auto j = JudgeAnswer(*verifier_, WithChain(Chain(*ca_, nonce_, "UDID-J", kStart - std::chrono::minutes(5))),
                       Context(nonce_));
  EXPECT_EQ(j.verdict, kVerdictFresh) << j.reason;
  EXPECT_EQ(j.properties.value("serial_number", ""), "SERIAL-UDID-J");
  EXPECT_EQ(j.properties.value("udid", ""), "UDID-J");
  EXPECT_EQ(j.properties.value("os_version", ""), "17.1");
  EXPECT_EQ(j.freshness_hex, HexEncode(nonce_));
  ASSERT_TRUE(j.attested_at.has_value());
}

TEST_F(JudgeTest, EarlierNonceWithinRateLimitIsCached) {
  earlier_.command_uuid = "EARLIER";
  earlier_.nonce = std::string(32, '\x01');
  earlier_.requested_at = kStart - 3 * kDay;
  auto chain = Chain(*ca_, earlier_.nonce, "UDID-J", kStart - 3 * kDay + std::chrono::minutes(2));
  auto j = JudgeAnswer(*verifier_, WithChain(chain), Context(nonce_));
  EXPECT_EQ(j.verdict, kVerdictCached) << j.reason;
  EXPECT_NE(j.reason.find("EARLIER"), std::string::npos) << j.reason;
}

TEST_F(JudgeTest, EarlierNonceBeyondRateLimitIsSuspicious) {
  earlier_.command_uuid = "EARLIER";
  earlier_.nonce = std::string(32, '\x01');
  earlier_.requested_at = kStart - 10 * kDay;
  auto chain = Chain(*ca_, earlier_.nonce, "UDID-J", kStart - 10 * kDay + std::chrono::minutes(2));
  auto j = JudgeAnswer(*verifier_, WithChain(chain), Context(nonce_));
  EXPECT_EQ(j.verdict, kVerdictSuspicious) << j.reason;
  EXPECT_NE(j.reason.find("stale"), std::string::npos) << j.reason;
}

TEST_F(JudgeTest, UnknownNonceIsSuspicious) {
  auto chain = Chain(*ca_, std::string(32, '\x77'), "UDID-J", kStart - std::chrono::minutes(5));
  auto j = JudgeAnswer(*verifier_, WithChain(chain), Context(nonce_));
  EXPECT_EQ(j.verdict, kVerdictSuspicious) << j.reason;
  EXPECT_NE(j.reason.find("no nonce custos ever sent"), std::string::npos) << j.reason;
}

TEST_F(JudgeTest, MissingFreshnessIsSuspicious) {
  auto chain = Chain(*ca_, std::nullopt, "UDID-J", kStart - std::chrono::minutes(5));
  auto j = JudgeAnswer(*verifier_, WithChain(chain), Context(nonce_));
  EXPECT_EQ(j.verdict, kVerdictSuspicious) << j.reason;
  EXPECT_NE(j.reason.find("missing"), std::string::npos) << j.reason;
}

TEST_F(JudgeTest, AttestationOlderThanItsNonceIsSuspicious) {
  earlier_.command_uuid = "EARLIER";
  earlier_.nonce = std::string(32, '\x01');
  earlier_.requested_at = kStart - 1 * kDay;
  auto chain = Chain(*ca_, earlier_.nonce, "UDID-J", kStart - 3 * kDay);
  auto j = JudgeAnswer(*verifier_, WithChain(chain), Context(nonce_));
  EXPECT_EQ(j.verdict, kVerdictSuspicious) << j.reason;
  EXPECT_NE(j.reason.find("predates"), std::string::npos) << j.reason;
}

TEST_F(JudgeTest, SerialOrUdidMismatchIsRefused) {
  auto wrong_udid = Chain(*ca_, nonce_, "UDID-OTHER", kStart - std::chrono::minutes(5));
  auto j = JudgeAnswer(*verifier_, WithChain(wrong_udid), Context(nonce_));
  EXPECT_EQ(j.verdict, kVerdictRefused);
  // The serial comes first ("SERIAL-UDID-OTHER").
  EXPECT_NE(j.reason.find("serial"), std::string::npos) << j.reason;

  JudgeContext c = Context(nonce_);
  c.serial_number = "SERIAL-UDID-OTHER";  // serial right, UDID wrong
  j = JudgeAnswer(*verifier_, WithChain(wrong_udid), c);
  EXPECT_EQ(j.verdict, kVerdictRefused);
  EXPECT_NE(j.reason.find("UDID"), std::string::npos) << j.reason;

  // Even with a wrong nonce, wrong identifiers are a refusal, never "cached".
  j = JudgeAnswer(*verifier_, WithChain(Chain(*ca_, std::string(32, 'q'), "UDID-OTHER", kStart)),
                  Context(nonce_));
  EXPECT_EQ(j.verdict, kVerdictRefused) << j.reason;
}

TEST_F(JudgeTest, WrongRootIsRefused) {
  auto j = JudgeAnswer(*verifier_, WithChain(Chain(*other_ca_, nonce_, "UDID-J", kStart - std::chrono::minutes(5))),
                       Context(nonce_));
  EXPECT_EQ(j.verdict, kVerdictRefused);
  EXPECT_NE(j.reason.find("chain"), std::string::npos) << j.reason;
}

TEST_F(JudgeTest, MalformedChainIsRefusedMissingAndErrorAreTheirOwn) {
  auto j = JudgeAnswer(*verifier_, WithChain({"not a certificate"}), Context(nonce_));
  EXPECT_EQ(j.verdict, kVerdictRefused);
  EXPECT_FALSE(j.reason.empty());

  DeviceInformationAnswer none;
  none.status = "Acknowledged";
  EXPECT_EQ(JudgeAnswer(*verifier_, none, Context(nonce_)).verdict, kVerdictMissing);
  DeviceInformationAnswer error;
  error.status = "Error";
  error.error = "The attestation server is unreachable";
  j = JudgeAnswer(*verifier_, error, Context(nonce_));
  EXPECT_EQ(j.verdict, kVerdictError);
  EXPECT_NE(j.reason.find("unreachable"), std::string::npos);
}

TEST_F(JudgeTest, MacProvisioningUdidAndUserEnrollment) {
  auto chain = Chain(*ca_, nonce_, "PROV-UDID", kStart - std::chrono::minutes(5));
  DeviceInformationAnswer mac = WithChain(chain);
  mac.provisioning_udid = "PROV-UDID";
  JudgeContext c = Context(nonce_);
  c.serial_number = "SERIAL-PROV-UDID";
  auto j = JudgeAnswer(*verifier_, mac, c);
  EXPECT_EQ(j.verdict, kVerdictFresh) << j.reason;

  FakeLeafSpec spec;
  spec.not_before = kStart - std::chrono::minutes(5);
  spec.not_after = kStart + kDay;
  spec.serial_number.reset();
  spec.udid.reset();
  spec.freshness_code = nonce_;
  auto anonymous = IssueFakeLeaf(*ca_, spec);
  ASSERT_TRUE(anonymous.ok());
  c = Context(nonce_);
  c.user_enrollment = true;
  EXPECT_EQ(JudgeAnswer(*verifier_, WithChain(anonymous->chain), c).verdict, kVerdictFresh);
  c.user_enrollment = false;  // a device enrollment must attest its identifiers
  EXPECT_EQ(JudgeAnswer(*verifier_, WithChain(anonymous->chain), c).verdict, kVerdictRefused);
}

TEST(ParseReportTest, ReadsAnswerAndRefusesMalformed) {
  std::string good = AnswerXml("U1", "C1", {"\x30\x01", "\x30\x02"}, "18.0",
                               mdm::testutil::S("ProvisioningUDID", "P1"));
  auto a = ParseDeviceInformationReport(good);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->status, "Acknowledged");
  EXPECT_EQ(a->os_version, "18.0");
  EXPECT_EQ(a->serial_number, "SERIAL-U1");
  EXPECT_EQ(a->udid, "U1");
  EXPECT_EQ(a->provisioning_udid, "P1");
  ASSERT_TRUE(a->attestation_chain.has_value());
  EXPECT_EQ(a->attestation_chain->size(), 2u);

  EXPECT_FALSE(ParseDeviceInformationReport("garbage").ok());
  EXPECT_FALSE(ParseDeviceInformationReport(mdm::testutil::Report(
                   "U1", "Acknowledged", "C1",
                   "<key>QueryResponses</key><dict><key>DevicePropertiesAttestation</key>"
                   "<string>x</string></dict>"))
                   .ok());
  EXPECT_FALSE(ParseDeviceInformationReport(mdm::testutil::Report(
                   "U1", "Acknowledged", "C1",
                   "<key>QueryResponses</key><dict><key>DevicePropertiesAttestation</key>"
                   "<array><string>x</string></array></dict>"))
                   .ok());
  std::vector<std::string> many(attest::kMaxChainCertificates + 1, "x");
  EXPECT_FALSE(ParseDeviceInformationReport(AnswerXml("U1", "C1", many)).ok());
  auto none = ParseDeviceInformationReport(mdm::testutil::Report("U1", "Acknowledged", "C1"));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->attestation_chain.has_value());
}

// ---- The service ------------------------------------------------------------------------------

TEST_F(PostureTest, RequestQueuesDeviceInformationWithFreshNonceAndRateLimit) {
  Enroll("UDID-1");
  auto req = service_->RequestAttestation("UDID-1", "api", false);
  ASSERT_TRUE(req.ok()) << req.status();
  std::string nonce = Receive("UDID-1", req->command_uuid);
  EXPECT_EQ(nonce.size(), 32u);
  EXPECT_EQ(HexEncode(nonce), req->nonce_hex);
  auto list = Requests("UDID-1");
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].nonce, nonce);
  EXPECT_EQ(list[0].status, kPosturePending);
  EXPECT_EQ(list[0].requested_at, kStart);

  // The device answers without an attestation (unsupported hardware): recorded as "missing".
  Answer("UDID-1", req->command_uuid, AnswerXml("UDID-1", req->command_uuid, {}));
  service_->Drain();
  EXPECT_EQ(Posture("UDID-1")["latest_verdict"]["verdict"], "missing");

  clock_.Advance(6 * kDay);
  auto again = service_->RequestAttestation("UDID-1", "api", false);
  EXPECT_EQ(again.status().code(), StatusCode::kFailedPrecondition) << again.status();
  auto forced = service_->RequestAttestation("UDID-1", "api", true);
  ASSERT_TRUE(forced.ok()) << forced.status();
  EXPECT_NE(HexEncode(Receive("UDID-1", forced->command_uuid)), req->nonce_hex);

  EXPECT_EQ(service_->RequestAttestation("NOPE", "api", true).status().code(), StatusCode::kNotFound);
}

TEST_F(PostureTest, FreshAnswerThroughEventsGivesMediumTrustWithProperties) {
  Enroll("UDID-1");
  Json before = Posture("UDID-1");
  EXPECT_EQ(before["trust_level"], "low");
  FreshRound("UDID-1");
  Json p = Posture("UDID-1");
  EXPECT_EQ(p["latest_verdict"]["verdict"], "fresh") << p.dump(2);
  EXPECT_EQ(p["trust_level"], "medium") << p.dump(2);
  EXPECT_EQ(p["hardware_attested_identity"], false);
  EXPECT_EQ(p["attested"]["serial_number"], "SERIAL-UDID-1");
  EXPECT_EQ(p["attested"]["os_version"], "17.1");
  EXPECT_EQ(p["last_fresh_attestation_at"], FormatRfc3339(kStart));
  EXPECT_TRUE(p["pending_request"].is_null());
  EXPECT_EQ(Requests("UDID-1")[0].status, kPostureAnswered);
}

TEST_F(PostureTest, CachedThenTamperedAnswers) {
  Enroll("UDID-1");
  FreshRound("UDID-1");
  std::string first_nonce = Requests("UDID-1")[0].nonce;
  Time first_made = clock_.Now() - std::chrono::minutes(1);

  // Two days later, forced: the device answers with its cached attestation (expected).
  clock_.Advance(2 * kDay);
  auto req = service_->RequestAttestation("UDID-1", "api", true);
  ASSERT_TRUE(req.ok());
  Receive("UDID-1", req->command_uuid);
  Answer("UDID-1", req->command_uuid,
         AnswerXml("UDID-1", req->command_uuid, Chain(*ca_, first_nonce, "UDID-1", first_made)));
  service_->Drain();
  Json p = Posture("UDID-1");
  EXPECT_EQ(p["latest_verdict"]["verdict"], "cached") << p.dump(2);
  EXPECT_EQ(p["trust_level"], "medium");

  // A chain from another root: refused, untrusted, with the reason.
  auto req2 = service_->RequestAttestation("UDID-1", "api", true);
  ASSERT_TRUE(req2.ok());
  std::string nonce2 = Receive("UDID-1", req2->command_uuid);
  Answer("UDID-1", req2->command_uuid,
         AnswerXml("UDID-1", req2->command_uuid, Chain(*other_ca_, nonce2, "UDID-1", clock_.Now())));
  service_->Drain();
  p = Posture("UDID-1");
  EXPECT_EQ(p["latest_verdict"]["verdict"], "refused") << p.dump(2);
  EXPECT_EQ(p["trust_level"], "untrusted");
  EXPECT_NE(p["reasons"][0].get<std::string>().find("chain"), std::string::npos) << p.dump(2);
  // The last trusted properties are still shown, and the refused answer's claims separately.
  EXPECT_EQ(p["attested_verdict"], "cached");
  EXPECT_EQ(p["history"].size(), 3u);
}

TEST_F(PostureTest, ResultsAreNotLostWithoutEvents) {
  Enroll("UDID-1");
  mdm_->SetEventSink(nullptr);  // events lost (a crash, a full queue)
  auto req = service_->RequestAttestation("UDID-1", "api", false);
  ASSERT_TRUE(req.ok());
  std::string nonce = Receive("UDID-1", req->command_uuid);
  Answer("UDID-1", req->command_uuid,
         AnswerXml("UDID-1", req->command_uuid, Chain(*ca_, nonce, "UDID-1", clock_.Now())));
  EXPECT_TRUE(Posture("UDID-1")["latest_verdict"].is_null());
  auto stats = service_->RunOnce();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->results_processed, 1);
  EXPECT_EQ(Posture("UDID-1")["latest_verdict"]["verdict"], "fresh");
  // Processing twice records once.
  ASSERT_TRUE(service_->ProcessCommandResult("UDID-1", req->command_uuid).ok());
  EXPECT_EQ(Posture("UDID-1")["history"].size(), 1u);
}

TEST_F(PostureTest, HardwareAttestedIdentityGivesHighTrust) {
  Enroll("UDID-1");
  // The identity certificate of Cert("UDID-1"), as ACME device-attest-01 records it.
  ASSERT_TRUE(storage_
                  ->Transact([&](Stores& s) -> Status {
                    CaKeyRecord key;
                    key.pkcs8_pem = "key";
                    key.created_at = kStart;
                    ASSIGN_OR_RETURN(int64_t key_id, s.ca().InsertKey(key));
                    CaCertRecord ca;
                    ca.role = "issuing";
                    ca.key_id = key_id;
                    ca.der = "der";
                    ca.subject = "CN=test";
                    ca.serial_hex = "01";
                    ca.sha256_hex = "ab";
                    ca.not_before = kStart - kDay;
                    ca.not_after = kStart + 365 * kDay;
                    ca.created_at = kStart;
                    ASSIGN_OR_RETURN(int64_t ca_id, s.ca().InsertCert(ca));
                    CertificateRecord c;
                    c.serial_hex = Cert("UDID-1").serial_hex;
                    c.cert_sha256 = Cert("UDID-1").cert_sha256;
                    c.subject = "CN=UDID-1";
                    c.sans_json = "[]";
                    c.spki_sha256 = "cd";
                    c.not_before = kStart - kDay;
                    c.not_after = kStart + 365 * kDay;
                    c.issuer_id = ca_id;
                    c.requester = "acme";
                    c.attributes_json =
                        R"({"challenge":"device-attest-01","hardware_bound":true,)"
                        R"("attested":{"serial_number":"SERIAL-UDID-1","udid":"UDID-1"}})";
                    c.der = "cert";
                    c.created_at = kStart;
                    return s.certs().Insert(c);
                  })
                  .ok());
  Json p = Posture("UDID-1");
  EXPECT_EQ(p["hardware_attested_identity"], true) << p.dump(2);
  EXPECT_EQ(p["trust_level"], "medium");  // not attested yet
  FreshRound("UDID-1");
  p = Posture("UDID-1");
  EXPECT_EQ(p["trust_level"], "high") << p.dump(2);

  // A reported OS version that differs from the attested one lowers the level.
  ASSERT_TRUE(service_->ObserveOsVersion("UDID-1", "17.2").ok());
  p = Posture("UDID-1");
  EXPECT_EQ(p["trust_level"], "medium") << p.dump(2);

  // Stale after max_interval + rate_limit.
  ASSERT_TRUE(service_->ObserveOsVersion("UDID-1", "17.1").ok());
  clock_.Advance(options_.max_interval + options_.rate_limit + kDay);
  EXPECT_EQ(Posture("UDID-1")["trust_level"], "medium");
}

// ---- Policy -------------------------------------------------------------------------------------

TEST_F(PostureTest, PolicyInitialOsChangeAndRandomRespectTheRateLimit) {
  Enroll("UDID-1");  // Authenticate (OSVersion 17.1): the first sighting
  service_->Drain();
  PostureDeviceRecord d = State("UDID-1");
  EXPECT_EQ(d.os_version, "17.1");
  ASSERT_TRUE(d.next_due_at.has_value());
  EXPECT_EQ(*d.next_due_at, kStart);
  EXPECT_EQ(d.due_reason, "initial");

  auto stats = service_->RunOnce();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->requests_made, 1);
  auto reqs = Requests("UDID-1");
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].trigger, "initial");
  // Next random request between max(min_interval, rate_limit) and max_interval from now.
  d = State("UDID-1");
  ASSERT_TRUE(d.next_due_at.has_value());
  EXPECT_GE(*d.next_due_at, kStart + options_.min_interval);
  EXPECT_LE(*d.next_due_at, kStart + options_.max_interval);
  EXPECT_EQ(d.due_reason, "random");

  // Answer it; the OS then changes two days later: due at the end of the rate limit, not now.
  std::string nonce = Receive("UDID-1", reqs[0].command_uuid);
  Answer("UDID-1", reqs[0].command_uuid,
         AnswerXml("UDID-1", reqs[0].command_uuid, Chain(*ca_, nonce, "UDID-1", kStart)));
  service_->Drain();
  clock_.Advance(2 * kDay);
  ASSERT_TRUE(mdm_->Checkin(Cert("UDID-1"),
                            mdm::testutil::Message("Authenticate", "UDID-1", "",
                                                   mdm::testutil::S("SerialNumber", "SERIAL-UDID-1") +
                                                       mdm::testutil::S("OSVersion", "17.2")))
                  .ok());
  ASSERT_TRUE(mdm_->Checkin(Cert("UDID-1"), mdm::testutil::TokenUpdate("UDID-1")).ok());
  service_->Drain();
  d = State("UDID-1");
  EXPECT_EQ(d.os_version, "17.2");
  ASSERT_TRUE(d.next_due_at.has_value());
  EXPECT_EQ(*d.next_due_at, kStart + options_.rate_limit);
  EXPECT_EQ(d.due_reason, "os-change");
  stats = service_->RunOnce();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->requests_made, 0);
  EXPECT_EQ(Requests("UDID-1").size(), 1u);

  clock_.Set(kStart + options_.rate_limit);
  stats = service_->RunOnce();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->requests_made, 1);
  reqs = Requests("UDID-1");
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].trigger, "os-change");
  EXPECT_FALSE(reqs[0].forced);

  // An OS version seen in any DeviceInformation answer counts too.
  std::string other_uuid = "OTHER-DEVINFO";
  mdm::EnqueueRequest q;
  q.enrollment_ids = {"UDID-1"};
  q.request_type = "DeviceInformation";
  q.params = Json{{"Queries", {"OSVersion"}}};
  q.command_uuid = other_uuid;
  ASSERT_TRUE(mdm_->Enqueue(q).ok());
  ASSERT_TRUE(mdm_->DeleteQueued("UDID-1", reqs[0].command_uuid).ok());
  auto r = mdm_->Report(Cert("UDID-1"), mdm::testutil::Report("UDID-1", "Idle"));
  ASSERT_TRUE(r.ok());
  Answer("UDID-1", other_uuid, AnswerXml("UDID-1", other_uuid, {}, "18.0"));
  service_->Drain();
  EXPECT_EQ(State("UDID-1").os_version, "18.0");
  // ... and the request whose command was deleted is given up.
  stats = service_->RunOnce();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->requests_failed, 1);
  EXPECT_EQ(Requests("UDID-1")[0].status, kPostureFailed);
}

TEST_F(PostureTest, DueDeviceInsideRateLimitIsPostponedAndUnansweredRequestsTimeOut) {
  Enroll("UDID-1");
  service_->Drain();
  ASSERT_TRUE(service_->RequestAttestation("UDID-1", "api", false).ok());
  // Make it due now, as an OS change would.
  ASSERT_TRUE(storage_
                  ->Transact([&](Stores& s) -> Status {
                    ASSIGN_OR_RETURN(auto d, s.posture().GetDevice("UDID-1"));
                    d.next_due_at = clock_.Now();
                    return s.posture().PutDevice(d);
                  })
                  .ok());
  auto stats = service_->RunOnce();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->postponed, 1);
  EXPECT_EQ(stats->requests_made, 0);
  EXPECT_EQ(*State("UDID-1").next_due_at, kStart + options_.rate_limit);

  clock_.Advance(options_.answer_timeout + kDay);
  stats = service_->RunOnce();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->requests_failed, 1);
  EXPECT_EQ(Requests("UDID-1").back().status, kPostureFailed);
}

TEST_F(PostureTest, WorkerHandlesEventsAndStopsCleanly) {
  PostureOptions o;
  o.check_interval = Duration(0);  // events only
  MakeService(o);
  service_->Start();
  Enroll("UDID-1");
  auto req = service_->RequestAttestation("UDID-1", "api", false);
  ASSERT_TRUE(req.ok());
  std::string nonce = Receive("UDID-1", req->command_uuid);
  Answer("UDID-1", req->command_uuid,
         AnswerXml("UDID-1", req->command_uuid, Chain(*ca_, nonce, "UDID-1", kStart)));
  Json p;
  for (int i = 0; i < 100; ++i) {
    p = Posture("UDID-1");
    if (!p["latest_verdict"].is_null()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(p["latest_verdict"]["verdict"], "fresh") << p.dump(2);
  auto t0 = std::chrono::steady_clock::now();
  service_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  service_->Stop();  // idempotent
}

TEST_F(PostureTest, PeriodicJobRequestsDueAttestationAndStops) {
  PostureOptions o;
  o.check_interval = Duration(1);
  MakeService(o);
  Enroll("UDID-1");  // due at once ("initial")
  service_->Start();
  std::vector<PostureRequestRecord> reqs;
  for (int i = 0; i < 100 && reqs.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    reqs = Requests("UDID-1");
  }
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].trigger, "initial");
  auto t0 = std::chrono::steady_clock::now();
  service_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}

TEST(PostureOptionsTest, CreateRefusesInconsistentIntervals) {
  PostureOptions o;
  o.min_interval = Duration(10 * 86400);
  o.max_interval = Duration(5 * 86400);
  FakeClock clock{kStart};
  auto s = PostureService::Create(o, reinterpret_cast<Storage*>(1),
                                  reinterpret_cast<mdm::MdmService*>(1),
                                  reinterpret_cast<const attest::AttestationVerifier*>(1), &clock,
                                  nullptr);
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace custos::posture
