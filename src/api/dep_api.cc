#include "api/dep_api.h"

#include <nlohmann/json.hpp>

#include "api/auth.h"
#include "api/query.h"
#include "dep/syncer.h"

namespace custos::api {
namespace {

using http::Request;
using http::Response;

std::string Name(const Request& r) { return std::string(r.PathParam("name")); }

Response Info(dep::DepService* service, const Request& r) {
  auto info = service->Show(Name(r));
  if (!info.ok()) return Response::Error(info.status());
  return Response::Json(200, DepInfoJson(*info));
}

Response List(dep::DepService* service) {
  auto names = service->List();
  if (!names.ok()) return Response::Error(names.status());
  nlohmann::json out = {{"names", nlohmann::json::array()}};
  for (const auto& n : *names) out["names"].push_back(DepInfoJson(n));
  return Response::Json(200, out);
}

Response TokenPki(dep::DepService* service, const Request& r) {
  auto pem = service->NewStagingCertificate(Name(r));
  if (!pem.ok()) return Response::Error(pem.status());
  Response resp = Response::Bytes(200, "application/x-pem-file", *pem);
  resp.headers.Set("Content-Disposition", "attachment; filename=\"" + Name(r) + "_tokenpki.pem\"");
  resp.headers.Set("Cache-Control", "no-store");
  return resp;
}

Response Tokens(dep::DepService* service, const Request& r) {
  auto force = r.Query("force");
  bool forced = force && (*force == "1" || *force == "true");
  auto result = service->UploadTokens(Name(r), r.body, forced);
  if (!result.ok()) return Response::Error(result.status());
  nlohmann::json out = DepInfoJson(result->info);
  out["promoted"] = result->promoted;
  return Response::Json(200, out);
}

Response MaidJwt(dep::DepService* service, const Request& r) {
  auto jwt = service->MaidJwt(Name(r), r.Query("server_uuid").value_or(""));
  if (!jwt.ok()) return Response::Error(jwt.status());
  Response resp = Response::Bytes(200, "application/jwt", *jwt);
  resp.headers.Set("Cache-Control", "no-store");
  return resp;
}

Response Sync(dep::DepService* service, mdm::EventSink* sink, const Request& r) {
  Status valid = dep::ValidateDepName(Name(r));
  if (!valid.ok()) return Response::Error(valid);
  dep::Syncer syncer(service, Name(r), sink);
  auto stats = syncer.RunOnce();
  if (!stats.ok()) return Response::Error(stats.status());
  return Response::Json(200, nlohmann::json{{"fetch_pages", stats->fetch_pages},
                                            {"sync_pages", stats->sync_pages},
                                            {"devices", stats->devices},
                                            {"new_devices", stats->new_devices},
                                            {"assigned", stats->assigned},
                                            {"restarted", stats->restarted}});
}

Response Devices(dep::DepService* service, const Request& r) {
  auto parsed_limit = IntQuery(r, "limit", 100, 1, 10000);  // the store returns at most 10000
  if (!parsed_limit.ok()) return Response::Error(parsed_limit.status());
  const int64_t limit = *parsed_limit;
  std::string after(r.Query("after").value_or(""));
  std::vector<DepDeviceRecord> devices;
  Status s = service->storage()->Transact(
      [&](Stores& st) {
        ASSIGN_OR_RETURN(devices, st.dep().ListDevices(Name(r), after, limit));
        return OkStatus();
      },
      TxMode::kReadOnly);
  if (!s.ok()) return Response::Error(s);
  auto opt_time = [](const std::optional<Time>& t) -> nlohmann::json {
    return t ? nlohmann::json(FormatRfc3339(*t)) : nlohmann::json(nullptr);
  };
  nlohmann::json out = {{"devices", nlohmann::json::array()}};
  for (const auto& d : devices) {
    out["devices"].push_back({{"serial_number", d.serial_number},
                              {"model", d.model},
                              {"description", d.description},
                              {"color", d.color},
                              {"os", d.os},
                              {"device_family", d.device_family},
                              {"profile_status", d.profile_status},
                              {"profile_uuid", d.profile_uuid},
                              {"profile_assign_time", opt_time(d.profile_assign_time)},
                              {"device_assigned_by", d.device_assigned_by},
                              {"device_assigned_date", opt_time(d.device_assigned_date)},
                              {"op_type", d.op_type},
                              {"op_date", opt_time(d.op_date)}});
  }
  return Response::Json(200, out);
}

Response Proxy(dep::DepService* service, const Request& r) {
  auto client = service->NewClient(Name(r));
  if (!client.ok()) return Response::Error(client.status());
  std::string path = "/" + std::string(r.PathParam("*"));
  if (size_t q = r.target.find('?'); q != std::string::npos) path += r.target.substr(q);
  auto reply = (*client)->Do(r.method, path, r.body);
  if (!reply.ok()) return Response::Error(reply.status());
  Response resp = Response::Bytes(static_cast<int>(reply->status),
                                  reply->content_type.empty() ? "application/octet-stream"
                                                              : reply->content_type,
                                  reply->body);
  if (!reply->retry_after.empty()) resp.headers.Set("Retry-After", reply->retry_after);
  return resp;
}

}  // namespace

nlohmann::json DepInfoJson(const dep::DepNameInfo& info) {
  return {{"name", info.name},
          {"current_cert_sha256", info.current_cert_sha256},
          {"staging_cert_sha256", info.staging_cert_sha256},
          {"consumer_key", info.consumer_key},
          {"access_token_expiry",
           info.access_token_expiry ? nlohmann::json(FormatRfc3339(*info.access_token_expiry))
                                    : nlohmann::json(nullptr)},
          {"token_expiry_warning", info.token_expiry_warning},
          {"server_uuid", info.server_uuid},
          {"cursor", info.cursor},
          {"fetch_completed", info.fetch_completed}};
}

void AddDepApiRoutes(http::Router& router, dep::DepService* service, mdm::EventSink* sink,
                     const std::string& api_key) {
  router.Add("GET", "/v1/dep", RequireApiKey(api_key, [service](const Request&) { return List(service); }));
  router.Add("GET", "/v1/dep/{name}",
             RequireApiKey(api_key, [service](const Request& r) { return Info(service, r); }));
  router.Add("GET", "/v1/dep/{name}/tokenpki",
             RequireApiKey(api_key, [service](const Request& r) { return TokenPki(service, r); }));
  router.Add("PUT", "/v1/dep/{name}/tokens",
             RequireApiKey(api_key, [service](const Request& r) { return Tokens(service, r); }));
  router.Add("GET", "/v1/dep/{name}/maidjwt",
             RequireApiKey(api_key, [service](const Request& r) { return MaidJwt(service, r); }));
  router.Add("POST", "/v1/dep/{name}/sync", RequireApiKey(api_key, [service, sink](const Request& r) {
               return Sync(service, sink, r);
             }));
  router.Add("GET", "/v1/dep/{name}/devices",
             RequireApiKey(api_key, [service](const Request& r) { return Devices(service, r); }));
  for (const char* method : {"GET", "POST", "PUT", "DELETE"}) {
    router.Add(method, "/v1/dep/{name}/proxy/*",
               RequireApiKey(api_key, [service](const Request& r) { return Proxy(service, r); }));
  }
}

}  // namespace custos::api
