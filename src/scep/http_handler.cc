#include "scep/http_handler.h"

#include <string>
#include <utility>

#include "base/encoding.h"

namespace custos::scep {

http::Response HandleScepRequest(ScepService* service, const http::Request& request) {
  std::string_view operation = request.Query("operation").value_or("");
  if (operation == "GetCACaps") {
    return http::Response::Bytes(200, "text/plain", service->GetCaCaps());
  }
  if (operation == "GetCACert") {
    auto reply = service->GetCaCert();
    if (!reply.ok()) return http::Response::Error(reply.status());
    return http::Response::Bytes(200, reply->content_type, std::move(reply->body));
  }
  if (operation == "PKIOperation") {
    std::string message;
    if (request.method == "POST") {
      message = request.body;
    } else {
      std::string text(request.Query("message").value_or(""));
      // Query decoding turns an unescaped '+' into a space; base64 has no spaces.
      for (char& c : text) {
        if (c == ' ') c = '+';
      }
      auto der = Base64Decode(text);
      if (!der.ok() || der->empty()) {
        return http::Response::Error(InvalidArgumentError("PKIOperation: bad message parameter"));
      }
      message = std::move(*der);
    }
    auto reply = service->PkiOperation(message);
    if (!reply.ok()) return http::Response::Error(reply.status());
    return http::Response::Bytes(200, "application/x-pki-message", std::move(*reply));
  }
  return http::Response::Error(
      InvalidArgumentError("unknown SCEP operation \"" + std::string(operation) + "\""));
}

void RegisterScepRoutes(http::Router& router, ScepService* service, std::string_view path) {
  std::string base(path.empty() ? "/scep" : path);
  if (base.size() > 1 && base.back() == '/') base.pop_back();
  auto handler = [service](const http::Request& r) { return HandleScepRequest(service, r); };
  for (const std::string& p : {base, base + "/pkiclient.exe"}) {
    router.Add("GET", p, handler);
    router.Add("POST", p, handler);
  }
}

}  // namespace custos::scep
