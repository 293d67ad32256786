// Interoperability of the ACME server, end to end over loopback: Debian's `lego` and `uacme`
// (real ACME clients nobody here wrote) obtain certificates from `custos serve` over http-01, and
// the certificates verify against custos' chain with `openssl verify`. custos reaches the clients'
// challenge servers through the test-only [acme] http01_target (every name -> 127.0.0.1:PORT).
// Also the admin route POST /v1/acme/client-identifiers. Skipped when a client is not installed.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "pki/test_support.h"
#include "pki/x509.h"
#include "tests/integration/custos_process.h"

namespace custos::testing {
namespace {

using testing_support::RunCommand;

constexpr char kApiKey[] = "acme-interop-key";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

bool Installed(const std::string& program) {
  int rc = -1;
  RunCommand("command -v " + program, &rc);
  return rc == 0;
}

// A free loopback TCP port (bound to port 0, read back, released).
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

class AcmeInteropTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Installed("openssl")) GTEST_SKIP() << "openssl missing";
    challenge_port_ = FreePort();
    ASSERT_NE(challenge_port_, 0);
    auto server = CustosServer::Start(
        {"--data-dir", data_.path(), "--set",
         "acme.http01_target=127.0.0.1:" + std::to_string(challenge_port_)},
        {std::string("CUSTOS_API_KEY=") + kApiKey});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    directory_ = server_->url() + "/acme/directory";
    // custos' chain: the active issuing certificate, then the root.
    auto chain = HttpRequest(server_->url() + "/ca/chain");
    ASSERT_TRUE(chain.ok()) << chain.status();
    auto certs = ParseCertificateChain(chain->body);
    ASSERT_TRUE(certs.ok() && certs->size() >= 2) << chain->body;
    root_pem_ = work_.path() + "/root.pem";
    issuing_pem_ = work_.path() + "/issuing.pem";
    WriteFile(root_pem_, CertificatePem((*certs)[1].get()));
    WriteFile(issuing_pem_, CertificatePem((*certs)[0].get()));
  }

  void TearDown() override {
    if (server_) server_->Stop();
  }

  // openssl verify of the leaf (first certificate of `pem_file`) against custos' root, with the
  // issuing certificate as untrusted intermediate.
  void ExpectVerifies(const std::string& pem_file, const std::string& name) {
    int rc = -1;
    std::string out = RunCommand("openssl verify -CAfile " + root_pem_ + " -untrusted " +
                                     issuing_pem_ + " -purpose sslserver " + pem_file,
                                 &rc);
    EXPECT_EQ(rc, 0) << out;
    auto chain = ParseCertificateChain(ReadFile(pem_file));
    ASSERT_TRUE(chain.ok()) << chain.status();
    auto sans = CertificateSans((*chain)[0].get());
    ASSERT_TRUE(sans.ok());
    ASSERT_FALSE(sans->empty());
    EXPECT_EQ((*sans)[0].value, name);
  }

  TempDir data_;
  TempDir work_;
  std::unique_ptr<CustosServer> server_;
  int challenge_port_ = 0;
  std::string directory_;
  std::string root_pem_;
  std::string issuing_pem_;
};

TEST_F(AcmeInteropTest, LegoObtainsCertificateOverHttp01) {
  if (!Installed("lego")) GTEST_SKIP() << "lego missing";
  const std::string dir = work_.path() + "/lego";
  int rc = -1;
  std::string out = RunCommand(
      "timeout 120 lego --server " + directory_ + " --email admin@example.com --accept-tos" +
          " --key-type ec256 --domains lego.test --http --http.port 127.0.0.1:" +
          std::to_string(challenge_port_) + " --path " + dir + " run",
      &rc);
  ASSERT_EQ(rc, 0) << out << "\nserver log:\n" << server_->Log();
  ExpectVerifies(dir + "/certificates/lego.test.crt", "lego.test");

  // lego revokes it again through revokeCert.
  out = RunCommand("timeout 120 lego --server " + directory_ +
                       " --email admin@example.com --domains lego.test --path " + dir + " revoke",
                   &rc);
  EXPECT_EQ(rc, 0) << out << "\nserver log:\n" << server_->Log();
}

TEST_F(AcmeInteropTest, UacmeObtainsCertificateOverHttp01) {
  if (!Installed("uacme")) GTEST_SKIP() << "uacme missing";
  if (!Installed("python3")) GTEST_SKIP() << "python3 missing";
  const std::string conf = work_.path() + "/uacme";
  const std::string www = work_.path() + "/www";
  ::mkdir(conf.c_str(), 0700);
  RunCommand("mkdir -p " + www + "/.well-known/acme-challenge");
  // uacme's hook: METHOD TYPE IDENT TOKEN KEY_AUTH; answer http-01 by writing the file served by
  // the static server below, decline every other type (exit 1).
  const std::string hook = work_.path() + "/hook.sh";
  WriteFile(hook,
            "#!/bin/sh\n"
            "[ \"$2\" = http-01 ] || exit 1\n"
            "f=" + www + "/.well-known/acme-challenge/$4\n"
            "case \"$1\" in begin) printf %s \"$5\" > \"$f\";; *) rm -f \"$f\";; esac\n");
  ::chmod(hook.c_str(), 0755);
  pid_t web = ::fork();
  ASSERT_GE(web, 0);
  if (web == 0) {
    ::execlp("python3", "python3", "-m", "http.server", std::to_string(challenge_port_).c_str(),
             "--bind", "127.0.0.1", "--directory", www.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Wait for the static server to listen.
  for (int i = 0; i < 100; ++i) {
    auto probe = HttpRequest("http://127.0.0.1:" + std::to_string(challenge_port_) + "/");
    if (probe.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  int rc = -1;
  std::string out = RunCommand("timeout 120 uacme -v -y -a " + directory_ + " -c " + conf +
                                   " new admin@example.com",
                               &rc);
  EXPECT_EQ(rc, 0) << out << "\nserver log:\n" << server_->Log();
  out = RunCommand("timeout 120 uacme -v -t EC -a " + directory_ + " -c " + conf + " -h " + hook +
                       " issue uacme.test",
                   &rc);
  ::kill(web, SIGTERM);
  ::waitpid(web, nullptr, 0);
  ASSERT_EQ(rc, 0) << out << "\nserver log:\n" << server_->Log();
  ExpectVerifies(conf + "/uacme.test/cert.pem", "uacme.test");
}

TEST_F(AcmeInteropTest, ClientIdentifierApiNeedsTheKey) {
  auto refused = HttpRequest(server_->url() + "/v1/acme/client-identifiers", "POST", "{}");
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->status, 401);
  auto made = HttpRequest(server_->url() + "/v1/acme/client-identifiers", "POST",
                          R"({"bound_to":"C02FAKE0001"})",
                          {std::string("Authorization: Bearer ") + kApiKey,
                           "Content-Type: application/json"});
  ASSERT_TRUE(made.ok());
  EXPECT_EQ(made->status, 201) << made->body;
  auto json = nlohmann::json::parse(made->body, nullptr, false);
  ASSERT_TRUE(json.is_object());
  EXPECT_GE(json.value("client_identifier", "").size(), 32u);
  EXPECT_EQ(json.value("bound_to", ""), "C02FAKE0001");
  // The directory and a nonce over HTTP.
  auto dir = HttpRequest(directory_);
  ASSERT_TRUE(dir.ok());
  EXPECT_EQ(dir->status, 200);
  EXPECT_FALSE(dir->Header("Replay-Nonce").empty());
  auto nonce = HttpRequest(server_->url() + "/acme/new-nonce", "HEAD");
  ASSERT_TRUE(nonce.ok());
  EXPECT_EQ(nonce->status, 200);
  EXPECT_FALSE(nonce->Header("Replay-Nonce").empty());
}

}  // namespace
}  // namespace custos::testing
