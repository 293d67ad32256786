#include "base/status.h"

namespace custos {

std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "OK";
    case StatusCode::kCancelled: return "CANCELLED";
    case StatusCode::kUnknown: return "UNKNOWN";
    case StatusCode::kInvalidArgument: return "INVALID_ARGUMENT";
    case StatusCode::kDeadlineExceeded: return "DEADLINE_EXCEEDED";
    case StatusCode::kNotFound: return "NOT_FOUND";
    case StatusCode::kAlreadyExists: return "ALREADY_EXISTS";
    case StatusCode::kPermissionDenied: return "PERMISSION_DENIED";
    case StatusCode::kResourceExhausted: return "RESOURCE_EXHAUSTED";
    case StatusCode::kFailedPrecondition: return "FAILED_PRECONDITION";
    case StatusCode::kAborted: return "ABORTED";
    case StatusCode::kOutOfRange: return "OUT_OF_RANGE";
    case StatusCode::kUnimplemented: return "UNIMPLEMENTED";
    case StatusCode::kInternal: return "INTERNAL";
    case StatusCode::kUnavailable: return "UNAVAILABLE";
    case StatusCode::kDataLoss: return "DATA_LOSS";
    case StatusCode::kUnauthenticated: return "UNAUTHENTICATED";
  }
  return "UNKNOWN";
}

Status::Status(StatusCode code, std::string_view message)
    : code_(code), message_(code == StatusCode::kOk ? std::string() : std::string(message)) {}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out(StatusCodeName(code_));
  if (!message_.empty()) {
    out += ": ";
    out += message_;
  }
  return out;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  std::string msg(context);
  if (!message_.empty()) {
    msg += ": ";
    msg += message_;
  }
  return Status(code_, msg);
}

std::ostream& operator<<(std::ostream& os, const Status& s) { return os << s.ToString(); }

Status OkStatus() { return Status(); }
#define CUSTOS_DEFINE_ERROR(Name, Code) \
  Status Name(std::string_view message) { return Status(StatusCode::Code, message); }
CUSTOS_DEFINE_ERROR(CancelledError, kCancelled)
CUSTOS_DEFINE_ERROR(UnknownError, kUnknown)
CUSTOS_DEFINE_ERROR(InvalidArgumentError, kInvalidArgument)
CUSTOS_DEFINE_ERROR(DeadlineExceededError, kDeadlineExceeded)
CUSTOS_DEFINE_ERROR(NotFoundError, kNotFound)
CUSTOS_DEFINE_ERROR(AlreadyExistsError, kAlreadyExists)
CUSTOS_DEFINE_ERROR(PermissionDeniedError, kPermissionDenied)
CUSTOS_DEFINE_ERROR(ResourceExhaustedError, kResourceExhausted)
CUSTOS_DEFINE_ERROR(FailedPreconditionError, kFailedPrecondition)
CUSTOS_DEFINE_ERROR(AbortedError, kAborted)
CUSTOS_DEFINE_ERROR(OutOfRangeError, kOutOfRange)
CUSTOS_DEFINE_ERROR(UnimplementedError, kUnimplemented)
CUSTOS_DEFINE_ERROR(InternalError, kInternal)
CUSTOS_DEFINE_ERROR(UnavailableError, kUnavailable)
CUSTOS_DEFINE_ERROR(DataLossError, kDataLoss)
CUSTOS_DEFINE_ERROR(UnauthenticatedError, kUnauthenticated)
#undef CUSTOS_DEFINE_ERROR

}  // namespace custos
