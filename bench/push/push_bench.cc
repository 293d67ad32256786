// bench/push: pushes per second through custos' APNs provider (src/push/apns.h) to a fake APNs
// server over loopback (issue 4, "Benchmarks": target 50,000 pushes per second).
//
//   push_bench --write-pki DIR
//       writes a throw-away PKI for an external fake server and exits: server-ca.pem,
//       server.pem, server.key (TLS for 127.0.0.1), push-ca.pem (the CA the server must require
//       client certificates from) and push.pem (push certificate + key, topic in the UID).
//   push_bench [--pushes N] [--batch N] [--streams N] [--connections N]
//       starts tests/fakeapns/fake_apns.py (recording off) and measures against it.
//   push_bench --url https://127.0.0.1:PORT --pki DIR [--pushes N] ...
//       measures against an already running server set up with --write-pki DIR's files.
//   --gone-every N: every Nth push goes to a token starting with bytes DE AD, which the
//       server is expected to answer 410 Unregistered (run.sh's nginx does, with a JSON reason):
//       the run fails unless exactly those pushes come back kUnregistered.
//
// Every push goes to a distinct enrollment and token (no coalescing). Prints one line:
//   pushes=N seconds=S pushes_per_second=R delivered=D unregistered=U failed=F
//   client_cpu_us_per_push=C client_cpu_bound_pushes_per_second_per_core=K
// (the CPU figures count this process only: the provider's worker thread plus target building)
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <string>

#include "base/logging.h"
#include "push/apns.h"
#include "push/testing/fake_apns_process.h"
#include "push/testing/test_pki.h"

namespace {

using namespace custos;
using namespace custos::push;

constexpr char kTopic[] = "com.apple.mgmt.External.9d0c5e1a-3b7f-4e2d-8a6c-1f5b4d3e2a90";

int Fail(const std::string& what) {
  std::fprintf(stderr, "push_bench: %s\n", what.c_str());
  return 1;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Token(uint32_t i, bool gone = false) {
  std::string t(32, '\x5a');
  if (gone) {
    t[0] = '\xde';
    t[1] = '\xad';
  }
  for (int b = 0; b < 4; ++b) t[31 - b] = static_cast<char>((i >> (8 * b)) & 0xff);
  return t;
}

// CPU seconds (user + system) this process has used so far: on a machine whose cores are shared,
// CPU per push says more about the provider's cost than the wall-clock rate.
double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

int WritePki(const std::string& dir) {
  auto server_ca = testing::MakeCa("bench APNs server CA");
  auto push_ca = testing::MakeCa("bench push CA");
  if (!server_ca.ok() || !push_ca.ok()) return Fail("making CAs");
  auto server = testing::MakeServerCert(*server_ca);
  Time now = std::chrono::system_clock::now();
  auto leaf = testing::MakePushCert(*push_ca, kTopic, now - std::chrono::hours(1),
                                    now + std::chrono::hours(24));
  if (!server.ok() || !leaf.ok()) return Fail("making certificates");
  for (auto [name, data] : {std::pair<std::string, std::string>{"server-ca.pem", server_ca->cert_pem},
                            {"server.pem", server->cert_pem},
                            {"server.key", server->key_pem},
                            {"push-ca.pem", push_ca->cert_pem},
                            {"push.pem", leaf->cert_pem + leaf->key_pem}}) {
    Status s = testing::WriteFile(dir + "/" + name, data);
    if (!s.ok()) return Fail(s.ToString());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t pushes = 100000;
  int64_t batch = 1000;
  int64_t streams = 1000;
  int64_t connections = 2;
  int64_t gone_every = 0;
  std::string url, pki, write_pki;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--pushes") pushes = std::atoll(next().c_str());
    else if (a == "--batch") batch = std::atoll(next().c_str());
    else if (a == "--streams") streams = std::atoll(next().c_str());
    else if (a == "--connections") connections = std::atoll(next().c_str());
    else if (a == "--gone-every") gone_every = std::atoll(next().c_str());
    else if (a == "--url") url = next();
    else if (a == "--pki") pki = next();
    else if (a == "--write-pki") write_pki = next();
    else return Fail("unknown argument " + a);
  }
  if (!write_pki.empty()) return WritePki(write_pki);
  if (pushes <= 0 || batch <= 0) return Fail("--pushes and --batch must be positive");
  (void)InitLogging(LogFormat::kText, "warn");

  std::unique_ptr<testing::FakeApnsProcess> fake;
  std::string ca_file;
  std::shared_ptr<const PushCertificate> cert;
  std::string tmp;
  if (url.empty()) {
    auto dir = testing::MakeTempDir("custos-push-bench");
    if (!dir.ok()) return Fail(dir.status().ToString());
    tmp = *dir;
    auto push_ca = testing::MakeCa("bench push CA");
    if (!push_ca.ok()) return Fail(push_ca.status().ToString());
    Time now = std::chrono::system_clock::now();
    auto leaf = testing::MakePushCert(*push_ca, kTopic, now - std::chrono::hours(1),
                                      now + std::chrono::hours(24));
    if (!leaf.ok()) return Fail(leaf.status().ToString());
    auto pc = PushCertificate::FromPem(leaf->cert_pem, leaf->key_pem);
    if (!pc.ok()) return Fail(pc.status().ToString());
    cert = *std::move(pc);
    testing::FakeApnsProcess::Options o;
    o.dir = tmp;
    o.client_ca_pem = push_ca->cert_pem;
    o.record = false;
    o.max_streams = static_cast<int>(streams);
    auto started = testing::FakeApnsProcess::Start(std::move(o));
    if (!started.ok()) return Fail(started.status().ToString());
    fake = *std::move(started);
    url = fake->url();
    ca_file = fake->server_ca_file();
  } else {
    if (pki.empty()) return Fail("--url needs --pki DIR (from --write-pki)");
    auto pc = PushCertificate::Load(ReadFile(pki + "/push.pem"));
    if (!pc.ok()) return Fail(pc.status().ToString());
    cert = *std::move(pc);
    ca_file = pki + "/server-ca.pem";
  }

  StaticPushCertificates certs;
  certs.Put(cert);
  ApnsOptions options;
  options.base_url = url;
  options.ca_file = ca_file;
  options.max_concurrent_streams = streams;
  options.max_connections = connections;
  options.max_retries = 3;
  options.retry_base_delay = std::chrono::milliseconds(50);
  auto provider = ApnsProvider::Create(options, &certs);
  if (!provider.ok()) return Fail(provider.status().ToString());

  // Warm up: the TLS handshakes and HTTP/2 settings exchange are not part of the rate.
  std::vector<PushTarget> warm;
  for (int64_t i = 0; i < std::min<int64_t>(streams * connections, 2000); ++i) {
    warm.push_back(PushTarget{"warm-" + std::to_string(i), kTopic, Token(0x80000000u + i), "m"});
  }
  for (const auto& r : (*provider)->PushAndWait(warm)) {
    if (r.outcome != PushOutcome::kDelivered) return Fail("warm-up push failed: " + r.reason);
  }

  std::atomic<int64_t> delivered{0}, unregistered{0}, failed{0}, remaining{pushes};
  std::promise<void> all_done;
  std::string first_error;
  std::mutex error_mu;
  auto start = std::chrono::steady_clock::now();
  double cpu_start = CpuSeconds();
  for (int64_t sent = 0; sent < pushes; sent += batch) {
    std::vector<PushTarget> targets;
    int64_t n = std::min(batch, pushes - sent);
    targets.reserve(static_cast<size_t>(n));
    for (int64_t i = sent; i < sent + n; ++i) {
      bool gone = gone_every > 0 && i % gone_every == 0;
      targets.push_back(PushTarget{"bench-" + std::to_string(i), kTopic,
                                   Token(static_cast<uint32_t>(i), gone), "magic"});
    }
    (*provider)->Push(std::move(targets), [&](std::vector<PushResult> results) {
      int64_t ok = 0, gone = 0;
      for (const auto& r : results) {
        if (r.outcome == PushOutcome::kDelivered) {
          ++ok;
        } else if (r.outcome == PushOutcome::kUnregistered && r.http_status == 410 &&
                   r.reason == "Unregistered") {
          ++gone;
        } else {
          std::lock_guard lock(error_mu);
          if (first_error.empty()) first_error = r.reason;
        }
      }
      delivered += ok;
      unregistered += gone;
      failed += static_cast<int64_t>(results.size()) - ok - gone;
      if (remaining.fetch_sub(static_cast<int64_t>(results.size())) ==
          static_cast<int64_t>(results.size())) {
        all_done.set_value();
      }
    });
  }
  all_done.get_future().wait();
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double cpu = CpuSeconds() - cpu_start;
  std::printf(
      "pushes=%lld seconds=%.3f pushes_per_second=%.0f delivered=%lld unregistered=%lld "
      "failed=%lld client_cpu_us_per_push=%.1f client_cpu_bound_pushes_per_second_per_core=%.0f\n",
      static_cast<long long>(pushes), seconds, static_cast<double>(pushes) / seconds,
      static_cast<long long>(delivered.load()), static_cast<long long>(unregistered.load()),
      static_cast<long long>(failed.load()),
      cpu * 1e6 / static_cast<double>(pushes), static_cast<double>(pushes) / cpu);
  if (!first_error.empty()) std::fprintf(stderr, "push_bench: first failure: %s\n", first_error.c_str());
  provider->reset();
  fake.reset();
  if (!tmp.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(tmp, ec);
  }
  int64_t expected_gone = gone_every > 0 ? (pushes + gone_every - 1) / gone_every : 0;
  if (unregistered.load() != expected_gone) {
    std::fprintf(stderr, "push_bench: %lld pushes unregistered, expected %lld\n",
                 static_cast<long long>(unregistered.load()), static_cast<long long>(expected_gone));
    return 1;
  }
  return failed.load() == 0 ? 0 : 1;
}
