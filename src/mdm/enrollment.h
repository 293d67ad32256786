// Enrollment identity of an MDM request: the identifiers a device sends with every check-in and
// command result, and the one enrollment ID custos derives from them.
//
// Apple: "Check-in" and "Commands and queries" keys UDID, EnrollmentID, EnrollmentUserID, UserID,
// UserShortName, UserLongName (device/user channels, User Enrollment, Shared iPad). The ID scheme
// follows NanoMDM's so custos is a drop-in for its API (see DESIGN.md, "Protocol facts"):
//   device channel          UDID                      (User Enrollment: EnrollmentID)
//   user channel            UDID:UserID               (User Enrollment: EnrollmentID:EnrollmentUserID)
//   Shared iPad user        UDID:UserShortName        (UserID is the all-F placeholder)
// A user channel's parent is its device channel's ID.
#ifndef CUSTOS_MDM_ENROLLMENT_H_
#define CUSTOS_MDM_ENROLLMENT_H_

#include <string>
#include <string_view>

#include "base/status.h"
#include "mdm/plist_util.h"

namespace custos::mdm {

// The UserID a Shared iPad sends on its user channel: no authentication occurs; the user is
// identified by UserShortName (the Managed Apple Account).
inline constexpr std::string_view kSharedIPadUserId = "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF";

enum class EnrollmentType {
  kDevice,                // UDID
  kUser,                  // UDID + UserID
  kUserEnrollmentDevice,  // EnrollmentID (BYOD User Enrollment, device channel)
  kUserEnrollment,        // EnrollmentID + EnrollmentUserID
  kSharedIPad,            // UDID + placeholder UserID + UserShortName
};

// "Device", "User", "User Enrollment (Device)", "User Enrollment", "Shared iPad" (NanoMDM's names).
std::string_view EnrollmentTypeName(EnrollmentType type);

// The identifiers as sent (empty when absent).
struct EnrollmentIdentifiers {
  std::string udid;
  std::string enrollment_id;
  std::string enrollment_user_id;
  std::string user_id;
  std::string user_short_name;
  std::string user_long_name;
};

struct ResolvedEnrollment {
  EnrollmentType type = EnrollmentType::kDevice;
  std::string id;  // the enrollment ID
  bool user_channel = false;
  // The device channel's enrollment ID this user channel belongs to; empty on a device channel.
  std::string parent_id;
  // The device channel's enrollment ID (id itself on a device channel).
  const std::string& device_id() const { return user_channel ? parent_id : id; }
};

// Checks a device-supplied identifier (UDID, UserID, CommandUUID, RequestType...) before it
// becomes part of a key or a log line: INVALID_ARGUMENT when it is empty, longer than 256 bytes,
// holds a control character, or (unless `allow_colon`) a ':'.
Status CheckIdentifier(std::string_view value, std::string_view what, bool allow_colon = true);

// Reads the identifier keys from a check-in or command-result dict. INVALID_ARGUMENT when one of
// them has a non-string type.
StatusOr<EnrollmentIdentifiers> ReadEnrollmentIdentifiers(const PlistDict& dict);

// Derives the enrollment ID. A present UDID wins over EnrollmentID (NanoMDM does the same).
// INVALID_ARGUMENT when neither UDID nor EnrollmentID is present, when a Shared iPad user channel
// lacks UserShortName, or when an identifier is longer than 256 bytes, holds a control character,
// or (for the device part) a ':' that would make IDs ambiguous.
StatusOr<ResolvedEnrollment> ResolveEnrollment(const EnrollmentIdentifiers& ids);

}  // namespace custos::mdm

#endif  // CUSTOS_MDM_ENROLLMENT_H_
