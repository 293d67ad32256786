// End to end over loopback (issue 4, "Tests"): the real `custos serve`, the fake APNs server
// (tests/fakeapns/fake_apns.py) and simulated devices (tests/devicesim). Each device downloads
// the enrollment profile, enrols over SCEP with the profile's challenge, Authenticates, sends
// TokenUpdate; an API enqueue (NanoMDM's PUT /v1/enqueue/{id}) produces one push at the fake
// APNs; the device polls Idle, receives the command, answers Acknowledged; the result is in
// GET /v1/enrollments/{id}/commands. Then NotNow (offered again at the next Idle), Error (with
// its ErrorChain), renewal over SCEP without a new Authenticate, a certificate reused by another
// device (400), a foreign identity (400) and CheckOut. Every scenario runs with each way a
// device identity reaches custos (Mdm-Signature, direct mTLS on custos' TLS listener, an RFC
// 9440 Client-Cert header from a trusted proxy) on SQLite, and on PostgreSQL when
// CUSTOS_TEST_PG_DSN is set (scripts/with-postgres.sh). A loopback webhook receiver checks the
// MicroMDM-format events of the whole flow and their HMAC signatures.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>

#include "base/encoding.h"
#include "mdm/command.h"
#include "mdm/plist_util.h"
#include "pki/key.h"
#include "pki/x509.h"
#include "push/testing/test_pki.h"
#include "tests/devicesim/device_sim.h"
#include "tests/integration/custos_process.h"
#include "tests/integration/mdm_fixture.h"
#include "webhook/testing/hook_receiver.h"
#include "webhook/webhook.h"

namespace custos::testing {
namespace {

using devicesim::AuthMode;
using devicesim::Device;
using devicesim::DeviceOptions;
using devicesim::ReceivedCommand;
using Json = nlohmann::json;
using webhook::testing::HookReceiver;

constexpr char kTopic[] = "com.apple.mgmt.External.e2e-8a7c0a52-3d3f-4c55-9a0e-5b1f2f0c9d11";
constexpr char kApiKey[] = "e2e-api-key-0123456789abcdef";
constexpr char kWebhookSecret[] = "e2e-webhook-secret-5f1d";

// A free loopback port (bound then released: the server binds it right after).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  close(fd);
  return port;
}

std::string CommandPlist(std::string_view uuid, std::string_view request_type) {
  mdm::Command c;
  c.uuid = std::string(uuid);
  c.request_type = std::string(request_type);
  c.payload = mdm::Plist::NewDict();
  return mdm::EncodeCommand(c).value_or("");
}

struct Param {
  std::string driver;
  AuthMode auth;
};

std::string ParamName(const ::testing::TestParamInfo<Param>& info) {
  std::string n = info.param.driver + "_" + std::string(devicesim::AuthModeName(info.param.auth));
  for (char& c : n) {
    if (c == '-') c = '_';
  }
  return n;
}

class MdmE2eTest : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    auto webhook = HookReceiver::Start();
    ASSERT_TRUE(webhook.ok()) << webhook.status();
    webhook_ = std::move(webhook).value();

    // custos' TLS listener certificate (mTLS mode), from a throw-away CA the devices trust.
    auto tls_ca = push::testing::MakeCa("e2e TLS CA");
    ASSERT_TRUE(tls_ca.ok());
    auto tls_cert = push::testing::MakeServerCert(*tls_ca);
    ASSERT_TRUE(tls_cert.ok());
    tls_ca_pem_ = tls_ca->cert_pem;
    int tls_port = FreePort();
    tls_url_ = "https://127.0.0.1:" + std::to_string(tls_port);

    MdmFixture::Options o;
    o.topic = kTopic;
    o.api_key = kApiKey;
    o.driver = GetParam().driver;
    o.fake_apns = true;
    o.args = {
        "--set", "http.trusted_proxies=127.0.0.1",
        "--set", "tls.listen=127.0.0.1:" + std::to_string(tls_port),
        "--set", "tls.cert_file=" + mdm_.WriteFile("tls.pem", tls_cert->cert_pem),
        "--set", "tls.key_file=" + mdm_.WriteFile("tls.key", tls_cert->key_pem),
        "--set", "webhook.url=" + webhook_->url(),
        "--set", std::string("webhook.secret=") + kWebhookSecret,
    };
    ASSERT_NO_FATAL_FAILURE(mdm_.Start(o));
  }

  std::unique_ptr<Device> NewDevice(AuthMode auth) {
    DeviceOptions o;
    o.auth = auth;
    if (auth == AuthMode::kMutualTls) {
      o.base_url = tls_url_;
      o.server_ca_pem = tls_ca_pem_;
    } else {
      o.base_url = mdm_.url();
    }
    return std::make_unique<Device>(o);
  }

  // Profile, SCEP, Authenticate, TokenUpdate.
  void Enroll(Device& d) { mdm_.Enroll(d, "/mdm/enroll", kTopic); }

  // PUT /v1/enqueue/{id} (NanoMDM): the NanoMDM JSON reply.
  Json Enqueue(const std::string& id, const std::string& uuid, const std::string& type,
               bool nopush = false) {
    auto r = mdm_.Api("PUT", "/v1/enqueue/" + id + (nopush ? "?nopush=1" : ""),
                      CommandPlist(uuid, type), /*content_type=*/"");
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return Json();
    EXPECT_EQ(r->status, 200) << r->body;
    return Json::parse(r->body, nullptr, false);
  }

  // The command list of an enrollment, by command UUID.
  Json CommandByUuid(const std::string& id, const std::string& uuid) {
    auto r = mdm_.Api("GET", "/v1/enrollments/" + id + "/commands");
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok() || r->status != 200) return Json();
    Json list = Json::parse(r->body, nullptr, false);
    if (!list.is_array()) return Json();
    for (const Json& c : list) {
      if (c.value("command_uuid", "") == uuid) return c;
    }
    return Json();
  }

  // The webhook events about `udid` whose X-Custos-Signature verifies and that satisfy `match`,
  // after waiting up to 10 s for at least one.
  template <typename Match>
  std::vector<Json> WebhookEvents(const std::string& udid, Match match) {
    auto about_udid = [&](const HookReceiver::Received& r) {
      if (!SignatureValid(r)) return false;
      const Json& e = r.json;
      const Json& sub = e.contains("acknowledge_event") ? e["acknowledge_event"]
                                                        : e.value("checkin_event", Json());
      return sub.is_object() && sub.value("udid", "") == udid && match(e, sub);
    };
    std::vector<Json> events;
    for (const HookReceiver::Received& r : webhook_->WaitFor(1, about_udid)) {
      events.push_back(r.json);
    }
    return events;
  }
  static bool SignatureValid(const HookReceiver::Received& r) {
    return r.signature == webhook::SignatureHeaderValue(kWebhookSecret, r.body);
  }
  int BadSignatures() {
    int bad = 0;
    for (const auto& r : webhook_->received()) bad += SignatureValid(r) ? 0 : 1;
    return bad;
  }

  std::unique_ptr<HookReceiver> webhook_;  // outlives the server
  MdmFixture mdm_;
  std::string tls_ca_pem_;
  std::string tls_url_;
};

TEST_P(MdmE2eTest, EnqueuePushIdleAcknowledged) {
  auto d = NewDevice(GetParam().auth);
  ASSERT_NO_FATAL_FAILURE(Enroll(*d));
  auto e = mdm_.Api("GET", "/v1/enrollments/" + d->udid());
  ASSERT_TRUE(e.ok());
  ASSERT_EQ(e->status, 200) << e->body;
  Json enrollment = Json::parse(e->body, nullptr, false);
  EXPECT_EQ(enrollment.value("enabled", false), true) << e->body;
  EXPECT_EQ(enrollment.value("serial", ""), d->serial());

  const std::string uuid = "E2E-ACK-" + d->udid().substr(0, 8);
  Json reply = Enqueue(d->udid(), uuid, "DeviceInformation");
  EXPECT_EQ(reply.value("command_uuid", ""), uuid) << reply.dump();

  // One push, with the device's PushMagic.
  std::vector<Json> pushes = mdm_.PushesFor(d->push_token_hex(), 1);
  ASSERT_EQ(pushes.size(), 1u);
  Json body = Json::parse(pushes[0].value("body", "{}"), nullptr, false);
  EXPECT_EQ(body.value("mdm", ""), d->push_magic());
  EXPECT_EQ(pushes[0]["headers"].value("apns-topic", ""), kTopic);

  std::optional<ReceivedCommand> cmd;
  auto idle = d->Idle(&cmd);
  ASSERT_TRUE(idle.ok()) << idle.status();
  ASSERT_EQ(idle->status, 200) << idle->body;
  ASSERT_TRUE(cmd.has_value()) << "Idle got no command";
  EXPECT_EQ(cmd->command_uuid, uuid);
  EXPECT_EQ(cmd->request_type, "DeviceInformation");
  auto ack = d->Acknowledged(uuid, &cmd, {{"DeviceName", "sim"}});
  ASSERT_TRUE(ack.ok());
  EXPECT_EQ(ack->status, 200) << ack->body;
  EXPECT_FALSE(cmd.has_value()) << "nothing else was queued";

  Json c = CommandByUuid(d->udid(), uuid);
  ASSERT_FALSE(c.is_null()) << "command not listed";
  EXPECT_EQ(c.value("status", ""), "Acknowledged") << c.dump();
  EXPECT_FALSE(c["result"].is_null()) << c.dump();
  EXPECT_EQ(pushes.size(), mdm_.PushesFor(d->push_token_hex(), 2, std::chrono::seconds(0)).size())
      << "one enqueue, one push";

  // The webhook saw the whole flow, signed, with the device's own bytes as raw_payload.
  auto topic_is = [](const char* topic) {
    return [topic](const Json& e, const Json&) { return e.value("topic", "") == topic; };
  };
  auto authenticate = WebhookEvents(d->udid(), topic_is("mdm.Authenticate"));
  ASSERT_EQ(authenticate.size(), 1u);
  auto raw = Base64Decode(authenticate[0]["checkin_event"].value("raw_payload", ""));
  ASSERT_TRUE(raw.ok());
  EXPECT_NE(raw->find("<string>Authenticate</string>"), std::string::npos) << *raw;
  // MicroMDM's enrollment_id is only for User Enrollment; a device channel is named by its UDID.
  EXPECT_FALSE(authenticate[0]["checkin_event"].contains("enrollment_id")) << authenticate[0];
  EXPECT_EQ(WebhookEvents(d->udid(), topic_is("mdm.TokenUpdate")).size(), 1u);
  auto acknowledged = WebhookEvents(d->udid(), [&](const Json& e, const Json& sub) {
    return e.value("topic", "") == "mdm.Connect" && sub.value("status", "") == "Acknowledged";
  });
  ASSERT_EQ(acknowledged.size(), 1u);
  EXPECT_EQ(acknowledged[0]["acknowledge_event"].value("command_uuid", ""), uuid);
  raw = Base64Decode(acknowledged[0]["acknowledge_event"].value("raw_payload", ""));
  ASSERT_TRUE(raw.ok());
  EXPECT_NE(raw->find(uuid), std::string::npos) << *raw;
  EXPECT_FALSE(WebhookEvents(d->udid(), [](const Json& e, const Json& sub) {
    return e.value("topic", "") == "mdm.Connect" && sub.value("status", "") == "Idle";
  }).empty());
  EXPECT_EQ(BadSignatures(), 0);
}

TEST_P(MdmE2eTest, NotNowAndError) {
  auto d = NewDevice(GetParam().auth);
  ASSERT_NO_FATAL_FAILURE(Enroll(*d));
  const std::string later = "E2E-NOTNOW-" + d->udid().substr(0, 8);
  const std::string fails = "E2E-ERROR-" + d->udid().substr(0, 8);
  Enqueue(d->udid(), later, "ProfileList", /*nopush=*/true);
  Enqueue(d->udid(), fails, "SecurityInfo", /*nopush=*/true);

  std::optional<ReceivedCommand> cmd;
  ASSERT_TRUE(d->Idle(&cmd).ok());
  ASSERT_TRUE(cmd.has_value());
  EXPECT_EQ(cmd->command_uuid, later);
  // NotNow: skipped for the rest of this connection, so the next command comes.
  auto notnow = d->NotNow(later, &cmd);
  ASSERT_TRUE(notnow.ok());
  ASSERT_EQ(notnow->status, 200) << notnow->body;
  ASSERT_TRUE(cmd.has_value());
  EXPECT_EQ(cmd->command_uuid, fails);
  auto error = d->Error(fails, &cmd);
  ASSERT_TRUE(error.ok());
  ASSERT_EQ(error->status, 200) << error->body;
  EXPECT_FALSE(cmd.has_value()) << "the NotNow command must not come back in the same session";

  Json c = CommandByUuid(d->udid(), fails);
  EXPECT_EQ(c.value("status", ""), "Error") << c.dump();
  EXPECT_NE(c.dump().find("MCMDMErrorDomain"), std::string::npos) << c.dump();
  Json n = CommandByUuid(d->udid(), later);
  EXPECT_EQ(n.value("active", false), true) << n.dump();

  // The next Idle offers the NotNow command again.
  ASSERT_TRUE(d->Idle(&cmd).ok());
  ASSERT_TRUE(cmd.has_value());
  EXPECT_EQ(cmd->command_uuid, later);
  ASSERT_TRUE(d->Acknowledged(later, &cmd).ok());
  EXPECT_EQ(CommandByUuid(d->udid(), later).value("status", ""), "Acknowledged");
}

TEST_P(MdmE2eTest, RenewalWithoutAuthenticate) {
  auto d = NewDevice(GetParam().auth);
  ASSERT_NO_FATAL_FAILURE(Enroll(*d));
  std::string old_serial = CertSerialHex(d->certificate());
  Status renewed = d->RenewScep();
  ASSERT_TRUE(renewed.ok()) << renewed;
  EXPECT_NE(CertSerialHex(d->certificate()), old_serial);
  std::optional<ReceivedCommand> cmd;
  auto idle = d->Idle(&cmd);
  ASSERT_TRUE(idle.ok());
  EXPECT_EQ(idle->status, 200) << "a renewed identity is accepted without Authenticate: "
                               << idle->body;
  auto token = d->TokenUpdate();
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(token->status, 200) << token->body;
}

TEST_P(MdmE2eTest, CertificateReuseAndForeignIdentityRefused) {
  auto a = NewDevice(GetParam().auth);
  ASSERT_NO_FATAL_FAILURE(Enroll(*a));
  auto b = NewDevice(GetParam().auth);
  ASSERT_TRUE(b->DownloadProfile(mdm_.url() + "/mdm/enroll").ok());
  ASSERT_TRUE(b->EnrollScep().ok());
  // B presents A's identity (a certificate associated with another enrollment).
  EvpPkeyPtr b_key(b->key());
  EVP_PKEY_up_ref(b_key.get());
  X509Ptr b_cert(b->certificate());
  X509_up_ref(b_cert.get());
  b->SetIdentity(a->key(), a->certificate());
  auto reuse = b->Authenticate();
  ASSERT_TRUE(reuse.ok());
  EXPECT_EQ(reuse->status, 400) << reuse->body;
  auto lookup = mdm_.Api("GET", "/v1/enrollments/" + b->udid());
  ASSERT_TRUE(lookup.ok());
  EXPECT_EQ(lookup->status, 404) << "nothing stored for a refused device: " << lookup->body;
  // With its own identity B enrols fine; A's later requests still work.
  b->SetIdentity(b_key.get(), b_cert.get());
  auto own = b->Authenticate();
  ASSERT_TRUE(own.ok());
  EXPECT_EQ(own->status, 200) << own->body;
  // B's certificate now belongs to B: A cannot use it either.
  a->SetIdentity(b_key.get(), b_cert.get());
  auto swapped = a->Idle();
  ASSERT_TRUE(swapped.ok());
  EXPECT_EQ(swapped->status, 400) << swapped->body;

  // A foreign identity (not issued by custos' CA), in the same auth mode.
  auto key = GenerateKey(KeyAlgorithm::kRsa, 2048);
  ASSERT_TRUE(key.ok());
  CertificateTemplate t;
  t.serial_hex = "0badc0de";
  t.subject = {{"CN", "foreign device"}};
  t.not_before = std::chrono::system_clock::now() - std::chrono::hours(1);
  t.not_after = t.not_before + std::chrono::hours(48);
  auto foreign = BuildCertificate(t, key->get(), nullptr, key->get());
  ASSERT_TRUE(foreign.ok());
  auto c = NewDevice(GetParam().auth);
  ASSERT_TRUE(c->DownloadProfile(mdm_.url() + "/mdm/enroll").ok());
  c->SetIdentity(key->get(), foreign->get());
  auto refused = c->Authenticate();
  if (GetParam().auth == AuthMode::kMutualTls && !refused.ok()) {
    SUCCEED() << "TLS handshake refused the foreign client certificate: " << refused.status();
  } else {
    ASSERT_TRUE(refused.ok()) << refused.status();
    EXPECT_EQ(refused->status, 400) << refused->body;
  }
}

TEST_P(MdmE2eTest, CheckOutDisablesTheEnrollment) {
  auto d = NewDevice(GetParam().auth);
  ASSERT_NO_FATAL_FAILURE(Enroll(*d));
  auto out = d->CheckOut();
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->status, 200) << out->body;
  auto e = mdm_.Api("GET", "/v1/enrollments/" + d->udid());
  ASSERT_TRUE(e.ok());
  ASSERT_EQ(e->status, 200) << e->body;
  EXPECT_EQ(Json::parse(e->body, nullptr, false).value("enabled", true), false) << e->body;
}

// `custos inspect mdm-signature` beside the running server (same store): a device's captured
// request is valid, trusted and maps to its enrollment; a tampered body is invalid; the real
// nanomdm capture (foreign CA) is untrusted.
// (Instantiated for Mdm-Signature only: the header is what it inspects.)
class MdmE2eInspectTest : public MdmE2eTest {};

TEST_P(MdmE2eInspectTest, InspectMdmSignature) {
  auto d = NewDevice(GetParam().auth);
  ASSERT_NO_FATAL_FAILURE(Enroll(*d));
  auto idle = d->SignedIdle();
  ASSERT_TRUE(idle.ok());
  const std::string header =
      mdm_.WriteFile("header.txt", "Mdm-Signature: " + idle->signature + "\n");
  const std::string body = mdm_.WriteFile("body.plist", idle->body);
  auto r = RunCustos({"inspect", "mdm-signature", "--header", header, "--body", body,
                      "--data-dir", mdm_.dir()},
                     std::chrono::seconds(60), mdm_.env());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("signature: valid"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("digest: sha256"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("signer: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("serial " + CertSerialHex(d->certificate())), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("chain: trusted"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("enrollment: " + d->udid()), std::string::npos) << r.out;

  mdm_.WriteFile("body.plist", idle->body + "tampered");
  r = RunCustos({"inspect", "mdm-signature", "--header", header, "--body", body, "--data-dir",
                 mdm_.dir()},
                std::chrono::seconds(60), mdm_.env());
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.out.find("signature: invalid"), std::string::npos) << r.out;

  const char* src = std::getenv("CUSTOS_SOURCE_DIR");
  std::string vector = std::string(src == nullptr ? "." : src) +
                       "/../shared/vectors/nanomdm/cryptoutil-extracted/Mdm-Signature.1.header.b64.txt";
  r = RunCustos({"inspect", "mdm-signature", "--header", vector, "--body", body, "--data-dir",
                 mdm_.dir()},
                std::chrono::seconds(60), mdm_.env());
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.out.find("digest: sha1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("chain: untrusted ("), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("enrollment: none"), std::string::npos) << r.out;
}

INSTANTIATE_TEST_SUITE_P(
    AuthModesAndDrivers, MdmE2eTest,
    ::testing::Values(Param{"sqlite", AuthMode::kMdmSignature}, Param{"sqlite", AuthMode::kMutualTls},
                      Param{"sqlite", AuthMode::kProxyHeader},
                      Param{"postgres", AuthMode::kMdmSignature},
                      Param{"postgres", AuthMode::kMutualTls},
                      Param{"postgres", AuthMode::kProxyHeader}),
    ParamName);

INSTANTIATE_TEST_SUITE_P(Drivers, MdmE2eInspectTest,
                         ::testing::Values(Param{"sqlite", AuthMode::kMdmSignature},
                                           Param{"postgres", AuthMode::kMdmSignature}),
                         ParamName);

}  // namespace
}  // namespace custos::testing
