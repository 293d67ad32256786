// The transport-neutral HTTP response handlers return (see request.h). The server adds framing
// (Content-Length, Connection, Date is not sent) and X-Request-Id.
#ifndef CUSTOS_HTTP_RESPONSE_H_
#define CUSTOS_HTTP_RESPONSE_H_

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "base/status.h"
#include "http/request.h"

namespace custos::http {

struct Response {
  int status = 200;
  Headers headers;
  std::string body;

  // text/plain; charset=utf-8.
  static Response Text(int status, std::string body);
  // application/json, from serialized JSON text.
  static Response Json(int status, std::string json_text);
  // application/json; `json` is serialized compactly, invalid UTF-8 replaced.
  static Response Json(int status, const nlohmann::json& json);
  // Any bytes with the given content type (application/pkcs7-mime, application/x-x509-ca-cert...).
  static Response Bytes(int status, std::string_view content_type, std::string body);
  // The JSON error reply for a non-OK status, through the one Status -> HTTP mapping
  // (status_http.h). An OK status gives 500: a handler must not build an error from success.
  static Response Error(const Status& status);
  // An empty reply (e.g. 204).
  static Response Empty(int status);
};

}  // namespace custos::http

#endif  // CUSTOS_HTTP_RESPONSE_H_
