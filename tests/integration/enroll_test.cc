// End to end: the enrollment profile from the real `custos serve` (GET /mdm/enroll) and from
// `custos enroll profile`, over loopback. The signed profile verifies with `openssl cms -verify`
// and `openssl smime -verify` against the chain custos serves at /ca/chain; its URLs name the port
// actually bound; its SCEP challenge enrolls once at the running server's /scep (with custos' own
// SCEP client library) and is refused the second time; access control by one-time token and by
// HTTP Basic.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "base/encoding.h"
#include "mdm/plist_util.h"
#include "pki/cms.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/x509.h"
#include "scep/client.h"
#include "tests/integration/custos_process.h"

namespace custos::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kTopic[] = "com.apple.mgmt.External.6b0e2a70-8c4e-4f0b-a3a4-2f9d1c7e5b31";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string WriteFile(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

// Runs a shell command, returning its exit code; output goes to `output`.
int Shell(const std::string& cmd, std::string* output) {
  std::string full = cmd + " 2>&1";
  FILE* p = popen(full.c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  output->clear();
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) output->append(buf, n);
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The plist inside a signed profile, and the SCEP payload's PayloadContent.
struct ProfileView {
  mdm::Plist plist;
  std::string challenge;
  std::string scep_url;
  std::string server_url;
  std::string topic;
};

ProfileView ViewOf(const std::string& plist_xml) {
  ProfileView v;
  auto p = mdm::Plist::Parse(plist_xml);
  EXPECT_TRUE(p.ok()) << p.status();
  if (!p.ok()) return v;
  v.plist = std::move(*p);
  auto root = mdm::PlistDict::Of(v.plist.get());
  auto content = root->Array("PayloadContent");
  EXPECT_TRUE(content.ok());
  for (size_t i = 0; i < content->size(); ++i) {
    auto d = mdm::PlistDict::Of(content->at(i));
    std::string type = d->StringOr("PayloadType", "").value_or("");
    if (type == "com.apple.security.scep") {
      auto c = d->Dict("PayloadContent");
      v.challenge = c->String("Challenge").value_or("");
      v.scep_url = c->String("URL").value_or("");
    } else if (type == "com.apple.mdm") {
      v.server_url = d->String("ServerURL").value_or("");
      v.topic = d->String("Topic").value_or("");
    }
  }
  return v;
}

ProfileView ViewOfSigned(const std::string& der) {
  auto parsed = ParseSignedData(der);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  if (!parsed.ok() || !parsed->content) return {};
  return ViewOf(*parsed->content);
}

// Enrolls a fresh RSA key at the server's SCEP endpoint with `challenge`: the pkiStatus.
StatusOr<scep::PkiStatus> EnrollOverHttp(const std::string& scep_url, const std::string& challenge) {
  ASSIGN_OR_RETURN(HttpReply cacert, HttpRequest(scep_url + "?operation=GetCACert"));
  if (cacert.status != 200) return InternalError("GetCACert answered " + std::to_string(cacert.status));
  ASSIGN_OR_RETURN(auto certs, scep::ScepClient::ParseGetCaCert(cacert.body));
  ASSIGN_OR_RETURN(auto client, scep::ScepClient::Create(std::move(certs)));
  ASSIGN_OR_RETURN(EvpPkeyPtr key, GenerateKey(KeyAlgorithm::kRsa, 2048));
  CsrTemplate t;
  t.subject = {{"CN", "5E1C4A7B-0D2F-4E5A-9B3C-1F2E3D4C5B6A"}};
  t.challenge_password = challenge;
  ASSIGN_OR_RETURN(std::string csr, BuildCsrDer(t, key.get()));
  ASSIGN_OR_RETURN(scep::ClientTransaction tx, client->PkcsReq(key.get(), csr));
  ASSIGN_OR_RETURN(HttpReply rep, HttpRequest(scep_url + "?operation=PKIOperation", "POST", tx.message,
                                              {"Content-Type: application/x-pki-message"}));
  if (rep.status != 200) return InternalError("PKIOperation answered " + std::to_string(rep.status));
  ASSIGN_OR_RETURN(scep::CertRep cert_rep, client->ReadReply(tx, rep.body));
  return cert_rep.status;
}

TEST(EnrollIntegrationTest, ServedProfileVerifiesAndItsChallengeWorksOnce) {
  TempDir dir;
  auto server = CustosServer::Start({"--data-dir", dir.path(), "--set", std::string("enroll.topic=") + kTopic});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string url = (*server)->url();

  auto reply = HttpRequest(url + "/mdm/enroll");
  ASSERT_TRUE(reply.ok()) << reply.status();
  ASSERT_EQ(reply->status, 200) << reply->body << (*server)->Log();
  EXPECT_EQ(reply->Header("Content-Type"), "application/x-apple-aspen-config");
  EXPECT_THAT(reply->Header("Content-Disposition"), HasSubstr(".mobileconfig"));

  // Signature and chain, with the openssl command line, against what custos serves at /ca/chain.
  auto chain = HttpRequest(url + "/ca/chain");
  ASSERT_TRUE(chain.ok());
  const std::string chain_pem = WriteFile(dir.path() + "/chain.pem", chain->body);
  const std::string profile = WriteFile(dir.path() + "/enroll.mobileconfig", reply->body);
  std::string out;
  EXPECT_EQ(Shell("openssl cms -verify -inform DER -in " + profile + " -CAfile " + chain_pem +
                      " -out " + dir.path() + "/content.plist",
                  &out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("Verification successful"));
  EXPECT_EQ(Shell("openssl smime -verify -inform DER -in " + profile + " -CAfile " + chain_pem +
                      " -out /dev/null",
                  &out),
            0)
      << out;
  ProfileView v = ViewOf(ReadFile(dir.path() + "/content.plist"));
  // URLs name the bound port (custos was started with --listen 127.0.0.1:0).
  EXPECT_EQ(v.server_url, url + "/mdm/connect");
  EXPECT_EQ(v.scep_url, url + "/scep");
  EXPECT_EQ(v.topic, kTopic);
  ASSERT_EQ(v.challenge.size(), 32u);
  EXPECT_EQ(ReadFile(dir.path() + "/content.plist").find(v.challenge) != std::string::npos, true);

  // Unsigned on request; every download has its own challenge.
  auto plain = HttpRequest(url + "/mdm/enroll?unsigned=1");
  ASSERT_TRUE(plain.ok());
  ASSERT_EQ(plain->status, 200);
  EXPECT_THAT(plain->body, HasSubstr("<plist"));
  ProfileView v2 = ViewOf(plain->body);
  EXPECT_NE(v2.challenge, v.challenge);

  // The challenge enrolls once at the running server's SCEP endpoint.
  auto first = EnrollOverHttp(v.scep_url, v.challenge);
  ASSERT_TRUE(first.ok()) << first.status() << (*server)->Log();
  EXPECT_EQ(*first, scep::PkiStatus::kSuccess);
  auto again = EnrollOverHttp(v.scep_url, v.challenge);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, scep::PkiStatus::kFailure);

  // A bad identity parameter is a 400; ACME answers a profile or, without an ACME service, 409.
  auto bad = HttpRequest(url + "/mdm/enroll?identity=x509");
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->status, 400);
  auto acme = HttpRequest(url + "/mdm/enroll?identity=acme&unsigned=1");
  ASSERT_TRUE(acme.ok());
  if (acme->status == 200) {
    EXPECT_THAT(acme->body, HasSubstr("com.apple.security.acme"));
  } else {
    EXPECT_EQ(acme->status, 409) << acme->body;
  }

  // The CLI, beside the running server (same store): its profile's challenge works there too and
  // it is signed by the same (stored, reused) profile-signing certificate.
  auto cli = RunCustos({"enroll", "profile", "--data-dir", dir.path(), "--set",
                        std::string("enroll.topic=") + kTopic, "--set", "server.url=" + url,
                        "--out", dir.path() + "/cli.mobileconfig"});
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  const std::string cli_der = ReadFile(dir.path() + "/cli.mobileconfig");
  EXPECT_EQ(Shell("openssl cms -verify -inform DER -in " + dir.path() + "/cli.mobileconfig -CAfile " +
                      chain_pem + " -out /dev/null",
                  &out),
            0)
      << out;
  auto served = ParseSignedData(reply->body);
  auto from_cli = ParseSignedData(cli_der);
  ASSERT_TRUE(served.ok() && from_cli.ok());
  EXPECT_EQ(X509_cmp(served->signer.get(), from_cli->signer.get()), 0);
  ProfileView vc = ViewOfSigned(cli_der);
  EXPECT_EQ(vc.server_url, url + "/mdm/connect");
  auto cli_enroll = EnrollOverHttp(vc.scep_url, vc.challenge);
  ASSERT_TRUE(cli_enroll.ok()) << cli_enroll.status();
  EXPECT_EQ(*cli_enroll, scep::PkiStatus::kSuccess);

  auto cli_plain = RunCustos({"enroll", "profile", "--unsigned", "--data-dir", dir.path(), "--set",
                              std::string("enroll.topic=") + kTopic});
  ASSERT_EQ(cli_plain.exit_code, 0) << cli_plain.err;
  EXPECT_THAT(cli_plain.out, HasSubstr("<key>IdentityCertificateUUID</key>"));
  auto cli_bad = RunCustos({"enroll", "profile", "--identity", "x509", "--data-dir", dir.path()});
  EXPECT_NE(cli_bad.exit_code, 0);
  EXPECT_THAT(cli_bad.err, HasSubstr("scep or acme"));

  EXPECT_EQ((*server)->Stop(), 0) << (*server)->Log();
  EXPECT_THAT((*server)->Log(), HasSubstr("profile-signing certificate"));
  EXPECT_THAT((*server)->Log(), ::testing::Not(HasSubstr(v.challenge)));  // never logged
}

TEST(EnrollIntegrationTest, NoTopicIsAClearError) {
  TempDir dir;
  auto server = CustosServer::Start({"--data-dir", dir.path()});
  ASSERT_TRUE(server.ok()) << server.status();
  auto reply = HttpRequest((*server)->url() + "/mdm/enroll");
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->status, 409);
  EXPECT_THAT(reply->body, HasSubstr("push"));
  auto cli = RunCustos({"enroll", "profile", "--data-dir", dir.path()});
  EXPECT_NE(cli.exit_code, 0);
  EXPECT_THAT(cli.err, HasSubstr("enroll.topic"));
  EXPECT_EQ((*server)->Stop(), 0);
}

TEST(EnrollIntegrationTest, OneTimeTokenAndBasicAuth) {
  TempDir dir;
  const std::vector<std::string> settings = {
      "--data-dir", dir.path(), "--set", std::string("enroll.topic=") + kTopic, "--set",
      "enroll.require_token=true", "--set", "enroll.basic_password=open-sesame"};
  auto server = CustosServer::Start(settings);
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string url = (*server)->url();
  const std::string basic = "Authorization: Basic " + Base64Encode("enroll:open-sesame");

  auto no_auth = HttpRequest(url + "/mdm/enroll");
  ASSERT_TRUE(no_auth.ok());
  EXPECT_EQ(no_auth->status, 401);
  EXPECT_THAT(no_auth->Header("WWW-Authenticate"), HasSubstr("Basic"));
  auto wrong = HttpRequest(url + "/mdm/enroll", "GET", "",
                           {"Authorization: Basic " + Base64Encode("enroll:nope")});
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ(wrong->status, 401);
  auto no_token = HttpRequest(url + "/mdm/enroll", "GET", "", {basic});
  ASSERT_TRUE(no_token.ok());
  EXPECT_EQ(no_token->status, 403);

  std::vector<std::string> token_args = {"enroll", "token", "--ttl", "10m"};
  token_args.insert(token_args.end(), settings.begin(), settings.end());
  auto token = RunCustos(token_args);
  ASSERT_EQ(token.exit_code, 0) << token.err;
  std::string t = token.out;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  ASSERT_FALSE(t.empty());
  auto ok = HttpRequest(url + "/mdm/enroll?token=" + t, "GET", "", {basic});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->status, 200) << ok->body;
  EXPECT_EQ(ok->Header("Content-Type"), "application/x-apple-aspen-config");
  auto reused = HttpRequest(url + "/mdm/enroll?token=" + t, "GET", "", {basic});
  ASSERT_TRUE(reused.ok());
  EXPECT_EQ(reused->status, 403);
  EXPECT_EQ((*server)->Stop(), 0) << (*server)->Log();
  EXPECT_THAT((*server)->Log(), ::testing::Not(HasSubstr(t)));
}

// A device PKI standing in for Apple's (root -> device leaf) and a MachineInfo signed by the leaf.
struct FakeDevicePki {
  EvpPkeyPtr root_key, leaf_key;
  X509Ptr root, leaf;
};

FakeDevicePki MakeDevicePki(const std::string& name) {
  FakeDevicePki p;
  p.root_key = *GenerateKey(KeyAlgorithm::kEcP256);
  p.leaf_key = *GenerateKey(KeyAlgorithm::kRsa, 2048);
  const Time now = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  CertificateTemplate t;
  t.subject = {{"CN", name + " device root"}};
  t.basic_constraints_ca = true;
  t.key_usage = kKuKeyCertSign | kKuCrlSign;
  t.not_before = now - Duration(86400);
  t.not_after = now + Duration(86400 * 365);
  t.serial_hex = "0a";
  p.root = *BuildCertificate(t, p.root_key.get(), nullptr, p.root_key.get());
  CertificateTemplate l;
  l.subject = {{"CN", "00008030-0011223344556677"}};
  l.key_usage = kKuDigitalSignature;
  l.not_before = t.not_before;
  l.not_after = t.not_after;
  l.serial_hex = "0b";
  p.leaf = *BuildCertificate(l, p.leaf_key.get(), p.root.get(), p.root_key.get());
  return p;
}

std::string MachineInfo(const std::string& serial) {
  mdm::Plist d = mdm::Plist::NewDict();
  EXPECT_TRUE(mdm::DictSetString(d.get(), "UDID", "00008030-0011223344556677").ok());
  EXPECT_TRUE(mdm::DictSetString(d.get(), "SERIAL", serial).ok());
  EXPECT_TRUE(mdm::DictSetString(d.get(), "PRODUCT", "iPhone14,2").ok());
  EXPECT_TRUE(mdm::DictSetString(d.get(), "VERSION", "21A329").ok());
  return *d.ToXml();
}

std::string SignMachineInfo(const FakeDevicePki& p, const std::string& plist) {
  CmsSignOptions o;
  o.key = p.leaf_key.get();
  o.cert = p.leaf.get();
  o.digest = "sha1";  // what devices send
  return *SignCms(plist, o);
}

TEST(EnrollIntegrationTest, AbmDevicePostsSignedMachineInfo) {
  TempDir dir;
  FakeDevicePki device = MakeDevicePki("trusted");
  FakeDevicePki stranger = MakeDevicePki("untrusted");
  const std::string roots = WriteFile(dir.path() + "/device-roots.pem", CertificatePem(device.root.get()));
  auto server = CustosServer::Start({"--data-dir", dir.path(), "--set",
                                     std::string("enroll.topic=") + kTopic, "--set",
                                     "dep.device_ca_file=" + roots, "--set",
                                     "enroll.require_token=true"});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string url = (*server)->url();
  const std::vector<std::string> ct = {"Content-Type: application/pkcs7-signature"};

  auto ok = HttpRequest(url + "/mdm/enroll", "POST", SignMachineInfo(device, MachineInfo("C02XK1ABC")), ct);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->status, 200) << ok->body << (*server)->Log();
  EXPECT_EQ(ok->Header("Content-Type"), "application/x-apple-aspen-config");
  ProfileView v = ViewOfSigned(ok->body);
  EXPECT_EQ(v.server_url, url + "/mdm/connect");
  EXPECT_EQ(v.challenge.size(), 32u);
  EXPECT_THAT((*server)->Log(), HasSubstr("for device serial C02XK1ABC"));

  auto unsigned_body = HttpRequest(url + "/mdm/enroll", "POST", MachineInfo("C02XK1ABC"), ct);
  ASSERT_TRUE(unsigned_body.ok());
  EXPECT_EQ(unsigned_body->status, 400);
  auto forged = HttpRequest(url + "/mdm/enroll", "POST",
                            SignMachineInfo(stranger, MachineInfo("C02XK1ABC")), ct);
  ASSERT_TRUE(forged.ok());
  EXPECT_EQ(forged->status, 403);
  // GET still needs its token.
  auto get = HttpRequest(url + "/mdm/enroll");
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get->status, 403);
  EXPECT_EQ((*server)->Stop(), 0) << (*server)->Log();
}

}  // namespace
}  // namespace custos::testing
