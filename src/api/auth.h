// Authentication of the admin API (/v1/...): one API key from configuration ([api] key), sent as
// HTTP Basic with user "custos" and the key as password, or as "Authorization: Bearer KEY"
// (RFC 6750). The key is compared in constant time. The admin API is for administrators and their
// tools, never devices, so a refusal is a plain 401 with a WWW-Authenticate challenge.
#ifndef CUSTOS_API_AUTH_H_
#define CUSTOS_API_AUTH_H_

#include <string>

#include "http/router.h"

namespace custos::api {

// True when `request` carries `key` as Basic custos:KEY or Bearer KEY. An empty `key` never
// matches.
bool HasApiKey(const http::Request& request, const std::string& key);

// Wraps `handler`: requests without the key get 401 (or 503 "admin API disabled" when `key` is
// empty) and never reach it.
http::Handler RequireApiKey(std::string key, http::Handler handler);

}  // namespace custos::api

#endif  // CUSTOS_API_AUTH_H_
