// `custos dep ...` and /v1/dep through the real binary (issue 6): the token PKI staging sequence
// with token files made by `openssl smime -encrypt` as ABM makes them, MAID JWTs verified with
// `openssl dgst`, and a device sync against the ABM simulator on loopback.
#include <gtest/gtest.h>

#include <fstream>

#include "tests/abmsim/abmsim.h"
#include "base/encoding.h"
#include "dep/testing.h"
#include "tests/integration/custos_process.h"

namespace custos {
namespace {

using custos::testing::RunCustos;

class DepCliTest : public ::testing::Test {
 protected:
  std::vector<std::string> Args(std::vector<std::string> a) {
    a.push_back("--data-dir");
    a.push_back(data_.path());
    return a;
  }
  std::map<std::string, std::string> Show() {
    auto r = RunCustos(Args({"dep", "show", "abm"}), std::chrono::seconds(60), env_);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::map<std::string, std::string> out;
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);) {
      size_t c = line.find(": ");
      if (c != std::string::npos) out[line.substr(0, c)] = line.substr(c + 2);
      else if (!line.empty() && line.back() == ':') out[line.substr(0, line.size() - 1)] = "";
    }
    return out;
  }
  std::string Fingerprint(const std::string& pem) {
    std::string f = files_.File("fp.pem", pem);
    std::string out = testing_support::RunCommand("openssl x509 -in " + f + " -noout -fingerprint -sha256");
    std::string hex;
    for (char c : out.substr(out.find('=') + 1)) {
      if (std::isxdigit(static_cast<unsigned char>(c))) hex += static_cast<char>(std::tolower(c));
    }
    return hex;
  }
  bool JwtVerifies(const std::string& jwt, const std::string& cert_pem) {
    size_t dot = jwt.rfind('.');
    auto sig = Base64UrlDecode(jwt.substr(dot + 1));
    if (!sig.ok()) return false;
    std::string cert = files_.File("j.pem", cert_pem);
    std::string input = files_.File("j.txt", jwt.substr(0, dot));
    std::string sigf = files_.File("j.sig", *sig);
    int rc = 0;
    testing_support::RunCommand("openssl x509 -in " + cert + " -pubkey -noout > " + files_.path() + "/j.pub", &rc);
    std::string out = testing_support::RunCommand(
        "openssl dgst -sha256 -verify " + files_.path() + "/j.pub -signature " + sigf + " " + input, &rc);
    return rc == 0 && out.find("Verified OK") != std::string::npos;
  }
  std::string Jwt() {
    auto r = RunCustos(Args({"dep", "maidjwt", "abm", "--server-uuid", "SRV"}), std::chrono::seconds(60), env_);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::string s = r.out;
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }

  custos::testing::TempDir data_;
  testing_support::TempDir files_;
  std::vector<std::string> env_ = {"CUSTOS_CA_PASSPHRASE=integration passphrase"};
};

TEST_F(DepCliTest, StagingSequenceThroughTheBinary) {
  auto cert1 = RunCustos(Args({"dep", "cert", "abm"}), std::chrono::seconds(60), env_);
  ASSERT_EQ(cert1.exit_code, 0) << cert1.err;
  ASSERT_EQ(cert1.out.rfind("-----BEGIN CERTIFICATE-----", 0), 0u) << cert1.out;
  auto show = Show();
  EXPECT_EQ(show["current_cert_sha256"], "");
  EXPECT_EQ(show["staging_cert_sha256"], Fingerprint(cert1.out));
  EXPECT_NE(RunCustos(Args({"dep", "maidjwt", "abm", "--server-uuid", "SRV"}), std::chrono::seconds(60), env_).exit_code, 0);

  auto f1 = dep::MakeTokenFile(files_, cert1.out, dep::TokenJson("CK1", "2027-06-01T00:00:00Z"));
  ASSERT_TRUE(f1.ok());
  std::string p1 = files_.File("t1.p7m", *f1);
  auto up = RunCustos(Args({"dep", "tokens", "abm", p1}), std::chrono::seconds(60), env_);
  ASSERT_EQ(up.exit_code, 0) << up.err;
  EXPECT_NE(up.out.find("promoted: true"), std::string::npos) << up.out;
  show = Show();
  EXPECT_EQ(show["current_cert_sha256"], Fingerprint(cert1.out));
  EXPECT_EQ(show["staging_cert_sha256"], "");
  EXPECT_EQ(show["consumer_key"], "CK1");
  EXPECT_EQ(show["access_token_expiry"], "2027-06-01T00:00:00Z");
  std::string jwt1 = Jwt();
  EXPECT_TRUE(JwtVerifies(jwt1, cert1.out));

  // Stage a new pair: the live key keeps signing.
  auto cert2 = RunCustos(Args({"dep", "cert", "abm"}), std::chrono::seconds(60), env_);
  ASSERT_EQ(cert2.exit_code, 0);
  EXPECT_TRUE(JwtVerifies(Jwt(), cert1.out));

  // Wrong key and a consumer-key change: refused, state unchanged.
  auto before = Show();
  auto wrong = dep::MakeTokenFile(files_, cert1.out, dep::TokenJson("CK2", "2027-06-01T00:00:00Z"));
  auto r = RunCustos(Args({"dep", "tokens", "abm", files_.File("ck2.p7m", *wrong)}), std::chrono::seconds(60), env_);
  EXPECT_NE(r.exit_code, 0);
  std::string corrupt = *f1;
  corrupt.resize(corrupt.size() / 2);
  r = RunCustos(Args({"dep", "tokens", "abm", files_.File("bad.p7m", corrupt)}), std::chrono::seconds(60), env_);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(Show(), before);

  // Upload for the staging pair: promoted; JWTs now verify with the new certificate only.
  auto f2 = dep::MakeTokenFile(files_, cert2.out, dep::TokenJson("CK1", "2028-06-01T00:00:00Z"));
  up = RunCustos(Args({"dep", "tokens", "abm", files_.File("t2.p7m", *f2)}), std::chrono::seconds(60), env_);
  ASSERT_EQ(up.exit_code, 0) << up.err;
  std::string jwt3 = Jwt();
  EXPECT_TRUE(JwtVerifies(jwt3, cert2.out));
  EXPECT_FALSE(JwtVerifies(jwt3, cert1.out));
  EXPECT_EQ(Show()["current_cert_sha256"], Fingerprint(cert2.out));
}

TEST_F(DepCliTest, SyncAgainstTheSimulatorAndTheAdminApi) {
  auto sim = abmsim::AbmSimulator::Start(DepTokens{"CKS", "CS-CKS", "AT-CKS", "AS-CKS", std::nullopt});
  ASSERT_TRUE(sim.ok()) << sim.status();
  (*sim)->AddDevice("INTSER1");
  (*sim)->AddDevice("INTSER2");
  auto cert = RunCustos(Args({"dep", "cert", "abm"}), std::chrono::seconds(60), env_);
  ASSERT_EQ(cert.exit_code, 0);
  auto f = dep::MakeTokenFile(files_, cert.out, dep::TokenJson("CKS", "2027-06-01T00:00:00Z"));
  ASSERT_EQ(RunCustos(Args({"dep", "tokens", "abm", files_.File("s.p7m", *f)}), std::chrono::seconds(60), env_).exit_code, 0);
  auto sync = RunCustos(Args({"dep", "sync", "abm", "--set", "dep.base_url=" + (*sim)->base_url()}),
                        std::chrono::seconds(60), env_);
  ASSERT_EQ(sync.exit_code, 0) << sync.err;
  EXPECT_NE(sync.out.find("new_devices: 2"), std::string::npos) << sync.out;

  auto server = custos::testing::CustosServer::Start(
      {"--data-dir", data_.path(), "--set", "api.key=k", "--set", "dep.base_url=" + (*sim)->base_url(),
       "--set", "dep.sync_interval=0"},
      env_);
  ASSERT_TRUE(server.ok()) << server.status();
  auto info = custos::testing::HttpRequest((*server)->url() + "/v1/dep/abm", "GET", "",
                                            {"Authorization: Bearer k"});
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->status, 200) << info->body;
  EXPECT_NE(info->body.find("\"consumer_key\":\"CKS\""), std::string::npos) << info->body;
  auto devices = custos::testing::HttpRequest((*server)->url() + "/v1/dep/abm/devices", "GET", "",
                                               {"Authorization: Bearer k"});
  ASSERT_TRUE(devices.ok());
  EXPECT_NE(devices->body.find("INTSER2"), std::string::npos);
  auto proxied = custos::testing::HttpRequest((*server)->url() + "/v1/dep/abm/proxy/account", "GET", "",
                                               {"Authorization: Bearer k"});
  ASSERT_TRUE(proxied.ok());
  EXPECT_EQ(proxied->status, 200);
  EXPECT_NE(proxied->body.find(abmsim::kServerUuid), std::string::npos);
  auto unauth = custos::testing::HttpRequest((*server)->url() + "/v1/dep/abm", "GET");
  ASSERT_TRUE(unauth.ok());
  EXPECT_EQ(unauth->status, 401);
  EXPECT_EQ((*server)->Stop(), 0);
}

}  // namespace
}  // namespace custos
