#include "base/random.h"

#include <gtest/gtest.h>

#include <cctype>
#include <set>

namespace custos {
namespace {

TEST(RandomTest, SecureBytesDiffer) {
  std::string a = Random::Secure()->Bytes(32);
  std::string b = Random::Secure()->Bytes(32);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
}

TEST(RandomTest, UuidIsVersion4UpperCase) {
  std::string u = Random::Secure()->Uuid();
  ASSERT_EQ(u.size(), 36u) << u;
  for (size_t i = 0; i < u.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      EXPECT_EQ(u[i], '-') << u;
    } else {
      EXPECT_TRUE(std::isdigit(static_cast<unsigned char>(u[i])) || (u[i] >= 'A' && u[i] <= 'F')) << u;
    }
  }
  EXPECT_EQ(u[14], '4') << u;                             // version 4
  EXPECT_NE(std::string("89AB").find(u[19]), std::string::npos) << u;  // RFC 4122 variant
}

TEST(RandomTest, FakeIsDeterministic) {
  FakeRandom a(42), b(42), c(43);
  std::string x = a.Bytes(16);
  EXPECT_EQ(x, b.Bytes(16));
  EXPECT_NE(x, c.Bytes(16));
  std::set<std::string> tokens;
  for (int i = 0; i < 100; ++i) tokens.insert(a.Token(16));
  EXPECT_EQ(tokens.size(), 100u);
}

}  // namespace
}  // namespace custos
