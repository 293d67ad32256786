// The simulator's own messages must be what custos' codecs expect, and its signatures must
// verify with custos' device authentication: otherwise an end-to-end failure could be the
// simulator's fault. No server involved.
#include "tests/devicesim/device_sim.h"

#include <gtest/gtest.h>
#include <plist/plist.h>

#include "base/encoding.h"
#include "mdm/checkin.h"
#include "mdm/command.h"
#include "mdm/device_auth.h"
#include "mdm/plist_util.h"
#include "pki/cms.h"
#include "pki/key.h"
#include "pki/x509.h"

namespace custos::devicesim {
namespace {

constexpr char kTopic[] = "com.apple.mgmt.External.devicesim";

std::string ProfilePlist() {
  return R"(<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>PayloadType</key><string>Configuration</string>
<key>PayloadContent</key><array>
 <dict><key>PayloadType</key><string>com.apple.security.scep</string>
  <key>PayloadContent</key><dict>
   <key>URL</key><string>http://127.0.0.1:1/scep</string>
   <key>Challenge</key><string>abc123</string>
   <key>Keysize</key><integer>2048</integer>
   <key>Subject</key><array><array><array><string>O</string><string>custos</string></array></array>
     <array><array><string>CN</string><string>%HardwareUUID%</string></array></array></array>
  </dict></dict>
 <dict><key>PayloadType</key><string>com.apple.mdm</string>
  <key>ServerURL</key><string>http://127.0.0.1:1/mdm/connect</string>
  <key>CheckInURL</key><string>http://127.0.0.1:1/mdm/checkin</string>
  <key>Topic</key><string>com.apple.mgmt.External.devicesim</string>
  <key>SignMessage</key><true/></dict>
</array></dict></plist>)";
}

class DeviceSimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto key = GenerateKey(KeyAlgorithm::kRsa, 2048);
    ASSERT_TRUE(key.ok());
    key_ = std::move(key).value();
    CertificateTemplate t;
    t.serial_hex = "0a";
    t.subject = {{"CN", "devicesim"}};
    t.not_before = std::chrono::system_clock::now() - std::chrono::hours(1);
    t.not_after = t.not_before + std::chrono::hours(48);
    auto cert = BuildCertificate(t, key_.get(), nullptr, key_.get());
    ASSERT_TRUE(cert.ok());
    cert_ = std::move(cert).value();
    auto profile = ParseEnrollmentProfile(ProfilePlist());
    ASSERT_TRUE(profile.ok()) << profile.status();
    DeviceOptions o;
    o.base_url = "https://127.0.0.1:9443";
    device_ = std::make_unique<Device>(o);
    device_->UseProfile(*profile);
    device_->SetIdentity(key_.get(), cert_.get());
  }
  EvpPkeyPtr key_;
  X509Ptr cert_;
  std::unique_ptr<Device> device_;
};

TEST_F(DeviceSimTest, ProfileFields) {
  const EnrollmentProfile& p = device_->profile();
  EXPECT_FALSE(p.signed_profile);
  EXPECT_EQ(p.scep_url, "http://127.0.0.1:1/scep");
  EXPECT_EQ(p.challenge, "abc123");
  ASSERT_EQ(p.subject.size(), 2u);
  EXPECT_EQ(p.subject[1].first, "CN");
  EXPECT_EQ(p.topic, kTopic);
  EXPECT_TRUE(p.sign_message);
  EXPECT_EQ(device_->CheckinUrl(), "https://127.0.0.1:9443/mdm/checkin");
  EXPECT_EQ(device_->ServerUrl(), "https://127.0.0.1:9443/mdm/connect");
}

TEST_F(DeviceSimTest, SignedProfileIsUnwrapped) {
  CmsSignOptions o;
  o.key = key_.get();
  o.cert = cert_.get();
  auto der = SignCms(ProfilePlist(), o);
  ASSERT_TRUE(der.ok());
  auto p = ParseEnrollmentProfile(*der);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->signed_profile);
  EXPECT_EQ(p->challenge, "abc123");
  EXPECT_FALSE(ParseEnrollmentProfile("garbage").ok());
}

TEST_F(DeviceSimTest, CheckinsDecodeWithCustosCodec) {
  auto a = mdm::DecodeCheckin(device_->AuthenticateBody());
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->type, mdm::MessageType::kAuthenticate);
  EXPECT_EQ(a->enrollment.id, device_->udid());
  EXPECT_EQ(a->topic, kTopic);
  auto t = mdm::DecodeCheckin(device_->TokenUpdateBody());
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_NE(t->As<mdm::TokenUpdateMessage>(), nullptr);
  EXPECT_EQ(HexEncode(t->As<mdm::TokenUpdateMessage>()->token), device_->push_token_hex());
  EXPECT_EQ(t->As<mdm::TokenUpdateMessage>()->push_magic, device_->push_magic());
  auto c = mdm::DecodeCheckin(device_->CheckOutBody());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->type, mdm::MessageType::kCheckOut);
}

TEST_F(DeviceSimTest, ResultsDecodeWithCustosCodec) {
  for (const char* status : {"Idle", "Acknowledged", "Error", "NotNow"}) {
    std::string uuid = std::string(status) == "Idle" ? "" : "0C3E-UUID";
    auto r = mdm::DecodeCommandResult(device_->ResultBody(status, uuid));
    ASSERT_TRUE(r.ok()) << status << ": " << r.status();
    EXPECT_EQ(r->enrollment.id, device_->udid());
  }
  auto err = mdm::DecodeCommandResult(device_->ResultBody("Error", "U1"));
  ASSERT_TRUE(err.ok());
  EXPECT_EQ(err->status, mdm::CommandStatus::kError);
}

TEST_F(DeviceSimTest, SignatureVerifiesWithDeviceAuth) {
  auto idle = device_->SignedIdle();
  ASSERT_TRUE(idle.ok()) << idle.status();
  std::string digest;
  auto signer = mdm::VerifyMdmSignature(idle->signature, idle->body, &digest);
  ASSERT_TRUE(signer.ok()) << signer.status();
  EXPECT_EQ(X509_cmp(signer->get(), cert_.get()), 0);
  EXPECT_EQ(digest, "sha256");
  EXPECT_FALSE(mdm::VerifyMdmSignature(idle->signature, idle->body + " ").ok());
}

TEST_F(DeviceSimTest, CommandReplyParsing) {
  mdm::Command cmd;
  cmd.uuid = "5A5A-1";
  cmd.request_type = "DeviceInformation";
  cmd.payload = mdm::Plist::NewDict();
  auto body = mdm::EncodeCommand(cmd);
  ASSERT_TRUE(body.ok()) << body.status();
  auto parsed = ParseCommandReply(*body);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_TRUE(parsed->has_value());
  EXPECT_EQ((*parsed)->command_uuid, "5A5A-1");
  EXPECT_EQ((*parsed)->request_type, "DeviceInformation");
  auto empty = ParseCommandReply("");
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->has_value());
  EXPECT_FALSE(ParseCommandReply("<plist><dict/></plist>").ok());
}

}  // namespace
}  // namespace custos::devicesim
