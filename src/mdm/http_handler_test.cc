// Tests of the device-facing MDM handlers (http_handler.h) with in-memory requests and a fake
// identity function: content types, limits, malformed bodies, 400-never-401, /mdm dispatch.
#include "mdm/http_handler.h"

#include <gtest/gtest.h>

#include "mdm/service_test_util.h"
#include "storage/testing.h"

namespace custos::mdm {
namespace {

using testutil::S;
using testutil::Xml;

class MdmHttpHandlerTest : public testing::Test {
 protected:
  void SetUp() override {
    auto s = OpenTestStorage("sqlite");
    ASSERT_TRUE(s.ok()) << s.status();
    storage_ = std::move(*s);
    MdmServiceOptions options;
    options.bootstrap_token_key = std::string(32, 'k');
    auto svc = MdmService::Create(options, storage_.get(), &clock_, &random_);
    ASSERT_TRUE(svc.ok()) << svc.status();
    service_ = std::move(*svc);
    handler_ = std::make_unique<MdmHttpHandler>(
        service_.get(),
        [this](const http::Request& r) -> StatusOr<VerifiedDevice> {
          if (r.Header("X-Test-Identity").value_or("") == "none") {
            return PermissionDeniedError("no identity certificate");
          }
          return testutil::Cert("a");
        },
        64 * 1024);
    http::AddBuiltinRoutes(router_);
    RegisterMdmRoutes(router_, handler_.get());
  }

  http::Response Send(const std::string& path, const std::string& content_type,
                      const std::string& body, const std::string& method = "PUT",
                      const std::string& identity = "") {
    http::Request r;
    r.method = method;
    r.target = r.path = path;
    if (!content_type.empty()) r.headers.Add("Content-Type", content_type);
    if (!identity.empty()) r.headers.Add("X-Test-Identity", identity);
    r.body = body;
    std::string_view route;
    return router_.Dispatch(r, &route);
  }

  FakeClock clock_{FromUnixSeconds(1'750'000'000)};
  FakeRandom random_{7};
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<MdmService> service_;
  std::unique_ptr<MdmHttpHandler> handler_;
  http::Router router_;
};

constexpr char kCheckin[] = "application/x-apple-aspen-mdm-checkin";
constexpr char kCommand[] = "application/x-apple-aspen-mdm";

TEST_F(MdmHttpHandlerTest, CheckinAndCommandRoundTrip) {
  EXPECT_EQ(Send("/mdm/checkin", kCheckin, testutil::Authenticate("U1")).status, 200);
  EXPECT_EQ(Send("/mdm/checkin", kCheckin, testutil::TokenUpdate("U1"), "POST").status, 200);
  EnqueueRequest e;
  e.enrollment_ids = {"U1"};
  e.request_type = "ProfileList";
  auto queued = service_->Enqueue(e);
  ASSERT_TRUE(queued.ok()) << queued.status();
  auto r = Send("/mdm/connect", std::string(kCommand) + "; charset=utf-8",
                testutil::Report("U1", "Idle"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find(queued->command_uuid), std::string::npos);
  EXPECT_EQ(r.headers.Get("Content-Type").value_or(""), "application/xml");
  r = Send("/mdm/connect", kCommand, testutil::Report("U1", "Acknowledged", queued->command_uuid));
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.body.empty());
}

TEST_F(MdmHttpHandlerTest, SingleUrlDispatchesByContentType) {
  EXPECT_EQ(Send("/mdm", kCheckin, testutil::Authenticate("U1")).status, 200);
  EXPECT_EQ(Send("/mdm", kCheckin, testutil::TokenUpdate("U1")).status, 200);
  EXPECT_EQ(Send("/mdm", kCommand, testutil::Report("U1", "Idle")).status, 200);
  // A check-in body under the command content type is not a valid report.
  EXPECT_EQ(Send("/mdm", kCommand, testutil::Authenticate("U1")).status, 400);
}

TEST_F(MdmHttpHandlerTest, WrongContentTypeIs400) {
  EXPECT_EQ(Send("/mdm/checkin", kCommand, testutil::Authenticate("U1")).status, 400);
  EXPECT_EQ(Send("/mdm/connect", kCheckin, testutil::Report("U1", "Idle")).status, 400);
  EXPECT_EQ(Send("/mdm", "application/xml", testutil::Authenticate("U1")).status, 400);
  EXPECT_EQ(Send("/mdm/checkin", "", testutil::Authenticate("U1")).status, 400);
  EXPECT_EQ(service_->GetEnrollment("U1").status().code(), StatusCode::kNotFound);
}

TEST_F(MdmHttpHandlerTest, BadBodiesAre400) {
  EXPECT_EQ(Send("/mdm/checkin", kCheckin, "").status, 400);
  EXPECT_EQ(Send("/mdm/checkin", kCheckin, "<plist><dict>").status, 400);
  EXPECT_EQ(Send("/mdm/checkin", kCheckin, Xml(S("MessageType", "Nope") + S("UDID", "U"))).status,
            400);
  EXPECT_EQ(Send("/mdm/checkin", kCheckin,
                 Xml(S("MessageType", "Authenticate") + S("Topic", testutil::kTopic)))
                .status,
            400);
  std::string big = testutil::Authenticate("U1");
  big.insert(big.find("</dict>"), S("Pad", std::string(70 * 1024, 'x')));
  EXPECT_EQ(Send("/mdm/checkin", kCheckin, big).status, 400);
  EXPECT_EQ(service_->GetEnrollment("U1").status().code(), StatusCode::kNotFound);
}

TEST_F(MdmHttpHandlerTest, IdentityFailureIs400NotUnauthorized) {
  auto r = Send("/mdm/checkin", kCheckin, testutil::Authenticate("U1"), "PUT", "none");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(service_->GetEnrollment("U1").status().code(), StatusCode::kNotFound);
  // Not enrolled: a report is refused with 400 as well.
  EXPECT_EQ(Send("/mdm/connect", kCommand, testutil::Report("U2", "Idle")).status, 400);
}

TEST_F(MdmHttpHandlerTest, UserAuthenticateIs410) {
  ASSERT_EQ(Send("/mdm/checkin", kCheckin, testutil::Authenticate("U1")).status, 200);
  EXPECT_EQ(Send("/mdm/checkin", kCheckin, testutil::Message("UserAuthenticate", "U1", "USR"))
                .status,
            410);
}

TEST_F(MdmHttpHandlerTest, GetIsNotAllowed) {
  EXPECT_EQ(Send("/mdm/checkin", kCheckin, "", "GET").status, 405);
}

}  // namespace
}  // namespace custos::mdm
