#include "base/random.h"

#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cctype>
#include <set>
#include <thread>
#include <vector>

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

// Small requests come from a per-thread block of RAND_bytes output: across block boundaries, in
// other threads and after fork() no two draws repeat.
TEST(RandomTest, SecureSmallDrawsNeverRepeat) {
  std::set<std::string> seen;
  for (int i = 0; i < 2000; ++i) {  // 8..64 bytes: many refills of the 512-byte block
    std::string b = Random::Secure()->Bytes(8 + static_cast<size_t>(i % 57));
    EXPECT_EQ(b.size(), 8 + static_cast<size_t>(i % 57));
    EXPECT_TRUE(seen.insert(b.substr(0, 8)).second) << "draw " << i << " repeated";
  }
  EXPECT_EQ(Random::Secure()->Bytes(0), "");
  EXPECT_EQ(Random::Secure()->Bytes(4096).size(), 4096u);  // larger than a block: direct
  std::vector<std::string> other(200);
  std::thread t([&] {
    for (auto& s : other) s = Random::Secure()->Bytes(16);
  });
  t.join();
  for (const auto& s : other) EXPECT_TRUE(seen.insert(s.substr(0, 8)).second);
}

TEST(RandomTest, SecureForkedChildDoesNotReplayParentBlock) {
  Random::Secure()->Bytes(16);  // the parent's block is filled and partly used
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::string b = Random::Secure()->Bytes(32);
    _exit(write(fds[1], b.data(), b.size()) == 32 ? 0 : 1);
  }
  close(fds[1]);
  std::string from_child(32, '\0');
  ASSERT_EQ(read(fds[0], from_child.data(), 32), 32);
  close(fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_NE(from_child, Random::Secure()->Bytes(32));
}

}  // namespace
}  // namespace custos
