#include "base/status.h"

#include <gtest/gtest.h>

#include <memory>

namespace custos {
namespace {

StatusOr<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgumentError("odd");
  return x / 2;
}

Status UsesReturnIfError(int x) {
  RETURN_IF_ERROR(Half(x));
  return OkStatus();
}

StatusOr<int> Quarter(int x) {
  ASSIGN_OR_RETURN(int h, Half(x));
  ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

TEST(StatusTest, OkAndErrors) {
  EXPECT_TRUE(OkStatus().ok());
  EXPECT_EQ(OkStatus().ToString(), "OK");
  Status s = NotFoundError("no such serial");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.ToString(), "NOT_FOUND: no such serial");
  EXPECT_EQ(s.WithContext("revoke").message(), "revoke: no such serial");
  EXPECT_EQ(s.WithContext("revoke").code(), StatusCode::kNotFound);
  EXPECT_TRUE(OkStatus().WithContext("x").ok());
}

TEST(StatusTest, OkCodeDropsMessage) {
  Status s(StatusCode::kOk, "ignored");
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.message(), "");
}

TEST(StatusOrTest, ValueAndError) {
  StatusOr<int> v = Half(4);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 2);
  StatusOr<int> e = Half(3);
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(e.value_or(7), 7);
}

TEST(StatusOrTest, OkStatusBecomesInternal) {
  StatusOr<int> v = OkStatus();
  EXPECT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), StatusCode::kInternal);
}

TEST(StatusOrTest, MoveOnlyValues) {
  StatusOr<std::unique_ptr<int>> p = std::make_unique<int>(5);
  ASSERT_TRUE(p.ok());
  std::unique_ptr<int> taken = std::move(p).value();
  EXPECT_EQ(*taken, 5);
}

TEST(MacrosTest, PropagateErrors) {
  EXPECT_TRUE(UsesReturnIfError(2).ok());
  EXPECT_EQ(UsesReturnIfError(3).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_FALSE(Quarter(6).ok());  // 6/2 = 3 is odd
}

}  // namespace
}  // namespace custos
