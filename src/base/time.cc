#include "base/time.h"

#include <cstdio>
#include <ctime>

namespace custos {
namespace {

class RealClock : public Clock {
 public:
  Time Now() const override { return std::chrono::system_clock::now(); }
};

bool ParseDigits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

}  // namespace

Clock* Clock::Real() {
  static RealClock clock;
  return &clock;
}

Time FakeClock::Now() const {
  std::lock_guard<std::mutex> lock(mu_);
  return now_;
}
void FakeClock::Set(Time t) {
  std::lock_guard<std::mutex> lock(mu_);
  now_ = t;
}
void FakeClock::Advance(std::chrono::seconds d) {
  std::lock_guard<std::mutex> lock(mu_);
  now_ += d;
}

int64_t ToUnixSeconds(Time t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
Time FromUnixSeconds(int64_t s) { return Time(std::chrono::seconds(s)); }

std::string FormatRfc3339(Time t) {
  std::time_t tt = static_cast<std::time_t>(ToUnixSeconds(t));
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

StatusOr<Time> ParseRfc3339(std::string_view s) {
  int year, month, day, hour, minute, second;
  if (!ParseDigits(s, 0, 4, &year) || s.size() < 20 || s[4] != '-' ||
      !ParseDigits(s, 5, 2, &month) || s[7] != '-' || !ParseDigits(s, 8, 2, &day) ||
      (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !ParseDigits(s, 11, 2, &hour) ||
      s[13] != ':' || !ParseDigits(s, 14, 2, &minute) || s[16] != ':' ||
      !ParseDigits(s, 17, 2, &second)) {
    return InvalidArgumentError("not an RFC 3339 time: " + std::string(s));
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return InvalidArgumentError("RFC 3339 time out of range: " + std::string(s));
  }
  size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
  }
  int offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!ParseDigits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !ParseDigits(s, pos + 4, 2, &om)) {
      return InvalidArgumentError("bad RFC 3339 offset: " + std::string(s));
    }
    offset = (oh * 60 + om) * 60 * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return InvalidArgumentError("RFC 3339 time needs a zone (Z or +hh:mm): " + std::string(s));
  }
  if (pos != s.size()) return InvalidArgumentError("trailing text in RFC 3339 time: " + std::string(s));
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  int64_t secs = static_cast<int64_t>(timegm(&tm)) - offset;
  return FromUnixSeconds(secs);
}

StatusOr<Duration> ParseDuration(std::string_view text) {
  if (text.empty()) return InvalidArgumentError("empty duration");
  int64_t total = 0;
  size_t i = 0;
  bool any = false;
  while (i < text.size()) {
    int64_t n = 0;
    size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (n > (int64_t{1} << 40)) return InvalidArgumentError("duration too large: " + std::string(text));
      n = n * 10 + (text[i] - '0');
      ++i;
    }
    if (i == start) return InvalidArgumentError("bad duration (use e.g. 90s, 15m, 24h, 365d): " + std::string(text));
    int64_t unit = 1;
    if (i < text.size()) {
      switch (text[i]) {
        case 's': unit = 1; break;
        case 'm': unit = 60; break;
        case 'h': unit = 3600; break;
        case 'd': unit = 86400; break;
        default:
          return InvalidArgumentError("bad duration unit (use s, m, h or d): " + std::string(text));
      }
      ++i;
    } else if (any) {
      return InvalidArgumentError("duration part without a unit: " + std::string(text));
    }
    total += n * unit;
    any = true;
  }
  return Duration(total);
}

std::string FormatDuration(Duration d) {
  int64_t s = d.count();
  if (s == 0) return "0s";
  std::string out;
  if (s < 0) {
    out = "-";
    s = -s;
  }
  const std::pair<int64_t, char> units[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
  for (auto [size, name] : units) {
    if (s >= size) {
      out += std::to_string(s / size);
      out += name;
      s %= size;
    }
  }
  return out;
}

}  // namespace custos
