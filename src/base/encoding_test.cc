#include "base/encoding.h"

#include <gtest/gtest.h>

namespace custos {
namespace {

TEST(Base64Test, Rfc4648Vectors) {
  const std::pair<std::string, std::string> vectors[] = {
      {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},        {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(Base64Encode(plain), encoded);
    auto decoded = Base64Decode(encoded);
    ASSERT_TRUE(decoded.ok()) << encoded;
    EXPECT_EQ(*decoded, plain);
  }
}

TEST(Base64Test, DecodeToleratesWhitespaceAndMissingPadding) {
  EXPECT_EQ(*Base64Decode("Zm9v\nYmE=\n"), "fooba");
  EXPECT_EQ(*Base64Decode("Zm9vYmE"), "fooba");
}

TEST(Base64Test, RejectsGarbage) {
  EXPECT_FALSE(Base64Decode("Zm9v*").ok());
  EXPECT_FALSE(Base64Decode("Z").ok());
  EXPECT_FALSE(Base64Decode("Zg==Zg").ok());
  EXPECT_FALSE(Base64Decode("Zg===").ok());
}

TEST(Base64Test, RoundTripsEveryLengthAndNamesTheFault) {
  std::string bytes;
  for (int n = 0; n < 300; ++n) {
    auto back = Base64Decode(Base64Encode(bytes));
    ASSERT_TRUE(back.ok()) << n;
    EXPECT_EQ(*back, bytes) << n;
    bytes += static_cast<char>((n * 151 + 7) & 0xff);
  }
  EXPECT_EQ(*Base64Decode("Zm9v\r\nYmFy\n"), "foobar");
  EXPECT_EQ(*Base64Decode("Zg== \n"), "f");  // white space after padding is still white space
  EXPECT_EQ(Base64Decode("Zm9v*").status().message(), "base64: invalid character");
  EXPECT_EQ(Base64Decode("Zg==Zg").status().message(), "base64: data after padding");
  EXPECT_EQ(Base64Decode("Zm9vY").status().message(), "base64: truncated input");
  EXPECT_EQ(Base64Decode("Zg=").status().message(), "base64: bad padding");
  EXPECT_EQ(*Base64Decode("Zm9="), "fo");
  EXPECT_EQ(Base64UrlDecode("Zm 9v").status().message(), "base64url: invalid character");
}

TEST(Base64UrlTest, RoundTripBinary) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
  std::string enc = Base64UrlEncode(bytes);
  EXPECT_EQ(enc.find('+'), std::string::npos);
  EXPECT_EQ(enc.find('/'), std::string::npos);
  EXPECT_EQ(enc.find('='), std::string::npos);
  EXPECT_EQ(*Base64UrlDecode(enc), bytes);
  EXPECT_FALSE(Base64UrlDecode("ab+/").ok());
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
}

TEST(HexTest, RoundTrip) {
  EXPECT_EQ(HexEncode(std::string("\x00\x01\xab\xff", 4)), "0001abff");
  EXPECT_EQ(*HexDecode("0001ABff"), std::string("\x00\x01\xab\xff", 4));
  EXPECT_FALSE(HexDecode("abc").ok());
  EXPECT_FALSE(HexDecode("zz").ok());
}

TEST(ConstantTimeEqualsTest, Compares) {
  EXPECT_TRUE(ConstantTimeEquals("secret", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secreT"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secret2"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

}  // namespace
}  // namespace custos
