// Token PKI: generation, and token files made exactly as ABM makes them (openssl smime -encrypt
// to the uploaded certificate around the MIME message).
#include "dep/token_pki.h"

#include <gtest/gtest.h>

#include "dep/testing.h"
#include "pki/key.h"
#include "pki/x509.h"

namespace custos::dep {
namespace {

const Time kNow = FromUnixSeconds(1'800'000'000);

TEST(TokenPki, GeneratesRsa2048SelfSigned) {
  FakeRandom random(1);
  auto pair = GenerateTokenPki("abm1", kNow, &random);
  ASSERT_TRUE(pair.ok()) << pair.status();
  EXPECT_EQ(KeyDescription(pair->key.get()), "rsa-2048");
  EXPECT_TRUE(CertificateSignedBy(pair->cert.get(), pair->key.get()));
  EXPECT_NE(SubjectString(pair->cert.get()).find("abm1"), std::string::npos);
  EXPECT_TRUE(NotAfter(pair->cert.get()) > kNow);
}

TEST(TokenPki, DecryptsOpensslSmimeFile) {
  FakeRandom random(2);
  auto pair = GenerateTokenPki("abm1", kNow, &random);
  ASSERT_TRUE(pair.ok());
  testing_support::TempDir dir;
  auto file = MakeTokenFile(dir, CertificatePem(pair->cert.get()),
                            TokenJson("CK1", "2027-01-02T03:04:05Z"));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_NE(file->find("smime.p7m"), std::string::npos);  // S/MIME, as ABM hands it out
  auto tokens = DecryptTokenFile(*file, pair->key.get(), pair->cert.get());
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ(tokens->consumer_key, "CK1");
  EXPECT_EQ(tokens->consumer_secret, "CS-CK1");
  EXPECT_EQ(tokens->access_token, "AT-CK1");
  EXPECT_EQ(tokens->access_secret, "AS-CK1");
  ASSERT_TRUE(tokens->access_token_expiry.has_value());
  EXPECT_EQ(FormatRfc3339(*tokens->access_token_expiry), "2027-01-02T03:04:05Z");

  // The same envelope as DER opens too.
  auto envelope = TokenFileEnvelope(*file);
  ASSERT_TRUE(envelope.ok());
  EXPECT_TRUE(DecryptTokenFile(*envelope, pair->key.get(), pair->cert.get()).ok());

  // Another key cannot open it.
  auto other = GenerateTokenPki("abm1", kNow, &random);
  auto wrong = DecryptTokenFile(*file, other->key.get(), other->cert.get());
  EXPECT_EQ(wrong.status().code(), StatusCode::kInvalidArgument) << wrong.status();
}

TEST(TokenPki, RejectsMalformedFiles) {
  FakeRandom random(3);
  auto pair = GenerateTokenPki("abm1", kNow, &random);
  for (std::string bad : {std::string(), std::string("hello"), std::string("\x30\x03\x02\x01\x01", 5),
                          std::string("-----BEGIN PKCS7-----\nAAAA\n-----END PKCS7-----\n"),
                          std::string(kMaxTokenFileBytes + 1, 'a')}) {
    auto t = DecryptTokenFile(bad, pair->key.get(), pair->cert.get());
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument) << t.status();
  }
}

TEST(TokenPki, ParsesTheMessage) {
  auto t = ParseTokenMessage(
      "Content-Type: text/plain;charset=UTF-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
      "-----BEGIN MESSAGE-----\r\n{\"consumer_key\":\"a\",\"consumer_secret\":\"b\","
      "\"access_token\":\"c\",\"access_secret\":\"d\"}\r\n-----END MESSAGE-----\r\n");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->access_secret, "d");
  EXPECT_FALSE(t->access_token_expiry.has_value());
  EXPECT_FALSE(ParseTokenMessage("no markers").ok());
  EXPECT_FALSE(ParseTokenMessage("-----BEGIN MESSAGE-----{}-----END MESSAGE-----").ok());
  EXPECT_FALSE(ParseTokenMessage("-----BEGIN MESSAGE-----[1]-----END MESSAGE-----").ok());
  EXPECT_FALSE(ParseTokenMessage("-----BEGIN MESSAGE-----{\"consumer_key\":1}-----END MESSAGE-----").ok());
}

}  // namespace
}  // namespace custos::dep
