#include "mdm/profile_handler.h"

#include <spdlog/spdlog.h>

#include <string>

#include "http/status_http.h"

namespace custos::mdm {
namespace {

bool TruthyParam(std::string_view v) { return v == "1" || v == "true" || v == "yes"; }

// ?identity=, when present; INVALID_ARGUMENT when it names no identity type.
Status ReadIdentity(const http::Request& request, ProfileService::Request* req) {
  if (auto id = request.Query("identity"); id && !id->empty()) {
    ASSIGN_OR_RETURN(req->identity, ParseEnrollIdentity(*id));
  }
  return OkStatus();
}

http::Response ProfileResponse(ProfileService* service, const ProfileService::Request& req,
                               const http::Request& request) {
  auto out = service->Generate(req);
  if (!out.ok()) {
    spdlog::warn("enroll: no profile for {}: {}", request.remote_address, out.status().ToString());
    return http::ErrorResponse(out.status());
  }
  spdlog::info("enroll: served a {} profile ({}) to {}{}{}", EnrollIdentityName(out->identity),
               out->is_signed ? "signed" : "unsigned", request.remote_address,
               req.device ? " for device serial " + req.device->serial : std::string(),
               out->policy_reason.empty() ? std::string() : " (policy: " + out->policy_reason + ")");
  http::Response r = http::Response::Bytes(200, kProfileContentType, std::move(out->body));
  r.headers.Set("Content-Disposition", "attachment; filename=\"enroll.mobileconfig\"");
  r.headers.Set("Cache-Control", "no-store");  // every download carries its own one-time secret
  return r;
}

}  // namespace

http::Response HandleProfileRequest(ProfileService* service, const http::Request& request) {
  EnrollCredentials creds;
  if (auto t = request.Query("token")) creds.token = std::string(*t);
  if (auto a = request.Header("Authorization")) creds.authorization = std::string(*a);
  Status auth = service->Authorize(creds);
  if (!auth.ok()) {
    http::Response r = http::ErrorResponse(auth);
    if (auth.code() == StatusCode::kUnauthenticated && service->UsesBasicAuth()) {
      r.headers.Set("WWW-Authenticate", "Basic realm=\"custos enrollment\", charset=\"UTF-8\"");
    }
    return r;
  }

  ProfileService::Request req;
  if (Status s = ReadIdentity(request, &req); !s.ok()) return http::ErrorResponse(s);
  if (auto u = request.Query("unsigned")) req.sign = !TruthyParam(*u);
  return ProfileResponse(service, req, request);
}

http::Response HandleMachineInfoRequest(ProfileService* service,
                                        MachineInfoAuthenticator* machine_info,
                                        const http::Request& request) {
  auto device = machine_info->Authenticate(request.body);
  if (!device.ok()) {
    spdlog::warn("enroll: refused a MachineInfo request from {}: {}", request.remote_address,
                 device.status().ToString());
    return http::ErrorResponse(device.status());
  }
  ProfileService::Request req;
  if (Status s = ReadIdentity(request, &req); !s.ok()) return http::ErrorResponse(s);
  req.device = *std::move(device);
  return ProfileResponse(service, req, request);
}

void RegisterProfileRoutes(http::Router& router, ProfileService* service,
                           MachineInfoAuthenticator* machine_info) {
  router.Add("GET", kEnrollPath,
             [service](const http::Request& r) { return HandleProfileRequest(service, r); });
  if (machine_info != nullptr) {
    router.Add("POST", kEnrollPath, [service, machine_info](const http::Request& r) {
      return HandleMachineInfoRequest(service, machine_info, r);
    });
  }
}

}  // namespace custos::mdm
