#include "mdm/ota_handler.h"

#include <spdlog/spdlog.h>

#include <string>

#include "http/status_http.h"

namespace custos::mdm {
namespace {

http::Response ProfileReply(OtaService::Output out, std::string_view filename) {
  http::Response r = http::Response::Bytes(200, kProfileContentType, std::move(out.body));
  r.headers.Set("Content-Disposition", "attachment; filename=\"" + std::string(filename) + "\"");
  r.headers.Set("Cache-Control", "no-store");  // every answer carries its own one-time secret
  return r;
}

}  // namespace

http::Response HandleOtaProfileServiceRequest(OtaService* service, const http::Request& request) {
  EnrollCredentials creds;
  if (auto t = request.Query("token")) creds.token = std::string(*t);
  if (auto a = request.Header("Authorization")) creds.authorization = std::string(*a);
  Status auth = service->Authorize(creds);
  if (!auth.ok()) {
    spdlog::warn("ota: phase 1 refused for {}: {}", request.remote_address, auth.ToString());
    http::Response r = http::ErrorResponse(auth);
    if (auth.code() == StatusCode::kUnauthenticated && service->UsesBasicAuth()) {
      r.headers.Set("WWW-Authenticate", "Basic realm=\"custos enrollment\", charset=\"UTF-8\"");
    }
    return r;
  }
  auto out = service->StartSession();
  if (!out.ok()) {
    spdlog::warn("ota: phase 1 failed for {}: {}", request.remote_address, out.status().ToString());
    return http::ErrorResponse(out.status());
  }
  spdlog::info("ota: phase 1: served a {} profile service payload to {}",
               out->is_signed ? "signed" : "unsigned", request.remote_address);
  return ProfileReply(*std::move(out), "ota-enroll.mobileconfig");
}

http::Response HandleOtaDeviceRequest(OtaService* service, const http::Request& request) {
  std::optional<EnrollIdentity> identity;
  if (auto id = request.Query("identity"); id && !id->empty()) {
    auto parsed = ParseEnrollIdentity(*id);
    if (!parsed.ok()) return http::ErrorResponse(parsed.status());
    identity = *parsed;
  }
  auto out = service->HandleDeviceRequest(request.body, identity);
  if (!out.ok()) {
    spdlog::warn("ota: refused a device request from {}: {}", request.remote_address,
                 out.status().ToString());
    return http::ErrorResponse(out.status());
  }
  spdlog::info("ota: phase {}: device {} ({}) from {}", out->phase, out->udid, out->detail,
               request.remote_address);
  return ProfileReply(*std::move(out), "enroll.mobileconfig");
}

void RegisterOtaRoutes(http::Router& router, OtaService* service) {
  router.Add("GET", kOtaPath,
             [service](const http::Request& r) { return HandleOtaProfileServiceRequest(service, r); });
  router.Add("POST", kOtaPath,
             [service](const http::Request& r) { return HandleOtaDeviceRequest(service, r); });
}

}  // namespace custos::mdm
