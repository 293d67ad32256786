// Metrics: a small thread-safe registry of counters, gauges and histograms with labels, rendered
// in the Prometheus text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/).
//
// Every component registers its families once (usually at construction) and keeps the returned
// family reference; series are created on first use of a label combination and never removed, so
// label values must come from a bounded set (a route pattern, a status code, never a raw path or a
// device ID).
//
// Hot path: updating a series is one atomic operation; looking a series up by its label values
// takes a shared (reader) lock; only creating a new series or family takes the exclusive lock.
// References returned by the registry stay valid for the registry's lifetime, so callers may cache
// them.
//
//   auto& requests = metrics::Default().AddCounter("custos_x_total", "Xs handled.", {"kind"});
//   requests.WithLabels({"a"}).Inc();
#ifndef CUSTOS_BASE_METRICS_H_
#define CUSTOS_BASE_METRICS_H_

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace custos::metrics {

// A monotonically increasing value.
class Counter {
 public:
  // Adds `v`; negative values are ignored (a counter never decreases).
  void Inc(double v = 1) {
    if (v > 0) value_.fetch_add(v, std::memory_order_relaxed);
  }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Inc(double v = 1) { value_.fetch_add(v, std::memory_order_relaxed); }
  void Dec(double v = 1) { value_.fetch_sub(v, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into fixed buckets (upper bounds, ascending), plus their sum and count.
class Histogram {
 public:
  explicit Histogram(const std::vector<double>* bounds);
  void Observe(double v);

  // Cumulative counts per bound (same length as the bounds), then sum and total count.
  std::vector<uint64_t> CumulativeCounts() const;
  double Sum() const { return sum_.load(std::memory_order_relaxed); }
  uint64_t Count() const { return count_.load(std::memory_order_relaxed); }

 private:
  const std::vector<double>* bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // one per bound; +Inf is count_
  std::atomic<double> sum_{0};
  std::atomic<uint64_t> count_{0};
};

enum class Type { kCounter, kGauge, kHistogram };

// The series of one metric name, one per combination of label values.
template <typename T>
class Family {
 public:
  // The series for `values`, one per label name in declaration order, created on first use.
  // Missing values are treated as "", extra values are ignored (a programming error that must not
  // crash a server).
  T& WithLabels(std::initializer_list<std::string_view> values);
  T& WithLabels(const std::vector<std::string>& values);
  // The series of a family declared without labels.
  T& Get() { return WithLabels({}); }

  const std::string& name() const { return name_; }

 private:
  friend class Registry;
  Family(std::string name, std::string help, Type type, std::vector<std::string> label_names,
         std::vector<double> bounds);
  T& Lookup(const std::string_view* values, size_t n);
  void Render(std::string& out) const;

  std::string name_;
  std::string help_;
  Type type_;
  std::vector<std::string> label_names_;
  std::vector<double> bounds_;  // histograms only
  mutable std::shared_mutex mu_;
  // Key: label values joined with '\0'. Values: stable addresses.
  std::map<std::string, std::unique_ptr<T>, std::less<>> series_;
  std::map<std::string, std::vector<std::string>, std::less<>> series_labels_;
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

// Default latency buckets in seconds: 1 ms to 10 s.
const std::vector<double>& DefaultLatencyBuckets();

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registers (or returns the already registered) family `name`. Characters outside
  // [a-zA-Z0-9_:] (label names: [a-zA-Z0-9_]) are replaced by '_'. Registering an existing name
  // again with the same type returns the existing family (its help and labels win); registering it
  // with a different type or label names is a programming error: the call returns a detached
  // family that works but is never rendered, and logs nothing (the registry has no logger).
  CounterFamily& AddCounter(std::string_view name, std::string_view help,
                            std::vector<std::string> label_names = {});
  GaugeFamily& AddGauge(std::string_view name, std::string_view help,
                        std::vector<std::string> label_names = {});
  // `bounds`: ascending bucket upper bounds; unsorted input is sorted, duplicates removed.
  HistogramFamily& AddHistogram(std::string_view name, std::string_view help,
                                std::vector<std::string> label_names,
                                std::vector<double> bounds = DefaultLatencyBuckets());

  // Every family, sorted by name, in text exposition format 0.0.4 (content type
  // "text/plain; version=0.0.4"): "# HELP", "# TYPE", then one line per series; label values
  // and help text escaped as the format requires.
  std::string Render() const;

 private:
  template <typename T>
  Family<T>& Add(std::string_view name, std::string_view help, Type type,
                 std::vector<std::string> label_names, std::vector<double> bounds);

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<CounterFamily>, std::less<>> counters_;
  std::map<std::string, std::unique_ptr<GaugeFamily>, std::less<>> gauges_;
  std::map<std::string, std::unique_ptr<HistogramFamily>, std::less<>> histograms_;
  std::vector<std::unique_ptr<CounterFamily>> detached_counters_;
  std::vector<std::unique_ptr<GaugeFamily>> detached_gauges_;
  std::vector<std::unique_ptr<HistogramFamily>> detached_histograms_;
};

// The process-wide registry that /metrics serves. Components take a Registry* so tests can pass
// their own.
Registry& Default();

// Escaping rules of the text format, exposed for tests.
std::string EscapeLabelValue(std::string_view value);  // \\, \" and \n
std::string EscapeHelp(std::string_view help);         // \\ and \n
// A sample value: integers without a fraction, "+Inf", "-Inf", "NaN", else shortest round-trip.
std::string FormatValue(double v);

}  // namespace custos::metrics

#endif  // CUSTOS_BASE_METRICS_H_
