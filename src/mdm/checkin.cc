#include "mdm/checkin.h"

#include <array>
#include <utility>

namespace custos::mdm {
namespace {

constexpr std::array<std::pair<MessageType, std::string_view>, 8> kMessageTypes = {{
    {MessageType::kAuthenticate, "Authenticate"},
    {MessageType::kTokenUpdate, "TokenUpdate"},
    {MessageType::kCheckOut, "CheckOut"},
    {MessageType::kUserAuthenticate, "UserAuthenticate"},
    {MessageType::kSetBootstrapToken, "SetBootstrapToken"},
    {MessageType::kGetBootstrapToken, "GetBootstrapToken"},
    {MessageType::kDeclarativeManagement, "DeclarativeManagement"},
    {MessageType::kGetToken, "GetToken"},
}};

StatusOr<AuthenticateMessage> DecodeAuthenticate(const PlistDict& d) {
  AuthenticateMessage m;
  ASSIGN_OR_RETURN(m.serial_number, d.StringOr("SerialNumber", ""));
  ASSIGN_OR_RETURN(m.model, d.StringOr("Model", ""));
  ASSIGN_OR_RETURN(m.model_name, d.StringOr("ModelName", ""));
  ASSIGN_OR_RETURN(m.device_name, d.StringOr("DeviceName", ""));
  ASSIGN_OR_RETURN(m.product_name, d.StringOr("ProductName", ""));
  ASSIGN_OR_RETURN(m.os_version, d.StringOr("OSVersion", ""));
  ASSIGN_OR_RETURN(m.build_version, d.StringOr("BuildVersion", ""));
  ASSIGN_OR_RETURN(m.imei, d.StringOr("IMEI", ""));
  ASSIGN_OR_RETURN(m.meid, d.StringOr("MEID", ""));
  return m;
}

StatusOr<TokenUpdateMessage> DecodeTokenUpdate(const PlistDict& d) {
  TokenUpdateMessage m;
  ASSIGN_OR_RETURN(m.token, d.Data("Token"));
  if (m.token.empty()) return InvalidArgumentError("empty Token");
  ASSIGN_OR_RETURN(m.push_magic, d.String("PushMagic"));
  if (m.push_magic.empty()) return InvalidArgumentError("empty PushMagic");
  ASSIGN_OR_RETURN(m.unlock_token, d.OptData("UnlockToken"));
  ASSIGN_OR_RETURN(m.awaiting_configuration, d.BoolOr("AwaitingConfiguration", false));
  ASSIGN_OR_RETURN(m.not_on_console, d.OptBool("NotOnConsole"));
  return m;
}

StatusOr<UserAuthenticateMessage> DecodeUserAuthenticate(const PlistDict& d,
                                                         const EnrollmentIdentifiers& ids) {
  if (ids.user_id.empty()) return InvalidArgumentError("missing key UserID");
  UserAuthenticateMessage m;
  ASSIGN_OR_RETURN(m.digest_response, d.OptString("DigestResponse"));
  return m;
}

StatusOr<SetBootstrapTokenMessage> DecodeSetBootstrapToken(const PlistDict& d) {
  SetBootstrapTokenMessage m;
  ASSIGN_OR_RETURN(m.bootstrap_token, d.OptData("BootstrapToken"));
  ASSIGN_OR_RETURN(m.awaiting_configuration, d.BoolOr("AwaitingConfiguration", false));
  return m;
}

StatusOr<GetBootstrapTokenMessage> DecodeGetBootstrapToken(const PlistDict& d) {
  GetBootstrapTokenMessage m;
  ASSIGN_OR_RETURN(m.awaiting_configuration, d.BoolOr("AwaitingConfiguration", false));
  return m;
}

StatusOr<DeclarativeManagementMessage> DecodeDeclarativeManagement(const PlistDict& d) {
  DeclarativeManagementMessage m;
  ASSIGN_OR_RETURN(m.endpoint, d.String("Endpoint"));
  if (m.endpoint.empty()) return InvalidArgumentError("empty Endpoint");
  ASSIGN_OR_RETURN(m.data, d.OptData("Data"));
  return m;
}

StatusOr<GetTokenMessage> DecodeGetToken(const PlistDict& d) {
  GetTokenMessage m;
  ASSIGN_OR_RETURN(m.token_service_type, d.String("TokenServiceType"));
  if (m.token_service_type.empty()) return InvalidArgumentError("empty TokenServiceType");
  ASSIGN_OR_RETURN(std::optional<PlistDict> params, d.OptDict("TokenParameters"));
  if (params.has_value()) {
    ASSIGN_OR_RETURN(m.token_parameters, PlistToJson(params->node()));
  }
  return m;
}

// StatusOr<variant> from StatusOr<alternative>.
template <typename T>
StatusOr<CheckinBody> Widen(StatusOr<T> v) {
  if (!v.ok()) return std::move(v).status();
  return CheckinBody(std::move(v).value());
}

StatusOr<CheckinBody> DecodeBody(MessageType type, const PlistDict& d,
                                 const EnrollmentIdentifiers& ids) {
  switch (type) {
    case MessageType::kAuthenticate: return Widen(DecodeAuthenticate(d));
    case MessageType::kTokenUpdate: return Widen(DecodeTokenUpdate(d));
    case MessageType::kCheckOut: return CheckOutMessage{};
    case MessageType::kUserAuthenticate: return Widen(DecodeUserAuthenticate(d, ids));
    case MessageType::kSetBootstrapToken: return Widen(DecodeSetBootstrapToken(d));
    case MessageType::kGetBootstrapToken: return Widen(DecodeGetBootstrapToken(d));
    case MessageType::kDeclarativeManagement: return Widen(DecodeDeclarativeManagement(d));
    case MessageType::kGetToken: return Widen(DecodeGetToken(d));
  }
  return InternalError("unhandled MessageType");
}

}  // namespace

std::string_view MessageTypeName(MessageType type) {
  for (const auto& [t, name] : kMessageTypes) {
    if (t == type) return name;
  }
  return "unknown";
}

StatusOr<MessageType> ParseMessageType(std::string_view name) {
  for (const auto& [t, n] : kMessageTypes) {
    if (n == name) return t;
  }
  return InvalidArgumentError("unknown MessageType " + PrintableForError(name));
}

StatusOr<CheckinMessage> DecodeCheckin(std::string_view body, const PlistLimits& limits) {
  ASSIGN_OR_RETURN(Plist plist, Plist::Parse(body, limits));
  ASSIGN_OR_RETURN(PlistDict d, PlistDict::Of(plist.get(), "check-in message"));
  CheckinMessage m;
  ASSIGN_OR_RETURN(std::string type_name, d.String("MessageType"));
  ASSIGN_OR_RETURN(m.type, ParseMessageType(type_name));
  ASSIGN_OR_RETURN(m.identifiers, ReadEnrollmentIdentifiers(d));
  ASSIGN_OR_RETURN(m.enrollment, ResolveEnrollment(m.identifiers));
  ASSIGN_OR_RETURN(m.topic, d.StringOr("Topic", ""));
  if (m.topic.empty() &&
      (m.type == MessageType::kAuthenticate || m.type == MessageType::kTokenUpdate)) {
    return InvalidArgumentError("missing key Topic");
  }
  StatusOr<CheckinBody> decoded = DecodeBody(m.type, d, m.identifiers);
  if (!decoded.ok()) {
    return decoded.status().WithContext(std::string(MessageTypeName(m.type)));
  }
  m.body = std::move(decoded).value();
  m.raw = std::string(body);
  return m;
}

StatusOr<std::string> EncodeGetBootstrapTokenResponse(std::string_view token) {
  Plist root = Plist::NewDict();
  if (!token.empty()) RETURN_IF_ERROR(DictSetData(root.get(), "BootstrapToken", token));
  return root.ToXml();
}

StatusOr<std::string> EncodeUserAuthenticateChallenge(std::string_view challenge) {
  Plist root = Plist::NewDict();
  RETURN_IF_ERROR(DictSetString(root.get(), "DigestChallenge", challenge));
  return root.ToXml();
}

StatusOr<std::string> EncodeGetTokenResponse(std::string_view token_data) {
  Plist root = Plist::NewDict();
  RETURN_IF_ERROR(DictSetData(root.get(), "TokenData", token_data));
  return root.ToXml();
}

}  // namespace custos::mdm
