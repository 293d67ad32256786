// The device-facing MDM endpoints (Apple Device Management, "Check-in" and "Commands and
// queries"; the URLs are custos' fixed ones):
//   PUT|POST /mdm/checkin   CheckInURL, Content-Type application/x-apple-aspen-mdm-checkin
//   PUT|POST /mdm/connect   ServerURL,  Content-Type application/x-apple-aspen-mdm
//   PUT|POST /mdm           either, chosen by the Content-Type (NanoMDM's single-URL mode)
// Thin: authenticate the device (DeviceAuthenticator), hand the body to MdmService, encode the
// reply. Every refusal the device could cause (no or foreign identity, wrong content type,
// oversized body, malformed plist, unknown MessageType, missing UDID, a result for a command
// never sent, association refused) answers 400 with a short reason, logged; never 401, which can
// make a device unenroll. Storage trouble answers 503, anything else 500.
#ifndef CUSTOS_MDM_HTTP_HANDLER_H_
#define CUSTOS_MDM_HTTP_HANDLER_H_

#include <functional>

#include "http/request.h"
#include "http/response.h"
#include "http/router.h"
#include "mdm/device_auth.h"
#include "mdm/service.h"

namespace custos::mdm {

inline constexpr std::string_view kCheckinContentType = "application/x-apple-aspen-mdm-checkin";
inline constexpr std::string_view kCommandContentType = "application/x-apple-aspen-mdm";

// Who sent a request: the verified identity, or an error (answered 400).
using DeviceIdentifier = std::function<StatusOr<VerifiedDevice>(const http::Request&)>;

// The identity function backed by `auth` (which must outlive it).
DeviceIdentifier IdentifyWith(const DeviceAuthenticator* auth);

// The VerifiedDevice of an authenticated identity.
VerifiedDevice ToVerifiedDevice(const DeviceIdentity& identity);

class MdmHttpHandler {
 public:
  enum class Endpoint { kCheckin, kConnect, kAny };
  // `service` must outlive the handler. Bodies above `max_body_bytes` are refused (400).
  MdmHttpHandler(MdmService* service, DeviceIdentifier identify, size_t max_body_bytes);

  http::Response Handle(const http::Request& request, Endpoint endpoint) const;

 private:
  MdmService* service_;
  DeviceIdentifier identify_;
  size_t max_body_bytes_;
};

// Registers the three endpoints on `router` (PUT and POST each). `handler` must outlive the router.
void RegisterMdmRoutes(http::Router& router, const MdmHttpHandler* handler);

}  // namespace custos::mdm

#endif  // CUSTOS_MDM_HTTP_HANDLER_H_
