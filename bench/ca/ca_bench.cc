// ca_bench: certificates issued AND recorded per second through Authority::Issue, the one
// issuance interface every protocol uses, on SQLite (an on-disk database in a temporary folder,
// WAL, synchronous=NORMAL as custos runs it).
//
// Each issuance: a fresh random 128-bit serial, a certificate (subject, SANs, key usage, EKU,
// SKI/AKI) signed with the issuing CA's RSA key (SHA-256, PKCS#1 v1.5), and its CertificateRecord
// inserted in its own transaction. The requesters' public keys (EC P-256) are generated before
// the clock starts and handed over as SubjectPublicKeyInfo DER, as a protocol handler takes them
// from a parsed CSR (Csr::spki_der). Issuance log lines are off
// (log level warn) so the figure measures the CA, not the terminal.
//
//   ca_bench [--threads N] [--seconds S] [--issuing-bits 2048] [--dir DIR]
// prints one line "issued=<n> seconds=<s> per_second=<r> cpu_seconds=<c> per_cpu_second=<p>
// threads=<N> recorded=<m>": per_second is wall-clock throughput; per_cpu_second divides by the
// process's user+system CPU time over the same interval (what `openssl speed` divides by by
// default), which stays meaningful on a machine shared with other work.
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "base/logging.h"
#include "base/random.h"
#include "base/time.h"
#include "ca/authority.h"
#include "pki/key.h"
#include "storage/storage.h"

namespace custos {
namespace {

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

int Run(int argc, char** argv) {
  int threads = 1;
  double seconds = 5;
  int bits = 2048;
  std::string dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--threads") threads = std::atoi(argv[i + 1]);
    else if (flag == "--seconds") seconds = std::atof(argv[i + 1]);
    else if (flag == "--issuing-bits") bits = std::atoi(argv[i + 1]);
    else if (flag == "--dir") dir = argv[i + 1];
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  bool own_dir = dir.empty();
  if (own_dir) {
    char tmpl[] = "/tmp/custos-ca-bench-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return 1;
    dir = tmpl;
  }
  (void)InitLogging(LogFormat::kText, "warn");

  int rc = 0;
  {
    StorageConfig sc;
    sc.driver = "sqlite";
    sc.sqlite_path = dir + "/custos.db";
    auto storage = Storage::Open(sc, Clock::Real());
    if (!storage.ok()) {
      std::fprintf(stderr, "storage: %s\n", storage.status().ToString().c_str());
      return 1;
    }
    CaConfig config;
    config.root_key_type = "ec-p384";  // the root only signs the issuing certificate
    config.issuing_key_bits = bits;
    auto ca = Authority::Init(config, storage->get(), Clock::Real(), Random::Secure(), "bench");
    if (!ca.ok()) {
      std::fprintf(stderr, "CA: %s\n", ca.status().ToString().c_str());
      return 1;
    }
    // Requesters' keys as the SubjectPublicKeyInfo a protocol takes from a parsed CSR.
    std::vector<std::string> keys;
    for (int i = 0; i < 64; ++i) {
      EvpPkeyPtr key = std::move(GenerateKey(KeyAlgorithm::kEcP256).value());
      keys.push_back(PublicKeyToSpkiDer(key.get()).value());
    }

    auto issue = [&](int n, int thread) -> bool {
      IssueRequest req;
      req.spki_der = keys[static_cast<size_t>(n + thread * 7) % keys.size()];
      req.subject = {{"CN", "bench-device-" + std::to_string(thread) + "-" + std::to_string(n)},
                     {"O", "custos bench"}};
      req.sans = {{"dns", "device" + std::to_string(n) + ".bench.example", ""}};
      req.requester = "api";
      req.requester_ref = "bench";
      auto c = (*ca)->Issue(req);
      if (!c.ok()) std::fprintf(stderr, "issue: %s\n", c.status().ToString().c_str());
      return c.ok();
    };
    // Warm-up (page cache, first statements prepared).
    for (int i = 0; i < 20; ++i) issue(i, 99);

    std::atomic<bool> stop{false};
    std::atomic<long> issued{0};
    std::atomic<bool> failed{false};
    auto start = std::chrono::steady_clock::now();
    double cpu_start = CpuSeconds();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        int n = 0;
        while (!stop.load(std::memory_order_relaxed)) {
          if (!issue(n++, t)) {
            failed = true;
            return;
          }
          issued.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& w : workers) w.join();
    double cpu = CpuSeconds() - cpu_start;
    double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    // Every issued certificate must be recorded.
    long recorded = 0;
    CertificateFilter filter;
    filter.limit = 1000000;
    Status s = (*storage)->Transact(
        [&](Stores& st) -> Status {
          ASSIGN_OR_RETURN(auto list, st.certs().List(filter));
          recorded = static_cast<long>(list.size()) - 20;  // minus the warm-up
          return OkStatus();
        },
        TxMode::kReadOnly);
    if (!s.ok()) std::fprintf(stderr, "count: %s\n", s.ToString().c_str());
    double n = static_cast<double>(issued.load());
    std::printf(
        "issued=%ld seconds=%.2f per_second=%.1f cpu_seconds=%.2f per_cpu_second=%.1f threads=%d "
        "recorded=%ld\n",
        issued.load(), elapsed, n / elapsed, cpu, n / cpu, threads, recorded);
    if (failed || recorded != issued.load()) rc = 1;
  }
  if (own_dir) std::filesystem::remove_all(dir);
  return rc;
}

}  // namespace
}  // namespace custos

int main(int argc, char** argv) { return custos::Run(argc, argv); }
