// bench/scep: the SCEP service in-process (no HTTP): CPU milliseconds per PKCSReq enrollment
// spent by ScepService::PkiOperation (decode, open the envelope, check the challenge, issue and
// record the certificate on SQLite, build the CertRep), next to `openssl speed`'s single RSA-2048
// signature on this machine (the CA does about three private-key operations per enrollment).
// Requests are built before the clock starts. Complements run.sh, which measures over HTTP.
//
//   scep_service_bench [ENROLLMENTS]   (default 200)
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "base/random.h"
#include "ca/authority.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "scep/ca_keys.h"
#include "scep/client.h"
#include "scep/message.h"
#include "scep/service.h"
#include "storage/testing.h"

namespace {

double ProcessCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

template <typename T>
T OrDie(custos::StatusOr<T> v, const char* what) {
  if (!v.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, v.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(v).value();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace custos;  // NOLINT
  int n = argc > 1 ? std::atoi(argv[1]) : 200;
  auto storage = OrDie(OpenTestStorage("sqlite"), "storage");
  CaConfig ca_config;
  ca_config.root_key_type = "ec-p384";
  auto ca = OrDie(Authority::Init(ca_config, storage.get(), Clock::Real(), Random::Secure(), ""),
                  "ca init");
  ScepConfig config;
  config.challenge = "bench";
  auto service = OrDie(scep::ScepService::Create(config, ca.get(), storage.get(), Clock::Real(),
                                                 Random::Secure(), ""),
                       "service");
  auto ca_cert = OrDie(service->GetCaCert(), "GetCACert");
  auto client = OrDie(scep::ScepClient::Create(
                          OrDie(scep::ScepClient::ParseGetCaCert(ca_cert.body), "parse")),
                      "client");
  std::vector<EvpPkeyPtr> keys;
  std::vector<scep::ClientTransaction> txs;
  for (int i = 0; i < n; ++i) {
    keys.push_back(OrDie(GenerateKey(KeyAlgorithm::kRsa, 2048), "key"));
    CsrTemplate t;
    t.subject = {{"CN", "bench-" + std::to_string(i)}};
    t.challenge_password = "bench";
    txs.push_back(OrDie(client->PkcsReq(keys.back().get(), OrDie(BuildCsrDer(t, keys.back().get()),
                                                                 "csr")),
                        "PKCSReq"));
  }
  std::vector<std::string> replies;
  double cpu0 = ProcessCpuMs();
  auto t0 = std::chrono::steady_clock::now();
  for (const auto& tx : txs) replies.push_back(OrDie(service->PkiOperation(tx.message), "PKIOperation"));
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double cpu = ProcessCpuMs() - cpu0;
  int ok = 0;
  for (int i = 0; i < n; ++i) {
    auto rep = client->ReadReply(txs[i], replies[i]);
    if (rep.ok() && rep->status == scep::PkiStatus::kSuccess) ++ok;
  }
  std::printf("enrollments: %d\nissued: %d\nservice_cpu_ms_per_enrollment: %.3f\n"
              "enrollments_per_second_one_thread: %.1f\n",
              n, ok, cpu / n, n / wall);

  // Where the time goes: the codec stages alone, on the same requests (no storage, no issuance).
  auto pairs = OrDie(scep::LoadIssuingKeyPairs(*storage, ""), "keys");
  const scep::CaKeyPair& ca_pair = pairs.front();
  scep::DecodeOptions dopts;
  double t_decode = 0, t_open = 0, t_reply = 0;
  for (const auto& tx : txs) {
    double a = ProcessCpuMs();
    scep::DecodedRequest req = scep::DecodePkiOperation(tx.message, dopts);
    double b = ProcessCpuMs();
    auto content = scep::OpenRequestEnvelope(req, ca_pair.key.get(), ca_pair.cert.get());
    double c = ProcessCpuMs();
    scep::CertRepParams p;
    p.status = scep::PkiStatus::kPending;
    p.transaction_id = req.transaction_id;
    p.recipient_nonce = req.sender_nonce;
    p.sender_nonce = "0123456789abcdef";
    p.signer_key = ca_pair.key.get();
    p.signer_cert = ca_pair.cert.get();
    auto rep = scep::EncodeCertRep(p);
    double d = ProcessCpuMs();
    if (!req.ok() || !content.ok() || !rep.ok()) std::exit(1);
    t_decode += b - a;
    t_open += c - b;
    t_reply += d - c;
  }
  std::printf("decode_cpu_ms: %.3f\nopen_envelope_cpu_ms: %.3f\ncertrep_sign_cpu_ms: %.3f\n"
              "rest_issue_store_encrypt_cpu_ms: %.3f\n",
              t_decode / n, t_open / n, t_reply / n,
              cpu / n - (t_decode + t_open + t_reply) / n);
  return ok == n ? 0 : 1;
}
