#include "acme/jws.h"

#include <gtest/gtest.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include "acme/problem.h"
#include "base/encoding.h"
#include "pki/key.h"

namespace custos::acme {
namespace {

using Json = nlohmann::json;

enum class Alg { kEcP256, kEcP384, kRsa, kEd25519 };

EvpPkeyPtr Key(Alg alg) {
  switch (alg) {
    case Alg::kEcP256: return EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    case Alg::kEcP384: return EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
    case Alg::kRsa: return EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}));
    case Alg::kEd25519: return EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  }
  return nullptr;
}

Json Header(EVP_PKEY* key) {
  auto jwk = JwkFromKey(key);
  EXPECT_TRUE(jwk.ok()) << jwk.status();
  return Json{{"nonce", "n1"}, {"url", "https://ca.test/acme/new-account"}, {"jwk", *jwk}};
}

ProblemType TypeOf(const Status& st) { return ProblemFromStatus(st).type; }

class JwsAlgTest : public ::testing::TestWithParam<std::pair<Alg, std::string>> {};

TEST_P(JwsAlgTest, SignParseVerifyAndTamper) {
  auto key = Key(GetParam().first);
  ASSERT_TRUE(key);
  auto body = SignFlattenedJws(key.get(), Header(key.get()), R"({"termsOfServiceAgreed":true})");
  ASSERT_TRUE(body.ok()) << body.status();
  auto jws = ParseFlattenedJws(*body);
  ASSERT_TRUE(jws.ok()) << jws.status();
  EXPECT_EQ(jws->alg, GetParam().second);
  EXPECT_EQ(jws->nonce, "n1");
  ASSERT_TRUE(jws->jwk.has_value());
  auto jwk = ParseJwk(*jws->jwk);
  ASSERT_TRUE(jwk.ok()) << jwk.status();
  EXPECT_TRUE(PublicKeysEqual(jwk->key.get(), key.get()));
  EXPECT_TRUE(VerifyJws(*jws, jwk->key.get()).ok());

  // Another payload under the same signature fails.
  Jws tampered = *jws;
  tampered.payload_b64 = Base64UrlEncode(R"({"termsOfServiceAgreed":false})");
  EXPECT_EQ(TypeOf(VerifyJws(tampered, jwk->key.get())), ProblemType::kMalformed);
  // Another key fails.
  auto other = Key(GetParam().first);
  EXPECT_FALSE(VerifyJws(*jws, other.get()).ok());
}

INSTANTIATE_TEST_SUITE_P(
    Algs, JwsAlgTest,
    ::testing::Values(std::pair{Alg::kEcP256, std::string("ES256")},
                    std::pair{Alg::kEcP384, std::string("ES384")},
                    std::pair{Alg::kRsa, std::string("RS256")},
                    std::pair{Alg::kEd25519, std::string("EdDSA")}),
    [](const auto& info) { return info.param.second; });

// Signs until the raw signature has a zero first byte in the chosen half, then drops that byte,
// as Apple's ACME client sometimes does.
TEST(JwsTest, AcceptsEs256WithDroppedLeadingZero) {
  auto key = Key(Alg::kEcP256);
  for (int half = 0; half < 2; ++half) {
    bool found = false;
    for (int i = 0; i < 5000 && !found; ++i) {
      Json h = Header(key.get());
      h["nonce"] = "n" + std::to_string(i);
      auto body = SignFlattenedJws(key.get(), h, "{}");
      ASSERT_TRUE(body.ok());
      auto jws = ParseFlattenedJws(*body);
      ASSERT_TRUE(jws.ok());
      ASSERT_EQ(jws->signature.size(), 64u);
      size_t at = half == 0 ? 0 : 32;
      if (jws->signature[at] != '\0') continue;
      found = true;
      Jws short_sig = *jws;
      short_sig.signature.erase(at, 1);
      ASSERT_EQ(short_sig.signature.size(), 63u);
      EXPECT_TRUE(VerifyJws(short_sig, key.get()).ok()) << "half " << half;
      // Dropping a non-zero byte is still refused.
      Jws broken = *jws;
      broken.signature.erase(at == 0 ? 40 : 5, 1);
      EXPECT_FALSE(VerifyJws(broken, key.get()).ok());
    }
    EXPECT_TRUE(found) << "no signature with a leading zero in half " << half;
  }
}

// Verification contexts are kept per thread and key (at most 64): more keys than that, each
// verified twice, still verify; a signature never verifies under another key's kept context.
TEST(JwsTest, KeptVerificationContextsStayPerKey) {
  std::vector<EvpPkeyPtr> keys;
  std::vector<Jws> signed_by;
  for (int i = 0; i < 80; ++i) {
    keys.push_back(Key(Alg::kEcP256));
    auto body = SignFlattenedJws(keys.back().get(), Header(keys.back().get()), "{}");
    ASSERT_TRUE(body.ok());
    auto jws = ParseFlattenedJws(*body);
    ASSERT_TRUE(jws.ok());
    signed_by.push_back(*jws);
  }
  for (int round = 0; round < 2; ++round) {
    for (size_t i = 0; i < keys.size(); ++i) {
      EXPECT_TRUE(VerifyJws(signed_by[i], keys[i].get()).ok()) << i;
      // The key before has a kept context too, but did not sign this.
      if (i >= 1) {
        EXPECT_FALSE(VerifyJws(signed_by[i], keys[i - 1].get()).ok()) << i;
      }
    }
  }
}

TEST(JwsTest, AlgorithmMustFitKey) {
  auto ec = Key(Alg::kEcP256);
  auto body = SignFlattenedJws(ec.get(), Header(ec.get()), "{}");
  auto jws = ParseFlattenedJws(*body);
  ASSERT_TRUE(jws.ok());
  auto p384 = Key(Alg::kEcP384);
  EXPECT_EQ(TypeOf(VerifyJws(*jws, p384.get())), ProblemType::kBadSignatureAlgorithm);
  auto rsa = Key(Alg::kRsa);
  EXPECT_EQ(TypeOf(VerifyJws(*jws, rsa.get())), ProblemType::kBadSignatureAlgorithm);
}

TEST(JwsTest, RejectsMalformedAndUnsupported) {
  auto ec = Key(Alg::kEcP256);
  Json h = Header(ec.get());
  auto make = [&](const Json& header, std::string payload = "{}") {
    return Json{{"protected", Base64UrlEncode(header.dump())},
                {"payload", Base64UrlEncode(payload)},
                {"signature", Base64UrlEncode("sig")}}
        .dump();
  };
  EXPECT_EQ(TypeOf(ParseFlattenedJws("not json").status()), ProblemType::kMalformed);
  EXPECT_EQ(TypeOf(ParseFlattenedJws("[]").status()), ProblemType::kMalformed);
  Json none = h;
  none["alg"] = "none";
  EXPECT_EQ(TypeOf(ParseFlattenedJws(make(none)).status()), ProblemType::kBadSignatureAlgorithm);
  Json hs = h;
  hs["alg"] = "HS256";
  EXPECT_EQ(TypeOf(ParseFlattenedJws(make(hs)).status()), ProblemType::kBadSignatureAlgorithm);
  Json both = h;
  both["alg"] = "ES256";
  both["kid"] = "https://ca.test/acme/account/x";
  EXPECT_EQ(TypeOf(ParseFlattenedJws(make(both)).status()), ProblemType::kMalformed);
  Json no_url = h;
  no_url["alg"] = "ES256";
  no_url.erase("url");
  EXPECT_EQ(TypeOf(ParseFlattenedJws(make(no_url)).status()), ProblemType::kMalformed);
  Json ok = h;
  ok["alg"] = "ES256";
  Json with_header = Json::parse(make(ok));
  with_header["header"] = {{"kid", "x"}};
  EXPECT_EQ(TypeOf(ParseFlattenedJws(with_header.dump()).status()), ProblemType::kMalformed);
  Json bad_b64 = Json::parse(make(ok));
  bad_b64["payload"] = "!!!";
  EXPECT_EQ(TypeOf(ParseFlattenedJws(bad_b64.dump()).status()), ProblemType::kMalformed);
  EXPECT_EQ(TypeOf(ParseFlattenedJws(std::string(kMaxJwsBytes + 1, ' ')).status()),
            ProblemType::kMalformed);
}

TEST(JwsTest, JwkValidation) {
  EXPECT_EQ(TypeOf(ParseJwk(Json{{"kty", "oct"}, {"k", "abc"}}).status()),
            ProblemType::kBadPublicKey);
  // A point not on the curve.
  Json bad{{"kty", "EC"}, {"crv", "P-256"}, {"x", Base64UrlEncode(std::string(32, '\1'))},
           {"y", Base64UrlEncode(std::string(32, '\2'))}};
  EXPECT_EQ(TypeOf(ParseJwk(bad).status()), ProblemType::kBadPublicKey);
  // A small RSA key.
  EvpPkeyPtr small(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{1024}));
  ASSERT_TRUE(small);
  auto jwk = JwkFromKey(small.get());
  ASSERT_TRUE(jwk.ok());
  EXPECT_EQ(TypeOf(ParseJwk(*jwk).status()), ProblemType::kBadPublicKey);
}

// RFC 7638 section 3.1.
TEST(JwsTest, ThumbprintMatchesRfc7638Example) {
  Json jwk{{"kty", "RSA"},
           {"n",
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tS"
            "oc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65"
            "YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyr"
            "dkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzK"
            "nqDKgw"},
           {"e", "AQAB"},
           {"alg", "RS256"},
           {"kid", "2011-04-29"}};
  auto tp = JwkThumbprint(jwk);
  ASSERT_TRUE(tp.ok()) << tp.status();
  EXPECT_EQ(*tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
}

}  // namespace
}  // namespace custos::acme
