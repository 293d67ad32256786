#include "mdm/checkin.h"

#include <map>
#include <string>

#include <gtest/gtest.h>

namespace custos::mdm {
namespace {

const std::string kUdid = "00008020-000915083C80012E";
const std::string kTopic = "com.apple.mgmt.External.test";

// A check-in plist with MessageType plus string keys, plus raw XML for other entries.
std::string Msg(const std::string& type, const std::map<std::string, std::string>& strings,
                const std::string& extra = "") {
  std::string s = "<plist version=\"1.0\"><dict><key>MessageType</key><string>" + type +
                  "</string>";
  for (const auto& [k, v] : strings) s += "<key>" + k + "</key><string>" + v + "</string>";
  return s + extra + "</dict></plist>";
}

const std::string kToken = "<key>Token</key><data>YXBwbGU=</data>";

TEST(CheckinTest, AllMessageTypesDecode) {
  struct Case {
    std::string body;
    MessageType type;
  };
  const std::vector<Case> cases = {
      {Msg("Authenticate", {{"UDID", kUdid}, {"Topic", kTopic}}), MessageType::kAuthenticate},
      {Msg("TokenUpdate", {{"UDID", kUdid}, {"Topic", kTopic}, {"PushMagic", "pm"}}, kToken),
       MessageType::kTokenUpdate},
      {Msg("CheckOut", {{"UDID", kUdid}, {"Topic", kTopic}}), MessageType::kCheckOut},
      {Msg("UserAuthenticate", {{"UDID", kUdid}, {"UserID", "U1"}}),
       MessageType::kUserAuthenticate},
      {Msg("SetBootstrapToken", {{"UDID", kUdid}}, "<key>BootstrapToken</key><data>AAE=</data>"),
       MessageType::kSetBootstrapToken},
      {Msg("GetBootstrapToken", {{"UDID", kUdid}}), MessageType::kGetBootstrapToken},
      {Msg("DeclarativeManagement", {{"UDID", kUdid}, {"Endpoint", "tokens"}}),
       MessageType::kDeclarativeManagement},
      {Msg("GetToken", {{"UDID", kUdid}, {"TokenServiceType", "com.apple.maid"}}),
       MessageType::kGetToken},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    auto m = DecodeCheckin(c.body);
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->type, c.type);
    EXPECT_EQ(m->body.index(), static_cast<size_t>(c.type));
    EXPECT_EQ(m->enrollment.device_id(), kUdid);
    EXPECT_EQ(ParseMessageType(MessageTypeName(c.type)).value(), c.type);
  }
}

TEST(CheckinTest, MessageSpecificFields) {
  auto ua = DecodeCheckin(
      Msg("UserAuthenticate", {{"UDID", kUdid}, {"UserID", "U1"}, {"DigestResponse", "dr"}}));
  ASSERT_TRUE(ua.ok()) << ua.status();
  EXPECT_EQ(ua->As<UserAuthenticateMessage>()->digest_response, std::optional<std::string>("dr"));
  EXPECT_EQ(ua->enrollment.id, kUdid + ":U1");

  auto set = DecodeCheckin(Msg("SetBootstrapToken", {{"UDID", kUdid}},
                               "<key>BootstrapToken</key><data>AAE=</data>"
                               "<key>AwaitingConfiguration</key><true/>"));
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->As<SetBootstrapTokenMessage>()->bootstrap_token,
            std::optional<std::string>(std::string("\0\1", 2)));
  EXPECT_TRUE(set->As<SetBootstrapTokenMessage>()->awaiting_configuration);

  auto dm = DecodeCheckin(Msg("DeclarativeManagement", {{"UDID", kUdid}, {"Endpoint", "status"}},
                              "<key>Data</key><data>e30=</data>"));
  ASSERT_TRUE(dm.ok());
  EXPECT_EQ(dm->As<DeclarativeManagementMessage>()->endpoint, "status");
  EXPECT_EQ(dm->As<DeclarativeManagementMessage>()->data, std::optional<std::string>("{}"));

  auto gt = DecodeCheckin(Msg("GetToken", {{"UDID", kUdid}, {"TokenServiceType", "com.apple.maid"}},
                              "<key>TokenParameters</key><dict><key>PhoneUDID</key>"
                              "<string>P</string></dict>"));
  ASSERT_TRUE(gt.ok());
  EXPECT_EQ(gt->As<GetTokenMessage>()->token_service_type, "com.apple.maid");
  EXPECT_EQ(gt->As<GetTokenMessage>()->token_parameters["PhoneUDID"], "P");
  EXPECT_EQ(gt->As<TokenUpdateMessage>(), nullptr);
}

TEST(CheckinTest, EnrollmentIds) {
  // User Enrollment: EnrollmentID is the device channel, EnrollmentUserID the user channel.
  auto ue = DecodeCheckin(
      Msg("TokenUpdate", {{"EnrollmentID", "E1"}, {"Topic", kTopic}, {"PushMagic", "p"}}, kToken));
  ASSERT_TRUE(ue.ok()) << ue.status();
  EXPECT_EQ(ue->enrollment.id, "E1");
  EXPECT_EQ(ue->enrollment.type, EnrollmentType::kUserEnrollmentDevice);
  auto ueu = DecodeCheckin(Msg("TokenUpdate",
                               {{"EnrollmentID", "E1"}, {"EnrollmentUserID", "EU"},
                                {"Topic", kTopic}, {"PushMagic", "p"}},
                               kToken));
  ASSERT_TRUE(ueu.ok());
  EXPECT_EQ(ueu->enrollment.id, "E1:EU");
  EXPECT_EQ(ueu->enrollment.parent_id, "E1");
  EXPECT_EQ(ueu->enrollment.device_id(), "E1");
  EXPECT_EQ(ueu->enrollment.type, EnrollmentType::kUserEnrollment);

  // Shared iPad: the placeholder UserID means the user is identified by UserShortName.
  auto ipad = DecodeCheckin(Msg("TokenUpdate",
                                {{"UDID", kUdid}, {"UserID", std::string(kSharedIPadUserId)},
                                 {"UserShortName", "appleid@example.com"}, {"Topic", kTopic},
                                 {"PushMagic", "p"}},
                                kToken));
  ASSERT_TRUE(ipad.ok());
  EXPECT_EQ(ipad->enrollment.id, kUdid + ":appleid@example.com");
  EXPECT_EQ(ipad->enrollment.type, EnrollmentType::kSharedIPad);
  EXPECT_EQ(ipad->enrollment.parent_id, kUdid);
  EXPECT_EQ(EnrollmentTypeName(ipad->enrollment.type), "Shared iPad");
  auto ipad_no_name = DecodeCheckin(
      Msg("TokenUpdate",
          {{"UDID", kUdid}, {"UserID", std::string(kSharedIPadUserId)}, {"Topic", kTopic},
           {"PushMagic", "p"}},
          kToken));
  ASSERT_FALSE(ipad_no_name.ok());
  EXPECT_EQ(ipad_no_name.status().message(), "Shared iPad user channel without UserShortName");

  // UDID wins over EnrollmentID; a device part with ':' would make IDs ambiguous.
  auto both = DecodeCheckin(Msg("CheckOut", {{"UDID", kUdid}, {"EnrollmentID", "E1"}}));
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->enrollment.id, kUdid);
  EXPECT_FALSE(DecodeCheckin(Msg("CheckOut", {{"UDID", "a:b"}})).ok());
  EXPECT_FALSE(DecodeCheckin(Msg("CheckOut", {{"UDID", std::string(300, 'A')}})).ok());
}

TEST(CheckinTest, BadInputIsAClearError) {
  auto expect = [](const std::string& body, const std::string& message) {
    auto m = DecodeCheckin(body);
    ASSERT_FALSE(m.ok()) << body;
    EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(m.status().message(), message) << body;
  };
  expect(Msg("Hello", {{"UDID", kUdid}}), "unknown MessageType Hello");
  expect(Msg("Authenticate", {{"Topic", kTopic}}), "missing UDID or EnrollmentID");
  expect(Msg("Authenticate", {{"UDID", kUdid}}), "missing key Topic");
  expect("<plist><dict><key>UDID</key><string>x</string></dict></plist>",
         "missing key MessageType");
  expect("<plist><dict><key>MessageType</key><integer>1</integer></dict></plist>",
         "key MessageType: expected string, got integer");
  expect("<plist><array/></plist>", "check-in message: expected dict, got array");
  expect("not a plist", "malformed plist");
  expect("", "empty plist");
  expect(Msg("CheckOut", {}, "<key>UDID</key><data>AAE=</data>"),
         "key UDID: expected string, got data");
  expect(Msg("TokenUpdate", {{"UDID", kUdid}, {"Topic", kTopic}, {"PushMagic", "p"}}),
         "TokenUpdate: missing key Token");
  expect(Msg("TokenUpdate", {{"UDID", kUdid}, {"Topic", kTopic}}, kToken),
         "TokenUpdate: missing key PushMagic");
  expect(Msg("TokenUpdate", {{"UDID", kUdid}, {"Topic", kTopic}, {"PushMagic", "p"}},
             kToken + "<key>AwaitingConfiguration</key><string>no</string>"),
         "TokenUpdate: key AwaitingConfiguration: expected boolean, got string");
  expect(Msg("UserAuthenticate", {{"UDID", kUdid}}), "UserAuthenticate: missing key UserID");
  expect(Msg("DeclarativeManagement", {{"UDID", kUdid}}),
         "DeclarativeManagement: missing key Endpoint");
  expect(Msg("GetToken", {{"UDID", kUdid}}), "GetToken: missing key TokenServiceType");
  // The unknown type is quoted printable and truncated in the error.
  auto long_type = DecodeCheckin(Msg(std::string(200, 'X'), {{"UDID", kUdid}}));
  ASSERT_FALSE(long_type.ok());
  EXPECT_LT(long_type.status().message().size(), 100u);

  // Huge nesting inside an otherwise valid message.
  std::string deep;
  for (int i = 0; i < 5000; ++i) deep += "<array>";
  for (int i = 0; i < 5000; ++i) deep += "</array>";
  expect(Msg("CheckOut", {{"UDID", kUdid}}, "<key>X</key>" + deep),
         "plist nesting deeper than 32");
}

TEST(CheckinTest, BinaryPlistInput) {
  auto xml = Plist::Parse(
      Msg("TokenUpdate", {{"UDID", kUdid}, {"Topic", kTopic}, {"PushMagic", "p"}}, kToken));
  ASSERT_TRUE(xml.ok());
  const std::string body = xml->ToBinary().value();
  auto m = DecodeCheckin(body);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->type, MessageType::kTokenUpdate);
  EXPECT_EQ(m->As<TokenUpdateMessage>()->token, "apple");
  EXPECT_EQ(m->raw, body);
}

TEST(CheckinTest, ResponseBodies) {
  auto bt = EncodeGetBootstrapTokenResponse(std::string("\0tok", 4));
  ASSERT_TRUE(bt.ok());
  auto p = Plist::Parse(*bt);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(PlistDict::Of(p->get()).value().Data("BootstrapToken").value(),
            std::string("\0tok", 4));
  auto none = Plist::Parse(EncodeGetBootstrapTokenResponse("").value());
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(PlistDict::Of(none->get()).value().size(), 0u);

  auto ch = Plist::Parse(EncodeUserAuthenticateChallenge("").value());
  ASSERT_TRUE(ch.ok());
  EXPECT_EQ(PlistDict::Of(ch->get()).value().String("DigestChallenge").value(), "");

  auto gt = Plist::Parse(EncodeGetTokenResponse("jwt").value());
  ASSERT_TRUE(gt.ok());
  EXPECT_EQ(PlistDict::Of(gt->get()).value().Data("TokenData").value(), "jwt");
}

}  // namespace
}  // namespace custos::mdm
