#include "api/query.h"

#include <charconv>
#include <string>

namespace custos::api {

StatusOr<int64_t> IntQuery(const http::Request& request, std::string_view name, int64_t fallback,
                           int64_t min, int64_t max) {
  auto v = request.Query(name);
  if (!v.has_value() || v->empty()) return fallback;
  int64_t out = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || end != v->data() + v->size() || out < min || out > max) {
    return InvalidArgumentError(std::string(name) + " must be an integer from " +
                                std::to_string(min) + " to " + std::to_string(max));
  }
  return out;
}

StatusOr<std::optional<bool>> BoolQuery(const http::Request& request, std::string_view name) {
  auto v = request.Query(name);
  if (!v.has_value() || v->empty()) return std::optional<bool>();
  if (*v == "true" || *v == "1") return std::optional<bool>(true);
  if (*v == "false" || *v == "0") return std::optional<bool>(false);
  return InvalidArgumentError(std::string(name) + " must be true or false");
}

}  // namespace custos::api
