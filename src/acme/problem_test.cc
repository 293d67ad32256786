#include "acme/problem.h"

#include <gtest/gtest.h>

namespace custos::acme {
namespace {

TEST(ProblemTest, TaggedStatusRoundTrips) {
  Status st = AcmeError(ProblemType::kBadNonce, "try again");
  EXPECT_FALSE(st.ok());
  Problem p = ProblemFromStatus(st);
  EXPECT_EQ(p.type, ProblemType::kBadNonce);
  EXPECT_EQ(p.detail, "try again");
  EXPECT_EQ(p.status, 400);
  auto j = p.ToJson();
  EXPECT_EQ(j["type"], "urn:ietf:params:acme:error:badNonce");
  EXPECT_EQ(j["status"], 400);

  EXPECT_EQ(ProblemFromStatus(AcmeError(ProblemType::kOrderNotReady, "x")).status, 403);
  EXPECT_EQ(ProblemFromStatus(AcmeError(ProblemType::kUnauthorized, "x")).status, 403);
  EXPECT_EQ(ProblemTypeUrn(ProblemType::kBadAttestationStatement),
            "urn:ietf:params:acme:error:badAttestationStatement");
  EXPECT_EQ(ProblemTypeUrn(ProblemType::kBadCsr), "urn:ietf:params:acme:error:badCSR");
  Problem conflict = ProblemFromStatus(AcmeError(ProblemType::kConflict, "k"));
  EXPECT_EQ(conflict.status, 409);
  EXPECT_EQ(conflict.ToJson()["type"], "urn:ietf:params:acme:error:malformed");
}

TEST(ProblemTest, UntaggedStatusesMapByCode) {
  EXPECT_EQ(ProblemFromStatus(InvalidArgumentError("bad")).type, ProblemType::kMalformed);
  Problem nf = ProblemFromStatus(NotFoundError("no such order"));
  EXPECT_EQ(nf.type, ProblemType::kMalformed);
  EXPECT_EQ(nf.status, 404);
  Problem internal = ProblemFromStatus(InternalError("db password wrong at /etc/x"));
  EXPECT_EQ(internal.type, ProblemType::kServerInternal);
  EXPECT_EQ(internal.status, 500);
  EXPECT_EQ(internal.detail.find("password"), std::string::npos);  // internals never leak
  // A message that only looks tagged is not trusted as a type.
  EXPECT_EQ(ProblemFromStatus(InvalidArgumentError("acme:xx:detail")).type, ProblemType::kMalformed);
  EXPECT_EQ(ProblemFromStatus(InvalidArgumentError("acme:999:detail")).type, ProblemType::kMalformed);
}

}  // namespace
}  // namespace custos::acme
