// Time: the injected Clock, and the text forms of instants and durations used in configuration,
// the API and the CLI.
//
// Nothing in custos calls system_clock::now() directly: components take a Clock* so tests pin
// time (certificate validity, challenge expiry, nonces) instead of waiting.
#ifndef CUSTOS_BASE_TIME_H_
#define CUSTOS_BASE_TIME_H_

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "base/status.h"

namespace custos {

using Time = std::chrono::system_clock::time_point;
using Duration = std::chrono::seconds;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Time Now() const = 0;
  // The process-wide real clock.
  static Clock* Real();
};

// A clock tests set and advance by hand. Thread-safe.
class FakeClock : public Clock {
 public:
  explicit FakeClock(Time start) : now_(start) {}
  Time Now() const override;
  void Set(Time t);
  void Advance(std::chrono::seconds d);

 private:
  mutable std::mutex mu_;
  Time now_;
};

int64_t ToUnixSeconds(Time t);
Time FromUnixSeconds(int64_t s);

// "2026-11-22T15:23:00Z" (UTC, seconds precision).
std::string FormatRfc3339(Time t);
// Accepts "YYYY-MM-DDTHH:MM:SS[.fff](Z|+hh:mm|-hh:mm)".
StatusOr<Time> ParseRfc3339(std::string_view text);

// Durations in configuration and flags: an integer with a unit, s, m, h or d ("90s", "15m",
// "24h", "365d"), or a bare integer meaning seconds. Several parts may be combined ("1h30m").
StatusOr<Duration> ParseDuration(std::string_view text);
// The inverse, using the largest exact units ("365d", "1h30m", "0s").
std::string FormatDuration(Duration d);

}  // namespace custos

#endif  // CUSTOS_BASE_TIME_H_
