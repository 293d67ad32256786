#include "dep/oauth1.h"

#include <gtest/gtest.h>

namespace custos::dep {
namespace {

// OAuth Core 1.0 Appendix A.5 (the photos.example.net request), whose HMAC-SHA1 signature is
// published as tR3+Ty81lMeYAr/Fid0kMTYa/WM=.
TEST(OAuth1, MatchesTheSpecExample) {
  std::map<std::string, std::string> p = {{"oauth_consumer_key", "dpf43f3p2l4k3l03"},
                                          {"oauth_token", "nnch734d00sl2jdk"},
                                          {"oauth_signature_method", "HMAC-SHA1"},
                                          {"oauth_timestamp", "1191242096"},
                                          {"oauth_nonce", "kllo9940pd9333jh"},
                                          {"oauth_version", "1.0"}};
  EXPECT_EQ(OAuthSignature("GET", "http://photos.example.net/photos?file=vacation.jpg&size=original",
                           p, "kd94hf93k423kf44", "pfkkdhi9sl3r4s00"),
            "tR3+Ty81lMeYAr/Fid0kMTYa/WM=");
}

TEST(OAuth1, HeaderRoundTrips) {
  DepTokens t{"ck", "cs", "at", "as", std::nullopt};
  std::string h = OAuthAuthorizationHeader("GET", "https://x.test/session", t, 1700000000, "n1");
  auto p = ParseOAuthHeader(h);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ((*p)["realm"], "ADM");
  EXPECT_EQ((*p)["oauth_consumer_key"], "ck");
  EXPECT_EQ((*p)["oauth_token"], "at");
  EXPECT_EQ((*p)["oauth_signature"],
            OAuthSignature("GET", "https://x.test/session", *p, "cs", "as"));
  EXPECT_NE((*p)["oauth_signature"],
            OAuthSignature("GET", "https://x.test/session", *p, "cs", "wrong"));
  EXPECT_FALSE(ParseOAuthHeader("Basic abc").ok());
  EXPECT_FALSE(ParseOAuthHeader("OAuth a=\"unterminated").ok());
  EXPECT_EQ(OAuthPercentEncode("a b+/~"), "a%20b%2B%2F~");
}

}  // namespace
}  // namespace custos::dep
