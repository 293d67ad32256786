// Logging: spdlog to standard error, as human text (default) or JSON lines (--log-format json),
// with the current request ID attached to every line logged while a request is being handled.
//
// Use spdlog's functions directly (spdlog::info("issued {}", serial)). Never log private keys,
// tokens, challenges or passwords; log what identifies them (a serial, a hash) instead.
#ifndef CUSTOS_BASE_LOGGING_H_
#define CUSTOS_BASE_LOGGING_H_

#include <spdlog/spdlog.h>

#include <string>
#include <string_view>

#include "base/status.h"

namespace custos {

enum class LogFormat { kText, kJson };

StatusOr<LogFormat> ParseLogFormat(std::string_view text);  // "text" | "json"

// Replaces the default logger. `level` is trace|debug|info|warn|error|off.
Status InitLogging(LogFormat format, std::string_view level);

// While alive, every line logged on this thread carries `request_id`. Nests.
class ScopedRequestId {
 public:
  explicit ScopedRequestId(std::string request_id);
  ~ScopedRequestId();
  ScopedRequestId(const ScopedRequestId&) = delete;
  ScopedRequestId& operator=(const ScopedRequestId&) = delete;

 private:
  std::string previous_;
};

// The request ID of the request being handled on this thread, or "".
const std::string& CurrentRequestId();

}  // namespace custos

#endif  // CUSTOS_BASE_LOGGING_H_
