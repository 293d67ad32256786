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
//   ca_bench [--threads N] [--seconds S] [--issuing-bits 2048] [--dir DIR] [--mode M]
// --mode issue (default): Authority::Issue as above. The two parts alone, to show where the time
// goes (both print the same line; "recorded" counts what the mode wrote):
//   sign-only    build and sign the same certificate (pki BuildCertificateForSpki), no record;
//   record-only  commit a CertificateRecord like Issue's (fresh serial and hash each time) through
//                the same group committer (ca/record_committer.h), no signature.
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
#include "base/encoding.h"
#include "ca/authority.h"
#include "ca/record_committer.h"
#include "pki/key.h"
#include "pki/x509.h"
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
  std::string mode = "issue";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--threads") threads = std::atoi(argv[i + 1]);
    else if (flag == "--seconds") seconds = std::atof(argv[i + 1]);
    else if (flag == "--issuing-bits") bits = std::atoi(argv[i + 1]);
    else if (flag == "--dir") dir = argv[i + 1];
    else if (flag == "--mode") mode = argv[i + 1];
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

    // record-only: records shaped like Issue's (taken from real issuances), new serial + hash.
    CertRecordCommitter committer(storage->get());
    std::vector<CertificateRecord> samples;
    X509Ptr issuer = (*ca)->ActiveIssuer();
    EvpPkeyPtr issuer_key;  // sign-only: the issuing key, as the Authority loads it
    if (mode == "sign-only") {
      CaCertRecord active = (*ca)->ActiveIssuerRecord();
      Status ks = (*storage)->Transact(
          [&](Stores& st) -> Status {
            ASSIGN_OR_RETURN(CaKeyRecord k, st.ca().GetKey(active.key_id));
            ASSIGN_OR_RETURN(issuer_key, PrivateKeyFromPem(k.pkcs8_pem, "bench"));
            return OkStatus();
          },
          TxMode::kReadOnly);
      if (!ks.ok()) {
        std::fprintf(stderr, "issuing key: %s\n", ks.ToString().c_str());
        return 1;
      }
    }
    if (mode != "issue" && mode != "sign-only" && mode != "record-only") {
      std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
      return 2;
    }
    auto issue = [&](int n, int thread) -> bool {
      if (mode == "record-only" && !samples.empty()) {
        CertificateRecord r = samples[static_cast<size_t>(n) % samples.size()];
        std::string tag = HexEncode(Random::Secure()->Bytes(16));
        r.serial_hex = "7" + tag.substr(1);
        r.cert_sha256 = Sha256Hex(tag);
        Status st = committer.Commit(r);
        if (!st.ok()) std::fprintf(stderr, "record: %s\n", st.ToString().c_str());
        return st.ok();
      }
      if (mode == "sign-only") {
        CertificateTemplate t;
        t.subject = {{"CN", "bench-device-" + std::to_string(thread) + "-" + std::to_string(n)},
                     {"O", "custos bench"}};
        t.sans = {{"dns", "device" + std::to_string(n) + ".bench.example", ""}};
        t.key_usage = kKuDigitalSignature | kKuKeyEncipherment;
        t.extended_key_usages = {kEkuClientAuth};
        t.basic_constraints_ca = false;
        t.not_before = Clock::Real()->Now();
        t.not_after = t.not_before + std::chrono::hours(24 * 365);
        t.serial_hex = "7" + HexEncode(Random::Secure()->Bytes(16)).substr(1);
        auto c = BuildCertificateForSpki(
            t, keys[static_cast<size_t>(n + thread * 7) % keys.size()], issuer.get(),
            issuer_key.get());
        if (!c.ok()) std::fprintf(stderr, "sign: %s\n", c.status().ToString().c_str());
        return c.ok();
      }
      IssueRequest req;
      req.spki_der = keys[static_cast<size_t>(n + thread * 7) % keys.size()];
      req.subject = {{"CN", "bench-device-" + std::to_string(thread) + "-" + std::to_string(n)},
                     {"O", "custos bench"}};
      req.sans = {{"dns", "device" + std::to_string(n) + ".bench.example", ""}};
      req.requester = "api";
      req.requester_ref = "bench";
      auto c = (*ca)->Issue(req);
      if (!c.ok()) std::fprintf(stderr, "issue: %s\n", c.status().ToString().c_str());
      if (c.ok() && mode == "record-only") samples.push_back(c->record);
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
    // (CertStore::List pages at most 10000 records at a time: page through all of them.)
    const long warm_up_records = mode == "sign-only" ? 0 : 20;
    long recorded = -warm_up_records;
    CertificateFilter filter;
    filter.limit = 10000;
    Status s = (*storage)->Transact(
        [&](Stores& st) -> Status {
          recorded = -warm_up_records;
          filter.after_serial.clear();
          for (;;) {
            ASSIGN_OR_RETURN(auto list, st.certs().List(filter));
            recorded += static_cast<long>(list.size());
            if (static_cast<int64_t>(list.size()) < filter.limit) return OkStatus();
            filter.after_serial = list.back().serial_hex;
          }
        },
        TxMode::kReadOnly);
    if (!s.ok()) std::fprintf(stderr, "count: %s\n", s.ToString().c_str());
    double n = static_cast<double>(issued.load());
    std::printf(
        "issued=%ld seconds=%.2f per_second=%.1f cpu_seconds=%.2f per_cpu_second=%.1f threads=%d "
        "recorded=%ld mode=%s\n",
        issued.load(), elapsed, n / elapsed, cpu, n / cpu, threads, recorded, mode.c_str());
    if (failed || recorded != (mode == "sign-only" ? 0 : issued.load())) rc = 1;
  }
  if (own_dir) std::filesystem::remove_all(dir);
  return rc;
}

}  // namespace
}  // namespace custos

int main(int argc, char** argv) { return custos::Run(argc, argv); }
