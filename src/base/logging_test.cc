#include "base/logging.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>

namespace custos {
namespace {

// Captures what the default logger writes to stderr.
std::string CaptureStderr(const std::function<void()>& fn) {
  testing::internal::CaptureStderr();
  fn();
  spdlog::default_logger()->flush();
  return testing::internal::GetCapturedStderr();
}

TEST(LoggingTest, JsonLinesCarryRequestId) {
  ASSERT_TRUE(InitLogging(LogFormat::kJson, "info").ok());
  std::string out = CaptureStderr([] {
    ScopedRequestId id("req-42");
    spdlog::info("issued {}", "0a1b");
  });
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["msg"], "issued 0a1b");
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["request_id"], "req-42");
  EXPECT_TRUE(j.contains("ts"));
}

TEST(LoggingTest, TextAndLevels) {
  ASSERT_TRUE(InitLogging(LogFormat::kText, "warn").ok());
  std::string out = CaptureStderr([] {
    spdlog::info("hidden");
    spdlog::warn("shown \"quoted\"");
  });
  EXPECT_EQ(out.find("hidden"), std::string::npos);
  EXPECT_NE(out.find("warning shown \"quoted\""), std::string::npos) << out;
  EXPECT_TRUE(CurrentRequestId().empty());
  EXPECT_FALSE(InitLogging(LogFormat::kText, "loud").ok());
  EXPECT_FALSE(ParseLogFormat("xml").ok());
}

}  // namespace
}  // namespace custos
