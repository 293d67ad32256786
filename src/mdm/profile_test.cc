// Tests of the enrollment profile: every key read back with libplist, the CMS signature verified
// with OpenSSL against custos' chain (in-process and with `openssl cms -verify`), one fresh
// challenge per download that SCEP accepts exactly once, the ACME variant, the push topic, the
// signer's reuse and renewal, and access control.
#include "mdm/profile.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/x509_vfy.h>

#include <fstream>
#include <set>

#include "base/encoding.h"
#include "mdm/plist_util.h"
#include "mdm/profile_handler.h"
#include "pki/cms.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/test_support.h"
#include "pki/x509.h"
#include "scep/client.h"
#include "scep/service.h"
#include "scep/testing.h"
#include "storage/testing.h"

namespace custos::mdm {
namespace {

using ::testing::HasSubstr;
using testing_support::TempDir;

constexpr char kTopic[] = "com.apple.mgmt.External.2f1d5e3c-1b7a-4c9e-9a57-4d7b0e1f0a11";
constexpr char kBase[] = "http://127.0.0.1:8080";

class FakeClientIds : public ClientIdentifierSource {
 public:
  StatusOr<std::string> NewClientIdentifier(std::string_view bound_to) override {
    last_bound_to = std::string(bound_to);
    return "client-id-" + std::to_string(++count);
  }
  int count = 0;
  std::string last_bound_to;
};

ProfileService::Request Req(std::optional<EnrollIdentity> identity, bool sign) {
  ProfileService::Request r;
  r.identity = identity;
  r.sign = sign;
  return r;
}

EnrollCredentials Creds(std::optional<std::string> token, std::optional<std::string> authorization) {
  return EnrollCredentials{std::move(token), std::move(authorization)};
}

class ProfileTest : public ::testing::Test {
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
  }

  std::unique_ptr<ProfileService> MakeService(std::string url = kBase) {
    ProfileService::Deps deps;
    deps.ca = ca_.get();
    deps.storage = storage_.get();
    deps.clock = &clock_;
    deps.random = &random_;
    deps.challenges = challenges_.get();
    deps.client_identifiers = with_acme_ ? &client_ids_ : nullptr;
    auto s = ProfileService::Create(config_, url, deps);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }

  // The unsigned plist of a fresh profile, parsed.
  Plist Unsigned(ProfileService& s, EnrollIdentity id = EnrollIdentity::kScep) {
    auto out = s.Generate(Req(id, false));
    EXPECT_TRUE(out.ok()) << out.status();
    if (!out.ok()) return Plist();
    EXPECT_FALSE(out->is_signed);
    auto p = Plist::Parse(out->body);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? std::move(*p) : Plist();
  }

  static PlistDict PayloadOfType(const Plist& profile, std::string_view type) {
    auto root = PlistDict::Of(profile.get());
    EXPECT_TRUE(root.ok());
    auto content = root->Array("PayloadContent");
    EXPECT_TRUE(content.ok());
    for (size_t i = 0; i < content->size(); ++i) {
      auto d = PlistDict::Of(content->at(i));
      if (d.ok() && d->StringOr("PayloadType", "").value_or("") == type) return *d;
    }
    ADD_FAILURE() << "no payload of type " << type;
    return *PlistDict::Of(plist_new_dict());  // leaks in a failing test only
  }

  static std::string ChallengeOf(const Plist& profile) {
    auto scep = PayloadOfType(profile, "com.apple.security.scep");
    auto content = scep.Dict("PayloadContent");
    EXPECT_TRUE(content.ok());
    return content->String("Challenge").value_or("");
  }

  // Enrolls a new key at the SCEP service with `challenge`; returns the pkiStatus.
  scep::PkiStatus EnrollWithChallenge(const std::string& challenge) {
    auto ca_cert = scep_->GetCaCert();
    EXPECT_TRUE(ca_cert.ok());
    auto certs = scep::ScepClient::ParseGetCaCert(ca_cert->body);
    EXPECT_TRUE(certs.ok());
    scep::ClientOptions o;
    o.clock = &clock_;
    o.random = &random_;
    auto client = scep::ScepClient::Create(std::move(*certs), o);
    EXPECT_TRUE(client.ok());
    auto key = GenerateKey(KeyAlgorithm::kRsa, 2048);
    EXPECT_TRUE(key.ok());
    CsrTemplate t;
    t.subject = {{"O", "Example Org"}, {"CN", "0000FE00-1234-5678-9ABC-DEF012345678"}};
    t.challenge_password = challenge;
    auto csr = BuildCsrDer(t, key->get());
    EXPECT_TRUE(csr.ok()) << csr.status();
    auto tx = (*client)->PkcsReq(key->get(), *csr);
    EXPECT_TRUE(tx.ok());
    auto body = scep_->PkiOperation(tx->message);
    EXPECT_TRUE(body.ok()) << body.status();
    auto rep = (*client)->ReadReply(*tx, *body);
    EXPECT_TRUE(rep.ok()) << rep.status();
    return rep.ok() ? rep->status : scep::PkiStatus::kFailure;
  }

  TempDir dir_;
  FakeClock clock_{Clock::Real()->Now()};
  FakeRandom random_{7};
  Config config_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<Authority> ca_;
  std::unique_ptr<scep::ScepService> scep_;
  std::unique_ptr<ScepChallengeSource> challenges_;
  FakeClientIds client_ids_;
  bool with_acme_ = true;
};

TEST_F(ProfileTest, ScepProfileHasEveryKey) {
  auto service = MakeService();
  ASSERT_NE(service, nullptr);
  Plist p = Unsigned(*service);
  auto root = PlistDict::Of(p.get());
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(*root->String("PayloadType"), "Configuration");
  EXPECT_EQ(*root->Integer("PayloadVersion"), 1);
  EXPECT_EQ(*root->String("PayloadIdentifier"), "com.custos.enroll");
  EXPECT_EQ(root->String("PayloadUUID")->size(), 36u);
  EXPECT_EQ(*root->String("PayloadOrganization"), "Example Org");
  EXPECT_EQ(*root->String("PayloadDisplayName"), "Example Org device management");
  EXPECT_EQ(*root->String("PayloadScope"), "System");
  ASSERT_EQ(root->Array("PayloadContent")->size(), 3u);  // http URL: the root is included

  PlistDict scep = PayloadOfType(p, "com.apple.security.scep");
  EXPECT_EQ(*scep.Integer("PayloadVersion"), 1);
  EXPECT_EQ(*scep.String("PayloadIdentifier"), "com.custos.enroll.scep");
  auto sc = scep.Dict("PayloadContent");
  ASSERT_TRUE(sc.ok());
  EXPECT_EQ(*sc->String("URL"), std::string(kBase) + "/scep");
  EXPECT_EQ(sc->String("Challenge")->size(), 32u);
  EXPECT_EQ(*sc->Integer("Keysize"), 2048);
  EXPECT_EQ(*sc->String("Key Type"), "RSA");
  EXPECT_EQ(*sc->Integer("Key Usage"), 5);
  auto subject = sc->Array("Subject");
  ASSERT_TRUE(subject.ok());
  ASSERT_EQ(subject->size(), 2u);
  auto rdn = PlistArray::Of(subject->at(1));
  ASSERT_TRUE(rdn.ok());
  auto pair = PlistArray::Of(rdn->at(0));
  ASSERT_TRUE(pair.ok());
  EXPECT_THAT(*pair->Strings("pair"), ::testing::ElementsAre("CN", "%HardwareUUID%"));

  PlistDict mdm = PayloadOfType(p, "com.apple.mdm");
  EXPECT_EQ(*mdm.String("PayloadIdentifier"), "com.custos.enroll.mdm");
  EXPECT_EQ(*mdm.String("IdentityCertificateUUID"), *scep.String("PayloadUUID"));
  EXPECT_EQ(*mdm.String("Topic"), kTopic);
  EXPECT_EQ(*mdm.String("ServerURL"), std::string(kBase) + "/mdm/connect");
  EXPECT_EQ(*mdm.String("CheckInURL"), std::string(kBase) + "/mdm/checkin");
  EXPECT_TRUE(*mdm.Bool("SignMessage"));
  EXPECT_EQ(*mdm.Integer("AccessRights"), 8191);
  EXPECT_TRUE(*mdm.Bool("CheckOutWhenRemoved"));
  EXPECT_FALSE(mdm.Has("UseDevelopmentAPNS"));
  EXPECT_THAT(*mdm.Array("ServerCapabilities")->Strings("caps"),
              ::testing::ElementsAre("com.apple.mdm.per-user-connections",
                                     "com.apple.mdm.bootstraptoken"));

  PlistDict rootca = PayloadOfType(p, "com.apple.security.root");
  EXPECT_EQ(*rootca.Data("PayloadContent"), CertificateDer(ca_->Root().get()));

  // Every PayloadUUID differs.
  std::set<std::string> uuids = {*root->String("PayloadUUID"), *scep.String("PayloadUUID"),
                                 *mdm.String("PayloadUUID"), *rootca.String("PayloadUUID")};
  EXPECT_EQ(uuids.size(), 4u);
}

TEST_F(ProfileTest, ConfigurationShapesTheProfile) {
  config_.enroll.include_root = "false";
  config_.enroll.sign_message = false;
  config_.enroll.access_rights = 2047;
  config_.enroll.use_development_apns = true;
  config_.enroll.identifier = "org.example.mdm";
  config_.enroll.subject_common_name = "%SerialNumber%";
  config_.scep.path = "/scep2";
  auto service = MakeService("https://mdm.example.org/");
  ASSERT_NE(service, nullptr);
  Plist p = Unsigned(*service);
  auto root = PlistDict::Of(p.get());
  EXPECT_EQ(root->Array("PayloadContent")->size(), 2u);
  EXPECT_EQ(*root->String("PayloadIdentifier"), "org.example.mdm");
  PlistDict mdm = PayloadOfType(p, "com.apple.mdm");
  EXPECT_FALSE(*mdm.Bool("SignMessage"));
  EXPECT_EQ(*mdm.Integer("AccessRights"), 2047);
  EXPECT_TRUE(*mdm.Bool("UseDevelopmentAPNS"));
  EXPECT_EQ(*mdm.String("ServerURL"), "https://mdm.example.org/mdm/connect");
  auto sc = PayloadOfType(p, "com.apple.security.scep").Dict("PayloadContent");
  EXPECT_EQ(*sc->String("URL"), "https://mdm.example.org/scep2");
  EXPECT_THAT(PlistToJson(sc->node())->dump(), HasSubstr("%SerialNumber%"));

  // auto: https without a TLS certificate of custos' own (a proxy terminates TLS) -> no root;
  // plain http -> the root.
  config_.enroll.include_root = "auto";
  EXPECT_EQ(PlistDict::Of(Unsigned(*MakeService("https://mdm.example.org")).get())
                ->Array("PayloadContent")->size(), 2u);
  EXPECT_TRUE(RootPayloadNeeded(config_, "http://mdm.example.org"));
  EXPECT_FALSE(RootPayloadNeeded(config_, "https://mdm.example.org"));
  // A TLS certificate issued by custos' CA is not publicly trusted.
  auto key = GenerateKey(KeyAlgorithm::kEcP256);
  IssueRequest req;
  req.public_key = key->get();
  req.subject = {{"CN", "mdm.example.org"}};
  req.sans = {{"dns", "mdm.example.org", ""}};
  req.extended_key_usages = {kEkuServerAuth};
  req.requester = "cli";
  auto tls = ca_->Issue(req);
  ASSERT_TRUE(tls.ok()) << tls.status();
  config_.tls.cert_file = dir_.File("tls.pem", tls->pem + CertificatePem(ca_->ActiveIssuer().get()));
  EXPECT_TRUE(RootPayloadNeeded(config_, "https://mdm.example.org"));
}

TEST_F(ProfileTest, SignedProfileVerifiesAgainstCustosChain) {
  auto service = MakeService();
  ASSERT_NE(service, nullptr);
  auto out = service->Generate({});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_TRUE(out->is_signed);
  auto parsed = ParseSignedData(out->body);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->content_type, kOidData);
  ASSERT_TRUE(parsed->content.has_value());
  EXPECT_THAT(*parsed->content, HasSubstr("<key>PayloadContent</key>"));
  EXPECT_TRUE(Plist::Parse(*parsed->content).ok());
  EXPECT_EQ(parsed->digest_algorithm, "sha256");
  ASSERT_TRUE(VerifySignedData(*parsed).ok());
  ASSERT_NE(parsed->signer, nullptr);
  EXPECT_THAT(SubjectString(parsed->signer.get()), HasSubstr("Example Org profile signing"));
  EXPECT_EQ(parsed->certificates.size(), 3u);  // signer, issuing CA, root

  // Chain: the signer verifies to custos' root with the carried certificates, for S/MIME signing.
  X509StorePtr store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), ca_->Root().get());
  X509StackPtr untrusted(sk_X509_new_null());
  for (const X509Ptr& c : parsed->certificates) {
    X509_up_ref(c.get());
    sk_X509_push(untrusted.get(), c.get());
  }
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  ASSERT_EQ(X509_STORE_CTX_init(ctx.get(), store.get(), parsed->signer.get(), untrusted.get()), 1);
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SMIME_SIGN);
  EXPECT_EQ(X509_verify_cert(ctx.get()), 1)
      << X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));

  // The same with the openssl command line.
  std::string profile = dir_.File("p.mobileconfig", out->body);
  std::string rootpem = dir_.File("root.pem", CertificatePem(ca_->Root().get()));
  int code = -1;
  std::string text = testing_support::RunCommand("openssl cms -verify -inform DER -in " + profile +
                                                     " -CAfile " + rootpem + " -out " + dir_.path() + "/out.plist",
                                                 &code);
  EXPECT_EQ(code, 0) << text;
  EXPECT_THAT(text, HasSubstr("Verification successful"));
  // Tampering is detected.
  std::string bad = out->body;
  size_t at = bad.find("com.apple.mdm");
  ASSERT_NE(at, std::string::npos);
  bad[at] = 'C';
  auto tampered = ParseSignedData(bad);
  ASSERT_TRUE(tampered.ok());
  EXPECT_FALSE(VerifySignedData(*tampered).ok());
  // Against another root it fails.
  auto other_root = scep::testing::MakeIdentity("another root", nullptr, /*ca=*/true);
  std::string other = dir_.File("other.pem", CertificatePem(other_root.cert.get()));
  text = testing_support::RunCommand("openssl cms -verify -inform DER -in " + profile + " -CAfile " +
                                         other + " -out /dev/null",
                                     &code);
  EXPECT_NE(code, 0) << text;
}

TEST_F(ProfileTest, EachDownloadHasAFreshChallengeThatWorksOnce) {
  auto service = MakeService();
  ASSERT_NE(service, nullptr);
  std::string c1 = ChallengeOf(Unsigned(*service));
  std::string c2 = ChallengeOf(Unsigned(*service));
  // Signed profiles carry fresh challenges too.
  auto signed_out = service->Generate({});
  ASSERT_TRUE(signed_out.ok());
  auto parsed = ParseSignedData(signed_out->body);
  ASSERT_TRUE(parsed.ok());
  auto p3 = Plist::Parse(*parsed->content);
  ASSERT_TRUE(p3.ok());
  std::string c3 = ChallengeOf(*p3);
  EXPECT_NE(c1, c2);
  EXPECT_NE(c2, c3);
  EXPECT_NE(c1, c3);

  EXPECT_EQ(EnrollWithChallenge(c1), scep::PkiStatus::kSuccess);
  EXPECT_EQ(EnrollWithChallenge(c1), scep::PkiStatus::kFailure);  // spent
  EXPECT_EQ(EnrollWithChallenge(c3), scep::PkiStatus::kSuccess);
  EXPECT_EQ(EnrollWithChallenge("not-a-challenge"), scep::PkiStatus::kFailure);
}

TEST_F(ProfileTest, AcmeProfile) {
  auto service = MakeService();
  ASSERT_NE(service, nullptr);
  Plist p = Unsigned(*service, EnrollIdentity::kAcme);
  EXPECT_EQ(client_ids_.count, 1);
  PlistDict acme = PayloadOfType(p, "com.apple.security.acme");
  EXPECT_EQ(*acme.String("PayloadIdentifier"), "com.custos.enroll.acme");
  EXPECT_EQ(*acme.Integer("PayloadVersion"), 1);
  EXPECT_EQ(*acme.String("DirectoryURL"), std::string(kBase) + "/acme/directory");
  EXPECT_EQ(*acme.String("ClientIdentifier"), "client-id-1");
  EXPECT_EQ(*acme.String("KeyType"), "ECSECPrimeRandom");
  EXPECT_EQ(*acme.Integer("KeySize"), 384);
  EXPECT_TRUE(*acme.Bool("HardwareBound"));
  EXPECT_TRUE(*acme.Bool("Attest"));
  auto subject = acme.Array("Subject");
  ASSERT_TRUE(subject.ok());
  EXPECT_EQ(subject->size(), 2u);
  PlistDict mdm = PayloadOfType(p, "com.apple.mdm");
  EXPECT_EQ(*mdm.String("IdentityCertificateUUID"), *acme.String("PayloadUUID"));
  EXPECT_EQ(PlistDict::Of(p.get())->Array("PayloadContent")->size(), 3u);
  auto root = PlistDict::Of(p.get());
  for (size_t i = 0; i < root->Array("PayloadContent")->size(); ++i) {
    EXPECT_NE(*PlistDict::Of(root->Array("PayloadContent")->at(i))->String("PayloadType"),
              "com.apple.security.scep");
  }
  EXPECT_EQ(client_ids_.last_bound_to, "");  // a plain download binds no device
  // A second one gets a new identifier.
  Plist p2 = Unsigned(*service, EnrollIdentity::kAcme);
  EXPECT_EQ(*PayloadOfType(p2, "com.apple.security.acme").String("ClientIdentifier"), "client-id-2");

  // The default identity follows configuration.
  config_.enroll.default_identity = "acme";
  auto acme_default = MakeService();
  auto out = acme_default->Generate(Req(std::nullopt, false));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->identity, EnrollIdentity::kAcme);

  // Without an ACME service: a clear error.
  with_acme_ = false;
  auto no_acme = MakeService();
  auto refused = no_acme->Generate(Req(EnrollIdentity::kAcme, false));
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(no_acme->Generate(Req(EnrollIdentity::kScep, false)).ok());
}

TEST_F(ProfileTest, TopicFromPushCertificates) {
  config_.enroll.topic = "";
  auto service = MakeService();
  ASSERT_NE(service, nullptr);
  auto none = service->Generate({});
  EXPECT_EQ(none.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(none.status().message(), HasSubstr("push"));

  PushCertRecord rec;
  rec.topic = "com.apple.mgmt.External.from-store";
  rec.cert_pem = CertificatePem(ca_->Root().get());  // any certificate: only the topic is read
  rec.key_pem = "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n";
  rec.subject = "UID=" + rec.topic;
  rec.sha256_hex = std::string(64, 'a');
  rec.not_before = rec.created_at = rec.updated_at = clock_.Now();
  rec.not_after = clock_.Now() + Duration(86400);
  Status put = storage_->Transact([&](Stores& st) { return st.push().PutCert(rec); });
  if (put.code() == StatusCode::kUnimplemented) GTEST_SKIP() << "push store not implemented yet";
  ASSERT_TRUE(put.ok()) << put;
  EXPECT_EQ(*service->Topic(), rec.topic);
  Plist p = Unsigned(*service);
  EXPECT_EQ(*PayloadOfType(p, "com.apple.mdm").String("Topic"), rec.topic);

  rec.topic = "com.apple.mgmt.External.second";
  ASSERT_TRUE(storage_->Transact([&](Stores& st) { return st.push().PutCert(rec); }).ok());
  EXPECT_EQ(service->Topic().status().code(), StatusCode::kFailedPrecondition);
  config_.enroll.topic = "com.apple.mgmt.External.second";  // the override chooses
  EXPECT_EQ(*MakeService()->Topic(), "com.apple.mgmt.External.second");
}

TEST_F(ProfileTest, SignerIsReusedAndRenewed) {
  auto first = MakeService();
  ASSERT_NE(first, nullptr);
  auto s1 = first->signer();
  ASSERT_NE(s1, nullptr);
  auto second = MakeService();  // same data folder: the stored signer is reused
  EXPECT_EQ(X509_cmp(s1->cert.get(), second->signer()->cert.get()), 0);
  EXPECT_TRUE(PublicKeysEqual(s1->key.get(), second->signer()->key.get()));
  // The issuance is recorded by the CA.
  auto record = ca_->VerifyIssued(s1->cert.get(), clock_.Now());
  EXPECT_TRUE(record.ok()) << record.status();

  // Near its expiry a new one is issued, and profiles are signed with it.
  clock_.Set(NotAfter(s1->cert.get()) - Duration(10 * 86400));
  auto out = second->Generate({});
  ASSERT_TRUE(out.ok()) << out.status();
  auto parsed = ParseSignedData(out->body);
  ASSERT_TRUE(parsed.ok());
  EXPECT_NE(X509_cmp(parsed->signer.get(), s1->cert.get()), 0);
  EXPECT_TRUE(VerifySignedData(*parsed).ok());

  // A revoked signer is not reused.
  auto current = second->signer();
  ASSERT_TRUE(ca_->Revoke(CertSerialHex(current->cert.get()), 4).ok());
  auto third = MakeService();
  EXPECT_NE(X509_cmp(third->signer()->cert.get(), current->cert.get()), 0);
}

TEST_F(ProfileTest, ConfiguredSigner) {
  auto key = GenerateKey(KeyAlgorithm::kEcP256);
  ASSERT_TRUE(key.ok());
  IssueRequest req;
  req.public_key = key->get();
  req.subject = {{"CN", "configured signer"}};
  req.key_usage = kKuDigitalSignature;
  req.extended_key_usages = {kEkuEmailProtection};
  req.requester = "cli";
  auto issued = ca_->Issue(req);
  ASSERT_TRUE(issued.ok());
  config_.enroll.signing_cert_file =
      dir_.File("signer.pem", issued->pem + CertificatePem(ca_->ActiveIssuer().get()));
  config_.enroll.signing_key_file = dir_.File("signer.key", *PrivateKeyToPkcs8Pem(key->get(), ""));
  auto service = MakeService();
  ASSERT_NE(service, nullptr);
  auto out = service->Generate({});
  ASSERT_TRUE(out.ok()) << out.status();
  auto parsed = ParseSignedData(out->body);
  ASSERT_TRUE(parsed.ok());
  EXPECT_THAT(SubjectString(parsed->signer.get()), HasSubstr("configured signer"));
  EXPECT_EQ(parsed->certificates.size(), 2u);
  EXPECT_TRUE(VerifySignedData(*parsed).ok());

  // A key that does not match the certificate is refused at start.
  auto other = GenerateKey(KeyAlgorithm::kEcP256);
  config_.enroll.signing_key_file = dir_.File("other.key", *PrivateKeyToPkcs8Pem(other->get(), ""));
  ProfileService::Deps deps{ca_.get(), storage_.get(), &clock_, &random_, challenges_.get(), nullptr};
  auto refused = ProfileService::Create(config_, kBase, deps);
  EXPECT_FALSE(refused.ok());
  config_.enroll.signing_key_file = dir_.path() + "/missing.key";
  EXPECT_EQ(ProfileService::Create(config_, kBase, deps).status().code(), StatusCode::kNotFound);
}

TEST_F(ProfileTest, BasicAuthAndTokens) {
  config_.enroll.basic_password = "s3cret";
  config_.enroll.require_token = true;
  auto service = MakeService();
  ASSERT_NE(service, nullptr);
  auto token = service->NewToken();
  ASSERT_TRUE(token.ok()) << token.status();
  const std::string good_basic = "Basic " + Base64Encode("enroll:s3cret");

  EXPECT_EQ(service->Authorize(Creds(*token, std::nullopt)).code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(service->Authorize(Creds(*token, "Basic " + Base64Encode("enroll:wrong"))).code(),
            StatusCode::kUnauthenticated);
  EXPECT_EQ(service->Authorize(Creds(*token, "Basic !!!")).code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(service->Authorize(Creds(std::nullopt, good_basic)).code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(service->Authorize(Creds("nonsense", good_basic)).code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(service->Authorize(Creds(*token, good_basic)).ok());
  EXPECT_EQ(service->Authorize(Creds(*token, good_basic)).code(), StatusCode::kPermissionDenied);  // spent

  // Expiry.
  auto short_lived = service->NewToken(Duration(60));
  ASSERT_TRUE(short_lived.ok());
  clock_.Set(clock_.Now() + Duration(61));
  EXPECT_EQ(service->Authorize(Creds(*short_lived, good_basic)).code(), StatusCode::kPermissionDenied);

  // A SCEP challenge is not an enrollment token.
  auto challenge = scep_->NewChallenge();
  ASSERT_TRUE(challenge.ok());
  EXPECT_EQ(service->Authorize(Creds(*challenge, good_basic)).code(), StatusCode::kPermissionDenied);

  // Nothing required: everyone gets in.
  config_.enroll.basic_password = "";
  config_.enroll.require_token = false;
  EXPECT_TRUE(MakeService()->Authorize({}).ok());
}

TEST_F(ProfileTest, HttpHandler) {
  config_.enroll.require_token = true;
  auto service = MakeService();
  ASSERT_NE(service, nullptr);
  auto get = [&](const std::string& query, std::optional<std::string> auth = std::nullopt) {
    http::Request r;
    r.method = "GET";
    r.path = std::string(kEnrollPath);
    r.target = r.path + (query.empty() ? "" : "?" + query);
    r.query = http::ParseQuery(query);
    if (auth) r.headers.Add("Authorization", *auth);
    return HandleProfileRequest(service.get(), r);
  };
  EXPECT_EQ(get("").status, 403);
  auto token = service->NewToken();
  auto ok = get("token=" + *token);
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.headers.Get("Content-Type"), kProfileContentType);
  EXPECT_TRUE(ParseSignedData(ok.body).ok());
  EXPECT_EQ(get("token=" + *token).status, 403);  // one use

  auto t2 = service->NewToken();
  auto plain = get("unsigned=1&identity=acme&token=" + *t2);
  EXPECT_EQ(plain.status, 200);
  auto parsed = Plist::Parse(plain.body);
  ASSERT_TRUE(parsed.ok()) << plain.body;
  PayloadOfType(*parsed, "com.apple.security.acme");

  auto t3 = service->NewToken();
  EXPECT_EQ(get("identity=bogus&token=" + *t3).status, 400);

  config_.enroll.require_token = false;
  config_.enroll.basic_password = "pw";
  service = MakeService();
  auto denied = get("");
  EXPECT_EQ(denied.status, 401);
  EXPECT_THAT(std::string(denied.headers.Get("WWW-Authenticate").value_or("")), HasSubstr("Basic"));
  EXPECT_EQ(get("", "Basic " + Base64Encode("enroll:pw")).status, 200);

  // No topic: 409 with the reason.
  config_.enroll.basic_password = "";
  config_.enroll.topic = "";
  service = MakeService();
  auto no_topic = get("");
  EXPECT_EQ(no_topic.status, 409);
  EXPECT_THAT(no_topic.body, HasSubstr("push"));
}

TEST_F(ProfileTest, MachineInfoPost) {
  config_.enroll.require_token = true;  // DEP devices need no token: the signature is the credential
  auto service = MakeService();
  ASSERT_NE(service, nullptr);
  FunctionMachineInfoAuthenticator verifier([](std::string_view body) -> StatusOr<EnrollingDevice> {
    if (body == "signed-by-C02ABC") return EnrollingDevice{"UDID-1", "C02ABC", "", ""};
    if (body.empty()) return InvalidArgumentError("not a signed MachineInfo");
    return PermissionDeniedError("chain does not reach Apple's root");
  });
  http::Router router;
  RegisterProfileRoutes(router, service.get(), &verifier);
  auto post = [&](const std::string& query, const std::string& body) {
    http::Request r;
    r.method = "POST";
    r.path = std::string(kEnrollPath);
    r.target = r.path + (query.empty() ? "" : "?" + query);
    r.query = http::ParseQuery(query);
    r.body = body;
    std::string_view route;
    return router.Dispatch(r, &route);
  };
  auto ok = post("", "signed-by-C02ABC");
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.headers.Get("Content-Type"), kProfileContentType);
  auto parsed = ParseSignedData(ok.body);
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(VerifySignedData(*parsed).ok());
  auto acme = post("identity=acme", "signed-by-C02ABC");
  EXPECT_EQ(acme.status, 200);
  EXPECT_EQ(client_ids_.last_bound_to, "C02ABC");  // the ClientIdentifier is reserved for it
  EXPECT_EQ(post("", "").status, 400);
  EXPECT_EQ(post("", "forged").status, 403);
  // Without a verifier there is no POST route.
  http::Router get_only;
  RegisterProfileRoutes(get_only, service.get());
  http::Request r;
  r.method = "POST";
  r.path = r.target = std::string(kEnrollPath);
  std::string_view route;
  EXPECT_EQ(get_only.Dispatch(r, &route).status, 405);
}

TEST(ProfileBuildTest, RefusesBadInput) {
  FakeRandom random(1);
  ProfileContent c;
  c.identifier = "x";
  c.server_url = "https://a/mdm/connect";
  c.scep_url = "https://a/scep";
  c.topic = "t";
  EXPECT_TRUE(BuildEnrollmentProfile(c, EnrollIdentity::kScep, "secret", &random).ok());
  EXPECT_FALSE(BuildEnrollmentProfile(c, EnrollIdentity::kScep, "", &random).ok());
  EXPECT_FALSE(BuildEnrollmentProfile(c, EnrollIdentity::kAcme, "id", &random).ok());  // no DirectoryURL
  c.organization = std::string("bad\x01org");
  EXPECT_EQ(BuildEnrollmentProfile(c, EnrollIdentity::kScep, "secret", &random).status().code(),
            StatusCode::kInvalidArgument);
  c.organization = "";
  c.topic = "";
  EXPECT_FALSE(BuildEnrollmentProfile(c, EnrollIdentity::kScep, "secret", &random).ok());
  EXPECT_FALSE(ParseEnrollIdentity("SCEP").ok());
  EXPECT_EQ(*ParseEnrollIdentity("acme"), EnrollIdentity::kAcme);
}

}  // namespace
}  // namespace custos::mdm
