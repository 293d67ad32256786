#include "api/auth.h"

#include <spdlog/spdlog.h>

#include "base/encoding.h"

namespace custos::api {
namespace {

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool HasApiKey(const http::Request& request, const std::string& key) {
  if (key.empty()) return false;
  auto header = request.Header("Authorization");
  if (!header.has_value()) return false;
  std::string_view value = *header;
  if (StartsWithNoCase(value, "Bearer ")) {
    return ConstantTimeEquals(value.substr(7), key);
  }
  if (StartsWithNoCase(value, "Basic ")) {
    StatusOr<std::string> decoded = Base64Decode(value.substr(6));
    if (!decoded.ok()) return false;
    // Compare the whole "custos:KEY" so the user name check is constant-time too.
    return ConstantTimeEquals(*decoded, "custos:" + key);
  }
  return false;
}

http::Handler RequireApiKey(std::string key, http::Handler handler) {
  return [key = std::move(key), handler = std::move(handler)](const http::Request& request) {
    if (key.empty()) {
      return http::Response::Error(
          UnavailableError("the admin API is disabled: set api.key (CUSTOS_API_KEY)"));
    }
    if (!HasApiKey(request, key)) {
      spdlog::warn("admin API: refused a request without a valid API key from {}",
                   request.remote_address);
      http::Response r = http::Response::Error(UnauthenticatedError("a valid API key is required"));
      r.headers.Set("WWW-Authenticate", "Basic realm=\"custos\", Bearer");
      return r;
    }
    return handler(request);
  };
}

}  // namespace custos::api
