#include "mdm/http_handler.h"

#include "base/logging.h"
#include "http/status_http.h"

namespace custos::mdm {
namespace {

// The media type without parameters, lowercased and trimmed.
std::string MediaType(std::string_view value) {
  size_t semi = value.find(';');
  if (semi != std::string_view::npos) value = value.substr(0, semi);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  std::string out(value);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Device-facing errors: everything the device caused is 400 (never 401 or 403).
http::Response DeviceError(const http::Request& request, const Status& status) {
  int code = 400;
  switch (status.code()) {
    case StatusCode::kUnavailable:
    case StatusCode::kAborted:
    case StatusCode::kDeadlineExceeded:
      code = 503;
      break;
    case StatusCode::kInternal:
    case StatusCode::kDataLoss:
    case StatusCode::kUnknown:
    case StatusCode::kUnimplemented:
    case StatusCode::kOk:
    case StatusCode::kCancelled:
      code = 500;
      break;
    default:
      break;
  }
  if (code == 400) {
    spdlog::warn("MDM {} from {} refused (400): {}", request.path, request.remote_address,
                 status.ToString());
  } else {
    spdlog::error("MDM {} from {} failed ({}): {}", request.path, request.remote_address, code,
                  status.ToString());
  }
  return http::Response::Text(code, status.message() + "\n");
}

}  // namespace

VerifiedDevice ToVerifiedDevice(const DeviceIdentity& identity) {
  VerifiedDevice d;
  d.cert_sha256 = identity.record.cert_sha256;
  d.serial_hex = identity.record.serial_hex;
  d.renewal_of = identity.record.renewal_of;
  d.source = std::string(IdentitySourceName(identity.source));
  return d;
}

DeviceIdentifier IdentifyWith(const DeviceAuthenticator* auth) {
  return [auth](const http::Request& request) -> StatusOr<VerifiedDevice> {
    ASSIGN_OR_RETURN(DeviceIdentity identity, auth->Authenticate(request));
    return ToVerifiedDevice(identity);
  };
}

MdmHttpHandler::MdmHttpHandler(MdmService* service, DeviceIdentifier identify,
                               size_t max_body_bytes)
    : service_(service), identify_(std::move(identify)), max_body_bytes_(max_body_bytes) {}

http::Response MdmHttpHandler::Handle(const http::Request& request, Endpoint endpoint) const {
  const std::string type = MediaType(request.Header("Content-Type").value_or(""));
  bool checkin = false;
  if (type == kCheckinContentType && endpoint != Endpoint::kConnect) {
    checkin = true;
  } else if (type == kCommandContentType && endpoint != Endpoint::kCheckin) {
    checkin = false;
  } else {
    std::string expected =
        endpoint == Endpoint::kCheckin   ? std::string(kCheckinContentType)
        : endpoint == Endpoint::kConnect ? std::string(kCommandContentType)
                                         : std::string(kCheckinContentType) + " or " +
                                               std::string(kCommandContentType);
    return DeviceError(request, InvalidArgumentError("Content-Type \"" + PrintableForError(type) +
                                                     "\" is not " + expected));
  }
  if (request.body.size() > max_body_bytes_) {
    return DeviceError(request, InvalidArgumentError("body of " +
                                                     std::to_string(request.body.size()) +
                                                     " bytes exceeds the MDM limit"));
  }
  if (request.body.empty()) return DeviceError(request, InvalidArgumentError("empty body"));
  StatusOr<VerifiedDevice> device = identify_(request);
  if (!device.ok()) return DeviceError(request, device.status());
  StatusOr<MdmReply> reply = checkin ? service_->Checkin(*device, request.body)
                                     : service_->Report(*device, request.body);
  if (!reply.ok()) return DeviceError(request, reply.status());
  if (reply->http_status != 200) return http::Response::Empty(reply->http_status);
  if (reply->body.empty()) return http::Response::Empty(200);
  return http::Response::Bytes(200, reply->content_type, std::move(reply->body));
}

void RegisterMdmRoutes(http::Router& router, const MdmHttpHandler* handler) {
  using E = MdmHttpHandler::Endpoint;
  const std::pair<std::string_view, E> kRoutes[] = {
      {"/mdm/checkin", E::kCheckin}, {"/mdm/connect", E::kConnect}, {"/mdm", E::kAny}};
  for (const auto& [path, endpoint] : kRoutes) {
    for (std::string_view method : {"PUT", "POST"}) {
      router.Add(method, path, [handler, endpoint = endpoint](const http::Request& r) {
        return handler->Handle(r, endpoint);
      });
    }
  }
}

}  // namespace custos::mdm
