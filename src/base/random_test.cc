#include "base/random.h"

#include <gtest/gtest.h>

#include <regex>
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
  EXPECT_TRUE(std::regex_match(
      u, std::regex("[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}")))
      << u;
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
