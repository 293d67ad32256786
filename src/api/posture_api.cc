#include "api/posture_api.h"

#include "api/auth.h"
#include "base/time.h"

namespace custos::api {
namespace {

http::Response Attest(posture::PostureService* service, const http::Request& r) {
  bool force = false;
  bool no_push = false;
  if (!r.body.empty()) {
    nlohmann::json body = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded() || !body.is_object()) {
      return http::Response::Error(InvalidArgumentError("body must be a JSON object"));
    }
    auto flag = [&](const char* key, bool* out) -> Status {
      auto it = body.find(key);
      if (it == body.end()) return OkStatus();
      if (!it->is_boolean()) return InvalidArgumentError(std::string(key) + " must be a boolean");
      *out = it->get<bool>();
      return OkStatus();
    };
    if (Status s = flag("force", &force); !s.ok()) return http::Response::Error(s);
    if (Status s = flag("no_push", &no_push); !s.ok()) return http::Response::Error(s);
  }
  if (auto q = r.Query("force"); q.has_value()) {
    if (*q == "true" || *q == "1") {
      force = true;
    } else if (*q != "false" && *q != "0" && !q->empty()) {
      return http::Response::Error(InvalidArgumentError("force must be true or false"));
    }
  }
  auto made = service->RequestAttestation(r.PathParam("id"), "api", force, no_push);
  if (!made.ok()) return http::Response::Error(made.status());
  return http::Response::Json(201, AttestationRequestToJson(*made));
}

http::Response Posture(posture::PostureService* service, const http::Request& r) {
  auto p = service->GetPosture(r.PathParam("id"));
  if (!p.ok()) return http::Response::Error(p.status());
  return http::Response::Json(200, *p);
}

}  // namespace

nlohmann::json AttestationRequestToJson(const posture::AttestationRequestResult& r) {
  return {{"command_uuid", r.command_uuid}, {"device_id", r.device_id},
          {"nonce", r.nonce_hex},           {"trigger", r.trigger},
          {"forced", r.forced},             {"requested_at", FormatRfc3339(r.requested_at)},
          {"push_requested", r.push_requested}};
}

void AddPostureApiRoutes(http::Router& router, posture::PostureService* service,
                         const std::string& api_key) {
  router.Add("POST", "/v1/devices/{id}/attest",
             RequireApiKey(api_key, [service](const http::Request& r) { return Attest(service, r); }));
  router.Add("GET", "/v1/devices/{id}/posture",
             RequireApiKey(api_key, [service](const http::Request& r) { return Posture(service, r); }));
}

}  // namespace custos::api
