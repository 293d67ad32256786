#include "api/auth.h"

#include <gtest/gtest.h>

#include "base/encoding.h"

namespace custos::api {
namespace {

http::Request WithAuthorization(std::string value) {
  http::Request r;
  r.method = "POST";
  r.path = "/v1/x";
  r.headers.Set("Authorization", std::move(value));
  return r;
}

TEST(ApiAuthTest, AcceptsBasicAndBearer) {
  EXPECT_TRUE(HasApiKey(WithAuthorization("Bearer k3y"), "k3y"));
  EXPECT_TRUE(HasApiKey(WithAuthorization("bearer k3y"), "k3y"));
  EXPECT_TRUE(HasApiKey(WithAuthorization("Basic " + Base64Encode("custos:k3y")), "k3y"));
}

TEST(ApiAuthTest, RefusesEverythingElse) {
  EXPECT_FALSE(HasApiKey(WithAuthorization("Bearer k3"), "k3y"));
  EXPECT_FALSE(HasApiKey(WithAuthorization("Bearer k3yy"), "k3y"));
  EXPECT_FALSE(HasApiKey(WithAuthorization("Basic " + Base64Encode("admin:k3y")), "k3y"));
  EXPECT_FALSE(HasApiKey(WithAuthorization("Basic !!!"), "k3y"));
  EXPECT_FALSE(HasApiKey(WithAuthorization("Digest k3y"), "k3y"));
  EXPECT_FALSE(HasApiKey(http::Request(), "k3y"));
  EXPECT_FALSE(HasApiKey(WithAuthorization("Bearer "), ""));  // an empty key never matches
}

TEST(ApiAuthTest, WrapperGuardsTheHandler) {
  int calls = 0;
  http::Handler h = RequireApiKey("k3y", [&](const http::Request&) {
    ++calls;
    return http::Response::Text(200, "ok");
  });
  EXPECT_EQ(h(WithAuthorization("Bearer nope")).status, 401);
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(h(WithAuthorization("Bearer k3y")).status, 200);
  EXPECT_EQ(calls, 1);
  http::Handler disabled = RequireApiKey("", [&](const http::Request&) {
    ++calls;
    return http::Response::Text(200, "ok");
  });
  EXPECT_EQ(disabled(WithAuthorization("Bearer ")).status, 503);
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace custos::api
