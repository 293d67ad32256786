#include "http/status_http.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "base/logging.h"

namespace custos::http {
namespace {

TEST(StatusHttpTest, MapsCanonicalCodes) {
  EXPECT_EQ(HttpStatusFor(StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(StatusCode::kAlreadyExists), 409);
  EXPECT_EQ(HttpStatusFor(StatusCode::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatusFor(StatusCode::kFailedPrecondition), 409);
  EXPECT_EQ(HttpStatusFor(StatusCode::kResourceExhausted), 429);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnimplemented), 501);
  EXPECT_EQ(HttpStatusFor(StatusCode::kInternal), 500);
  EXPECT_EQ(HttpStatusFor(StatusCode::kDataLoss), 500);
}

TEST(StatusHttpTest, ErrorBodyCarriesCodeAndMessage) {
  Response r = ErrorResponse(NotFoundError("enrollment X not found"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.headers.Get("Content-Type").value_or(""), "application/json");
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["error"], "NOT_FOUND");
  EXPECT_EQ(j["message"], "enrollment X not found");
}

TEST(StatusHttpTest, InternalErrorsDoNotLeakDetails) {
  ScopedRequestId id("abc123");
  Response r = Response::Error(InternalError("sqlite: disk I/O error at /var/secret/path"));
  EXPECT_EQ(r.status, 500);
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["error"], "INTERNAL");
  EXPECT_EQ(j["message"], "internal error (request abc123)");
  EXPECT_EQ(r.body.find("secret"), std::string::npos);
}

TEST(StatusHttpTest, OkMisusedAsErrorIs500) {
  EXPECT_EQ(ErrorResponse(OkStatus()).status, 500);
}

}  // namespace
}  // namespace custos::http
