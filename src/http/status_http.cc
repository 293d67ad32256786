#include "http/status_http.h"

#include <nlohmann/json.hpp>

#include "base/logging.h"

namespace custos::http {

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
      return 400;
    case StatusCode::kUnauthenticated:
      return 401;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
    case StatusCode::kAborted:
    case StatusCode::kFailedPrecondition:
      return 409;
    case StatusCode::kResourceExhausted:
      return 429;
    case StatusCode::kUnimplemented:
      return 501;
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kDeadlineExceeded:
      return 504;
    case StatusCode::kOk:
    case StatusCode::kCancelled:
    case StatusCode::kUnknown:
    case StatusCode::kInternal:
    case StatusCode::kDataLoss:
      return 500;
  }
  return 500;
}

Response ErrorResponse(const Status& status) {
  StatusCode code = status.ok() ? StatusCode::kInternal : status.code();
  int http_status = HttpStatusFor(code);
  std::string message = status.ok() ? "error reported without a cause" : status.message();
  if (http_status == 500) {
    spdlog::warn("internal error answered with 500: {}", status.ToString());
    const std::string& id = CurrentRequestId();
    message = id.empty() ? "internal error" : "internal error (request " + id + ")";
  }
  nlohmann::json body = {{"error", std::string(StatusCodeName(code))}, {"message", message}};
  return Response::Json(http_status, body);
}

}  // namespace custos::http
