#include "acme/nonces.h"

#include <gtest/gtest.h>

#include <set>

#include "acme/problem.h"

namespace custos::acme {
namespace {

ProblemType TypeOf(const Status& st) { return ProblemFromStatus(st).type; }

TEST(NonceStoreTest, SingleUse) {
  FakeClock clock(FromUnixSeconds(1700000000));
  FakeRandom random(7);
  NonceStore nonces(&clock, &random, std::chrono::seconds(60));
  std::string a = nonces.Issue();
  std::string b = nonces.Issue();
  EXPECT_NE(a, b);
  EXPECT_GE(a.size(), 22u);
  EXPECT_TRUE(nonces.Consume(a).ok());
  EXPECT_EQ(TypeOf(nonces.Consume(a)), ProblemType::kBadNonce);  // reused
  EXPECT_TRUE(nonces.Consume(b).ok());
  EXPECT_EQ(TypeOf(nonces.Consume("never-issued")), ProblemType::kBadNonce);
  EXPECT_EQ(TypeOf(nonces.Consume("")), ProblemType::kBadNonce);
}

TEST(NonceStoreTest, Expire) {
  FakeClock clock(FromUnixSeconds(1700000000));
  FakeRandom random(7);
  NonceStore nonces(&clock, &random, std::chrono::seconds(60));
  std::string a = nonces.Issue();
  clock.Advance(std::chrono::seconds(30));
  std::string b = nonces.Issue();
  clock.Advance(std::chrono::seconds(31));
  EXPECT_EQ(TypeOf(nonces.Consume(a)), ProblemType::kBadNonce);  // expired
  EXPECT_TRUE(nonces.Consume(b).ok());
  // Expired nonces are dropped from memory when new ones are issued.
  for (int i = 0; i < 10; ++i) nonces.Issue();
  clock.Advance(std::chrono::seconds(61));
  nonces.Issue();
  EXPECT_EQ(nonces.size(), 1u);
}

TEST(NonceStoreTest, BoundedOldestDropped) {
  FakeClock clock(FromUnixSeconds(1700000000));
  FakeRandom random(9);
  NonceStore nonces(&clock, &random, std::chrono::seconds(60), /*max_nonces=*/3);
  std::string first = nonces.Issue();
  std::set<std::string> later;
  for (int i = 0; i < 3; ++i) later.insert(nonces.Issue());
  EXPECT_EQ(nonces.size(), 3u);
  EXPECT_EQ(TypeOf(nonces.Consume(first)), ProblemType::kBadNonce);
  for (const auto& n : later) EXPECT_TRUE(nonces.Consume(n).ok());
}

}  // namespace
}  // namespace custos::acme
