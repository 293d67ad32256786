// MDM commands on the wire: decoding the device's command results (PUT to the ServerURL,
// Content-Type application/x-apple-aspen-mdm) and encoding the commands custos sends back.
//
// Apple Device Management, "Commands and queries" (apple/device-management mdm/commands/*.yaml)
// and "Sending MDM commands to a device": a device reports Status Idle (asking for work),
// Acknowledged, Error (with an ErrorChain), CommandFormatError or NotNow for the CommandUUID it
// ran; the server answers with a plist {CommandUUID, Command: {RequestType, ...}} or an empty body.
#ifndef CUSTOS_MDM_COMMAND_H_
#define CUSTOS_MDM_COMMAND_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "mdm/enrollment.h"
#include "mdm/plist_util.h"

namespace custos::mdm {

enum class CommandStatus { kIdle, kAcknowledged, kError, kCommandFormatError, kNotNow };

// The wire name ("Idle", "Acknowledged", ...).
std::string_view CommandStatusName(CommandStatus status);
// INVALID_ARGUMENT "unknown Status X" for anything else.
StatusOr<CommandStatus> ParseCommandStatus(std::string_view name);

// One element of a result's ErrorChain (absent keys stay empty / 0).
struct ErrorChainEntry {
  int64_t error_code = 0;
  std::string error_domain;
  std::string localized_description;
  std::string us_english_description;
};

struct CommandResult {
  EnrollmentIdentifiers identifiers;  // as sent
  ResolvedEnrollment enrollment;      // derived enrollment ID (see enrollment.h)
  CommandStatus status = CommandStatus::kIdle;
  std::string command_uuid;                  // empty only for Idle
  std::optional<std::string> request_type;   // some devices echo RequestType
  std::vector<ErrorChainEntry> error_chain;  // from ErrorChain, in order
  std::optional<bool> not_on_console;
  std::string raw;  // the request body, verbatim
};

// Decodes a command result. INVALID_ARGUMENT with a reason for: a malformed or oversized plist
// (see PlistLimits), a root that is not a dict, a missing or unknown Status, a missing
// UDID/EnrollmentID, a missing or empty CommandUUID on any status but Idle, or a known key
// (ErrorChain and its entries included) with the wrong type.
StatusOr<CommandResult> DecodeCommandResult(std::string_view body,
                                            const PlistLimits& limits = {});

// A command ready to queue: `payload` is the "Command" dict and carries RequestType.
struct Command {
  std::string uuid;
  std::string request_type;
  Plist payload;
};

// The XML plist {CommandUUID: uuid, Command: payload} with Command.RequestType = request_type.
// INVALID_ARGUMENT when the uuid or request type is empty or not plain text, or the payload is not
// a dict.
StatusOr<std::string> EncodeCommand(const Command& command);

// Builds a command from JSON parameters (an object whose keys are Apple's payload keys, or null
// for none) for one of BuilderRequestTypes(). Data values (InstallProfile Payload,
// DeviceInformation DeviceAttestationNonce, EraseDevice ReturnToService.*ProfileData) are given as
// base64. INVALID_ARGUMENT for an unknown request type ("unknown request type X"), an unknown or
// mistyped parameter, a missing required one (Queries, Payload, Identifier), invalid base64, a
// DeviceAttestationNonce over 32 bytes, or an ObliterationBehavior outside Apple's values.
StatusOr<Command> BuildCommand(std::string_view request_type, const nlohmann::json& params,
                               std::string_view uuid);

// The request types BuildCommand knows.
const std::vector<std::string_view>& BuilderRequestTypes();

// Accepts an administrator's raw command plist (NanoMDM's enqueue format): it must be a dict with
// a non-empty string CommandUUID and a Command dict holding a non-empty string RequestType.
// INVALID_ARGUMENT naming what is missing or malformed otherwise.
StatusOr<Command> DecodeRawCommand(std::string_view body, const PlistLimits& limits = {});

}  // namespace custos::mdm

#endif  // CUSTOS_MDM_COMMAND_H_
