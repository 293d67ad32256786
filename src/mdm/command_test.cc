#include "mdm/command.h"

#include <string>

#include <gtest/gtest.h>

#include "base/encoding.h"
#include "base/random.h"

namespace custos::mdm {
namespace {

const std::string kUdid = "66ADE930-5FDF-5EC4-8429-15640684C489";

std::string Result(const std::string& inner) {
  return "<plist version=\"1.0\"><dict>" + inner + "</dict></plist>";
}

std::string Str(const std::string& k, const std::string& v) {
  return "<key>" + k + "</key><string>" + v + "</string>";
}

TEST(CommandResultTest, IdleNeedsNoCommandUuid) {
  auto r = DecodeCommandResult(Result(Str("Status", "Idle") + Str("UDID", kUdid)));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, CommandStatus::kIdle);
  EXPECT_EQ(r->command_uuid, "");
  EXPECT_EQ(r->enrollment.id, kUdid);
}

TEST(CommandResultTest, UserChannelResult) {
  auto r = DecodeCommandResult(Result(Str("Status", "Acknowledged") + Str("UDID", kUdid) +
                                      Str("UserID", "U1") + Str("CommandUUID", "c1") +
                                      "<key>NotOnConsole</key><true/>"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->enrollment.id, kUdid + ":U1");
  EXPECT_EQ(r->enrollment.parent_id, kUdid);
  EXPECT_EQ(r->not_on_console, std::optional<bool>(true));
}

TEST(CommandResultTest, StatusesRoundTrip) {
  for (CommandStatus s : {CommandStatus::kIdle, CommandStatus::kAcknowledged, CommandStatus::kError,
                          CommandStatus::kCommandFormatError, CommandStatus::kNotNow}) {
    EXPECT_EQ(ParseCommandStatus(CommandStatusName(s)).value(), s);
    auto r = DecodeCommandResult(Result(Str("Status", std::string(CommandStatusName(s))) +
                                        Str("UDID", kUdid) + Str("CommandUUID", "c1")));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, s);
  }
}

TEST(CommandResultTest, BadInputIsAClearError) {
  auto expect = [](const std::string& body, const std::string& message) {
    auto r = DecodeCommandResult(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message(), message) << body;
  };
  for (const char* s : {"Acknowledged", "Error", "CommandFormatError", "NotNow"}) {
    expect(Result(Str("Status", s) + Str("UDID", kUdid)), "missing key CommandUUID");
    expect(Result(Str("Status", s) + Str("UDID", kUdid) + Str("CommandUUID", "")),
           "empty CommandUUID");
  }
  expect(Result(Str("Status", "Done") + Str("UDID", kUdid)), "unknown Status Done");
  expect(Result(Str("UDID", kUdid)), "missing key Status");
  expect(Result(Str("Status", "Idle")), "missing UDID or EnrollmentID");
  expect(Result(Str("Status", "Error") + Str("UDID", kUdid) + Str("CommandUUID", "c") +
                "<key>ErrorChain</key><dict/>"),
         "key ErrorChain: expected array, got dict");
  expect(Result(Str("Status", "Error") + Str("UDID", kUdid) + Str("CommandUUID", "c") +
                "<key>ErrorChain</key><array><string>x</string></array>"),
         "ErrorChain[0]: expected dict, got string");
  expect(Result(Str("Status", "Error") + Str("UDID", kUdid) + Str("CommandUUID", "c") +
                "<key>ErrorChain</key><array><dict><key>ErrorCode</key><string>1</string>"
                "</dict></array>"),
         "key ErrorCode: expected integer, got string");
  expect("<plist><string>x</string></plist>", "command result: expected dict, got string");
  expect("{\"Status\":\"Idle\"}", "malformed plist");
}

TEST(CommandBuildTest, EveryBuilderEncodesAndDecodes) {
  const std::map<std::string, nlohmann::json> params = {
      {"DeviceInformation",
       {{"Queries", {"UDID", "SerialNumber"}}, {"DeviceAttestationNonce", Base64Encode("nonce")}}},
      {"SecurityInfo", nullptr},
      {"ProfileList", {{"ManagedOnly", true}}},
      {"InstallProfile", {{"Payload", Base64Encode("<plist>profile</plist>")}}},
      {"RemoveProfile", {{"Identifier", "com.example.profile"}}},
      {"CertificateList", {{"ManagedOnly", false}}},
      {"InstalledApplicationList",
       {{"Identifiers", {"com.apple.Safari"}}, {"ManagedAppsOnly", true}}},
      {"RestartDevice", {{"NotifyUser", true}}},
      {"ShutDownDevice", nlohmann::json::object()},
      {"DeviceLock", {{"PIN", "123456"}, {"Message", "Lost"}, {"PhoneNumber", "+1 555"}}},
      {"EraseDevice",
       {{"PIN", "123456"},
        {"ObliterationBehavior", "DoNotObliterate"},
        {"ReturnToService", {{"Enabled", true}, {"WiFiProfileData", Base64Encode("wifi")}}}}},
  };
  ASSERT_EQ(params.size(), BuilderRequestTypes().size());
  FakeRandom random(7);
  for (std::string_view type : BuilderRequestTypes()) {
    SCOPED_TRACE(std::string(type));
    const std::string uuid = random.Uuid();
    auto cmd = BuildCommand(type, params.at(std::string(type)), uuid);
    ASSERT_TRUE(cmd.ok()) << cmd.status();
    EXPECT_EQ(cmd->uuid, uuid);
    EXPECT_EQ(cmd->request_type, type);
    auto xml = EncodeCommand(*cmd);
    ASSERT_TRUE(xml.ok()) << xml.status();
    EXPECT_TRUE(xml->starts_with("<?xml"));

    // Decode with libplist directly: {CommandUUID, Command: {RequestType, ...}}.
    plist_t root = nullptr;
    plist_from_memory(xml->data(), static_cast<uint32_t>(xml->size()), &root);
    ASSERT_NE(root, nullptr);
    Plist owned(root);
    auto d = PlistDict::Of(root).value();
    EXPECT_EQ(d.String("CommandUUID").value(), uuid);
    auto c = d.Dict("Command");
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->String("RequestType").value(), type);

    // The raw-command path accepts what the builders produce.
    auto raw = DecodeRawCommand(*xml);
    ASSERT_TRUE(raw.ok()) << raw.status();
    EXPECT_EQ(raw->uuid, uuid);
    EXPECT_EQ(raw->request_type, type);
    EXPECT_EQ(EncodeCommand(*raw).value(), *xml);
  }
}

TEST(CommandBuildTest, FieldsSurviveTheRoundTrip) {
  auto info = BuildCommand("DeviceInformation",
                           {{"Queries", {"UDID", "OSVersion"}},
                            {"DeviceAttestationNonce", Base64Encode(std::string(32, '\x01'))}},
                           "u1");
  ASSERT_TRUE(info.ok()) << info.status();
  auto back = DecodeRawCommand(EncodeCommand(*info).value());
  ASSERT_TRUE(back.ok()) << back.status();
  auto c = PlistDict::Of(back->payload.get()).value();
  EXPECT_EQ(c.Array("Queries").value().Strings("Queries").value(),
            (std::vector<std::string>{"UDID", "OSVersion"}));
  EXPECT_EQ(c.Data("DeviceAttestationNonce").value(), std::string(32, '\x01'));

  const std::string profile = "<?xml version=\"1.0\"?><plist><dict/></plist>\x00\xff";
  auto install = BuildCommand("InstallProfile", {{"Payload", Base64Encode(profile)}}, "u2");
  ASSERT_TRUE(install.ok());
  auto ib = DecodeRawCommand(EncodeCommand(*install).value());
  ASSERT_TRUE(ib.ok()) << ib.status();
  EXPECT_EQ(PlistDict::Of(ib->payload.get()).value().Data("Payload").value(), profile);

  auto lock = BuildCommand("DeviceLock", {{"PIN", "123456"}, {"Message", "Call <me> & co"}}, "u3");
  ASSERT_TRUE(lock.ok());
  auto lock_back = DecodeRawCommand(EncodeCommand(*lock).value());
  ASSERT_TRUE(lock_back.ok()) << lock_back.status();
  auto lb = PlistDict::Of(lock_back->payload.get()).value();
  EXPECT_EQ(lb.String("PIN").value(), "123456");
  EXPECT_EQ(lb.String("Message").value(), "Call <me> & co");
  EXPECT_FALSE(lb.Has("PhoneNumber"));

  auto erase = BuildCommand(
      "EraseDevice", {{"PreserveDataPlan", true}, {"ReturnToService", {{"Enabled", false}}}}, "u4");
  ASSERT_TRUE(erase.ok());
  auto erase_back = DecodeRawCommand(EncodeCommand(*erase).value());
  ASSERT_TRUE(erase_back.ok()) << erase_back.status();
  auto eb = PlistDict::Of(erase_back->payload.get()).value();
  EXPECT_TRUE(eb.Bool("PreserveDataPlan").value());
  EXPECT_FALSE(eb.Dict("ReturnToService").value().Bool("Enabled").value());

  auto remove = BuildCommand("RemoveProfile", {{"Identifier", "com.example"}}, "u5");
  ASSERT_TRUE(remove.ok());
  EXPECT_EQ(PlistDict::Of(remove->payload.get()).value().String("Identifier").value(),
            "com.example");
}

TEST(CommandBuildTest, BadParametersAreRefused) {
  auto expect = [](std::string_view type, const nlohmann::json& params,
                   const std::string& message) {
    auto c = BuildCommand(type, params, "uuid");
    ASSERT_FALSE(c.ok()) << params.dump();
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(c.status().message(), message);
  };
  expect("Reboot", nullptr, "unknown request type Reboot");
  expect("DeviceInformation", nullptr, "missing parameter Queries");
  expect("DeviceInformation", {{"Queries", "UDID"}},
         "Queries: expected array of strings, got string");
  expect("DeviceInformation", {{"Queries", {1}}}, "Queries[0]: expected string, got number");
  expect("DeviceInformation",
         {{"Queries", {"UDID"}}, {"DeviceAttestationNonce", Base64Encode(std::string(33, 'x'))}},
         "DeviceAttestationNonce: longer than 32 bytes");
  expect("InstallProfile", {{"Payload", "!!not base64!!"}}, "Payload: invalid base64");
  expect("InstallProfile", {{"Payload", ""}}, "Payload: empty");
  expect("InstallProfile", nlohmann::json::object(), "missing parameter Payload");
  expect("RemoveProfile", {{"Identifier", 5}}, "Identifier: expected string, got number");
  expect("RemoveProfile", {{"Identifier", ""}}, "Identifier: empty");
  expect("DeviceLock", {{"Pin", "1"}}, "unknown parameter Pin");
  expect("DeviceLock", {{"Message", std::string("a\x01", 2)}},
         "Message: key Message: control character in text");
  expect("ProfileList", {{"ManagedOnly", "yes"}}, "ManagedOnly: expected boolean, got string");
  expect("EraseDevice", {{"ObliterationBehavior", "Sometimes"}},
         "ObliterationBehavior: unsupported value Sometimes");
  expect("EraseDevice", {{"ReturnToService", {{"WiFiProfileData", "AA=="}}}},
         "missing parameter ReturnToService.Enabled");
  expect("EraseDevice", {{"ReturnToService", {{"Enabled", true}, {"X", 1}}}},
         "unknown parameter ReturnToService.X");
  expect("SecurityInfo", nlohmann::json::array(), "command parameters must be a JSON object, got array");
  EXPECT_FALSE(BuildCommand("SecurityInfo", nullptr, "").ok());
}

TEST(RawCommandTest, ValidatesAndExtracts) {
  const std::string good =
      "<plist><dict><key>CommandUUID</key><string>abc</string><key>Command</key><dict>"
      "<key>RequestType</key><string>ProfileList</string><key>ManagedOnly</key><true/>"
      "</dict></dict></plist>";
  auto c = DecodeRawCommand(good);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->uuid, "abc");
  EXPECT_EQ(c->request_type, "ProfileList");
  EXPECT_TRUE(PlistDict::Of(c->payload.get()).value().Bool("ManagedOnly").value());
  // Unknown request types pass: raw plists are the administrator's escape hatch.
  EXPECT_TRUE(DecodeRawCommand("<plist><dict><key>CommandUUID</key><string>a</string><key>"
                               "Command</key><dict><key>RequestType</key><string>Future"
                               "</string></dict></dict></plist>")
                  .ok());

  auto expect = [](const std::string& body, const std::string& message) {
    auto r = DecodeRawCommand(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.status().message(), message);
  };
  expect("<plist><dict><key>Command</key><dict/></dict></plist>", "missing key CommandUUID");
  expect("<plist><dict><key>CommandUUID</key><string>a</string></dict></plist>",
         "missing key Command");
  expect("<plist><dict><key>CommandUUID</key><string>a</string><key>Command</key><dict/>"
         "</dict></plist>",
         "Command: missing key RequestType");
  expect("<plist><dict><key>CommandUUID</key><string>a</string><key>Command</key><string>x"
         "</string></dict></plist>",
         "key Command: expected dict, got string");
  expect("<plist><dict><key>CommandUUID</key><string></string><key>Command</key><dict>"
         "<key>RequestType</key><string>X</string></dict></dict></plist>",
         "empty CommandUUID");
  expect("<plist><dict><key>CommandUUID</key><string>a</string><key>Command</key><dict>"
         "<key>RequestType</key><integer>3</integer></dict></dict></plist>",
         "Command: key RequestType: expected string, got integer");
  expect("junk", "malformed plist");

  Command bad;
  bad.uuid = "u";
  bad.request_type = "X";
  EXPECT_FALSE(EncodeCommand(bad).ok());  // no payload
  bad.payload = Plist::NewArray();
  EXPECT_FALSE(EncodeCommand(bad).ok());  // payload not a dict
}

}  // namespace
}  // namespace custos::mdm
