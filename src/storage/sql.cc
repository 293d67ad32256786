#include "storage/sql.h"

#include <charconv>

namespace custos::sql {
namespace {

const Value& NullValue() {
  static const Value kNull;
  return kNull;
}

Status ColumnError(size_t i, std::string_view want) {
  return InternalError("database column " + std::to_string(i) + " is not " + std::string(want));
}

}  // namespace

const Value& Row::at(size_t i) const { return i < values_.size() ? values_[i] : NullValue(); }

bool Row::IsNull(size_t i) const { return std::holds_alternative<std::monostate>(at(i)); }

StatusOr<int64_t> Row::GetInt(size_t i) const {
  const Value& v = at(i);
  if (const auto* n = std::get_if<int64_t>(&v)) return *n;
  if (const auto* s = std::get_if<std::string>(&v)) {
    int64_t out = 0;
    auto [end, ec] = std::from_chars(s->data(), s->data() + s->size(), out);
    if (ec == std::errc() && end == s->data() + s->size()) return out;
  }
  return ColumnError(i, "an integer");
}

StatusOr<std::string> Row::GetText(size_t i) const {
  const Value& v = at(i);
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  if (const auto* b = std::get_if<Blob>(&v)) return b->bytes;
  return ColumnError(i, "text");
}

StatusOr<std::string> Row::GetBytes(size_t i) const {
  const Value& v = at(i);
  if (const auto* b = std::get_if<Blob>(&v)) return b->bytes;
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  return ColumnError(i, "bytes");
}

StatusOr<bool> Row::GetBool(size_t i) const {
  ASSIGN_OR_RETURN(int64_t n, GetInt(i));
  return n != 0;
}

StatusOr<Time> Row::GetTime(size_t i) const {
  ASSIGN_OR_RETURN(int64_t n, GetInt(i));
  return FromUnixSeconds(n);
}

Status CheckParams(const std::vector<Value>& params) {
  for (size_t i = 0; i < params.size(); ++i) {
    const auto* s = std::get_if<std::string>(&params[i]);
    if (s != nullptr && s->find('\0') != std::string::npos) {
      return InvalidArgumentError("text parameter $" + std::to_string(i + 1) +
                                  " contains a NUL byte");
    }
  }
  return OkStatus();
}

}  // namespace custos::sql
