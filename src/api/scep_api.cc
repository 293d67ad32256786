#include "api/scep_api.h"

#include <nlohmann/json.hpp>

#include "api/auth.h"
#include "base/time.h"

namespace custos::api {
namespace {

http::Response NewChallenge(scep::ScepService* service, const http::Request& request) {
  std::optional<Duration> ttl;
  std::string bound_to;
  if (!request.body.empty()) {
    nlohmann::json body = nlohmann::json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded() || !body.is_object()) {
      return http::Response::Error(InvalidArgumentError("body must be a JSON object"));
    }
    if (auto it = body.find("ttl"); it != body.end()) {
      if (!it->is_string()) return http::Response::Error(InvalidArgumentError("ttl must be a string such as \"1h\""));
      StatusOr<Duration> d = ParseDuration(it->get<std::string>());
      if (!d.ok()) return http::Response::Error(d.status());
      if (d->count() <= 0) return http::Response::Error(InvalidArgumentError("ttl must be positive"));
      ttl = *d;
    }
    if (auto it = body.find("bound_to"); it != body.end()) {
      if (!it->is_string()) return http::Response::Error(InvalidArgumentError("bound_to must be a string"));
      bound_to = it->get<std::string>();
    }
  }
  StatusOr<std::string> challenge = service->NewChallenge(ttl, bound_to);
  if (!challenge.ok()) return http::Response::Error(challenge.status());
  nlohmann::json reply = {{"challenge", *challenge}};
  if (ttl.has_value()) reply["ttl"] = FormatDuration(*ttl);
  if (!bound_to.empty()) reply["bound_to"] = bound_to;
  http::Response r = http::Response::Json(201, reply);
  r.headers.Set("Cache-Control", "no-store");
  return r;
}

}  // namespace

void AddScepApiRoutes(http::Router& router, scep::ScepService* service, const std::string& api_key) {
  router.Add("POST", "/v1/scep/challenges",
             RequireApiKey(api_key, [service](const http::Request& request) {
               return NewChallenge(service, request);
             }));
}

}  // namespace custos::api
