// The DEP admin API (api/dep_api.h) through the router, with the ABM simulator behind it.
#include "api/dep_api.h"

#include <gtest/gtest.h>

#include "abmsim.h"
#include "dep/maid_jwt.h"
#include "dep/testing.h"
#include "pki/x509.h"
#include "storage/testing.h"

namespace custos {
namespace {

constexpr char kKey[] = "test-api-key";

class DepApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = OpenTestStorage("sqlite", &clock_);
    ASSERT_TRUE(s.ok());
    storage_ = std::move(*s);
  }
  void StartService(const DepTokens& sim_tokens) {
    auto sim = abmsim::AbmSimulator::Start(sim_tokens);
    ASSERT_TRUE(sim.ok()) << sim.status();
    sim_ = std::move(*sim);
    DepConfig config;
    config.base_url = sim_->base_url();
    auto svc = dep::DepService::Create(config, storage_.get(), &clock_, &random_, "", &registry_);
    ASSERT_TRUE(svc.ok());
    service_ = std::move(*svc);
    api::AddDepApiRoutes(router_, service_.get(), nullptr, kKey);
  }
  http::Response Call(std::string method, std::string target, std::string body = "",
                      bool auth = true) {
    http::Request r;
    r.method = std::move(method);
    r.target = target;
    size_t q = target.find('?');
    r.path = target.substr(0, q);
    if (q != std::string::npos) r.query = http::ParseQuery(target.substr(q + 1));
    if (auth) r.headers.Add("Authorization", std::string("Bearer ") + kKey);
    r.body = std::move(body);
    std::string_view route;
    return router_.Dispatch(r, &route);
  }
  static nlohmann::json Json(const http::Response& r) {
    return nlohmann::json::parse(r.body, nullptr, false);
  }

  FakeClock clock_{FromUnixSeconds(1'800'000'000)};
  FakeRandom random_{11};
  metrics::Registry registry_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<abmsim::AbmSimulator> sim_;
  std::unique_ptr<dep::DepService> service_;
  http::Router router_;
  testing_support::TempDir dir_;
};

TEST_F(DepApiTest, TokenPkiUploadMaidJwtSyncAndProxy) {
  // The simulator accepts the tokens the test file carries.
  StartService(DepTokens{"CKAPI", "CS-CKAPI", "AT-CKAPI", "AS-CKAPI", std::nullopt});
  EXPECT_EQ(Call("GET", "/v1/dep/abm/tokenpki", "", false).status, 401);

  auto pki = Call("GET", "/v1/dep/abm/tokenpki");
  ASSERT_EQ(pki.status, 200) << pki.body;
  ASSERT_NE(pki.body.find("BEGIN CERTIFICATE"), std::string::npos);
  auto info = Json(Call("GET", "/v1/dep/abm"));
  EXPECT_EQ(info["current_cert_sha256"], "");
  EXPECT_EQ(info["staging_cert_sha256"], CertSha256Hex(ParseCertificate(pki.body)->get()));

  auto file = dep::MakeTokenFile(dir_, pki.body, dep::TokenJson("CKAPI", "2027-12-01T00:00:00Z"));
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(Call("PUT", "/v1/dep/abm/tokens", "garbage").status, 400);
  auto up = Call("PUT", "/v1/dep/abm/tokens", *file);
  ASSERT_EQ(up.status, 200) << up.body;
  EXPECT_EQ(Json(up)["promoted"], true);
  EXPECT_EQ(Json(up)["consumer_key"], "CKAPI");
  EXPECT_EQ(Json(up)["access_token_expiry"], "2027-12-01T00:00:00Z");

  // A consumer-key change needs force=1.
  auto pki2 = Call("GET", "/v1/dep/abm/tokenpki");
  auto other = dep::MakeTokenFile(dir_, pki2.body, dep::TokenJson("OTHER", "2027-12-01T00:00:00Z"));
  EXPECT_EQ(Call("PUT", "/v1/dep/abm/tokens", *other).status, 409);
  EXPECT_EQ(Json(Call("GET", "/v1/dep/abm"))["consumer_key"], "CKAPI");

  auto jwt = Call("GET", "/v1/dep/abm/maidjwt");
  ASSERT_EQ(jwt.status, 200) << jwt.body;
  auto claims = dep::VerifyRs256Jwt(jwt.body, CertificatePublicKey(ParseCertificate(pki.body)->get()).get());
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(nlohmann::json::parse(*claims)["iss"], abmsim::kServerUuid);

  sim_->AddDevice("APISER1");
  auto sync = Call("POST", "/v1/dep/abm/sync");
  ASSERT_EQ(sync.status, 200) << sync.body;
  EXPECT_EQ(Json(sync)["new_devices"], 1);
  auto devices = Json(Call("GET", "/v1/dep/abm/devices?limit=10"));
  ASSERT_EQ(devices["devices"].size(), 1u);
  EXPECT_EQ(devices["devices"][0]["serial_number"], "APISER1");

  auto proxied = Call("GET", "/v1/dep/abm/proxy/account");
  ASSERT_EQ(proxied.status, 200) << proxied.body;
  EXPECT_EQ(Json(proxied)["server_uuid"], abmsim::kServerUuid);
  auto proxied_post = Call("POST", "/v1/dep/abm/proxy/devices", R"({"devices":["APISER1"]})");
  ASSERT_EQ(proxied_post.status, 200);
  EXPECT_EQ(Json(proxied_post)["devices"]["APISER1"]["response_status"], "SUCCESS");
  EXPECT_EQ(Call("GET", "/v1/dep/abm/proxy/profile?profile_uuid=nope").status, 400);

  EXPECT_EQ(Call("GET", "/v1/dep/unknown").status, 404);
  EXPECT_EQ(Json(Call("GET", "/v1/dep"))["names"].size(), 1u);
}

}  // namespace
}  // namespace custos
