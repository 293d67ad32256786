// End to end: the `custos` binary on a fresh data folder, over loopback: first start creates the
// CA, the public endpoints answer, the CLI reads what the server wrote, and bad configuration,
// busy ports, unreachable databases and wrong passphrases fail with one clear line.
#include <signal.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/pem.h>

#include <fstream>
#include <regex>
#include <thread>

#include "base/openssl_util.h"
#include "pki/x509.h"
#include "storage/testing.h"
#include "tests/integration/custos_process.h"

namespace custos::testing {
namespace {

using ::testing::HasSubstr;

int CountPemCerts(const std::string& pem) {
  int n = 0;
  for (size_t p = 0; (p = pem.find("-----BEGIN CERTIFICATE-----", p)) != std::string::npos; ++p) ++n;
  return n;
}

TEST(FoundationTest, VersionAndHelp) {
  auto r = RunCustos({"version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("custos "));
  r = RunCustos({"no-such-command"});
  EXPECT_NE(r.exit_code, 0);
}

TEST(FoundationTest, ServeFreshDataDirCreatesCaAndServes) {
  TempDir dir;
  auto server = CustosServer::Start({"--data-dir", dir.path()});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string url = (*server)->url();

  auto health = HttpRequest(url + "/healthz");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "ok");
  EXPECT_FALSE(health->Header("X-Request-Id").empty());

  auto chain = HttpRequest(url + "/ca/chain");
  ASSERT_TRUE(chain.ok());
  EXPECT_EQ(chain->status, 200);
  EXPECT_EQ(CountPemCerts(chain->body), 2) << chain->body;

  auto crl = HttpRequest(url + "/ca/crl");
  ASSERT_TRUE(crl.ok());
  EXPECT_EQ(crl->status, 200);
  EXPECT_EQ(crl->Header("Content-Type"), "application/pkix-crl");
  const unsigned char* p = reinterpret_cast<const unsigned char*>(crl->body.data());
  X509CrlPtr parsed(d2i_X509_CRL(nullptr, &p, static_cast<long>(crl->body.size())));
  EXPECT_NE(parsed, nullptr) << "the CRL is not DER";

  auto missing = HttpRequest(url + "/no/such/path");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404);

  auto metrics = HttpRequest(url + "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_EQ(metrics->status, 200);
  EXPECT_THAT(metrics->body, HasSubstr("custos_http_requests_total{"));
  EXPECT_THAT(metrics->body, HasSubstr("route=\"/healthz\""));
  EXPECT_THAT(metrics->body, HasSubstr("custos_http_request_duration_seconds_bucket"));
  EXPECT_THAT(metrics->body, HasSubstr("custos_http_open_connections"));

  EXPECT_EQ((*server)->Stop(), 0) << (*server)->Log();
  EXPECT_THAT((*server)->Log(), HasSubstr("created a new CA"));

  // The CLI reads the CA the server created; a second start reuses it.
  auto show = RunCustos({"ca", "show", "--data-dir", dir.path(), "--json"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_THAT(show.out, HasSubstr("\"issuing_sha256\""));
  auto again = CustosServer::Start({"--data-dir", dir.path()});
  ASSERT_TRUE(again.ok()) << again.status();
  auto chain2 = HttpRequest((*again)->url() + "/ca/chain");
  ASSERT_TRUE(chain2.ok());
  EXPECT_EQ(chain2->body, chain->body);
  EXPECT_THAT((*again)->Log(), ::testing::Not(HasSubstr("created a new CA")));
}

// `custos ca rekey` run beside a serving custos: after SIGHUP (or the periodic check) the server
// issues from the new certificate and serves the new chain, which still contains the old issuer.
TEST(FoundationTest, ServerReloadsCaAfterCliRekey) {
  TempDir dir;
  auto server = CustosServer::Start({"--data-dir", dir.path()});
  ASSERT_TRUE(server.ok()) << server.status();
  auto before = HttpRequest((*server)->url() + "/ca/chain");
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(CountPemCerts(before->body), 2);

  auto rekey = RunCustos({"ca", "rekey", "--data-dir", dir.path()});
  ASSERT_EQ(rekey.exit_code, 0) << rekey.err;
  ASSERT_EQ(kill((*server)->pid(), SIGHUP), 0);
  std::string after;
  for (int i = 0; i < 100 && CountPemCerts(after) != 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto chain = HttpRequest((*server)->url() + "/ca/chain");
    ASSERT_TRUE(chain.ok());
    after = chain->body;
  }
  EXPECT_EQ(CountPemCerts(after), 3) << (*server)->Log();
  // The old issuing certificate (first in the old chain) is still served, no longer first.
  const std::string old_issuer = before->body.substr(0, before->body.find("-----END CERTIFICATE-----"));
  EXPECT_NE(after.find(old_issuer), std::string::npos);
  EXPECT_NE(after.find(old_issuer), 0u);
  EXPECT_THAT((*server)->Log(), HasSubstr("CA reloaded (SIGHUP)"));
  EXPECT_EQ((*server)->Stop(), 0) << (*server)->Log();
}

TEST(FoundationTest, ConfigPrintRedactsSecretsAndShowsSources) {
  TempDir dir;
  auto r = RunCustos({"config", "print", "--data-dir", dir.path(), "--set", "http.max_connections=7"},
                     std::chrono::seconds(30),
                     {"CUSTOS_STORAGE_DSN=postgresql://u:hunter2@127.0.0.1/x",
                      "CUSTOS_CA_PASSPHRASE=very-secret"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("hunter2")));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("very-secret")));
  EXPECT_THAT(r.out, HasSubstr("<redacted>"));
  EXPECT_THAT(r.out, HasSubstr("max_connections = 7  # flag"));
  EXPECT_THAT(r.out, HasSubstr("env CUSTOS_STORAGE_DSN"));
}

TEST(FoundationTest, MalformedConfigNamesFileLineAndKey) {
  TempDir dir;
  std::string path = dir.path() + "/custos.toml";
  std::ofstream(path) << "[server]\nlisten = \"127.0.0.1:0\"\n[http]\nmax_body_bytes = \"lots\"\n";
  auto r = RunCustos({"serve", "--config", path, "--data-dir", dir.path()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr(path + ":4"));
  EXPECT_THAT(r.err, HasSubstr("max_body_bytes"));
}

TEST(FoundationTest, PortInUseIsOneClearLine) {
  TempDir dir1, dir2;
  auto first = CustosServer::Start({"--data-dir", dir1.path()});
  ASSERT_TRUE(first.ok()) << first.status();
  std::string listen = "127.0.0.1:" + std::to_string((*first)->port());
  auto r = RunCustos({"serve", "--data-dir", dir2.path(), "--listen", listen});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("address already in use")) << r.err;
  EXPECT_THAT(r.err, HasSubstr(listen));
}

TEST(FoundationTest, WrongPassphraseRefusesToStart) {
  TempDir dir;
  auto init = RunCustos({"ca", "init", "--data-dir", dir.path()}, std::chrono::seconds(120),
                        {"CUSTOS_CA_PASSPHRASE=right-one"});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  auto r = RunCustos({"serve", "--data-dir", dir.path(), "--listen", "127.0.0.1:0"},
                     std::chrono::seconds(60), {"CUSTOS_CA_PASSPHRASE=wrong-one"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("passphrase"));
  EXPECT_THAT(r.err, ::testing::Not(HasSubstr("wrong-one")));
  // Without any passphrase the encrypted key cannot be read either.
  r = RunCustos({"ca", "show", "--data-dir", dir.path()});
  EXPECT_NE(r.exit_code, 0);
  // With the right one it can.
  r = RunCustos({"ca", "show", "--data-dir", dir.path()}, std::chrono::seconds(30),
                {"CUSTOS_CA_PASSPHRASE=right-one"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(FoundationTest, UnreachableDatabaseIsRetriedThenReported) {
  TempDir dir;
  auto start = std::chrono::steady_clock::now();
  // Port 1 on loopback: nothing listens there.
  auto r = RunCustos({"serve", "--data-dir", dir.path(), "--listen", "127.0.0.1:0", "--set",
                      "storage.driver=postgres", "--set",
                      "storage.dsn=postgresql://custos@127.0.0.1:1/custos", "--set",
                      "storage.connect_timeout=3s"});
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("storage"));
  EXPECT_GE(elapsed, std::chrono::seconds(2)) << "not retried";
  EXPECT_LT(elapsed, std::chrono::seconds(30));
}

TEST(FoundationTest, ServesFromPostgres) {
  if (!PostgresAvailable()) GTEST_SKIP() << "CUSTOS_TEST_PG_ADMIN_DSN not set (make test sets it)";
  auto dsn = CreateTestPostgresDatabase();
  ASSERT_TRUE(dsn.ok()) << dsn.status();
  TempDir dir;
  std::vector<std::string> env = {"CUSTOS_STORAGE_DRIVER=postgres", "CUSTOS_STORAGE_DSN=" + *dsn};
  auto server = CustosServer::Start({"--data-dir", dir.path()}, env);
  ASSERT_TRUE(server.ok()) << server.status();
  auto chain = HttpRequest((*server)->url() + "/ca/chain");
  ASSERT_TRUE(chain.ok());
  EXPECT_EQ(CountPemCerts(chain->body), 2);
  EXPECT_EQ((*server)->Stop(), 0);
  // Nothing was written to the SQLite default.
  EXPECT_FALSE(std::ifstream(dir.path() + "/custos.db").good());
  auto show = RunCustos({"ca", "show", "--data-dir", dir.path()}, std::chrono::seconds(30), env);
  EXPECT_EQ(show.exit_code, 0) << show.err;
}

}  // namespace
}  // namespace custos::testing
