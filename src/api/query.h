// Query-string parameters of the admin API (/v1/...): one parser per kind, so every endpoint
// answers a bad value with the same 400 message.
#ifndef CUSTOS_API_QUERY_H_
#define CUSTOS_API_QUERY_H_

#include <cstdint>
#include <optional>
#include <string_view>

#include "base/status.h"
#include "http/request.h"

namespace custos::api {

// Query parameter `name` as a decimal integer in [min, max]; `fallback` when absent or empty.
// INVALID_ARGUMENT "NAME must be an integer from MIN to MAX" otherwise.
StatusOr<int64_t> IntQuery(const http::Request& request, std::string_view name, int64_t fallback,
                           int64_t min, int64_t max);

// Query parameter `name` as true/1 or false/0; nullopt when absent or empty.
// INVALID_ARGUMENT "NAME must be true or false" otherwise.
StatusOr<std::optional<bool>> BoolQuery(const http::Request& request, std::string_view name);

}  // namespace custos::api

#endif  // CUSTOS_API_QUERY_H_
