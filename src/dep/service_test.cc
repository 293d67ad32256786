// DepService: the token PKI staging workflow and MAID JWTs (seed "Token PKI staging").
#include "dep/service.h"

#include <gtest/gtest.h>

#include "base/encoding.h"
#include "dep/maid_jwt.h"
#include "dep/testing.h"
#include "dep/token_pki.h"
#include "pki/key.h"
#include "pki/x509.h"
#include "storage/testing.h"

namespace custos::dep {
namespace {

using testing_support::RunCommand;
using testing_support::TempDir;

const Time kNow = FromUnixSeconds(1'800'000'000);  // 2027-01-15

class DepServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(""); }
  void Open(const std::string& passphrase) {
    auto s = OpenTestStorage("sqlite", &clock_);
    ASSERT_TRUE(s.ok()) << s.status();
    storage_ = std::move(*s);
    auto svc = DepService::Create(DepConfig{}, storage_.get(), &clock_, &random_, passphrase,
                                  &registry_);
    ASSERT_TRUE(svc.ok()) << svc.status();
    service_ = std::move(*svc);
  }
  DepNameRecord Raw(const std::string& name) {
    DepNameRecord r;
    EXPECT_TRUE(storage_
                    ->Transact([&](Stores& s) {
                      ASSIGN_OR_RETURN(r, s.dep().GetName(name));
                      return OkStatus();
                    })
                    .ok());
    return r;
  }
  std::string File(const std::string& cert_pem, const std::string& ck,
                   const std::string& expiry = "2027-12-01T00:00:00Z") {
    auto f = MakeTokenFile(dir_, cert_pem, TokenJson(ck, expiry));
    EXPECT_TRUE(f.ok()) << f.status();
    return f.ok() ? *f : "";
  }
  // Verifies `jwt` with the openssl command line against the public key of `cert_pem`.
  bool OpensslVerifies(const std::string& jwt, const std::string& cert_pem) {
    size_t dot = jwt.rfind('.');
    auto sig = Base64UrlDecode(jwt.substr(dot + 1));
    if (!sig.ok()) return false;
    std::string cert = dir_.File("v.pem", cert_pem);
    std::string input = dir_.File("v.txt", jwt.substr(0, dot));
    std::string sigf = dir_.File("v.sig", *sig);
    int rc = 0;
    RunCommand("openssl x509 -in " + cert + " -pubkey -noout > " + dir_.path() + "/v.pub", &rc);
    if (rc != 0) return false;
    std::string out = RunCommand("openssl dgst -sha256 -verify " + dir_.path() + "/v.pub -signature " +
                                     sigf + " " + input,
                                 &rc);
    return rc == 0 && out.find("Verified OK") != std::string::npos;
  }

  FakeClock clock_{kNow};
  FakeRandom random_{7};
  metrics::Registry registry_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<DepService> service_;
  TempDir dir_;
};

TEST_F(DepServiceTest, StagingSequenceKeepsTheLiveKeyUntilTokensDecrypt) {
  auto staging1 = service_->NewStagingCertificate("abm");
  ASSERT_TRUE(staging1.ok()) << staging1.status();
  auto info = service_->Show("abm");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->current_cert_sha256, "");
  EXPECT_EQ(info->staging_cert_sha256, CertSha256Hex(ParseCertificate(*staging1)->get()));
  EXPECT_EQ(service_->MaidJwt("abm", "UUID").status().code(), StatusCode::kFailedPrecondition);

  // First upload: staging -> current.
  auto up = service_->UploadTokens("abm", File(*staging1, "CK1"), false);
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_TRUE(up->promoted);
  EXPECT_EQ(up->info.current_cert_sha256, info->staging_cert_sha256);
  EXPECT_EQ(up->info.staging_cert_sha256, "");
  EXPECT_EQ(up->info.consumer_key, "CK1");

  auto jwt1 = service_->MaidJwt("abm", "SERVER-UUID");
  ASSERT_TRUE(jwt1.ok()) << jwt1.status();
  EXPECT_TRUE(OpensslVerifies(*jwt1, *staging1));
  auto claims = VerifyRs256Jwt(*jwt1, CertificatePublicKey(ParseCertificate(*staging1)->get()).get());
  ASSERT_TRUE(claims.ok()) << claims.status();
  auto j = nlohmann::json::parse(*claims);
  EXPECT_EQ(j["iss"], "SERVER-UUID");
  EXPECT_EQ(j["service_type"], "com.apple.maid");
  EXPECT_EQ(j["iat"], ToUnixSeconds(kNow));
  EXPECT_FALSE(j["jti"].get<std::string>().empty());

  // Stage a new pair: MAID JWTs keep being signed by the live key.
  auto staging2 = service_->NewStagingCertificate("abm");
  ASSERT_TRUE(staging2.ok());
  auto jwt2 = service_->MaidJwt("abm", "SERVER-UUID");
  ASSERT_TRUE(jwt2.ok());
  EXPECT_TRUE(OpensslVerifies(*jwt2, *staging1));
  EXPECT_FALSE(OpensslVerifies(*jwt2, *staging2));
  EXPECT_NE(nlohmann::json::parse(*VerifyRs256Jwt(*jwt2, CertificatePublicKey(ParseCertificate(*staging1)->get()).get()))["jti"],
            j["jti"]);

  // The same tokens again (file for the current certificate): accepted, nothing promoted.
  auto again = service_->UploadTokens("abm", File(*staging1, "CK1"), false);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->promoted);
  EXPECT_NE(again->info.staging_cert_sha256, "");

  // Upload for the staging pair: promoted; the next JWT is signed by the new key.
  auto up2 = service_->UploadTokens("abm", File(*staging2, "CK1", "2028-01-01T00:00:00Z"), false);
  ASSERT_TRUE(up2.ok()) << up2.status();
  EXPECT_TRUE(up2->promoted);
  auto jwt3 = service_->MaidJwt("abm", "SERVER-UUID");
  ASSERT_TRUE(jwt3.ok());
  EXPECT_TRUE(OpensslVerifies(*jwt3, *staging2));
  EXPECT_FALSE(OpensslVerifies(*jwt3, *staging1));
  EXPECT_EQ(FormatRfc3339(*service_->Show("abm")->access_token_expiry), "2028-01-01T00:00:00Z");
}

TEST_F(DepServiceTest, FailuresLeaveStateExactlyAsItWas) {
  auto s1 = service_->NewStagingCertificate("abm");
  ASSERT_TRUE(service_->UploadTokens("abm", File(*s1, "CK1"), false).ok());
  auto s2 = service_->NewStagingCertificate("abm");
  ASSERT_TRUE(s2.ok());
  const DepNameRecord before = Raw("abm");

  auto expect_unchanged = [&](const char* what) {
    DepNameRecord now = Raw("abm");
    EXPECT_EQ(now.current_key_pem, before.current_key_pem) << what;
    EXPECT_EQ(now.current_cert_pem, before.current_cert_pem) << what;
    EXPECT_EQ(now.staging_key_pem, before.staging_key_pem) << what;
    EXPECT_EQ(now.staging_cert_pem, before.staging_cert_pem) << what;
    EXPECT_EQ(now.tokens.consumer_key, before.tokens.consumer_key) << what;
    EXPECT_EQ(now.tokens.access_token, before.tokens.access_token) << what;
    EXPECT_EQ(now.tokens.access_token_expiry, before.tokens.access_token_expiry) << what;
  };

  // Wrong key: a file for some other certificate.
  FakeRandom other_random(99);
  auto other = GenerateTokenPki("other", kNow, &other_random);
  auto r = service_->UploadTokens("abm", File(CertificatePem(other->cert.get()), "CK1"), false);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status();
  expect_unchanged("wrong key");

  // Corrupt file: a valid one with bytes flipped in the middle of its base64.
  std::string corrupt = File(*s2, "CK1");
  corrupt[corrupt.size() / 2] = corrupt[corrupt.size() / 2] == 'A' ? 'B' : 'A';
  corrupt[corrupt.size() / 2 + 7] = corrupt[corrupt.size() / 2 + 7] == 'Q' ? 'R' : 'Q';
  r = service_->UploadTokens("abm", corrupt, false);
  EXPECT_FALSE(r.ok());
  expect_unchanged("corrupt");
  r = service_->UploadTokens("abm", "garbage", false);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  expect_unchanged("garbage");

  // Consumer key change without force: refused, nothing promoted.
  std::string ck2 = File(*s2, "CK2");
  r = service_->UploadTokens("abm", ck2, false);
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition) << r.status();
  expect_unchanged("consumer key change");

  // Unknown name.
  EXPECT_EQ(service_->UploadTokens("nope", ck2, false).status().code(), StatusCode::kNotFound);

  // With force: accepted and promoted.
  r = service_->UploadTokens("abm", ck2, true);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->promoted);
  EXPECT_EQ(r->info.consumer_key, "CK2");
}

TEST_F(DepServiceTest, KeysEncryptedAtRestWithThePassphrase) {
  Open("secret passphrase");
  auto s1 = service_->NewStagingCertificate("abm");
  ASSERT_TRUE(s1.ok());
  EXPECT_TRUE(IsEncryptedPrivateKeyPem(Raw("abm").staging_key_pem));
  ASSERT_TRUE(service_->UploadTokens("abm", File(*s1, "CK1"), false).ok());
  EXPECT_TRUE(IsEncryptedPrivateKeyPem(Raw("abm").current_key_pem));
  auto jwt = service_->MaidJwt("abm", "U");
  ASSERT_TRUE(jwt.ok()) << jwt.status();
  EXPECT_TRUE(OpensslVerifies(*jwt, *s1));
}

TEST_F(DepServiceTest, ExpiryWarningAndMetric) {
  auto s1 = service_->NewStagingCertificate("abm");
  ASSERT_TRUE(service_->UploadTokens("abm", File(*s1, "CK1", "2027-02-01T00:00:00Z"), false).ok());
  auto warned = service_->CheckTokenExpiry();
  ASSERT_EQ(warned.size(), 1u);  // 17 days ahead: inside the 30-day window
  EXPECT_TRUE(service_->Show("abm")->token_expiry_warning);
  std::string rendered = registry_.Render();
  EXPECT_NE(rendered.find("custos_dep_token_expiry_timestamp_seconds{name=\"abm\"} " +
                          std::to_string(ToUnixSeconds(*ParseRfc3339("2027-02-01T00:00:00Z")))),
            std::string::npos)
      << rendered;
  ASSERT_TRUE(service_->UploadTokens("abm", File(*s1, "CK1", "2027-12-01T00:00:00Z"), false).ok());
  EXPECT_TRUE(service_->CheckTokenExpiry().empty());
}

TEST_F(DepServiceTest, NamesAreValidated) {
  EXPECT_EQ(service_->NewStagingCertificate("bad name").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->NewStagingCertificate("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->MaidName().status().code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(service_->NewStagingCertificate("only").ok());
  EXPECT_EQ(*service_->MaidName(), "only");
}

}  // namespace
}  // namespace custos::dep
