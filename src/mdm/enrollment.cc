#include "mdm/enrollment.h"

namespace custos::mdm {

namespace {

StatusOr<std::string> OptionalString(const PlistDict& dict, std::string_view key) {
  return dict.StringOr(key, "");
}

}  // namespace

Status CheckIdentifier(std::string_view value, std::string_view what, bool allow_colon) {
  constexpr size_t kMaxIdentifierBytes = 256;
  if (value.empty()) return InvalidArgumentError("empty " + std::string(what));
  if (value.size() > kMaxIdentifierBytes) {
    return InvalidArgumentError(std::string(what) + " longer than " +
                                std::to_string(kMaxIdentifierBytes) + " bytes");
  }
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7f) {
      return InvalidArgumentError(std::string(what) + " holds a control character");
    }
    if (!allow_colon && c == ':') return InvalidArgumentError(std::string(what) + " holds ':'");
  }
  return OkStatus();
}

std::string_view EnrollmentTypeName(EnrollmentType type) {
  switch (type) {
    case EnrollmentType::kDevice: return "Device";
    case EnrollmentType::kUser: return "User";
    case EnrollmentType::kUserEnrollmentDevice: return "User Enrollment (Device)";
    case EnrollmentType::kUserEnrollment: return "User Enrollment";
    case EnrollmentType::kSharedIPad: return "Shared iPad";
  }
  return "unknown";
}

StatusOr<EnrollmentIdentifiers> ReadEnrollmentIdentifiers(const PlistDict& dict) {
  EnrollmentIdentifiers ids;
  ASSIGN_OR_RETURN(ids.udid, OptionalString(dict, "UDID"));
  ASSIGN_OR_RETURN(ids.enrollment_id, OptionalString(dict, "EnrollmentID"));
  ASSIGN_OR_RETURN(ids.enrollment_user_id, OptionalString(dict, "EnrollmentUserID"));
  ASSIGN_OR_RETURN(ids.user_id, OptionalString(dict, "UserID"));
  ASSIGN_OR_RETURN(ids.user_short_name, OptionalString(dict, "UserShortName"));
  ASSIGN_OR_RETURN(ids.user_long_name, OptionalString(dict, "UserLongName"));
  return ids;
}

StatusOr<ResolvedEnrollment> ResolveEnrollment(const EnrollmentIdentifiers& ids) {
  ResolvedEnrollment r;
  std::string user_part;
  if (!ids.udid.empty()) {
    RETURN_IF_ERROR(CheckIdentifier(ids.udid, "UDID", false));
    r.type = EnrollmentType::kDevice;
    r.id = ids.udid;
    if (!ids.user_id.empty()) {
      r.user_channel = true;
      if (ids.user_id == kSharedIPadUserId) {
        if (ids.user_short_name.empty()) {
          return InvalidArgumentError("Shared iPad user channel without UserShortName");
        }
        RETURN_IF_ERROR(CheckIdentifier(ids.user_short_name, "UserShortName"));
        r.type = EnrollmentType::kSharedIPad;
        user_part = ids.user_short_name;
      } else {
        RETURN_IF_ERROR(CheckIdentifier(ids.user_id, "UserID"));
        r.type = EnrollmentType::kUser;
        user_part = ids.user_id;
      }
    }
  } else if (!ids.enrollment_id.empty()) {
    RETURN_IF_ERROR(CheckIdentifier(ids.enrollment_id, "EnrollmentID", false));
    r.type = EnrollmentType::kUserEnrollmentDevice;
    r.id = ids.enrollment_id;
    if (!ids.enrollment_user_id.empty()) {
      RETURN_IF_ERROR(CheckIdentifier(ids.enrollment_user_id, "EnrollmentUserID"));
      r.user_channel = true;
      r.type = EnrollmentType::kUserEnrollment;
      user_part = ids.enrollment_user_id;
    }
  } else {
    return InvalidArgumentError("missing UDID or EnrollmentID");
  }
  if (r.user_channel) {
    r.parent_id = r.id;
    r.id = r.parent_id + ":" + user_part;
  }
  return r;
}

}  // namespace custos::mdm
