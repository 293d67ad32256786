// bench/acme/acme_bench: full device-attest-01 orders driven in-process against AcmeService (no
// client process, no HTTP): newOrder, authz, challenge with an Apple-format attestation (fake
// attestation CA configured as an extra root), finalize, certificate download, on SQLite in a
// temporary folder. The device side (its key, the attestation leaf for the token, the CSR) is
// prepared outside the measured server calls; server CPU is the calling thread's CPU time inside
// AcmeService::Post (device-attest-01 validation and issuance run in the request).
//
//   acme_bench [--orders N]     prints orders_per_second, server_cpu_ms_per_order
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <nlohmann/json.hpp>

#include "acme/service.h"
#include "acme/testing/acme_client.h"
#include "attest/attestation_object.h"
#include "attest/testdata/fake_attestation.h"
#include "base/encoding.h"
#include "base/logging.h"
#include "pki/csr.h"
#include "storage/testing.h"

namespace custos::acme {
namespace {

using Json = nlohmann::json;

double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// Wraps client posts so that only the server's part is timed.
struct Meter {
  double server_cpu = 0;
  double server_wall = 0;
  testing::ClientReply Post(testing::InProcessAcmeClient& c, const std::string& path,
                            const std::string& payload) {
    std::string body = c.Sign(path, payload);  // client work: not measured
    double cpu0 = ThreadCpuSeconds();
    auto w0 = std::chrono::steady_clock::now();
    auto r = c.PostBody(path, body);
    server_wall += std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
    server_cpu += ThreadCpuSeconds() - cpu0;
    return r;
  }
};

int Run(int orders) {
  spdlog::set_level(spdlog::level::warn);
  Clock* clock = Clock::Real();
  auto storage = OpenTestStorage("sqlite", clock);
  if (!storage.ok()) return std::fprintf(stderr, "storage: %s\n", storage.status().ToString().c_str()), 1;
  CaConfig ca_config;
  ca_config.root_key_type = "ec-p384";
  auto ca = Authority::Init(ca_config, storage->get(), clock, Random::Secure(), "");
  if (!ca.ok()) return std::fprintf(stderr, "ca: %s\n", ca.status().ToString().c_str()), 1;
  auto fake = attest::testing::MakeFakeAttestationCa(clock->Now() - std::chrono::hours(24),
                                                     clock->Now() + std::chrono::hours(24 * 30));
  if (!fake.ok()) return 1;
  AcmeService::Options options;
  options.base_url = "https://bench.test";
  options.trust_apple_root = false;
  options.extra_attestation_roots_pem = {fake->RootPem()};
  auto service = AcmeService::Create(options, ca->get(), storage->get(), clock, Random::Secure());
  if (!service.ok()) return std::fprintf(stderr, "acme: %s\n", service.status().ToString().c_str()), 1;
  EvpPkeyPtr account_key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  testing::InProcessAcmeClient client(service->get(), account_key.get());
  if (client.NewAccount().status != 201) return 1;

  Meter meter;
  int ok = 0;
  auto wall0 = std::chrono::steady_clock::now();
  for (int i = 0; i < orders; ++i) {
    auto id = (*service)->NewClientIdentifier("C02FAKE0001");
    EvpPkeyPtr device_key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
    Json req{{"identifiers", {{{"type", "permanent-identifier"}, {"value", *id}}}}};
    auto order = meter.Post(client, "/acme/new-order", req.dump());
    if (order.status != 201) break;
    std::string order_path = client.PathOf(order.location);
    auto authz = meter.Post(client, client.PathOf(order.json["authorizations"][0].get<std::string>()), "");
    const Json& ch = authz.json["challenges"][0];
    std::string token = ch["token"];
    attest::testing::FakeLeafSpec spec;  // the device's (Apple's) work, not measured
    spec.not_before = clock->Now() - std::chrono::hours(1);
    spec.not_after = clock->Now() + std::chrono::hours(24);
    spec.freshness_code = attest::AcmeFreshnessCode(token);
    spec.key = device_key.get();
    auto leaf = attest::testing::IssueFakeLeaf(*fake, spec);
    auto csr = BuildCsrDer(CsrTemplate{{{"CN", "device"}}, {}, ""}, device_key.get());
    if (!leaf.ok() || !csr.ok()) break;
    auto answered = meter.Post(client, client.PathOf(ch["url"].get<std::string>()),
                               attest::EncodeDeviceAttestPayload(leaf->chain));
    if (answered.json.value("status", "") != "valid") {
      std::fprintf(stderr, "challenge: %s\n", answered.body.c_str());
      break;
    }
    auto fin = meter.Post(client, order_path + "/finalize", Json{{"csr", Base64UrlEncode(*csr)}}.dump());
    if (fin.json.value("status", "") != "valid") break;
    auto cert = meter.Post(client, client.PathOf(fin.json["certificate"].get<std::string>()), "");
    if (cert.status != 200) break;
    ++ok;
  }
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  std::printf("orders: %d\n", ok);
  std::printf("orders_per_second_server: %.1f\n", ok / meter.server_wall);
  std::printf("orders_per_second_end_to_end: %.1f\n", ok / wall);
  std::printf("server_cpu_ms_per_order: %.3f\n", 1000 * meter.server_cpu / std::max(ok, 1));
  return ok == orders ? 0 : 1;
}

}  // namespace
}  // namespace custos::acme

int main(int argc, char** argv) {
  int orders = 200;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--orders") == 0) orders = std::atoi(argv[i + 1]);
  }
  return custos::acme::Run(orders);
}
