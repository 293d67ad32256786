// Decoding of MDM check-in messages (PUT to the CheckInURL, Content-Type
// application/x-apple-aspen-mdm-checkin).
//
// Apple Device Management, "Check-in" (apple/device-management mdm/checkin/*.yaml): Authenticate,
// TokenUpdate, CheckOut, UserAuthenticate, SetBootstrapToken, GetBootstrapToken,
// DeclarativeManagement, GetToken. The decoder checks the types of every key it reads and requires
// only what custos needs to act (real devices omit keys the schema marks required, e.g. iOS sends
// Authenticate without DeviceName); other keys stay available in `raw`.
#ifndef CUSTOS_MDM_CHECKIN_H_
#define CUSTOS_MDM_CHECKIN_H_

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "mdm/enrollment.h"
#include "mdm/plist_util.h"

namespace custos::mdm {

enum class MessageType {
  kAuthenticate,
  kTokenUpdate,
  kCheckOut,
  kUserAuthenticate,
  kSetBootstrapToken,
  kGetBootstrapToken,
  kDeclarativeManagement,
  kGetToken,
};

// The wire name ("Authenticate", ...).
std::string_view MessageTypeName(MessageType type);
// INVALID_ARGUMENT "unknown MessageType X" for anything else.
StatusOr<MessageType> ParseMessageType(std::string_view name);

struct AuthenticateMessage {
  std::string serial_number, model, model_name, device_name, product_name;
  std::string os_version, build_version, imei, meid;
};

struct TokenUpdateMessage {
  std::string token;       // APNs device token (raw bytes), required
  std::string push_magic;  // required
  std::optional<std::string> unlock_token;  // raw bytes
  bool awaiting_configuration = false;
  std::optional<bool> not_on_console;
};

struct CheckOutMessage {};

struct UserAuthenticateMessage {
  // Absent on the first of the two UserAuthenticate requests.
  std::optional<std::string> digest_response;
};

struct SetBootstrapTokenMessage {
  // Absent when the device clears its bootstrap token.
  std::optional<std::string> bootstrap_token;  // raw bytes
  bool awaiting_configuration = false;
};

struct GetBootstrapTokenMessage {
  bool awaiting_configuration = false;
};

struct DeclarativeManagementMessage {
  std::string endpoint;             // "tokens", "declaration-items", "status", "declaration/..."
  std::optional<std::string> data;  // raw bytes (JSON) when present
};

struct GetTokenMessage {
  std::string token_service_type;  // "com.apple.maid", "com.apple.watch.pairing", ...
  nlohmann::json token_parameters = nlohmann::json::object();  // TokenParameters as JSON
};

using CheckinBody =
    std::variant<AuthenticateMessage, TokenUpdateMessage, CheckOutMessage, UserAuthenticateMessage,
                 SetBootstrapTokenMessage, GetBootstrapTokenMessage, DeclarativeManagementMessage,
                 GetTokenMessage>;

struct CheckinMessage {
  MessageType type = MessageType::kAuthenticate;
  EnrollmentIdentifiers identifiers;  // as sent
  ResolvedEnrollment enrollment;      // derived enrollment ID (see enrollment.h)
  std::string topic;                  // APNs topic; required for Authenticate and TokenUpdate
  CheckinBody body;                   // the alternative matching `type`
  std::string raw;                    // the request body, verbatim

  // The body as T, or nullptr when `type` is another message.
  template <typename T>
  const T* As() const {
    return std::get_if<T>(&body);
  }
};

// Decodes one check-in body (XML or binary plist). INVALID_ARGUMENT with a reason for: a malformed
// or oversized plist (see PlistLimits), a root that is not a dict, a missing or non-string
// MessageType, "unknown MessageType X", a missing UDID/EnrollmentID ("missing UDID or
// EnrollmentID"), a known key with the wrong type, or a missing key the message needs (Topic for
// Authenticate/TokenUpdate, Token and PushMagic for TokenUpdate, UserID for UserAuthenticate,
// Endpoint for DeclarativeManagement, TokenServiceType for GetToken).
StatusOr<CheckinMessage> DecodeCheckin(std::string_view body, const PlistLimits& limits = {});

// Response bodies (XML plists) of the check-in messages that answer with data.
// GetBootstrapToken: {BootstrapToken: data}; an empty `token` means "none stored" and encodes as
// an empty dict, which devices accept.
StatusOr<std::string> EncodeGetBootstrapTokenResponse(std::string_view token);
// UserAuthenticate: {DigestChallenge: challenge}; NanoMDM's opt-in answer uses an empty challenge.
StatusOr<std::string> EncodeUserAuthenticateChallenge(std::string_view challenge);
// GetToken: {TokenData: data}.
StatusOr<std::string> EncodeGetTokenResponse(std::string_view token_data);

}  // namespace custos::mdm

#endif  // CUSTOS_MDM_CHECKIN_H_
