// bench/acme/cpu_timing.h: CPU-time helpers shared by acme_floor_bench and acme_stack_bench.
//
// Warm: an operation repeated back to back finds its code and data in the caches, which is how a
// micro-benchmark usually prices it. Cold (--cold): before each timed call a buffer twice the size
// of a large last-level cache is written (not timed), so the call starts with its code and data
// out of the caches and the TLB. That is the state an ACME server is in during the lego orders of
// bench/acme/run.sh: one request at a time, each after the client process and others ran.
#ifndef CUSTOS_BENCH_ACME_CPU_TIMING_H_
#define CUSTOS_BENCH_ACME_CPU_TIMING_H_

#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

namespace custos_bench {

inline double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

inline bool& ColdFlag() {
  static bool cold = false;
  return cold;
}
inline void SetCold(bool cold) { ColdFlag() = cold; }
inline bool Cold() { return ColdFlag(); }

// In cold mode: pushes everything out of the caches (64 MiB written a line at a time). Not timed
// by the callers.
inline void EvictCaches() {
  if (!Cold()) return;
  static std::vector<unsigned char> junk(64u << 20);
  static std::atomic<unsigned> sink{0};  // keeps the writes from being optimized away
  unsigned acc = 0;
  for (size_t i = 0; i < junk.size(); i += 64) acc += ++junk[i];
  sink.store(acc, std::memory_order_relaxed);
}

// Iterations for a price: `base` times `scale`, a tenth of that in cold mode (each eviction costs
// milliseconds), at least 30.
inline int Iterations(int base, double scale) {
  int n = static_cast<int>(base * scale);
  if (Cold()) n /= 10;
  return std::max(30, n);
}

// The benches' command line, [--scale X] [--cold]: sets cold mode and returns X (default 1), which
// multiplies every iteration count.
inline double ParseArgs(int argc, char** argv) {
  double scale = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--cold") == 0) SetCold(true);
    if (std::strcmp(argv[i], "--scale") == 0 && i + 1 < argc) scale = std::atof(argv[++i]);
  }
  return scale;
}

// Microseconds of this thread's CPU per call of `op`, call by call, after a warm-up of n/20 calls.
inline double MicrosPerOp(int n, const std::function<void()>& op) {
  for (int i = 0; i < n / 20 + 1; ++i) op();
  double total = 0;
  for (int i = 0; i < n; ++i) {
    EvictCaches();
    double t0 = ThreadCpuSeconds();
    op();
    total += ThreadCpuSeconds() - t0;
  }
  return total * 1e6 / n;
}

}  // namespace custos_bench

#endif  // CUSTOS_BENCH_ACME_CPU_TIMING_H_
