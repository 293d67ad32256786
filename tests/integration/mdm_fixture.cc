#include "tests/integration/mdm_fixture.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iostream>
#include <thread>

#include "push/testing/test_pki.h"
#include "storage/testing.h"

namespace custos::testing {

using Json = nlohmann::json;

MdmFixture::~MdmFixture() {
  if (server_ && ::testing::Test::HasFailure()) {
    std::cerr << "---- custos log ----\n" << server_->Log() << "--------------------\n";
  }
  server_.reset();
  apns_.reset();
}

void MdmFixture::Start(Options options) {
  if (options.driver == "postgres" && !PostgresAvailable()) {
    GTEST_SKIP() << "PostgreSQL not available (run under scripts/with-postgres.sh)";
  }
  api_key_ = options.api_key;
  env_ = options.env;
  args_ = {"--data-dir", dir(),
           "--set", "enroll.topic=" + options.topic,
           "--set", "api.key=" + options.api_key};

  std::string push_pem;
  if (options.fake_apns) {
    // The push certificate for the topic, and the fake APNs that requires its CA.
    auto push_ca = push::testing::MakeCa("e2e push CA");
    ASSERT_TRUE(push_ca.ok()) << push_ca.status();
    auto now = std::chrono::system_clock::now();
    auto push_cert = push::testing::MakePushCert(*push_ca, options.topic,
                                                 now - std::chrono::hours(1),
                                                 now + std::chrono::hours(24 * 30));
    ASSERT_TRUE(push_cert.ok()) << push_cert.status();
    push_pem = push_cert->cert_pem + push_cert->key_pem;
    push::testing::FakeApnsProcess::Options apns_options;
    apns_options.dir = dir();
    apns_options.client_ca_pem = push_ca->cert_pem;
    auto apns = push::testing::FakeApnsProcess::Start(apns_options);
    ASSERT_TRUE(apns.ok()) << apns.status();
    apns_ = std::move(apns).value();
    args_.insert(args_.end(), {"--set", "push.apns_url=" + apns_->url(),
                               "--set", "push.ca_file=" + apns_->server_ca_file()});
  }
  args_.insert(args_.end(), options.args.begin(), options.args.end());

  if (options.driver == "postgres") {
    auto dsn = CreateTestPostgresDatabase();
    ASSERT_TRUE(dsn.ok()) << dsn.status();
    dsn_ = *dsn;
    env_.insert(env_.end(), {"CUSTOS_STORAGE_DRIVER=postgres", "CUSTOS_STORAGE_DSN=" + dsn_});
  }
  auto server = CustosServer::Start(args_, env_);
  ASSERT_TRUE(server.ok()) << server.status();
  server_ = std::move(server).value();

  if (options.fake_apns) {
    // Install the push certificate (NanoMDM's PUT /v1/pushcert).
    auto installed = Api("PUT", "/v1/pushcert", push_pem, /*content_type=*/"");
    ASSERT_TRUE(installed.ok()) << installed.status();
    ASSERT_EQ(installed->status, 200) << installed->body << server_->Log();
  }
}

std::string MdmFixture::WriteFile(const std::string& name, const std::string& text) const {
  std::string path = dir() + "/" + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

StatusOr<HttpReply> MdmFixture::Api(const std::string& method, const std::string& path,
                                    const std::string& body, const std::string& content_type) {
  std::vector<std::string> headers = {"Authorization: Bearer " + api_key_};
  if (!content_type.empty()) headers.push_back("Content-Type: " + content_type);
  return HttpRequest(server_->url() + path, method, body, headers);
}

Json MdmFixture::ApiJson(const std::string& method, const std::string& path,
                         const std::string& body, int expect) {
  auto r = Api(method, path, body);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return Json();
  EXPECT_EQ(r->status, expect) << method << " " << path << ": " << r->body;
  return Json::parse(r->body, nullptr, false);
}

void MdmFixture::Enroll(devicesim::Device& d, const std::string& enroll_path,
                        const std::string& expect_topic) {
  Status profile = d.DownloadProfile(server_->url() + enroll_path);
  ASSERT_TRUE(profile.ok()) << profile;
  if (!expect_topic.empty()) {
    EXPECT_EQ(d.profile().topic, expect_topic);
  }
  Status scep = d.EnrollScep();
  ASSERT_TRUE(scep.ok()) << scep;
  auto a = d.Authenticate();
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_EQ(a->status, 200) << a->body;
  auto t = d.TokenUpdate();
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->status, 200) << t->body;
}

std::vector<Json> MdmFixture::PushesFor(const std::string& token_hex, size_t at_least,
                                        std::chrono::seconds wait) {
  EXPECT_NE(apns_, nullptr) << "PushesFor needs Options::fake_apns";
  if (apns_ == nullptr) return {};
  const auto deadline = std::chrono::steady_clock::now() + wait;
  std::vector<Json> found;
  while (true) {
    found.clear();
    for (const Json& p : apns_->Pushes()) {
      if (p.value("token", "") == token_hex) found.push_back(p);
    }
    if (found.size() >= at_least || std::chrono::steady_clock::now() >= deadline) return found;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace custos::testing
