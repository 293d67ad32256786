#include "acme/problem.h"

#include <array>
#include <utility>

namespace custos::acme {
namespace {

// Tagged statuses carry "acme:<name>: <detail>" as their message.
constexpr std::string_view kTagPrefix = "acme:";

struct TypeInfo {
  ProblemType type;
  std::string_view name;
  int http_status;
  StatusCode code;
};

constexpr std::array<TypeInfo, 19> kTypes = {{
    {ProblemType::kAccountDoesNotExist, "accountDoesNotExist", 400, StatusCode::kNotFound},
    {ProblemType::kAlreadyRevoked, "alreadyRevoked", 400, StatusCode::kFailedPrecondition},
    {ProblemType::kBadCsr, "badCSR", 400, StatusCode::kInvalidArgument},
    {ProblemType::kBadNonce, "badNonce", 400, StatusCode::kInvalidArgument},
    {ProblemType::kBadPublicKey, "badPublicKey", 400, StatusCode::kInvalidArgument},
    {ProblemType::kBadRevocationReason, "badRevocationReason", 400, StatusCode::kInvalidArgument},
    {ProblemType::kBadSignatureAlgorithm, "badSignatureAlgorithm", 400,
     StatusCode::kInvalidArgument},
    {ProblemType::kConnection, "connection", 400, StatusCode::kUnavailable},
    {ProblemType::kIncorrectResponse, "incorrectResponse", 400, StatusCode::kPermissionDenied},
    {ProblemType::kInvalidContact, "invalidContact", 400, StatusCode::kInvalidArgument},
    {ProblemType::kMalformed, "malformed", 400, StatusCode::kInvalidArgument},
    {ProblemType::kOrderNotReady, "orderNotReady", 403, StatusCode::kFailedPrecondition},
    {ProblemType::kRejectedIdentifier, "rejectedIdentifier", 400, StatusCode::kPermissionDenied},
    {ProblemType::kServerInternal, "serverInternal", 500, StatusCode::kInternal},
    {ProblemType::kUnauthorized, "unauthorized", 403, StatusCode::kPermissionDenied},
    {ProblemType::kUnsupportedContact, "unsupportedContact", 400, StatusCode::kInvalidArgument},
    {ProblemType::kUnsupportedIdentifier, "unsupportedIdentifier", 400,
     StatusCode::kInvalidArgument},
    {ProblemType::kBadAttestationStatement, "badAttestationStatement", 400,
     StatusCode::kPermissionDenied},
    {ProblemType::kConflict, "malformed", 409, StatusCode::kAlreadyExists},
}};

const TypeInfo& Info(ProblemType type) {
  for (const auto& t : kTypes) {
    if (t.type == type) return t;
  }
  return kTypes[13];  // serverInternal
}

}  // namespace

std::string ProblemTypeUrn(ProblemType type) {
  return "urn:ietf:params:acme:error:" + std::string(Info(type).name);
}

int ProblemHttpStatus(ProblemType type) { return Info(type).http_status; }

nlohmann::json Problem::ToJson() const {
  return {{"type", ProblemTypeUrn(type)}, {"detail", detail}, {"status", status}};
}

Status AcmeError(ProblemType type, std::string_view detail) {
  const TypeInfo& info = Info(type);
  // The index identifies the type exactly (kConflict shares its name with malformed).
  std::string message = std::string(kTagPrefix) + std::to_string(static_cast<int>(type)) + ":" +
                        std::string(detail);
  return Status(info.code, message);
}

Problem ProblemFromStatus(const Status& status) {
  Problem p;
  std::string_view msg = status.message();
  if (!status.ok() && msg.substr(0, kTagPrefix.size()) == kTagPrefix) {
    std::string_view rest = msg.substr(kTagPrefix.size());
    size_t colon = rest.find(':');
    if (colon != std::string_view::npos) {
      int index = -1;
      for (char c : rest.substr(0, colon)) {
        if (c < '0' || c > '9') {
          index = -1;
          break;
        }
        index = (index < 0 ? 0 : index * 10) + (c - '0');
      }
      if (index >= 0 && index < static_cast<int>(kTypes.size())) {
        p.type = static_cast<ProblemType>(index);
        p.detail = std::string(rest.substr(colon + 1));
        p.status = ProblemHttpStatus(p.type);
        return p;
      }
    }
  }
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
      p.type = ProblemType::kMalformed;
      p.detail = std::string(msg);
      break;
    case StatusCode::kNotFound:
      p.type = ProblemType::kMalformed;
      p.detail = std::string(msg);
      p.status = 404;
      return p;
    case StatusCode::kPermissionDenied:
    case StatusCode::kUnauthenticated:
      p.type = ProblemType::kUnauthorized;
      p.detail = std::string(msg);
      break;
    case StatusCode::kFailedPrecondition:
    case StatusCode::kAlreadyExists:
      p.type = ProblemType::kMalformed;
      p.detail = std::string(msg);
      p.status = 409;
      return p;
    default:
      p.type = ProblemType::kServerInternal;
      p.detail = "internal error";
      break;
  }
  p.status = ProblemHttpStatus(p.type);
  return p;
}

}  // namespace custos::acme
