#include "api/push_api.h"

#include <spdlog/spdlog.h>

#include "api/auth.h"
#include "api/mdm_api.h"
#include "base/encoding.h"
#include "base/time.h"

namespace custos::api {
namespace {

constexpr size_t kMaxPushIds = 10000;

http::Response NanoError(int status, std::string_view message) {
  return http::Response::Json(status, nlohmann::json{{"error", std::string(message)}});
}

}  // namespace

nlohmann::json PushCertToJson(const push::PushCertInfo& c, Time now) {
  return {{"topic", c.topic},
          {"subject", c.subject},
          {"sha256", c.sha256},
          {"not_before", FormatRfc3339(c.not_before)},
          {"not_after", FormatRfc3339(c.not_after)},
          {"key_encrypted", c.key_encrypted},
          {"updated_at", FormatRfc3339(c.updated_at)},
          {"expires_in_days",
           std::chrono::duration_cast<std::chrono::hours>(c.not_after - now).count() / 24}};
}

namespace {

http::Response Push(push::PushService* push, std::chrono::milliseconds timeout,
                    const http::Request& request) {
  std::vector<std::string> ids = SplitIds(request.PathParam("ids"));
  nlohmann::json result = nlohmann::json::object();
  if (ids.empty() || ids.size() > kMaxPushIds) {
    result["push_error"] = "getting enrollment ids: between 1 and " +
                           std::to_string(kMaxPushIds) + " comma-separated IDs are required";
    return http::Response::Json(400, result);
  }
  auto results = push->PushNow(ids, timeout);
  if (!results.ok()) {
    spdlog::warn("API push to {} enrollments: {}", ids.size(), results.status().ToString());
    result["push_error"] = results.status().message();
    return http::Response::Json(500, result);
  }
  nlohmann::json status = nlohmann::json::object();
  AddNanoMdmPushResults(*results, status);
  if (!status.empty()) result["status"] = std::move(status);
  return http::Response::Json(NanoMdmResultCode(result, ids.size()), result);
}

http::Response PutPushCert(push::PushService* push, const http::Request& request) {
  if (request.body.empty()) return NanoError(400, "reading PEM cert and key: empty body");
  if (request.body.find("ENCRYPTED") != std::string::npos) {
    return NanoError(400, "reading PEM cert and key: private key PEM appears to be encrypted");
  }
  // NanoMDM accepts PEM blocks "mushed together" without a newline between them.
  std::string body = request.body;
  for (size_t pos = 0; (pos = body.find("----------", pos)) != std::string::npos;) {
    body.replace(pos, 10, "-----\n-----");
  }
  auto cert = push::PushCertificate::FromPem(body);
  if (!cert.ok()) return NanoError(400, "parse X509 key pair: " + cert.status().message());
  auto info = push->Install(**cert);
  if (!info.ok()) {
    int code = info.status().code() == StatusCode::kFailedPrecondition ? 400 : 500;
    if (code == 500) spdlog::warn("store push cert: {}", info.status().ToString());
    return NanoError(code, "store push cert: " + info.status().message());
  }
  return http::Response::Json(
      200, nlohmann::json{{"topic", info->topic}, {"not_after", FormatRfc3339(info->not_after)}});
}

http::Response GetPushCert(push::PushService* push, const http::Request& request) {
  std::string_view topic = request.Query("topic").value_or("");
  if (topic.empty()) {
    return NanoError(400, "parse topic query param: missing required query parameter: topic");
  }
  auto info = push::GetPushCertificate(*push->storage(), topic);
  if (!info.ok()) {
    return NanoError(info.status().code() == StatusCode::kNotFound ? 404 : 500,
                     "retrieve push cert: " + info.status().message());
  }
  return http::Response::Json(
      200, nlohmann::json{{"topic", info->topic}, {"not_after", FormatRfc3339(info->not_after)}});
}

http::Response ListPushCerts(push::PushService* push) {
  auto certs = push::ListPushCertificates(*push->storage());
  if (!certs.ok()) return http::Response::Error(certs.status());
  nlohmann::json out = nlohmann::json::array();
  Time now = std::chrono::system_clock::now();
  for (const auto& c : *certs) out.push_back(PushCertToJson(c, now));
  return http::Response::Json(200, out);
}

http::Response PostPushCert(push::PushService* push, const http::Request& request) {
  nlohmann::json body = nlohmann::json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) {
    return http::Response::Error(InvalidArgumentError("body must be a JSON object"));
  }
  auto text = [&](const char* key) -> StatusOr<std::string> {
    auto it = body.find(key);
    if (it == body.end() || it->is_null()) return std::string();
    if (!it->is_string()) return InvalidArgumentError(std::string(key) + " must be a string");
    return it->get<std::string>();
  };
  auto cert_pem = text("cert_pem");
  auto key_pem = text("key_pem");
  auto p12 = text("p12");
  auto password = text("password");
  for (const auto* s : {&cert_pem, &key_pem, &p12, &password}) {
    if (!s->ok()) return http::Response::Error(s->status());
  }
  StatusOr<std::unique_ptr<push::PushCertificate>> cert =
      InvalidArgumentError("give cert_pem (and key_pem) or p12");
  if (!p12->empty()) {
    auto der = Base64Decode(*p12);
    if (!der.ok()) return http::Response::Error(InvalidArgumentError("p12 must be base64"));
    cert = push::PushCertificate::FromPkcs12(*der, *password);
  } else if (!cert_pem->empty()) {
    cert = push::PushCertificate::FromPem(*cert_pem, *key_pem, *password);
  }
  if (!cert.ok()) return http::Response::Error(cert.status());
  auto info = push->Install(**cert);
  if (!info.ok()) return http::Response::Error(info.status());
  return http::Response::Json(201, PushCertToJson(*info, std::chrono::system_clock::now()));
}

}  // namespace

size_t AddNanoMdmPushResults(const std::vector<push::EnrollmentPushResult>& results,
                             nlohmann::json& status) {
  size_t errors = 0;
  for (const auto& r : results) {
    nlohmann::json& entry = status[r.enrollment_id];
    if (!entry.is_object()) entry = nlohmann::json::object();
    if (r.ok) {
      entry["push_result"] = r.apns_id;
    } else if (!r.pending) {
      entry["push_error"] = r.error;
      ++errors;
    }
    if (entry.empty()) status.erase(r.enrollment_id);
  }
  return errors;
}

int NanoMdmResultCode(const nlohmann::json& result, size_t id_count) {
  if (result.contains("push_error") || result.contains("command_error")) return 500;
  size_t errors = 0;
  if (auto it = result.find("status"); it != result.end() && it->is_object()) {
    for (const auto& [id, entry] : it->items()) {
      if (entry.contains("push_error") || entry.contains("command_error")) ++errors;
    }
  }
  if (errors == 0) return 200;
  if (errors < id_count) return 207;
  return 500;
}

void AddPushApiRoutes(http::Router& router, push::PushService* push, const std::string& api_key,
                      std::chrono::milliseconds push_timeout) {
  auto push_handler = RequireApiKey(api_key, [push, push_timeout](const http::Request& r) {
    return Push(push, push_timeout, r);
  });
  router.Add("GET", "/v1/push/{ids}", push_handler);
  router.Add("POST", "/v1/push/{ids}", push_handler);
  router.Add("PUT", "/v1/pushcert", RequireApiKey(api_key, [push](const http::Request& r) {
               return PutPushCert(push, r);
             }));
  router.Add("GET", "/v1/pushcert", RequireApiKey(api_key, [push](const http::Request& r) {
               return GetPushCert(push, r);
             }));
  router.Add("GET", "/v1/pushcerts", RequireApiKey(api_key, [push](const http::Request&) {
               return ListPushCerts(push);
             }));
  router.Add("POST", "/v1/pushcerts", RequireApiKey(api_key, [push](const http::Request& r) {
               return PostPushCert(push, r);
             }));
}

}  // namespace custos::api
