// Every check-in and command-result capture in ../shared/vectors/ decodes to the right type with
// its fields. Expectations were set by reading each file.
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "base/encoding.h"
#include "mdm/checkin.h"
#include "mdm/command.h"

namespace custos::mdm {
namespace {

std::string VectorPath(const std::string& rel) {
  const char* src = std::getenv("CUSTOS_SOURCE_DIR");
  return std::string(src == nullptr ? "." : src) + "/../shared/vectors/" + rel;
}

std::string ReadVector(const std::string& rel) {
  std::ifstream in(VectorPath(rel), std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << VectorPath(rel);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct CheckinCase {
  std::string file;
  MessageType type;
  std::string enrollment_id;
  std::string topic;
  std::function<void(const CheckinMessage&)> check;
};

const std::string kTopicNano = "com.apple.mgmt.External.e0bd1eac-1f17-4c8e-8a63-dd17d3dd35d9";
const std::string kTopicTest = "com.apple.mgmt.test.00000000-1111-2222-3333-444455556666";
const std::string kTopicXServer = "com.apple.mgmt.XServer.1c111c11-1c11-1c11-1c11-1c111c111c11";
const std::string kUuid0 = "00000000-1111-2222-3333-444455556666";
const std::string kUdid1c = "1c111c111c111c111c111c111c111c111c111c11";
const std::string kUdidE35 = "E3568F17-92ED-450A-8904-C3BF4CB7E9A5";

void ExpectAuthenticate(const CheckinMessage& m, const std::string& serial,
                        const std::string& product, const std::string& os) {
  const auto* a = m.As<AuthenticateMessage>();
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->serial_number, serial);
  EXPECT_EQ(a->product_name, product);
  EXPECT_EQ(a->os_version, os);
  EXPECT_FALSE(m.enrollment.user_channel);
  EXPECT_EQ(m.enrollment.type, EnrollmentType::kDevice);
}

std::vector<CheckinCase> CheckinCases() {
  return {
      {"nanomdm/mdm/testdata/Authenticate.1.plist", MessageType::kAuthenticate,
       "663b07bb783e9ade1dae4fbb92ea12afc0ce5b69", kTopicNano,
       [](const CheckinMessage& m) {
         ExpectAuthenticate(m, "F5JM992LF193", "iPad2,5", "9.3.5");
         EXPECT_EQ(m.As<AuthenticateMessage>()->build_version, "13G36");
         EXPECT_EQ(m.As<AuthenticateMessage>()->device_name, "");  // iOS 9 sends none
       }},
      {"nanomdm/mdm/testdata/Authenticate.2.plist", MessageType::kAuthenticate,
       "66ADE930-5FDF-5EC4-8429-15640684C489", kTopicNano,
       [](const CheckinMessage& m) {
         ExpectAuthenticate(m, "C02MT66KFLHH", "iMac14,2", "10.12.6");
         EXPECT_EQ(m.As<AuthenticateMessage>()->device_name, "Fruit");
         EXPECT_EQ(m.As<AuthenticateMessage>()->model_name, "iMac");
       }},
      {"nanomdm/mdm/testdata/TokenUpdate.1.plist", MessageType::kTokenUpdate,
       "663b07bb783e9ade1dae4fbb92ea12afc0ce5b69", kTopicNano,
       [](const CheckinMessage& m) {
         const auto* t = m.As<TokenUpdateMessage>();
         ASSERT_NE(t, nullptr);
         EXPECT_EQ(Base64Encode(t->token), "R+juwGLC9ynsFwPBs+GPGXHYXwC+dkRdNAgLqnAbX1E=");
         EXPECT_EQ(t->push_magic, "CEFDF0BD-E342-4A27-8742-E930EA116B0A");
         ASSERT_TRUE(t->unlock_token.has_value());
         // A binary keybag: "DATA" header, then tagged records, ending in a SIGN record.
         EXPECT_TRUE(t->unlock_token->starts_with("DATA"));
         EXPECT_GT(t->unlock_token->size(), 1000u);
         EXPECT_NE(t->unlock_token->find("SIGN"), std::string::npos);
         EXPECT_FALSE(t->awaiting_configuration);
         EXPECT_FALSE(m.enrollment.user_channel);
       }},
      {"nanomdm/mdm/testdata/TokenUpdate.2.plist", MessageType::kTokenUpdate,
       "66ADE930-5FDF-5EC4-8429-15640684C489", kTopicNano,
       [](const CheckinMessage& m) {
         const auto* t = m.As<TokenUpdateMessage>();
         ASSERT_NE(t, nullptr);
         EXPECT_EQ(t->token.size(), 32u);
         EXPECT_EQ(t->push_magic, "888CEB39-BFFA-40F6-89FA-B60752EB63C2");
         EXPECT_FALSE(t->unlock_token.has_value());
       }},
      {"commandment/testdata/Authenticate/10.11.x.xml", MessageType::kAuthenticate, kUuid0,
       kTopicTest,
       [](const CheckinMessage& m) {
         ExpectAuthenticate(m, "C00000000004", "iMac15,1", "10.11.6");
         EXPECT_EQ(m.As<AuthenticateMessage>()->device_name, "micromdm-test");
       }},
      {"commandment/testdata/Authenticate/10.12.2.xml", MessageType::kAuthenticate, kUdidE35,
       "com.apple.mgmt.commandment.dev",
       [](const CheckinMessage& m) {
         ExpectAuthenticate(m, "000000000000", "iMac17,1", "10.12.2");
         EXPECT_EQ(m.As<AuthenticateMessage>()->model, "iMac17,1");
       }},
      {"commandment/testdata/Authenticate/IOS-11.3.1.xml", MessageType::kAuthenticate, kUdid1c,
       kTopicXServer,
       [](const CheckinMessage& m) { ExpectAuthenticate(m, "XXXXXXXXXXXX", "iPad4,1", "11.3.1"); }},
      {"commandment/testdata/Authenticate/IOS-9.x.xml", MessageType::kAuthenticate,
       "1111111111111111111111111111111111111111",
       "io.micromdm.topic.00000000-1111-2222-3333-444455556666",
       [](const CheckinMessage& m) { ExpectAuthenticate(m, "XXXXXXXXXXXX", "iPad4,1", "9.3.2"); }},
      {"commandment/testdata/Authenticate/iOS-11.3.1-cell.xml", MessageType::kAuthenticate,
       "1111111111111111111111111111111111111111", kTopicXServer,
       [](const CheckinMessage& m) {
         ExpectAuthenticate(m, "XXXXXXXXXXXX", "iPhone7,2", "11.3.1");
         EXPECT_EQ(m.As<AuthenticateMessage>()->imei, "11 111111 111111 1");
         EXPECT_EQ(m.As<AuthenticateMessage>()->meid, "1111111111111");
       }},
      {"commandment/testdata/TokenUpdate/10.11.x-user.plist", MessageType::kTokenUpdate,
       kUuid0 + ":" + kUuid0, kTopicTest,
       [](const CheckinMessage& m) {
         const auto* t = m.As<TokenUpdateMessage>();
         ASSERT_NE(t, nullptr);
         EXPECT_FALSE(t->token.empty());  // "AAAA=": libplist decodes leniently
         EXPECT_EQ(t->not_on_console, std::optional<bool>(false));
         EXPECT_TRUE(m.enrollment.user_channel);
         EXPECT_EQ(m.enrollment.type, EnrollmentType::kUser);
         EXPECT_EQ(m.enrollment.parent_id, kUuid0);
         EXPECT_EQ(m.identifiers.user_short_name, "admin");
         EXPECT_EQ(m.identifiers.user_long_name, "Administrator");
       }},
      {"commandment/testdata/TokenUpdate/10.11.x.plist", MessageType::kTokenUpdate, kUuid0,
       kTopicTest,
       [](const CheckinMessage& m) {
         const auto* t = m.As<TokenUpdateMessage>();
         ASSERT_NE(t, nullptr);
         EXPECT_EQ(t->token, "apple");
         EXPECT_FALSE(t->not_on_console.has_value());
         EXPECT_FALSE(m.enrollment.user_channel);
       }},
      {"commandment/testdata/TokenUpdate/10.12.2-user.xml", MessageType::kTokenUpdate,
       kUdidE35 + ":A522C2FB-D0BA-487E-BBC6-BE0DB2DC7883", "com.apple.mgmt.commandment.dev",
       [](const CheckinMessage& m) {
         const auto* t = m.As<TokenUpdateMessage>();
         ASSERT_NE(t, nullptr);
         EXPECT_EQ(t->token, "00201052-A2D0-403D-B857-72F913F5BCCD\n");
         EXPECT_EQ(t->push_magic, "B81B1FEC-09C6-4EC2-871C-E521EC971B38");
         EXPECT_EQ(m.enrollment.type, EnrollmentType::kUser);
         EXPECT_EQ(m.enrollment.parent_id, kUdidE35);
         EXPECT_EQ(m.identifiers.user_short_name, "cjoe");
         EXPECT_EQ(m.identifiers.user_long_name, "Commando Joe");
       }},
      {"commandment/testdata/TokenUpdate/10.12.2.xml", MessageType::kTokenUpdate, kUdidE35,
       "com.apple.mgmt.commandment.dev",
       [](const CheckinMessage& m) {
         const auto* t = m.As<TokenUpdateMessage>();
         ASSERT_NE(t, nullptr);
         EXPECT_EQ(t->token, "00201052-A2D0-403D-B857-72F913F5BCCE\n");
         EXPECT_FALSE(m.enrollment.user_channel);
       }},
      {"commandment/testdata/CheckOut/10.11.x.xml", MessageType::kCheckOut, kUuid0, kTopicTest,
       [](const CheckinMessage& m) { EXPECT_NE(m.As<CheckOutMessage>(), nullptr); }},
      {"commandment/testdata/CheckOut/iOS-11.3.1.xml", MessageType::kCheckOut, kUdid1c,
       kTopicXServer,
       [](const CheckinMessage& m) { EXPECT_NE(m.As<CheckOutMessage>(), nullptr); }},
  };
}

TEST(VectorsTest, EveryCheckinDecodes) {
  for (const CheckinCase& c : CheckinCases()) {
    SCOPED_TRACE(c.file);
    const std::string body = ReadVector(c.file);
    auto m = DecodeCheckin(body);
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->type, c.type);
    EXPECT_EQ(MessageTypeName(m->type), MessageTypeName(c.type));
    EXPECT_EQ(m->enrollment.id, c.enrollment_id);
    EXPECT_EQ(m->topic, c.topic);
    EXPECT_EQ(m->raw, body);
    c.check(*m);
  }
}

struct ResultCase {
  std::string file;
  CommandStatus status;
  std::string udid;
  std::string command_uuid;
  std::optional<std::string> request_type;
  size_t error_chain_size;
  std::function<void(const CommandResult&, const PlistDict&)> check;
};

void NoCheck(const CommandResult&, const PlistDict&) {}

// A top-level key's array length.
size_t ArraySize(const PlistDict& d, const std::string& key) {
  auto a = d.Array(key);
  EXPECT_TRUE(a.ok()) << a.status();
  return a.ok() ? a->size() : 0;
}

std::vector<ResultCase> ResultCases() {
  const std::string kZen = "9353BC9A-5CF9-4C9E-9AD4-8D1E41D5FE3E";
  return {
      {"nanomdm/mdm/testdata/DeviceInformation.1.plist", CommandStatus::kAcknowledged,
       "66ADE930-5FDF-5EC4-8429-15640684C489", "76eda240-5488-4989-8339-f2ae160113c4",
       "DeviceInformation", 0,
       [](const CommandResult&, const PlistDict& d) {
         auto q = d.Dict("QueryResponses");
         ASSERT_TRUE(q.ok());
         EXPECT_EQ(q->String("HostName").value_or(""), "fruit.example.com");
       }},
      {"commandment/testdata/AvailableOSUpdates/10.12.5.xml", CommandStatus::kAcknowledged,
       kUuid0, kUuid0, "AvailableOSUpdates", 0,
       [](const CommandResult&, const PlistDict& d) {
         EXPECT_GT(ArraySize(d, "AvailableOSUpdates"), 1u);
       }},
      {"commandment/testdata/AvailableOSUpdates/iOS-11.3.1.xml", CommandStatus::kAcknowledged,
       kUdid1c, "8fb53ef6-5fcd-46c2-bf05-ee502406f240", std::nullopt, 0,
       [](const CommandResult&, const PlistDict& d) {
         auto a = d.Array("AvailableOSUpdates");
         ASSERT_TRUE(a.ok());
         ASSERT_EQ(a->size(), 1u);
         auto u = PlistDict::Of(a->at(0));
         ASSERT_TRUE(u.ok());
         EXPECT_EQ(u->Integer("DownloadSize").value_or(0), 225236247);
         EXPECT_EQ(u->String("HumanReadableName").value_or(""), "iOS 11.4");
       }},
      {"commandment/testdata/AvailableOSUpdates/macOS-10.13.1.xml", CommandStatus::kAcknowledged,
       kUuid0, "a6121a90-4100-4928-93d8-6645722bfda7", std::nullopt, 0,
       [](const CommandResult&, const PlistDict& d) {
         EXPECT_GT(ArraySize(d, "AvailableOSUpdates"), 1u);
       }},
      {"commandment/testdata/CertificateList/10.11.x.xml", CommandStatus::kAcknowledged, kUuid0,
       kUuid0, "CertificateList", 0,
       [](const CommandResult&, const PlistDict& d) {
         auto a = d.Array("CertificateList");
         ASSERT_TRUE(a.ok());
         ASSERT_GT(a->size(), 0u);
         auto c = PlistDict::Of(a->at(0));
         ASSERT_TRUE(c.ok());
         EXPECT_EQ(c->String("CommonName").value_or(""), "com.apple.systemdefault");
         EXPECT_EQ(c->Bool("IsIdentity").value_or(false), true);
         auto der = c->Data("Data");
         ASSERT_TRUE(der.ok());
         EXPECT_EQ(static_cast<unsigned char>((*der)[0]), 0x30);  // a DER SEQUENCE
       }},
      {"commandment/testdata/DeviceInformation/10.11.x.xml", CommandStatus::kAcknowledged, kUuid0,
       kUuid0, "DeviceInformation", 0,
       [](const CommandResult&, const PlistDict& d) {
         auto q = d.Dict("QueryResponses");
         ASSERT_TRUE(q.ok());
         EXPECT_EQ(q->String("DeviceName").value_or(""), "micromdm-testing");
         EXPECT_NEAR(q->Real("DeviceCapacity").value_or(0), 464.822, 0.001);
       }},
      {"commandment/testdata/DeviceInformation/iOS-11.3.1.xml", CommandStatus::kAcknowledged,
       kUdid1c, "3ab89975-490b-4f33-80c7-0982069272ba", std::nullopt, 0,
       [](const CommandResult&, const PlistDict& d) {
         auto q = d.Dict("QueryResponses");
         ASSERT_TRUE(q.ok());
         EXPECT_EQ(q->String("SerialNumber").value_or(""), "C00000000004");
         EXPECT_EQ(q->String("SubscriberMCC").value_or("x"), "");
       }},
      {"commandment/testdata/DeviceLock/iOS-11.3.1.xml", CommandStatus::kAcknowledged, kUdid1c,
       "b6c8627f-bf4a-4ef4-8f40-d8673cd568c9", std::nullopt, 0,
       [](const CommandResult&, const PlistDict& d) {
         EXPECT_EQ(d.String("MessageResult").value_or(""), "NoPasscodeSet");
       }},
      {"commandment/testdata/Errors/10.13.6-invalid-command.xml", CommandStatus::kError,
       "2F6DE437-7C14-5735-85B4-DC6B365BCAF1", "bac6348e-3291-4523-a354-037ec379b738",
       std::nullopt, 1,
       [](const CommandResult& r, const PlistDict&) {
         EXPECT_EQ(r.error_chain[0].error_code, 12021);
         EXPECT_EQ(r.error_chain[0].error_domain, "MCMDMErrorDomain");
         EXPECT_EQ(r.error_chain[0].localized_description,
                   "Unknown command: ShutdownDevice <MDMClientError:91>");
         EXPECT_EQ(r.error_chain[0].us_english_description, "");
       }},
      {"commandment/testdata/Errors/iOS-11.3.1-AvailableOSUpdatesFailure.xml",
       CommandStatus::kError, kUdid1c, "93289d88-c8da-4732-9a7e-33dd51851b6e", std::nullopt, 2,
       [](const CommandResult& r, const PlistDict&) {
         EXPECT_EQ(r.error_chain[0].error_code, 2213);
         EXPECT_EQ(r.error_chain[0].error_domain, "DeviceManagement.error");
         EXPECT_EQ(r.error_chain[0].localized_description, "No update available.");
         EXPECT_EQ(r.error_chain[1].error_code, 3);
         EXPECT_EQ(r.error_chain[1].error_domain, "com.apple.softwareupdateservices.errors");
         // The published capture holds the escapes as literal text; it is kept verbatim.
         EXPECT_NE(r.error_chain[1].localized_description.find("couldn\\xe2\\x80\\x99t"),
                   std::string::npos);
       }},
      {"commandment/testdata/Errors/iOS-11.3.1-CommandFormatError.xml",
       CommandStatus::kCommandFormatError, kUdid1c, "52aab5d2-6a61-4fe8-b685-44f8b56972d0",
       std::nullopt, 0, NoCheck},
      {"commandment/testdata/Errors/iOS-11.3.1-RemoveProfile-Unmanaged.xml",
       CommandStatus::kError, kUdid1c, "b2da2591-a2e5-45e5-8dd8-0ffb050d8407", std::nullopt, 1,
       [](const CommandResult& r, const PlistDict&) {
         EXPECT_EQ(r.error_chain[0].error_code, 12013);
         EXPECT_EQ(r.error_chain[0].us_english_description,
                   "The profile \\xe2\\x80\\x9corg.github.cmdmnt.commandment.trust"
                   "\\xe2\\x80\\x9d is not managed by MDM.");
         EXPECT_EQ(r.error_chain[0].localized_description,
                   r.error_chain[0].us_english_description);
       }},
      {"commandment/testdata/InstalledApplicationList/10.11.x.xml", CommandStatus::kAcknowledged,
       kUuid0, kUuid0, "InstalledApplicationList", 0,
       [](const CommandResult&, const PlistDict& d) {
         EXPECT_GT(ArraySize(d, "InstalledApplicationList"), 0u);
       }},
      {"commandment/testdata/InstalledApplicationList/iOS-11.3.1.xml",
       CommandStatus::kAcknowledged, kUdid1c, "368b6b82-f89c-4af7-8a02-ed72af86116c",
       std::nullopt, 0,
       [](const CommandResult&, const PlistDict& d) {
         EXPECT_GT(ArraySize(d, "InstalledApplicationList"), 0u);
       }},
      {"commandment/testdata/InstalledApplicationList/iOS-12.1.xml", CommandStatus::kAcknowledged,
       kUdid1c, "ca851cf1-e85b-4fed-bf0a-dd7a4e4859b2", std::nullopt, 0,
       [](const CommandResult&, const PlistDict& d) {
         EXPECT_GT(ArraySize(d, "InstalledApplicationList"), 0u);
       }},
      {"commandment/testdata/ManagedApplicationList/iOS-12.1-Failed.xml",
       CommandStatus::kAcknowledged, kUdid1c, "7fc66d05-4bdb-41e4-9814-5a4c21e74e16",
       std::nullopt, 0,
       [](const CommandResult&, const PlistDict& d) {
         EXPECT_TRUE(d.Dict("ManagedApplicationList").ok());
       }},
      {"commandment/testdata/ManagedApplicationList/iOS-12.1-Managed.xml",
       CommandStatus::kAcknowledged, kUdid1c, "0a40830d-1cf9-4a00-a153-d8294e576c3f",
       std::nullopt, 0,
       [](const CommandResult&, const PlistDict& d) {
         EXPECT_TRUE(d.Dict("ManagedApplicationList").ok());
       }},
      {"commandment/testdata/NotNow/iOS-11.3.1.xml", CommandStatus::kNotNow, kUdid1c,
       "bb5d7813-e7c3-4279-b954-4b678925de5f", std::nullopt, 0, NoCheck},
      {"commandment/testdata/ProfileList/10.11.x.xml", CommandStatus::kAcknowledged, kUuid0,
       kUuid0, "ProfileList", 0,
       [](const CommandResult&, const PlistDict& d) {
         EXPECT_GT(ArraySize(d, "ProfileList"), 0u);
       }},
      {"commandment/testdata/ProfileList/iOS-11.3.1.xml", CommandStatus::kAcknowledged, kUdid1c,
       "2d1d3845-3e06-4687-a357-b343ebb17888", std::nullopt, 0,
       [](const CommandResult&, const PlistDict& d) {
         auto a = d.Array("ProfileList");
         ASSERT_TRUE(a.ok());
         ASSERT_GT(a->size(), 0u);
         auto p = PlistDict::Of(a->at(0));
         ASSERT_TRUE(p.ok());
         EXPECT_EQ(p->Bool("IsManaged").value_or(true), false);
         EXPECT_GT(p->Array("PayloadContent").value().size(), 0u);
       }},
      {"commandment/testdata/SecurityInfo/10.11.x.xml", CommandStatus::kAcknowledged, kUuid0,
       kUuid0, "SecurityInfo", 0,
       [](const CommandResult&, const PlistDict& d) {
         auto s = d.Dict("SecurityInfo");
         ASSERT_TRUE(s.ok());
         EXPECT_EQ(s->Bool("FDE_Enabled").value_or(true), false);
       }},
      {"commandment/testdata/SecurityInfo/IOS-9.x.xml", CommandStatus::kAcknowledged,
       "1111111111111111111111111111111111111111", kUuid0, std::nullopt, 0,
       [](const CommandResult&, const PlistDict& d) {
         auto s = d.Dict("SecurityInfo");
         ASSERT_TRUE(s.ok());
         EXPECT_EQ(s->Integer("HardwareEncryptionCaps").value_or(0), 3);
         EXPECT_EQ(s->Bool("PasscodePresent").value_or(true), false);
       }},
      {"commandment/testdata/SecurityInfo/iOS-11.3.1.xml", CommandStatus::kAcknowledged, kUdid1c,
       "f1048316-6628-4b32-b2f2-708d7f4d7105", std::nullopt, 0,
       [](const CommandResult&, const PlistDict& d) {
         EXPECT_EQ(d.Dict("SecurityInfo").value().Bool("PasscodeCompliant").value_or(false),
                   true);
       }},
      {"commandment/testdata/SecurityInfo/macOS-10.13.1.xml", CommandStatus::kAcknowledged,
       kUuid0, "bf88d054-bd86-480d-b406-a1bc74a403c0", std::nullopt, 0,
       [](const CommandResult&, const PlistDict& d) {
         auto fw = d.Dict("SecurityInfo").value().Dict("FirewallSettings");
         ASSERT_TRUE(fw.ok());
         EXPECT_EQ(fw->Array("Applications").value().size(), 2u);
       }},
      {"micromdm/workflow/profile/inventory/testdata/ProfileList.response.plist",
       CommandStatus::kAcknowledged, "BC5E2DA4-7FB6-5E70-9928-4981680DAFBF",
       "1a82029c-4a30-46ca-9ca3-18a4daf5e3a9", std::nullopt, 0,
       [](const CommandResult&, const PlistDict& d) {
         EXPECT_GT(ArraySize(d, "ProfileList"), 0u);
       }},
      {"nanocmd/workflow/certprof/testdata/certlist.plist", CommandStatus::kAcknowledged,
       "6362F867-FFF2-4EA6-905C-3C796DF4EF68", "CERT-LIST-01", std::nullopt, 0,
       [](const CommandResult&, const PlistDict& d) {
         auto a = d.Array("CertificateList");
         ASSERT_TRUE(a.ok());
         ASSERT_GT(a->size(), 0u);
         auto c = PlistDict::Of(a->at(0));
         ASSERT_TRUE(c.ok());
         // The real quirk: macOS reports a placeholder CommonName for a subject-less identity.
         EXPECT_EQ(c->String("CommonName").value_or(""), "?Error_-26276?");
         EXPECT_TRUE(c->Data("Data").ok());
       }},
      {"nanocmd/workflow/certprof/testdata/resp-error.plist", CommandStatus::kError,
       "6362F867-FFF2-4EA6-905C-3C796DF4EF68", "D053EE3A-EE0E-4E82-87D2-BB3624186694",
       std::nullopt, 1,
       [](const CommandResult& r, const PlistDict&) {
         EXPECT_EQ(r.error_chain[0].error_code, -909);  // negative integer
         EXPECT_EQ(r.error_chain[0].error_domain, "NSOSStatusErrorDomain");
         EXPECT_EQ(r.error_chain[0].localized_description, " <NSOSStatusErrorDomain:-909>");
       }},
      {"nanocmd/workflow/inventory/testdata/secinfo.plist", CommandStatus::kAcknowledged,
       "AAABBBCCC111222333", "53115671-3f45-49f5-b7cb-22ede8b8afdc", std::nullopt, 0,
       [](const CommandResult&, const PlistDict& d) {
         EXPECT_TRUE(d.Dict("SecurityInfo").ok());
       }},
      {"zentral/tests/mdm/testdata/certificate_list.plist", CommandStatus::kAcknowledged,
       "00008020-000915083C80012E", "0001-CertificateList", std::nullopt, 0,
       [](const CommandResult&, const PlistDict& d) {
         EXPECT_GT(ArraySize(d, "CertificateList"), 0u);
       }},
      {"zentral/tests/mdm/testdata/device_information.plist", CommandStatus::kAcknowledged, kZen,
       "02CD8B7A-465F-49E6-86D6-D3ACAAE5529E", std::nullopt, 0,
       [](const CommandResult&, const PlistDict& d) {
         EXPECT_TRUE(d.Dict("QueryResponses").ok());
       }},
      {"zentral/tests/mdm/testdata/installed_application_list.plist",
       CommandStatus::kAcknowledged, kZen, "E615AD27-A6DA-479A-AE17-FBCF754E1B31", std::nullopt,
       0,
       [](const CommandResult&, const PlistDict& d) {
         EXPECT_GT(ArraySize(d, "InstalledApplicationList"), 0u);
       }},
      {"zentral/tests/mdm/testdata/managed_application_list.plist",
       CommandStatus::kAcknowledged, "B79EE23C-F5C1-489E-ADC2-DB4A7B3D54FF",
       "79AEDFB0-686C-45AD-9F44-E92D36E4EEE0", std::nullopt, 0,
       [](const CommandResult&, const PlistDict& d) {
         EXPECT_TRUE(d.Dict("ManagedApplicationList").ok());
       }},
      {"zentral/tests/mdm/testdata/profile_list.plist", CommandStatus::kAcknowledged,
       "7DD67F73-27DE-57B7-872F-C68FACCD9186", "ABCC7D59-00FC-45DE-995A-296B119583E8",
       std::nullopt, 0,
       [](const CommandResult&, const PlistDict& d) {
         EXPECT_GT(ArraySize(d, "ProfileList"), 0u);
       }},
      {"zentral/tests/mdm/testdata/security_info_ios.plist", CommandStatus::kAcknowledged,
       "cb48a725986c8b4e23b6ca68e5b6941d073c990f", "9A105E87-EC35-4F65-A265-423CFB92D624",
       std::nullopt, 0,
       [](const CommandResult&, const PlistDict& d) {
         EXPECT_TRUE(d.Dict("SecurityInfo").ok());
       }},
  };
}

TEST(VectorsTest, EveryCommandResultDecodes) {
  for (const ResultCase& c : ResultCases()) {
    SCOPED_TRACE(c.file);
    const std::string body = ReadVector(c.file);
    auto r = DecodeCommandResult(body);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, c.status);
    EXPECT_EQ(r->enrollment.id, c.udid);
    EXPECT_EQ(r->enrollment.type, EnrollmentType::kDevice);
    EXPECT_EQ(r->command_uuid, c.command_uuid);
    EXPECT_EQ(r->request_type, c.request_type);
    ASSERT_EQ(r->error_chain.size(), c.error_chain_size);
    EXPECT_EQ(r->raw, body);
    // The full body also renders as JSON (for webhooks) without loss of structure.
    auto plist = Plist::Parse(body);
    ASSERT_TRUE(plist.ok());
    auto json = PlistToJson(plist->get());
    ASSERT_TRUE(json.ok()) << json.status();
    EXPECT_EQ((*json)["Status"], std::string(CommandStatusName(c.status)));
    EXPECT_FALSE(PlistJsonDump(*json).empty());
    auto dict = PlistDict::Of(plist->get());
    ASSERT_TRUE(dict.ok());
    c.check(*r, *dict);
  }
}

// A command result is not a check-in, and vice versa: each decoder says so clearly.
TEST(VectorsTest, DecodersRefuseTheOtherKind) {
  auto c = DecodeCheckin(ReadVector("commandment/testdata/NotNow/iOS-11.3.1.xml"));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), "missing key MessageType");
  auto r = DecodeCommandResult(ReadVector("nanomdm/mdm/testdata/Authenticate.1.plist"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "missing key Status");
  // The DEP device-information plist is neither.
  auto dep = DecodeCheckin(ReadVector("commandment/testdata/dep/profile.xml"));
  EXPECT_FALSE(dep.ok());
}

// The capture converted to a binary plist by libplist.
std::string BinaryForm(const std::string& file) {
  auto xml = Plist::Parse(ReadVector(file));
  EXPECT_TRUE(xml.ok()) << xml.status();
  if (!xml.ok()) return std::string();
  auto bin = xml->ToBinary();
  EXPECT_TRUE(bin.ok()) << bin.status();
  return bin.value_or(std::string());
}

// Binary plists decode like XML ones.
TEST(VectorsTest, BinaryFormOfEveryCaptureDecodes) {
  for (const CheckinCase& c : CheckinCases()) {
    SCOPED_TRACE(c.file);
    const std::string body = BinaryForm(c.file);
    auto m = DecodeCheckin(body);
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->type, c.type);
    EXPECT_EQ(m->enrollment.id, c.enrollment_id);
    c.check(*m);
  }
  for (const ResultCase& c : ResultCases()) {
    SCOPED_TRACE(c.file);
    const std::string body = BinaryForm(c.file);
    auto r = DecodeCommandResult(body);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, c.status);
    EXPECT_EQ(r->command_uuid, c.command_uuid);
    EXPECT_EQ(r->error_chain.size(), c.error_chain_size);
  }
}

}  // namespace
}  // namespace custos::mdm
