#include "base/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>

namespace custos {
namespace {

thread_local std::string g_request_id;

std::string Timestamp(spdlog::log_clock::time_point tp) {
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(tp);
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(tp - secs).count();
  std::time_t tt = spdlog::log_clock::to_time_t(tp);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[40];
  size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof(buf) - n, ".%03dZ", static_cast<int>(millis));
  return buf;
}

class CustosFormatter : public spdlog::formatter {
 public:
  explicit CustosFormatter(LogFormat format) : format_(format) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string_view payload(msg.payload.data(), msg.payload.size());
    auto level_sv = spdlog::level::to_string_view(msg.level);
    std::string_view level(level_sv.data(), level_sv.size());
    std::string line;
    if (format_ == LogFormat::kJson) {
      nlohmann::json j;
      j["ts"] = Timestamp(msg.time);
      j["level"] = std::string(level);
      j["msg"] = std::string(payload);
      if (!g_request_id.empty()) j["request_id"] = g_request_id;
      line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } else {
      line = Timestamp(msg.time);
      line += ' ';
      line += level;
      if (!g_request_id.empty()) {
        line += " [";
        line += g_request_id;
        line += ']';
      }
      line += ' ';
      line += payload;
    }
    line += '\n';
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<CustosFormatter>(format_);
  }

 private:
  LogFormat format_;
};

}  // namespace

StatusOr<LogFormat> ParseLogFormat(std::string_view text) {
  if (text == "text") return LogFormat::kText;
  if (text == "json") return LogFormat::kJson;
  return InvalidArgumentError("log format must be text or json, not \"" + std::string(text) + "\"");
}

Status InitLogging(LogFormat format, std::string_view level) {
  auto lvl = spdlog::level::from_str(std::string(level));
  if (lvl == spdlog::level::off && level != "off") {
    return InvalidArgumentError("log level must be trace, debug, info, warn, error or off, not \"" +
                                std::string(level) + "\"");
  }
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("custos", sink);
  logger->set_formatter(std::make_unique<CustosFormatter>(format));
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  return OkStatus();
}

ScopedRequestId::ScopedRequestId(std::string request_id) : previous_(std::move(g_request_id)) {
  g_request_id = std::move(request_id);
}
ScopedRequestId::~ScopedRequestId() { g_request_id = std::move(previous_); }

const std::string& CurrentRequestId() { return g_request_id; }

}  // namespace custos
