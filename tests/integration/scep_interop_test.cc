// Interoperability, end to end: Debian's `scepclient` (micromdm/scep, package `scep`) enrolls
// against the real `custos serve` over loopback (RFC 8894 GetCACert, GetCACaps, PKIOperation
// with the legacy DES-CBC + SHA-1 scepclient uses). Challenges come from the admin API
// (POST /v1/scep/challenges) and from the CLI (`custos scep challenge`); a wrong challenge and a
// reused one are refused with the reason in the server log, and nothing is issued for them.
// Skipped when scepclient or openssl is not installed.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/integration/custos_process.h"

namespace custos::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kApiKey[] = "interop-api-key";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && st.st_size > 0;
}

// Runs `argv` (looked up in PATH) in folder `cwd` to completion, at most `timeout`; on timeout
// the child is killed by its PID. Output goes to files in `cwd` and is returned.
CommandResult RunProgram(const std::vector<std::string>& argv, const std::string& cwd,
                         std::chrono::seconds timeout = std::chrono::seconds(60)) {
  CommandResult result;
  const std::string out_path = cwd + "/.stdout";
  const std::string err_path = cwd + "/.stderr";
  pid_t pid = ::fork();
  if (pid < 0) return result;
  if (pid == 0) {
    if (::chdir(cwd.c_str()) != 0) ::_exit(126);
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out < 0 || err < 0) ::_exit(126);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(err, STDERR_FILENO);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (true) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0) return result;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      result.err = "timed out";
      return result;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = ReadFile(out_path);
  result.err = ReadFile(err_path);
  return result;
}

bool ProgramAvailable(const std::string& name) {
  TempDir dir;
  return RunProgram({"sh", "-c", "command -v " + name}, dir.path()).exit_code == 0;
}

class ScepInteropTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!ProgramAvailable("scepclient")) GTEST_SKIP() << "scepclient (Debian package scep) missing";
    if (!ProgramAvailable("openssl")) GTEST_SKIP() << "openssl missing";
    auto server = CustosServer::Start(
        {"--data-dir", data_.path()},
        {"CUSTOS_SCEP_LEGACY_ALGORITHMS=true", std::string("CUSTOS_API_KEY=") + kApiKey});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);

    // GET /ca/chain: issuing first, root second.
    auto chain = HttpRequest(server_->url() + "/ca/chain");
    ASSERT_TRUE(chain.ok()) << chain.status();
    ASSERT_EQ(chain->status, 200);
    const std::string begin = "-----BEGIN CERTIFICATE-----";
    size_t first = chain->body.find(begin);
    size_t second = chain->body.find(begin, first + 1);
    ASSERT_NE(first, std::string::npos);
    ASSERT_NE(second, std::string::npos) << chain->body;
    issuing_pem_ = pki_.path() + "/issuing.pem";
    root_pem_ = pki_.path() + "/root.pem";
    std::ofstream(issuing_pem_) << chain->body.substr(first, second - first);
    std::ofstream(root_pem_) << chain->body.substr(second);
  }

  std::string ScepUrl() const { return server_->url() + "/scep"; }

  // A challenge from the admin API.
  std::string ApiChallenge() {
    auto reply = HttpRequest(server_->url() + "/v1/scep/challenges", "POST", "",
                             {std::string("Authorization: Bearer ") + kApiKey});
    EXPECT_TRUE(reply.ok()) << reply.status();
    if (!reply.ok()) return "";
    EXPECT_EQ(reply->status, 201) << reply->body;
    auto json = nlohmann::json::parse(reply->body, nullptr, false);
    EXPECT_TRUE(json.is_object() && json.contains("challenge")) << reply->body;
    if (!json.is_object() || !json.contains("challenge")) return "";
    std::string challenge = json["challenge"].get<std::string>();
    EXPECT_FALSE(challenge.empty());
    return challenge;
  }

  // Runs scepclient in its own fresh folder `dir` (it writes csr.pem into the working folder and
  // reuses one found there, so every enrollment needs its own folder and key).
  CommandResult Enroll(const std::string& dir, const std::string& challenge,
                       const std::string& cn) {
    return RunProgram({"scepclient", "-server-url", ScepUrl(), "-challenge", challenge,
                       "-private-key", dir + "/key.pem", "-certificate", dir + "/cert.pem",
                       "-cn", cn, "-organization", "custos interop"},
                      dir, std::chrono::seconds(90));
  }

  // `custos cert list --json` (read while the server runs: SQLite WAL).
  // The certificates issued over SCEP (custos also issues itself a profile-signing certificate).
  nlohmann::json CertList() {
    auto r = RunCustos({"cert", "list", "--data-dir", data_.path(), "--requester", "scep", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto json = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_TRUE(json.is_array()) << r.out;
    return json.is_array() ? json : nlohmann::json::array();
  }

  // The certificate file scepclient wrote chains to custos' CA.
  void ExpectVerifies(const std::string& cert_path) {
    TempDir tmp;
    auto v = RunProgram({"openssl", "verify", "-CAfile", root_pem_, "-untrusted", issuing_pem_,
                         cert_path},
                        tmp.path());
    EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
    EXPECT_THAT(v.out, HasSubstr(": OK")) << v.err;
  }

  static bool ListedFromScep(const nlohmann::json& list, const std::string& cn) {
    for (const auto& c : list) {
      if (c.value("subject", "").find("CN=" + cn) != std::string::npos &&
          c.value("requester", "") == "scep") {
        return true;
      }
    }
    return false;
  }

  TempDir data_;
  TempDir pki_;
  std::unique_ptr<CustosServer> server_;
  std::string issuing_pem_;
  std::string root_pem_;
};

TEST_F(ScepInteropTest, ChallengeApiNeedsTheKey) {
  auto no_key = HttpRequest(server_->url() + "/v1/scep/challenges", "POST");
  ASSERT_TRUE(no_key.ok()) << no_key.status();
  EXPECT_EQ(no_key->status, 401);
  auto wrong_key = HttpRequest(server_->url() + "/v1/scep/challenges", "POST", "",
                               {"Authorization: Bearer not-the-key"});
  ASSERT_TRUE(wrong_key.ok()) << wrong_key.status();
  EXPECT_EQ(wrong_key->status, 401);
  EXPECT_THAT(wrong_key->body, ::testing::Not(HasSubstr("challenge\":")));
}

TEST_F(ScepInteropTest, ScepclientEnrollsRefusesWrongAndReusedChallenges) {
  // 1. Enrollment with a challenge from the admin API.
  const std::string challenge = ApiChallenge();
  ASSERT_FALSE(challenge.empty());
  TempDir first;
  auto r = Enroll(first.path(), challenge, "interop-device-1");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err << "\nserver log:\n" << server_->Log();
  const std::string cert1 = first.path() + "/cert.pem";
  ASSERT_TRUE(FileExists(cert1)) << r.err;
  ExpectVerifies(cert1);
  auto list = CertList();
  EXPECT_EQ(list.size(), 1u) << list.dump();
  EXPECT_TRUE(ListedFromScep(list, "interop-device-1")) << list.dump();
  EXPECT_THAT(server_->Log(), HasSubstr("SUCCESS"));
  // The challenge itself is never logged.
  EXPECT_THAT(server_->Log(), ::testing::Not(HasSubstr(challenge)));

  // 2. A wrong challenge: refused, reason logged, nothing issued.
  TempDir wrong;
  r = Enroll(wrong.path(), "0123456789abcdef0123456789abcdef", "interop-wrong");
  EXPECT_NE(r.exit_code, 0) << r.out << r.err;
  EXPECT_FALSE(FileExists(wrong.path() + "/cert.pem"));
  EXPECT_THAT(server_->Log(), HasSubstr("refused (badRequest): wrong challengePassword"));
  EXPECT_EQ(CertList().size(), 1u);

  // 3. The first challenge again, from a new key (a new transaction): already used.
  TempDir reused;
  r = Enroll(reused.path(), challenge, "interop-reused");
  EXPECT_NE(r.exit_code, 0) << r.out << r.err;
  EXPECT_FALSE(FileExists(reused.path() + "/cert.pem"));
  EXPECT_THAT(server_->Log(), HasSubstr("SCEP challenge already used"));
  EXPECT_EQ(CertList().size(), 1u);

  // 4. A challenge from the CLI (`custos scep challenge`), written to the same database.
  auto cli = RunCustos({"scep", "challenge", "--data-dir", data_.path()});
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  std::string cli_challenge = cli.out;
  while (!cli_challenge.empty() && (cli_challenge.back() == '\n' || cli_challenge.back() == '\r')) {
    cli_challenge.pop_back();
  }
  ASSERT_FALSE(cli_challenge.empty());
  EXPECT_NE(cli_challenge, challenge);
  TempDir second;
  r = Enroll(second.path(), cli_challenge, "interop-device-2");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err << "\nserver log:\n" << server_->Log();
  const std::string cert2 = second.path() + "/cert.pem";
  ASSERT_TRUE(FileExists(cert2));
  ExpectVerifies(cert2);
  EXPECT_NE(ReadFile(cert1), ReadFile(cert2));
  list = CertList();
  EXPECT_EQ(list.size(), 2u) << list.dump();
  EXPECT_TRUE(ListedFromScep(list, "interop-device-2")) << list.dump();
  EXPECT_FALSE(ListedFromScep(list, "interop-wrong"));
  EXPECT_FALSE(ListedFromScep(list, "interop-reused"));

  EXPECT_EQ(server_->Stop(), 0) << server_->Log();
}

}  // namespace
}  // namespace custos::testing
