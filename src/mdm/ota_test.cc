// Tests of OTA enrollment (ota.h): phases 1 to 3 in process with a test PKI standing in for
// Apple's device CA (configured as [dep] device_ca_file), the real SCEP service issuing the
// phase-2 identity, and every refusal: unsigned, tampered, foreign chain, spent and expired
// challenges, an identity not issued by custos or issued to another device.
#include "mdm/ota.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "base/encoding.h"
#include "dep/machine_info.h"
#include "mdm/ota_handler.h"
#include "mdm/plist_util.h"
#include "pki/cms.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/test_support.h"
#include "pki/x509.h"
#include "scep/client.h"
#include "scep/service.h"
#include "storage/testing.h"

namespace custos::mdm {
namespace {

using testing_support::TempDir;

constexpr char kTopic[] = "com.apple.mgmt.External.0b7e4c1a-2f3d-4e5f-8a9b-0c1d2e3f4a5b";
constexpr char kBase[] = "http://127.0.0.1:8080";
constexpr char kUdid[] = "00008110-000A1C2E3F4B5C6D";

// A certificate authority and one leaf under it (a stand-in for Apple's device PKI).
struct TestPki {
  EvpPkeyPtr root_key, leaf_key;
  X509Ptr root, leaf;
};

TestPki MakeDevicePki(Time now, const std::string& leaf_cn) {
  TestPki p;
  p.root_key = *GenerateKey(KeyAlgorithm::kEcP256);
  p.leaf_key = *GenerateKey(KeyAlgorithm::kRsa, 2048);
  CertificateTemplate t;
  t.subject = {{"CN", "Test Apple Device Root"}};
  t.basic_constraints_ca = true;
  t.key_usage = kKuKeyCertSign | kKuCrlSign;
  t.not_before = now - Duration(86400 * 3650);
  t.not_after = now + Duration(86400 * 3650);
  t.serial_hex = "0a";
  p.root = *BuildCertificate(t, p.root_key.get(), nullptr, p.root_key.get());
  CertificateTemplate l;
  l.subject = {{"CN", leaf_cn}};
  l.basic_constraints_ca = false;
  l.key_usage = kKuDigitalSignature | kKuKeyEncipherment;
  l.not_before = now - Duration(86400 * 3000);
  l.not_after = now - Duration(86400);  // expired, like many Apple device certificates
  l.serial_hex = "0b";
  p.leaf = *BuildCertificate(l, p.leaf_key.get(), p.root.get(), p.root_key.get());
  return p;
}

std::string Attributes(const std::string& challenge, const std::string& udid = kUdid) {
  Plist d = Plist::NewDict();
  EXPECT_TRUE(DictSetString(d.get(), "CHALLENGE", challenge).ok());
  EXPECT_TRUE(DictSetString(d.get(), "UDID", udid).ok());
  EXPECT_TRUE(DictSetString(d.get(), "SERIAL", "F2LXK0AAHG7F").ok());
  EXPECT_TRUE(DictSetString(d.get(), "PRODUCT", "iPhone14,5").ok());
  EXPECT_TRUE(DictSetString(d.get(), "VERSION", "21A329").ok());
  EXPECT_TRUE(DictSetString(d.get(), "IMEI", "35 209900 176148 1").ok());
  return d.ToXml().value_or("");
}

std::string SignWith(EVP_PKEY* key, X509* cert, const std::string& content,
                     const std::string& digest = "sha1") {
  CmsSignOptions o;
  o.key = key;
  o.cert = cert;
  o.digest = digest;
  auto s = SignCms(content, o);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.value_or("");
}

// The plist inside a signed profile (and checks that it is signed).
Plist ProfilePlist(const OtaService::Output& out) {
  EXPECT_TRUE(out.is_signed);
  auto parsed = ParseSignedData(out.body);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  if (!parsed.ok() || !parsed->content) return Plist();
  EXPECT_TRUE(VerifySignedData(*parsed).ok());
  auto p = Plist::Parse(*parsed->content);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? std::move(*p) : Plist();
}

class OtaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto storage = OpenTestStorage("sqlite", &clock_);
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = std::move(*storage);
    config_.ca.root_key_type = "ec-p384";
    config_.server.data_dir = dir_.path();
    config_.enroll.topic = kTopic;
    config_.ca.organization = "Example Org";
    auto ca = Authority::Init(config_.ca, storage_.get(), &clock_, &random_, "");
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = std::move(*ca);
    auto scep = scep::ScepService::Create(config_.scep, ca_.get(), storage_.get(), &clock_,
                                          &random_, "");
    ASSERT_TRUE(scep.ok()) << scep.status();
    scep_ = std::move(*scep);
    challenges_ = std::make_unique<ScepChallengeSource>(scep_.get());

    apple_ = MakeDevicePki(clock_.Now(), kUdid);
    config_.dep.device_ca_file = dir_.File("apple-roots.pem", CertificatePem(apple_.root.get()));
    auto apple_ca = dep::AppleDeviceCa::Create(config_.dep);
    ASSERT_TRUE(apple_ca.ok()) << apple_ca.status();
    apple_ca_ = std::move(*apple_ca);

    profiles_ = MakeProfiles();
    ASSERT_NE(profiles_, nullptr);
    ota_ = MakeOta(profiles_.get());
    ASSERT_NE(ota_, nullptr);
  }

  // A ProfileService over config_ (which tests may change first).
  std::unique_ptr<ProfileService> MakeProfiles() {
    ProfileService::Deps pd;
    pd.ca = ca_.get();
    pd.storage = storage_.get();
    pd.clock = &clock_;
    pd.random = &random_;
    pd.challenges = challenges_.get();
    auto profiles = ProfileService::Create(config_, kBase, pd);
    EXPECT_TRUE(profiles.ok()) << profiles.status();
    return profiles.ok() ? std::move(*profiles) : nullptr;
  }

  // An OtaService over `profiles`: challenges live 600 s, phase 3 must follow within 900 s.
  std::unique_ptr<OtaService> MakeOta(ProfileService* profiles) {
    OtaService::Deps d;
    d.profiles = profiles;
    d.scep = scep_.get();
    d.ca = ca_.get();
    d.apple = apple_ca_.get();
    d.storage = storage_.get();
    d.clock = &clock_;
    d.random = &random_;
    OtaService::Options o;
    o.public_url = kBase;
    o.challenge_ttl = Duration(600);
    o.identity_ttl = Duration(900);
    auto ota = OtaService::Create(o, d);
    EXPECT_TRUE(ota.ok()) << ota.status();
    return ota.ok() ? std::move(*ota) : nullptr;
  }

  // Phase 1; returns the Challenge of the Profile Service payload.
  std::string Phase1() {
    auto out = ota_->StartSession();
    EXPECT_TRUE(out.ok()) << out.status();
    if (!out.ok()) return "";
    Plist p = ProfilePlist(*out);
    auto root = PlistDict::Of(p.get());
    EXPECT_TRUE(root.ok());
    auto content = root->Dict("PayloadContent");
    EXPECT_TRUE(content.ok());
    return content.ok() ? content->String("Challenge").value_or("") : "";
  }

  std::string AppleSigned(const std::string& challenge, const std::string& udid = kUdid) {
    return SignWith(apple_.leaf_key.get(), apple_.leaf.get(), Attributes(challenge, udid));
  }

  // Phase 2 and the SCEP enrolment it leads to; returns the SCEP challenge of the identity
  // payload and leaves the issued identity in identity_key_/identity_.
  std::string Phase2(const std::string& challenge) {
    auto out = ota_->HandleDeviceRequest(AppleSigned(challenge));
    EXPECT_TRUE(out.ok()) << out.status();
    if (!out.ok()) return "";
    EXPECT_EQ(out->phase, 2);
    Plist p = ProfilePlist(*out);
    auto root = PlistDict::Of(p.get());
    EXPECT_TRUE(root.ok());
    auto payloads = root->Array("PayloadContent");
    EXPECT_TRUE(payloads.ok());
    auto scep = PlistDict::Of(payloads->at(0));
    EXPECT_TRUE(scep.ok());
    EXPECT_EQ(scep->String("PayloadType").value_or(""), "com.apple.security.scep");
    auto content = scep->Dict("PayloadContent");
    EXPECT_TRUE(content.ok());
    EXPECT_EQ(content->Integer("Keysize").value_or(0), 2048);
    EXPECT_EQ(content->String("Key Type").value_or(""), "RSA");
    EXPECT_EQ(content->String("URL").value_or(""), std::string(kBase) + "/scep");
    return content->String("Challenge").value_or("");
  }

  // SCEP PKCSReq with `challenge` for a subject CN `cn`; the pkiStatus, and the identity on success.
  scep::PkiStatus EnrollScep(const std::string& challenge, const std::string& cn) {
    auto ca_cert = scep_->GetCaCert();
    auto certs = scep::ScepClient::ParseGetCaCert(ca_cert->body);
    scep::ClientOptions o;
    o.clock = &clock_;
    o.random = &random_;
    auto client = scep::ScepClient::Create(std::move(*certs), o);
    identity_key_ = *GenerateKey(KeyAlgorithm::kRsa, 2048);
    CsrTemplate t;
    t.subject = {{"O", "Example Org"}, {"CN", cn}};
    t.challenge_password = challenge;
    auto csr = BuildCsrDer(t, identity_key_.get());
    auto tx = (*client)->PkcsReq(identity_key_.get(), *csr);
    auto body = scep_->PkiOperation(tx->message);
    EXPECT_TRUE(body.ok()) << body.status();
    auto rep = (*client)->ReadReply(*tx, *body);
    EXPECT_TRUE(rep.ok()) << rep.status();
    if (!rep.ok()) return scep::PkiStatus::kFailure;
    if (rep->status == scep::PkiStatus::kSuccess && !rep->certificates.empty()) {
      identity_ = X509Ptr(X509_dup(rep->certificates.front().get()));
    }
    return rep->status;
  }

  std::string IdentitySigned(const std::string& challenge, const std::string& udid = kUdid) {
    return SignWith(identity_key_.get(), identity_.get(), Attributes(challenge, udid), "sha256");
  }

  TempDir dir_;
  FakeClock clock_{Clock::Real()->Now()};
  FakeRandom random_{11};
  Config config_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<Authority> ca_;
  std::unique_ptr<scep::ScepService> scep_;
  std::unique_ptr<ScepChallengeSource> challenges_;
  TestPki apple_;
  std::unique_ptr<dep::AppleDeviceCa> apple_ca_;
  std::unique_ptr<ProfileService> profiles_;
  std::unique_ptr<OtaService> ota_;
  EvpPkeyPtr identity_key_;
  X509Ptr identity_;
};

TEST_F(OtaTest, Phase1ServesASignedProfileServicePayload) {
  auto out = ota_->StartSession();
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->phase, 1);
  Plist p = ProfilePlist(*out);
  auto root = PlistDict::Of(p.get());
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->String("PayloadType").value_or(""), "Profile Service");
  EXPECT_EQ(root->Integer("PayloadVersion").value_or(0), 1);
  EXPECT_EQ(root->String("PayloadIdentifier").value_or(""), "com.custos.enroll.ota");
  EXPECT_EQ(root->String("PayloadUUID").value_or("").size(), 36u);
  auto content = root->Dict("PayloadContent");
  ASSERT_TRUE(content.ok());
  EXPECT_EQ(content->String("URL").value_or(""), std::string(kBase) + "/mdm/ota");
  EXPECT_GE(content->String("Challenge").value_or("").size(), 32u);
  auto attrs = content->Array("DeviceAttributes");
  ASSERT_TRUE(attrs.ok());
  auto names = attrs->Strings("DeviceAttributes");
  ASSERT_TRUE(names.ok());
  for (const char* want : {"UDID", "VERSION", "PRODUCT", "SERIAL", "IMEI", "MEID"}) {
    EXPECT_NE(std::find(names->begin(), names->end(), want), names->end()) << want;
  }
  // Each session has its own challenge.
  EXPECT_NE(Phase1(), Phase1());
}

TEST_F(OtaTest, PhasesOneToThree) {
  const std::string challenge = Phase1();
  ASSERT_FALSE(challenge.empty());
  const std::string scep_challenge = Phase2(challenge);
  ASSERT_FALSE(scep_challenge.empty());
  // The SCEP challenge is bound to the device: a CSR for another name is refused.
  ASSERT_EQ(EnrollScep(scep_challenge, "someone-else"), scep::PkiStatus::kFailure);
  ASSERT_EQ(EnrollScep(scep_challenge, kUdid), scep::PkiStatus::kSuccess);
  ASSERT_NE(identity_, nullptr);

  auto out = ota_->HandleDeviceRequest(IdentitySigned(challenge));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->phase, 3);
  EXPECT_EQ(out->udid, kUdid);
  // Signed by custos' profile signer, which chains to custos' root.
  auto parsed = ParseSignedData(out->body);
  ASSERT_TRUE(parsed.ok());
  ASSERT_NE(parsed->signer, nullptr);
  EXPECT_EQ(CertSha256Hex(parsed->signer.get()), CertSha256Hex(profiles_->signer()->cert.get()));
  Plist p = ProfilePlist(*out);
  auto root = PlistDict::Of(p.get());
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->String("PayloadType").value_or(""), "Configuration");
  EXPECT_FALSE(root->Has("PayloadContent"));
  auto envelope = root->Data("EncryptedPayloadContent");
  ASSERT_TRUE(envelope.ok()) << envelope.status();
  auto info = InspectEnvelopedData(*envelope);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->content_encryption, "AES-256-CBC");
  ASSERT_EQ(info->recipients.size(), 1u);
  EXPECT_EQ(info->recipients[0].serial_hex, CertSerialHex(identity_.get()));
  // Only the identity's key opens it; inside is the MDM enrollment profile's PayloadContent.
  auto other = GenerateKey(KeyAlgorithm::kRsa, 2048);
  EXPECT_FALSE(DecryptCms(*envelope, other->get(), identity_.get()).ok());
  auto clear = DecryptCms(*envelope, identity_key_.get(), identity_.get());
  ASSERT_TRUE(clear.ok()) << clear.status();
  auto array = Plist::Parse(*clear);
  ASSERT_TRUE(array.ok());
  auto payloads = PlistArray::Of(array->get());
  ASSERT_TRUE(payloads.ok());
  std::vector<std::string> types;
  for (size_t i = 0; i < payloads->size(); ++i) {
    types.push_back(PlistDict::Of(payloads->at(i))->String("PayloadType").value_or(""));
  }
  EXPECT_NE(std::find(types.begin(), types.end(), "com.apple.mdm"), types.end());
  EXPECT_NE(std::find(types.begin(), types.end(), "com.apple.security.scep"), types.end());

  // The session is spent: phase 3 again is refused, and so is phase 2.
  auto again = ota_->HandleDeviceRequest(IdentitySigned(challenge));
  EXPECT_EQ(again.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(again.status().message().find("already used"), std::string::npos) << again.status();
  EXPECT_EQ(ota_->HandleDeviceRequest(AppleSigned(challenge)).status().code(),
            StatusCode::kPermissionDenied);
}

TEST_F(OtaTest, Phase2RefusesBadSignaturesChainsAndChallenges) {
  const std::string challenge = Phase1();
  // Unsigned attributes.
  EXPECT_EQ(ota_->HandleDeviceRequest(Attributes(challenge)).status().code(),
            StatusCode::kInvalidArgument);
  // Not CMS at all.
  EXPECT_EQ(ota_->HandleDeviceRequest("garbage").status().code(), StatusCode::kInvalidArgument);
  // Tampered content: the UDID changed after signing.
  std::string tampered = AppleSigned(challenge);
  size_t at = tampered.find(kUdid);
  ASSERT_NE(at, std::string::npos);
  tampered[at] = tampered[at] == '0' ? '1' : '0';
  auto s = ota_->HandleDeviceRequest(tampered);
  EXPECT_EQ(s.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(s.status().message().find("signature"), std::string::npos) << s.status();
  // A device certificate from another PKI.
  TestPki other = MakeDevicePki(clock_.Now(), kUdid);
  s = ota_->HandleDeviceRequest(
      SignWith(other.leaf_key.get(), other.leaf.get(), Attributes(challenge)));
  EXPECT_EQ(s.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(s.status().message().find("not trusted"), std::string::npos) << s.status();
  // An unknown challenge.
  s = ota_->HandleDeviceRequest(AppleSigned("not-a-challenge"));
  EXPECT_EQ(s.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(s.status().message().find("unknown"), std::string::npos) << s.status();
  // None of the refusals spent the challenge; the first good request does.
  ASSERT_FALSE(Phase2(challenge).empty());
  s = ota_->HandleDeviceRequest(AppleSigned(challenge));
  EXPECT_EQ(s.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(s.status().message().find("already used"), std::string::npos) << s.status();
}

TEST_F(OtaTest, ChallengesExpire) {
  const std::string challenge = Phase1();
  clock_.Advance(std::chrono::seconds(601));
  auto s = ota_->HandleDeviceRequest(AppleSigned(challenge));
  EXPECT_EQ(s.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(s.status().message().find("expired"), std::string::npos) << s.status();

  // Phase 3 after the phase-2 deadline.
  const std::string second = Phase1();
  const std::string scep_challenge = Phase2(second);
  ASSERT_EQ(EnrollScep(scep_challenge, kUdid), scep::PkiStatus::kSuccess);
  clock_.Advance(std::chrono::seconds(901));
  s = ota_->HandleDeviceRequest(IdentitySigned(second));
  EXPECT_EQ(s.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(s.status().message().find("expired"), std::string::npos) << s.status();
}

TEST_F(OtaTest, Phase3RefusesForeignAndMismatchedIdentities) {
  const std::string challenge = Phase1();
  ASSERT_EQ(EnrollScep(Phase2(challenge), kUdid), scep::PkiStatus::kSuccess);

  // An identity custos did not issue: from a foreign CA it is judged as an Apple signer and fails
  // the Apple chain; from a self-made CA that copies custos' CA name it fails VerifyIssued.
  TestPki foreign = MakeDevicePki(clock_.Now(), kUdid);
  auto s = ota_->HandleDeviceRequest(
      SignWith(foreign.leaf_key.get(), foreign.leaf.get(), Attributes(challenge)));
  EXPECT_EQ(s.status().code(), StatusCode::kPermissionDenied) << s.status();
  {
    // Same issuer name as custos' issuing CA, different key.
    auto fake_ca_key = GenerateKey(KeyAlgorithm::kEcP256);
    X509Ptr active = ca_->ActiveIssuer();
    CertificateTemplate t;
    t.subject_name = X509_get_subject_name(active.get());
    t.basic_constraints_ca = true;
    t.not_before = clock_.Now() - Duration(3600);
    t.not_after = clock_.Now() + Duration(86400);
    t.serial_hex = "77";
    auto fake_ca = BuildCertificate(t, fake_ca_key->get(), nullptr, fake_ca_key->get());
    ASSERT_TRUE(fake_ca.ok()) << fake_ca.status();
    auto leaf_key = GenerateKey(KeyAlgorithm::kRsa, 2048);
    CertificateTemplate l;
    l.subject = {{"CN", kUdid}};
    l.not_before = t.not_before;
    l.not_after = t.not_after;
    l.serial_hex = "78";
    auto leaf = BuildCertificate(l, leaf_key->get(), fake_ca->get(), fake_ca_key->get());
    ASSERT_TRUE(leaf.ok()) << leaf.status();
    s = ota_->HandleDeviceRequest(SignWith(leaf_key->get(), leaf->get(), Attributes(challenge)));
    EXPECT_EQ(s.status().code(), StatusCode::kPermissionDenied);
    EXPECT_NE(s.status().message().find("identity not accepted"), std::string::npos) << s.status();
  }
  // A custos identity, but for another UDID (and the session belongs to kUdid).
  EvpPkeyPtr good_key = std::move(identity_key_);
  X509Ptr good = std::move(identity_);
  ASSERT_EQ(EnrollScep(*scep_->NewChallenge(), "OTHER-UDID"), scep::PkiStatus::kSuccess);
  s = ota_->HandleDeviceRequest(IdentitySigned(challenge, kUdid));
  EXPECT_EQ(s.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(s.status().message().find("does not name"), std::string::npos) << s.status();
  s = ota_->HandleDeviceRequest(IdentitySigned(challenge, "OTHER-UDID"));
  EXPECT_EQ(s.status().code(), StatusCode::kPermissionDenied);
  // A revoked identity.
  identity_key_ = std::move(good_key);
  identity_ = std::move(good);
  ASSERT_TRUE(ca_->Revoke(CertSerialHex(identity_.get()), 1).ok());
  s = ota_->HandleDeviceRequest(IdentitySigned(challenge));
  EXPECT_EQ(s.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(s.status().message().find("identity not accepted"), std::string::npos) << s.status();
}

TEST_F(OtaTest, HandlerMapsStatusesAndAccessControl) {
  http::Request get;
  get.method = "GET";
  get.remote_address = "127.0.0.1";
  http::Response r = HandleOtaProfileServiceRequest(ota_.get(), get);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.Get("Content-Type").value_or(""), kProfileContentType);

  http::Request post;
  post.method = "POST";
  post.body = "not cms";
  EXPECT_EQ(HandleOtaDeviceRequest(ota_.get(), post).status, 400);
  post.body = AppleSigned("unknown-challenge");
  EXPECT_EQ(HandleOtaDeviceRequest(ota_.get(), post).status, 403);

  // With enrollment tokens required, phase 1 needs one (as GET /mdm/enroll does).
  config_.enroll.require_token = true;
  std::unique_ptr<ProfileService> profiles = MakeProfiles();
  ASSERT_NE(profiles, nullptr);
  std::unique_ptr<OtaService> gated = MakeOta(profiles.get());
  ASSERT_NE(gated, nullptr);
  EXPECT_EQ(HandleOtaProfileServiceRequest(gated.get(), get).status, 403);
  auto token = profiles->NewToken();
  ASSERT_TRUE(token.ok());
  get.target = "/mdm/ota?token=" + *token;
  get.query = {{"token", *token}};
  EXPECT_EQ(HandleOtaProfileServiceRequest(gated.get(), get).status, 200);
  EXPECT_EQ(HandleOtaProfileServiceRequest(gated.get(), get).status, 403);  // spent
}

TEST(OtaCodec, ParseAttributes) {
  auto a = ParseOtaAttributes(Attributes("c1"));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->challenge, "c1");
  EXPECT_EQ(a->udid, kUdid);
  EXPECT_EQ(a->serial, "F2LXK0AAHG7F");
  EXPECT_EQ(a->product, "iPhone14,5");
  EXPECT_EQ(a->version, "21A329");
  EXPECT_EQ(a->imei, "35 209900 176148 1");
  EXPECT_EQ(a->meid, "");
  EXPECT_EQ(ParseOtaAttributes("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseOtaAttributes("<plist><array/></plist>").status().code(),
            StatusCode::kInvalidArgument);
  Plist no_challenge = Plist::NewDict();
  ASSERT_TRUE(DictSetString(no_challenge.get(), "UDID", "U").ok());
  EXPECT_EQ(ParseOtaAttributes(*no_challenge.ToXml()).status().code(),
            StatusCode::kInvalidArgument);
  Plist wrong_type = Plist::NewDict();
  ASSERT_TRUE(DictSetString(wrong_type.get(), "CHALLENGE", "c").ok());
  ASSERT_TRUE(DictSetInteger(wrong_type.get(), "UDID", 7).ok());
  EXPECT_EQ(ParseOtaAttributes(*wrong_type.ToXml()).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(OtaCodec, EncryptPayloadContentRefusesNonProfiles) {
  auto key = GenerateKey(KeyAlgorithm::kRsa, 2048);
  CertificateTemplate t;
  t.subject = {{"CN", "r"}};
  t.not_before = Clock::Real()->Now();
  t.not_after = t.not_before + Duration(3600);
  t.serial_hex = "01";
  auto cert = BuildCertificate(t, key->get(), nullptr, key->get());
  ASSERT_TRUE(cert.ok());
  Plist no_content = Plist::NewDict();
  EXPECT_EQ(EncryptProfilePayloadContent(*no_content.ToXml(), cert->get()).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(EncryptProfilePayloadContent("x", cert->get()).status().code(),
            StatusCode::kInvalidArgument);
  auto ec_key = GenerateKey(KeyAlgorithm::kEcP256);
  auto ec_cert = BuildCertificate(t, ec_key->get(), nullptr, ec_key->get());
  Plist profile = Plist::NewDict();
  ASSERT_TRUE(DictSetNode(profile.get(), "PayloadContent", Plist::NewArray()).ok());
  EXPECT_EQ(EncryptProfilePayloadContent(*profile.ToXml(), ec_cert->get()).status().code(),
            StatusCode::kInvalidArgument);
  auto ok = EncryptProfilePayloadContent(*profile.ToXml(), cert->get());
  ASSERT_TRUE(ok.ok()) << ok.status();
  auto back = Plist::Parse(*ok);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(PlistDict::Of(back->get())->Has("EncryptedPayloadContent"));
}

}  // namespace
}  // namespace custos::mdm
