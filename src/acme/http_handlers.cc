#include "acme/http_handlers.h"

#include <nlohmann/json.hpp>

#include "api/auth.h"
#include "http/status_http.h"

namespace custos::acme {
namespace {

http::Response Encode(AcmeService* service, const AcmeReply& reply) {
  http::Response r;
  r.status = reply.status;
  r.body = reply.body;
  if (!reply.content_type.empty()) r.headers.Set("Content-Type", reply.content_type);
  if (!reply.location.empty()) r.headers.Set("Location", reply.location);
  r.headers.Add("Link", "<" + service->base_url() + "/acme/directory>;rel=\"index\"");
  for (const auto& link : reply.links) r.headers.Add("Link", link);
  r.headers.Set("Replay-Nonce", service->NewNonce());
  r.headers.Set("Cache-Control", "no-store");
  return r;
}

void AddPost(http::Router& router, AcmeService* service, const char* pattern, Endpoint endpoint) {
  router.Add("POST", pattern, [service, endpoint](const http::Request& req) {
    std::string_view id = req.PathParam("id");
    auto ct = req.Header("Content-Type");
    return Encode(service, service->Post(endpoint, id, req.path, ct.value_or(""), req.body));
  });
}

}  // namespace

void RegisterAcmeRoutes(http::Router& router, AcmeService* service) {
  router.Add("GET", "/acme/directory",
             [service](const http::Request&) { return Encode(service, service->Directory()); });
  auto nonce = [service](int status) {
    return [service, status](const http::Request&) {
      AcmeReply reply;
      reply.status = status;
      reply.content_type = "";
      return Encode(service, reply);
    };
  };
  router.Add("HEAD", "/acme/new-nonce", nonce(200));
  router.Add("GET", "/acme/new-nonce", nonce(204));
  AddPost(router, service, "/acme/new-account", Endpoint::kNewAccount);
  AddPost(router, service, "/acme/new-order", Endpoint::kNewOrder);
  AddPost(router, service, "/acme/revoke-cert", Endpoint::kRevokeCert);
  AddPost(router, service, "/acme/key-change", Endpoint::kKeyChange);
  AddPost(router, service, "/acme/account/{id}", Endpoint::kAccount);
  AddPost(router, service, "/acme/account/{id}/orders", Endpoint::kAccountOrders);
  AddPost(router, service, "/acme/order/{id}", Endpoint::kOrder);
  AddPost(router, service, "/acme/order/{id}/finalize", Endpoint::kFinalize);
  AddPost(router, service, "/acme/authz/{id}", Endpoint::kAuthz);
  AddPost(router, service, "/acme/chall/{id}", Endpoint::kChallenge);
  AddPost(router, service, "/acme/cert/{id}", Endpoint::kCert);
}

void AddAcmeApiRoutes(http::Router& router, AcmeService* service, const std::string& api_key) {
  router.Add("POST", "/v1/acme/client-identifiers",
             api::RequireApiKey(api_key, [service](const http::Request& req) {
               std::string bound_to;
               if (!req.body.empty()) {
                 auto body = nlohmann::json::parse(req.body, nullptr, false);
                 if (!body.is_object()) {
                   return http::ErrorResponse(InvalidArgumentError("body must be a JSON object"));
                 }
                 auto it = body.find("bound_to");
                 if (it != body.end()) {
                   if (!it->is_string()) {
                     return http::ErrorResponse(InvalidArgumentError("bound_to must be a string"));
                   }
                   bound_to = *it;
                 }
               }
               auto id = service->NewClientIdentifier(bound_to);
               if (!id.ok()) return http::ErrorResponse(id.status());
               return http::Response::Json(
                   201, nlohmann::json{{"client_identifier", *id}, {"bound_to", bound_to}});
             }));
}

}  // namespace custos::acme
