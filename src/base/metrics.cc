#include "base/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

namespace custos::metrics {
namespace {

constexpr char kKeySeparator = '\0';

std::string SanitizeName(std::string_view name, bool allow_colon) {
  if (name.empty()) return std::string(1, '_');
  std::string out(name);
  for (size_t i = 0; i < out.size(); ++i) {
    char c = out[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (allow_colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) out[i] = '_';
  }
  return out;
}

const char* TypeName(Type type) {
  switch (type) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// `{a="x",b="y"` without the closing brace, or "" when there are no labels and no extra label.
void AppendLabels(std::string& out, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, std::string_view extra_name = {},
                  std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return;
  out += '{';
  bool first = true;
  for (size_t i = 0; i < names.size(); ++i) {
    if (!first) out += ',';
    first = false;
    out += names[i];
    out += "=\"";
    out += EscapeLabelValue(i < values.size() ? values[i] : std::string());
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

void RenderSeries(std::string& out, const std::string& name, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, const Counter& c,
                  const std::vector<double>&) {
  out += name;
  AppendLabels(out, names, values);
  out += ' ';
  out += FormatValue(c.Value());
  out += '\n';
}

void RenderSeries(std::string& out, const std::string& name, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, const Gauge& g,
                  const std::vector<double>&) {
  out += name;
  AppendLabels(out, names, values);
  out += ' ';
  out += FormatValue(g.Value());
  out += '\n';
}

void RenderSeries(std::string& out, const std::string& name, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, const Histogram& h,
                  const std::vector<double>& bounds) {
  // Read count first: buckets are incremented before count, so the +Inf bucket is never below
  // a finite one in the same scrape (it may be slightly stale, which the format allows).
  std::vector<uint64_t> cumulative = h.CumulativeCounts();
  uint64_t count = std::max(h.Count(), cumulative.empty() ? 0 : cumulative.back());
  double sum = h.Sum();
  for (size_t i = 0; i < bounds.size(); ++i) {
    out += name;
    out += "_bucket";
    AppendLabels(out, names, values, "le", FormatValue(bounds[i]));
    out += ' ';
    out += std::to_string(cumulative[i]);
    out += '\n';
  }
  out += name;
  out += "_bucket";
  AppendLabels(out, names, values, "le", "+Inf");
  out += ' ';
  out += std::to_string(count);
  out += '\n';
  out += name;
  out += "_sum";
  AppendLabels(out, names, values);
  out += ' ';
  out += FormatValue(sum);
  out += '\n';
  out += name;
  out += "_count";
  AppendLabels(out, names, values);
  out += ' ';
  out += std::to_string(count);
  out += '\n';
}

template <typename T>
std::unique_ptr<T> MakeSeries(const std::vector<double>* bounds) {
  if constexpr (std::is_same_v<T, Histogram>) {
    return std::make_unique<Histogram>(bounds);
  } else {
    (void)bounds;
    return std::make_unique<T>();
  }
}

}  // namespace

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    return std::to_string(static_cast<int64_t>(v));
  }
  return fmt::format("{}", v);
}

const std::vector<double>& DefaultLatencyBuckets() {
  static const std::vector<double> kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                0.1,   0.25,   0.5,   1,    2.5,   5,    10};
  return kBuckets;
}

Histogram::Histogram(const std::vector<double>* bounds)
    : bounds_(bounds), buckets_(new std::atomic<uint64_t>[bounds->size()]) {
  for (size_t i = 0; i < bounds_->size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double v) {
  const auto& b = *bounds_;
  // First bound >= v ("le" semantics); observations above every bound only count in +Inf.
  auto it = std::lower_bound(b.begin(), b.end(), v);
  if (it != b.end()) {
    buckets_[it - b.begin()].fetch_add(1, std::memory_order_relaxed);
  }
  sum_.fetch_add(v, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::CumulativeCounts() const {
  std::vector<uint64_t> out(bounds_->size());
  uint64_t running = 0;
  for (size_t i = 0; i < bounds_->size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    out[i] = running;
  }
  return out;
}

template <typename T>
Family<T>::Family(std::string name, std::string help, Type type,
                  std::vector<std::string> label_names, std::vector<double> bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)),
      bounds_(std::move(bounds)) {}

template <typename T>
T& Family<T>::WithLabels(std::initializer_list<std::string_view> values) {
  return Lookup(values.begin(), values.size());
}

template <typename T>
T& Family<T>::WithLabels(const std::vector<std::string>& values) {
  std::vector<std::string_view> views(values.begin(), values.end());
  return Lookup(views.data(), views.size());
}

template <typename T>
T& Family<T>::Lookup(const std::string_view* values, size_t n) {
  // The key buffer is reused per thread so the hot path does not allocate.
  thread_local std::string key;
  key.clear();
  for (size_t i = 0; i < label_names_.size(); ++i) {
    if (i > 0) key += kKeySeparator;
    if (i < n) key.append(values[i]);
  }
  {
    std::shared_lock lock(mu_);
    auto it = series_.find(std::string_view(key));
    if (it != series_.end()) return *it->second;
  }
  std::unique_lock lock(mu_);
  auto it = series_.find(std::string_view(key));
  if (it != series_.end()) return *it->second;
  std::vector<std::string> label_values;
  for (size_t i = 0; i < label_names_.size(); ++i) {
    label_values.emplace_back(i < n ? std::string(values[i]) : std::string());
  }
  series_labels_.emplace(key, std::move(label_values));
  auto [inserted, ok] = series_.emplace(key, MakeSeries<T>(&bounds_));
  (void)ok;
  return *inserted->second;
}

template <typename T>
void Family<T>::Render(std::string& out) const {
  out += "# HELP ";
  out += name_;
  out += ' ';
  out += EscapeHelp(help_);
  out += "\n# TYPE ";
  out += name_;
  out += ' ';
  out += TypeName(type_);
  out += '\n';
  std::shared_lock lock(mu_);
  for (const auto& [key, series] : series_) {
    auto labels = series_labels_.find(key);
    RenderSeries(out, name_, label_names_, labels->second, *series, bounds_);
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

template <typename T>
Family<T>& Registry::Add(std::string_view name, std::string_view help, Type type,
                         std::vector<std::string> label_names, std::vector<double> bounds) {
  std::string clean = SanitizeName(name, /*allow_colon=*/true);
  for (auto& l : label_names) l = SanitizeName(l, /*allow_colon=*/false);
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  bounds.erase(std::remove_if(bounds.begin(), bounds.end(),
                              [](double b) { return std::isnan(b) || std::isinf(b); }),
               bounds.end());

  std::lock_guard lock(mu_);
  auto make = [&] {
    return std::unique_ptr<Family<T>>(
        new Family<T>(clean, std::string(help), type, label_names, bounds));
  };
  auto detached = [&]() -> Family<T>& {
    auto family = make();
    Family<T>& ref = *family;
    if constexpr (std::is_same_v<T, Counter>) {
      detached_counters_.push_back(std::move(family));
    } else if constexpr (std::is_same_v<T, Gauge>) {
      detached_gauges_.push_back(std::move(family));
    } else {
      detached_histograms_.push_back(std::move(family));
    }
    return ref;
  };
  auto& own = [&]() -> auto& {
    if constexpr (std::is_same_v<T, Counter>) {
      return counters_;
    } else if constexpr (std::is_same_v<T, Gauge>) {
      return gauges_;
    } else {
      return histograms_;
    }
  }();
  auto it = own.find(std::string_view(clean));
  if (it != own.end()) {
    if (it->second->label_names_ != label_names) return detached();
    return *it->second;
  }
  bool taken = counters_.count(std::string_view(clean)) + gauges_.count(std::string_view(clean)) +
                   histograms_.count(std::string_view(clean)) >
               0;
  if (taken) return detached();
  auto [inserted, ok] = own.emplace(clean, make());
  (void)ok;
  return *inserted->second;
}

CounterFamily& Registry::AddCounter(std::string_view name, std::string_view help,
                                    std::vector<std::string> label_names) {
  return Add<Counter>(name, help, Type::kCounter, std::move(label_names), {});
}

GaugeFamily& Registry::AddGauge(std::string_view name, std::string_view help,
                                std::vector<std::string> label_names) {
  return Add<Gauge>(name, help, Type::kGauge, std::move(label_names), {});
}

HistogramFamily& Registry::AddHistogram(std::string_view name, std::string_view help,
                                        std::vector<std::string> label_names,
                                        std::vector<double> bounds) {
  return Add<Histogram>(name, help, Type::kHistogram, std::move(label_names), std::move(bounds));
}

std::string Registry::Render() const {
  std::lock_guard lock(mu_);
  // Merge the three maps by name so the output is sorted regardless of type.
  std::map<std::string_view, std::function<void(std::string&)>> ordered;
  for (const auto& [name, f] : counters_) ordered[name] = [p = f.get()](std::string& o) { p->Render(o); };
  for (const auto& [name, f] : gauges_) ordered[name] = [p = f.get()](std::string& o) { p->Render(o); };
  for (const auto& [name, f] : histograms_) {
    ordered[name] = [p = f.get()](std::string& o) { p->Render(o); };
  }
  std::string out;
  for (const auto& [name, render] : ordered) render(out);
  return out;
}

Registry& Default() {
  static Registry* registry = new Registry();  // never destroyed: used from detached threads
  return *registry;
}

}  // namespace custos::metrics
