#include "http/ca_handlers.h"

#include <spdlog/spdlog.h>

namespace custos::http {

void AddCaRoutes(Router& router, Authority* authority) {
  router.Add("GET", "/ca/chain", [authority](const Request&) {
    return Response::Bytes(200, "application/pem-certificate-chain", authority->ChainPem());
  });
  router.Add("GET", "/ca/crl", [authority](const Request&) {
    StatusOr<std::string> crl = authority->CrlDer();
    if (!crl.ok()) {
      spdlog::error("CRL unavailable: {}", crl.status().ToString());
      return Response::Error(crl.status());
    }
    return Response::Bytes(200, "application/pkix-crl", *std::move(crl));
  });
}

}  // namespace custos::http
