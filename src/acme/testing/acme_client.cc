#include "acme/testing/acme_client.h"

#include "acme/jws.h"
#include "attest/attestation_object.h"
#include "base/encoding.h"
#include "pki/csr.h"

namespace custos::acme::testing {

using Json = nlohmann::json;

StatusOr<std::pair<Endpoint, std::string>> RouteForPath(std::string_view path) {
  auto starts = [&](std::string_view p) { return path.rfind(p, 0) == 0; };
  auto rest = [&](std::string_view p) { return std::string(path.substr(p.size())); };
  if (path == "/acme/new-account") return std::pair{Endpoint::kNewAccount, std::string()};
  if (path == "/acme/new-order") return std::pair{Endpoint::kNewOrder, std::string()};
  if (path == "/acme/revoke-cert") return std::pair{Endpoint::kRevokeCert, std::string()};
  if (path == "/acme/key-change") return std::pair{Endpoint::kKeyChange, std::string()};
  auto with_suffix = [&](std::string_view prefix, std::string_view suffix, Endpoint with,
                         Endpoint without) -> std::pair<Endpoint, std::string> {
    std::string id = rest(prefix);
    if (id.size() > suffix.size() && id.compare(id.size() - suffix.size(), suffix.size(), suffix) == 0) {
      return {with, id.substr(0, id.size() - suffix.size())};
    }
    return {without, id};
  };
  if (starts("/acme/account/")) {
    return with_suffix("/acme/account/", "/orders", Endpoint::kAccountOrders, Endpoint::kAccount);
  }
  if (starts("/acme/order/")) {
    return with_suffix("/acme/order/", "/finalize", Endpoint::kFinalize, Endpoint::kOrder);
  }
  if (starts("/acme/authz/")) return std::pair{Endpoint::kAuthz, rest("/acme/authz/")};
  if (starts("/acme/chall/")) return std::pair{Endpoint::kChallenge, rest("/acme/chall/")};
  if (starts("/acme/cert/")) return std::pair{Endpoint::kCert, rest("/acme/cert/")};
  return NotFoundError("not an ACME path: " + std::string(path));
}

std::string ClientReply::problem_type() const {
  if (content_type != "application/problem+json" || !json.is_object()) return "";
  return json.value("type", "");
}

InProcessAcmeClient::InProcessAcmeClient(AcmeService* service, EVP_PKEY* key)
    : service_(service), key_(key) {}

std::string InProcessAcmeClient::PathOf(std::string_view url) const {
  const std::string& base = service_->base_url();
  if (url.rfind(base, 0) == 0) return std::string(url.substr(base.size()));
  return std::string(url);
}

std::string InProcessAcmeClient::Sign(std::string_view path, std::string_view payload,
                                      bool use_jwk, std::optional<std::string> nonce,
                                      std::optional<std::string> url) const {
  Json header{{"nonce", nonce ? *nonce : service_->NewNonce()},
              {"url", url ? *url : service_->base_url() + std::string(path)}};
  if (use_jwk || kid_.empty()) {
    auto jwk = JwkFromKey(key_);
    header["jwk"] = jwk.ok() ? *jwk : Json::object();
  } else {
    header["kid"] = kid_;
  }
  auto body = SignFlattenedJws(key_, header, payload);
  return body.ok() ? *body : std::string();
}

ClientReply InProcessAcmeClient::PostBody(std::string_view path, std::string_view body) const {
  ClientReply out;
  auto route = RouteForPath(path);
  if (!route.ok()) {
    out.status = 404;
    return out;
  }
  AcmeReply r = service_->Post(route->first, route->second, path, "application/jose+json", body);
  out.status = r.status;
  out.content_type = r.content_type;
  out.body = r.body;
  out.location = r.location;
  out.json = Json::parse(r.body, nullptr, false);
  if (out.json.is_discarded()) out.json = nullptr;
  return out;
}

ClientReply InProcessAcmeClient::Post(std::string_view path, std::string_view payload,
                                      bool use_jwk) const {
  return PostBody(path, Sign(path, payload, use_jwk));
}

ClientReply InProcessAcmeClient::NewAccount(bool only_return_existing) {
  Json payload{{"termsOfServiceAgreed", true}, {"contact", {"mailto:admin@example.com"}}};
  if (only_return_existing) payload["onlyReturnExisting"] = true;
  ClientReply r = Post("/acme/new-account", payload.dump(), /*use_jwk=*/true);
  if ((r.status == 200 || r.status == 201) && !r.location.empty()) kid_ = r.location;
  return r;
}

namespace {

Status Fail(std::string_view step, const ClientReply& r) {
  return FailedPreconditionError(std::string(step) + " -> " + std::to_string(r.status) + " " +
                                 r.problem_type() + " " + r.body);
}

}  // namespace

StatusOr<std::string> DeviceAttestOrder(
    InProcessAcmeClient& client, std::string_view client_identifier, EVP_PKEY* device_key,
    const std::function<StatusOr<std::vector<std::string>>(const std::string& token)>& make_chain) {
  Json order_req{{"identifiers",
                  {{{"type", "permanent-identifier"}, {"value", std::string(client_identifier)}}}}};
  ClientReply order = client.Post("/acme/new-order", order_req.dump());
  if (order.status != 201) return Fail("newOrder", order);
  std::string order_path = client.PathOf(order.location);
  std::string authz_path = client.PathOf(order.json["authorizations"][0].get<std::string>());
  ClientReply authz = client.Post(authz_path, "");
  if (authz.status != 200) return Fail("authz", authz);
  std::string chall_url;
  std::string token;
  for (const auto& c : authz.json["challenges"]) {
    if (c["type"] == "device-attest-01") {
      chall_url = c["url"];
      token = c["token"];
    }
  }
  if (token.empty()) return FailedPreconditionError("no device-attest-01 challenge offered");
  ASSIGN_OR_RETURN(auto chain, make_chain(token));
  ClientReply ch = client.Post(client.PathOf(chall_url), attest::EncodeDeviceAttestPayload(chain));
  if (ch.status != 200 || ch.json.value("status", "") != "valid") return Fail("challenge", ch);
  ASSIGN_OR_RETURN(std::string csr, BuildCsrDer(CsrTemplate{{{"CN", "device"}}, {}, ""}, device_key));
  ClientReply fin = client.Post(order_path + "/finalize",
                                Json{{"csr", Base64UrlEncode(csr)}}.dump());
  if (fin.status != 200 || fin.json.value("status", "") != "valid") return Fail("finalize", fin);
  ClientReply cert = client.Post(client.PathOf(fin.json["certificate"].get<std::string>()), "");
  if (cert.status != 200) return Fail("certificate", cert);
  return cert.body;
}

}  // namespace custos::acme::testing
