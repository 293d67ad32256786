// Test-only ACME client that talks to an AcmeService in-process (no HTTP): it signs each request as
// a real client would (flattened JWS, fresh nonce, url = base URL + path, jwk for newAccount and
// kid afterwards) and decodes the reply. Used by the unit tests, the integration test's device
// flow and bench/acme. It also plays the device of device-attest-01: `DeviceAttestOrder` runs a
// whole order with an attestation chain made by the fake attestation CA.
#ifndef CUSTOS_ACME_TESTING_ACME_CLIENT_H_
#define CUSTOS_ACME_TESTING_ACME_CLIENT_H_

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "acme/service.h"
#include "base/openssl_util.h"
#include "base/status.h"

namespace custos::acme::testing {

// The endpoint and id for an ACME URL path ("/acme/order/ID/finalize" -> kFinalize, "ID").
StatusOr<std::pair<Endpoint, std::string>> RouteForPath(std::string_view path);

struct ClientReply {
  int status = 0;
  std::string content_type;
  std::string body;
  nlohmann::json json;  // parsed body (null when not JSON)
  std::string location;
  // The ACME error type of a problem reply ("urn:ietf:params:acme:error:..."), else "".
  std::string problem_type() const;
};

class InProcessAcmeClient {
 public:
  // `key` is the account key (not owned; must outlive the client).
  InProcessAcmeClient(AcmeService* service, EVP_PKEY* key);

  // Signs `payload` ("" = POST-as-GET) for the URL base + `path`. `use_jwk` forces a jwk header
  // (otherwise kid once the account exists). `nonce` overrides the fresh nonce; `url` overrides
  // the signed url.
  std::string Sign(std::string_view path, std::string_view payload, bool use_jwk = false,
                   std::optional<std::string> nonce = std::nullopt,
                   std::optional<std::string> url = std::nullopt) const;
  // Posts an already signed body to `path` (Content-Type application/jose+json).
  ClientReply PostBody(std::string_view path, std::string_view body) const;
  // Sign + PostBody.
  ClientReply Post(std::string_view path, std::string_view payload, bool use_jwk = false) const;

  // newAccount with termsOfServiceAgreed; remembers the account URL (kid).
  ClientReply NewAccount(bool only_return_existing = false);
  const std::string& kid() const { return kid_; }
  void set_kid(std::string kid) { kid_ = std::move(kid); }
  void set_key(EVP_PKEY* key) { key_ = key; }

  // The path part of a URL the server returned (strips the base URL).
  std::string PathOf(std::string_view url) const;

  AcmeService* service() const { return service_; }

 private:
  AcmeService* service_;
  EVP_PKEY* key_;
  std::string kid_;
};

// A whole device-attest-01 order for `client_identifier`: newOrder, authz, challenge answered with
// the chain `make_chain(token)` returns (leaf first; its key must be `device_key`), finalize with a
// CSR signed by `device_key`, certificate download. Returns the PEM chain, or the first failure
// (the problem type and detail in the message).
StatusOr<std::string> DeviceAttestOrder(
    InProcessAcmeClient& client, std::string_view client_identifier, EVP_PKEY* device_key,
    const std::function<StatusOr<std::vector<std::string>>(const std::string& token)>& make_chain);

}  // namespace custos::acme::testing

#endif  // CUSTOS_ACME_TESTING_ACME_CLIENT_H_
