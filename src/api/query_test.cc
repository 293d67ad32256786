#include "api/query.h"

#include <gtest/gtest.h>

#include <limits>

namespace custos::api {
namespace {

http::Request WithQuery(std::vector<std::pair<std::string, std::string>> query) {
  http::Request r;
  r.query = std::move(query);
  return r;
}

TEST(QueryTest, IntQueryRangeFallbackAndErrors) {
  EXPECT_EQ(*IntQuery(WithQuery({}), "limit", 100, 1, 10000), 100);
  EXPECT_EQ(*IntQuery(WithQuery({{"limit", ""}}), "limit", 100, 1, 10000), 100);
  EXPECT_EQ(*IntQuery(WithQuery({{"limit", "1"}}), "limit", 100, 1, 10000), 1);
  EXPECT_EQ(*IntQuery(WithQuery({{"limit", "10000"}}), "limit", 100, 1, 10000), 10000);
  EXPECT_EQ(*IntQuery(WithQuery({{"after", "9223372036854775807"}}), "after", 0, 0,
                      std::numeric_limits<int64_t>::max()),
            std::numeric_limits<int64_t>::max());
  for (const char* bad : {"0", "10001", "-5", "12abc", "0x10", " 5", "99999999999999999999"}) {
    auto v = IntQuery(WithQuery({{"limit", bad}}), "limit", 100, 1, 10000);
    ASSERT_FALSE(v.ok()) << bad;
    EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(v.status().message(), "limit must be an integer from 1 to 10000") << bad;
  }
}

TEST(QueryTest, BoolQuery) {
  EXPECT_FALSE(BoolQuery(WithQuery({}), "enabled")->has_value());
  EXPECT_EQ(**BoolQuery(WithQuery({{"enabled", "true"}}), "enabled"), true);
  EXPECT_EQ(**BoolQuery(WithQuery({{"enabled", "1"}}), "enabled"), true);
  EXPECT_EQ(**BoolQuery(WithQuery({{"enabled", "false"}}), "enabled"), false);
  EXPECT_EQ(**BoolQuery(WithQuery({{"enabled", "0"}}), "enabled"), false);
  auto bad = BoolQuery(WithQuery({{"enabled", "yes"}}), "enabled");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "enabled must be true or false");
}

}  // namespace
}  // namespace custos::api
