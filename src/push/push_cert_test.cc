#include "push/push_cert.h"

#include <gtest/gtest.h>

#include "push/testing/test_pki.h"

namespace custos::push {
namespace {

using testing::KeyAndCert;

constexpr char kTopic[] = "com.apple.mgmt.External.6a3b1c0e-1f2d-4c5b-9a8e-7d6c5b4a3f21";

class PushCertTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto ca = testing::MakeCa("push test CA");
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = new KeyAndCert(*std::move(ca));
    auto leaf = testing::MakePushCert(*ca_, kTopic, FromUnixSeconds(1700000000),
                                      FromUnixSeconds(1900000000));
    ASSERT_TRUE(leaf.ok()) << leaf.status();
    leaf_ = new KeyAndCert(*std::move(leaf));
  }
  static void TearDownTestSuite() {
    delete leaf_;
    delete ca_;
  }
  static KeyAndCert* ca_;
  static KeyAndCert* leaf_;
};
KeyAndCert* PushCertTest::ca_ = nullptr;
KeyAndCert* PushCertTest::leaf_ = nullptr;

std::string ExpectedSha256(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  X509_digest(cert, EVP_sha256(), md, &n);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < n; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

TEST_F(PushCertTest, LoadsPemWithSeparateKey) {
  auto pc = PushCertificate::FromPem(leaf_->cert_pem, leaf_->key_pem);
  ASSERT_TRUE(pc.ok()) << pc.status();
  EXPECT_EQ((*pc)->topic(), kTopic);
  EXPECT_EQ((*pc)->not_before(), FromUnixSeconds(1700000000));
  EXPECT_EQ((*pc)->not_after(), FromUnixSeconds(1900000000));
  EXPECT_EQ((*pc)->sha256(), ExpectedSha256(leaf_->cert.get()));
  EXPECT_NE((*pc)->subject().find(std::string("UID=") + kTopic), std::string::npos)
      << (*pc)->subject();
  EXPECT_FALSE((*pc)->ExpiredAt(FromUnixSeconds(1800000000)));
  EXPECT_TRUE((*pc)->ExpiredAt(FromUnixSeconds(1900000001)));
  // The key handed to TLS is the same key.
  EXPECT_EQ(X509_check_private_key(leaf_->cert.get(), (*pc)->key()), 1);
  auto again = PushCertificate::FromPem((*pc)->certificate_pem(), (*pc)->key_pem());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->sha256(), (*pc)->sha256());
}

TEST_F(PushCertTest, LoadsCombinedPemInEitherOrderWithChain) {
  // Key first, then CA, then leaf: the leaf is the one matching the key.
  std::string combined = leaf_->key_pem + ca_->cert_pem + leaf_->cert_pem;
  auto pc = PushCertificate::Load(combined);
  ASSERT_TRUE(pc.ok()) << pc.status();
  EXPECT_EQ((*pc)->topic(), kTopic);
  EXPECT_EQ((*pc)->sha256(), ExpectedSha256(leaf_->cert.get()));
  // The chain certificate is kept after the leaf.
  const std::string& pem = (*pc)->certificate_pem();
  EXPECT_EQ(pem.find(leaf_->cert_pem), 0u);
  EXPECT_NE(pem.find(ca_->cert_pem), std::string::npos);
}

TEST_F(PushCertTest, EncryptedPemKey) {
  auto enc = testing::EncryptedKeyPem(leaf_->key.get(), "s3cret");
  ASSERT_TRUE(enc.ok()) << enc.status();
  auto ok = PushCertificate::FromPem(leaf_->cert_pem, *enc, "s3cret");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ((*ok)->topic(), kTopic);

  auto wrong = PushCertificate::FromPem(leaf_->cert_pem, *enc, "nope");
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(wrong.status().message().find("wrong password"), std::string::npos)
      << wrong.status();

  auto none = PushCertificate::FromPem(leaf_->cert_pem, *enc, "");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("no password"), std::string::npos) << none.status();
}

TEST_F(PushCertTest, LoadsPkcs12) {
  auto p12 = testing::MakePkcs12(*leaf_, ca_, "p12-pass");
  ASSERT_TRUE(p12.ok()) << p12.status();
  auto pc = PushCertificate::Load(*p12, "p12-pass");
  ASSERT_TRUE(pc.ok()) << pc.status();
  EXPECT_EQ((*pc)->topic(), kTopic);
  EXPECT_EQ((*pc)->sha256(), ExpectedSha256(leaf_->cert.get()));
  EXPECT_EQ((*pc)->not_after(), FromUnixSeconds(1900000000));
}

TEST_F(PushCertTest, Pkcs12WrongPassword) {
  auto p12 = testing::MakePkcs12(*leaf_, nullptr, "right");
  ASSERT_TRUE(p12.ok()) << p12.status();
  for (const char* pw : {"wrong", ""}) {
    auto pc = PushCertificate::FromPkcs12(*p12, pw);
    ASSERT_FALSE(pc.ok()) << "password \"" << pw << "\" accepted";
    EXPECT_EQ(pc.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(pc.status().message().find("wrong password"), std::string::npos) << pc.status();
  }
}

TEST_F(PushCertTest, Pkcs12WithoutPassword) {
  auto p12 = testing::MakePkcs12(*leaf_, nullptr, "");
  ASSERT_TRUE(p12.ok()) << p12.status();
  auto pc = PushCertificate::FromPkcs12(*p12, "");
  ASSERT_TRUE(pc.ok()) << pc.status();
  EXPECT_EQ((*pc)->topic(), kTopic);
}

TEST_F(PushCertTest, LegacyPkcs12) {
  auto p12 = testing::MakePkcs12(*leaf_, ca_, "legacy", /*legacy=*/true);
  ASSERT_TRUE(p12.ok()) << p12.status();
  auto pc = PushCertificate::FromPkcs12(*p12, "legacy");
  ASSERT_TRUE(pc.ok()) << pc.status();
  EXPECT_EQ((*pc)->topic(), kTopic);
}

TEST_F(PushCertTest, KeyNotMatchingCertificate) {
  auto other = testing::NewKey(2048);
  ASSERT_TRUE(other.ok());
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), other->get(), nullptr, nullptr, 0, nullptr, nullptr);
  auto pc = PushCertificate::FromPem(leaf_->cert_pem, MemBioContents(bio.get()));
  ASSERT_FALSE(pc.ok());
  EXPECT_EQ(pc.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(pc.status().message().find("does not match"), std::string::npos) << pc.status();
}

TEST_F(PushCertTest, NoUidAttribute) {
  auto leaf = testing::MakePushCert(*ca_, "", FromUnixSeconds(1700000000),
                                    FromUnixSeconds(1900000000));
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  auto pc = PushCertificate::FromPem(leaf->cert_pem + leaf->key_pem);
  ASSERT_FALSE(pc.ok());
  EXPECT_EQ(pc.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(pc.status().message().find("no UID"), std::string::npos) << pc.status();
}

TEST_F(PushCertTest, MissingPieces) {
  auto no_key = PushCertificate::FromPem(leaf_->cert_pem);
  ASSERT_FALSE(no_key.ok());
  EXPECT_NE(no_key.status().message().find("no PEM private key"), std::string::npos)
      << no_key.status();
  auto no_cert = PushCertificate::FromPem(leaf_->key_pem);
  ASSERT_FALSE(no_cert.ok());
  EXPECT_NE(no_cert.status().message().find("no PEM certificate"), std::string::npos)
      << no_cert.status();
  auto garbage = PushCertificate::Load(std::string("\x30\x03\x02\x01\x05", 5), "x");
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.status().code(), StatusCode::kInvalidArgument);
  auto empty = PushCertificate::Load("", "");
  ASSERT_FALSE(empty.ok());
}

}  // namespace
}  // namespace custos::push
