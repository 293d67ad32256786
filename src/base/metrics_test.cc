#include "base/metrics.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace custos::metrics {
namespace {

TEST(MetricsTest, CounterWithLabelsRendersHelpTypeAndSeries) {
  Registry r;
  auto& f = r.AddCounter("custos_test_total", "Things counted.", {"kind", "code"});
  f.WithLabels({"a", "200"}).Inc();
  f.WithLabels({"a", "200"}).Inc(2);
  f.WithLabels({"b", "500"}).Inc();
  std::string text = r.Render();
  EXPECT_NE(text.find("# HELP custos_test_total Things counted.\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE custos_test_total counter\n"), std::string::npos) << text;
  EXPECT_NE(text.find("custos_test_total{kind=\"a\",code=\"200\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("custos_test_total{kind=\"b\",code=\"500\"} 1\n"), std::string::npos) << text;
}

TEST(MetricsTest, CounterIgnoresNegativeIncrements) {
  Registry r;
  auto& c = r.AddCounter("c_total", "h").Get();
  c.Inc(5);
  c.Inc(-3);
  EXPECT_EQ(c.Value(), 5);
}

TEST(MetricsTest, GaugeGoesUpAndDown) {
  Registry r;
  auto& g = r.AddGauge("open", "Open things.").Get();
  g.Inc();
  g.Inc();
  g.Dec();
  EXPECT_EQ(g.Value(), 1);
  g.Set(2.5);
  EXPECT_NE(r.Render().find("open 2.5\n"), std::string::npos) << r.Render();
  EXPECT_NE(r.Render().find("# TYPE open gauge\n"), std::string::npos);
}

TEST(MetricsTest, HistogramBucketsAreCumulative) {
  Registry r;
  auto& h = r.AddHistogram("lat_seconds", "Latency.", {"route"}, {0.1, 1, 0.5});
  auto& s = h.WithLabels({"/x"});
  s.Observe(0.05);
  s.Observe(0.1);  // le is inclusive
  s.Observe(0.7);
  s.Observe(3);
  std::string text = r.Render();
  EXPECT_NE(text.find("lat_seconds_bucket{route=\"/x\",le=\"0.1\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{route=\"/x\",le=\"0.5\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{route=\"/x\",le=\"1\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{route=\"/x\",le=\"+Inf\"} 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_sum{route=\"/x\"} 3.85\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_count{route=\"/x\"} 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE lat_seconds histogram\n"), std::string::npos) << text;
}

TEST(MetricsTest, LabelValuesAndHelpAreEscaped) {
  Registry r;
  r.AddCounter("e_total", "line1\nback\\slash", {"v"}).WithLabels({"a\"b\\c\nd"}).Inc();
  std::string text = r.Render();
  EXPECT_NE(text.find("# HELP e_total line1\\nback\\\\slash\n"), std::string::npos) << text;
  EXPECT_NE(text.find("e_total{v=\"a\\\"b\\\\c\\nd\"} 1\n"), std::string::npos) << text;
}

TEST(MetricsTest, FamiliesAreSortedAndReRegistrationReturnsSameFamily) {
  Registry r;
  auto& z = r.AddCounter("z_total", "z");
  auto& a = r.AddGauge("a_value", "a");
  EXPECT_EQ(&z, &r.AddCounter("z_total", "other help"));
  a.Get().Set(1);
  z.Get().Inc();
  std::string text = r.Render();
  EXPECT_LT(text.find("a_value"), text.find("z_total"));
}

TEST(MetricsTest, ConflictingRegistrationIsDetachedNotRendered) {
  Registry r;
  r.AddCounter("x", "counter").Get().Inc();
  auto& g = r.AddGauge("x", "gauge");
  g.Get().Set(42);  // works, but is not exported
  std::string text = r.Render();
  EXPECT_EQ(text.find("42"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE x counter"), std::string::npos) << text;
}

TEST(MetricsTest, InvalidNamesAreSanitized) {
  Registry r;
  r.AddCounter("bad-name total", "h", {"a-b"}).WithLabels({"v"}).Inc();
  EXPECT_NE(r.Render().find("bad_name_total{a_b=\"v\"} 1\n"), std::string::npos) << r.Render();
}

TEST(MetricsTest, FormatValue) {
  EXPECT_EQ(FormatValue(3), "3");
  EXPECT_EQ(FormatValue(0.25), "0.25");
  EXPECT_EQ(FormatValue(1.0 / 0.0), "+Inf");
  EXPECT_EQ(FormatValue(-1.0 / 0.0), "-Inf");
}

TEST(MetricsTest, ConcurrentUpdatesAreNotLost) {
  Registry r;
  auto& f = r.AddCounter("conc_total", "h", {"t"});
  auto& h = r.AddHistogram("conc_seconds", "h", {});
  constexpr int kThreads = 4;
  constexpr int kIters = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kIters; ++i) {
        f.WithLabels({(i % 2) ? "odd" : "even"}).Inc();
        h.Get().Observe(0.002);
        if (i % 1000 == 0) (void)r.Render();
      }
      (void)t;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(f.WithLabels({"odd"}).Value() + f.WithLabels({"even"}).Value(), kThreads * kIters);
  EXPECT_EQ(h.Get().Count(), static_cast<uint64_t>(kThreads * kIters));
}

TEST(MetricsTest, DefaultRegistryIsProcessWide) {
  EXPECT_EQ(&Default(), &Default());
}

}  // namespace
}  // namespace custos::metrics
