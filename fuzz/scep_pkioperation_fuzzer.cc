// libFuzzer target: SCEP PKIOperation decoding (RFC 8894), the bytes a device POSTs to /scep.
// Runs the service's decoder (scep/message.h) with legacy algorithms on, and the diagnostics
// (scep/inspect.h), which also open envelopes addressed to the fuzzer's fixed CA and parse the
// CSR / IssuerAndSubject / IssuerAndSerialNumber inside.
//
// Seeds: the real capture (../shared/vectors/scep/testdata/PKCSReq.der) plus messages of every
// type and cipher encrypted to the fixed CA; write them with
//   SCEP_FUZZ_WRITE_SEEDS=DIR ./scep_pkioperation_fuzzer -runs=0
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include <openssl/provider.h>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "base/encoding.h"
#include "base/openssl_util.h"
#include "base/random.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/x509.h"
#include "scep/inspect.h"
#include "scep/message.h"

namespace {

using namespace custos;        // NOLINT
using namespace custos::scep;  // NOLINT

// A throw-away test key, fixed so that seed messages stay addressed to the same CA across runs.
// It protects nothing.
constexpr char kCaKeyPem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCtnTsfFu5v+DDk\n"
    "iTKAx/KCkvBm4D3Q5wKI06UDzse8QYyMCUGoa5lgVMjjSpI/2tlm/XYyq1T2SeHU\n"
    "GhwZkd1jbrO/zIyPvpjjVR+Rz5GoDVb/qyk112yVvSz4T0ygv7ormffFXGjkWEs1\n"
    "3f5DFKSlJX4RnsQCmN54TyNYh7nytosBlLhXZuYqmv3oszS0VOkBJCOMhe72eeos\n"
    "oM/ptVhEDnvoquUEw1mLhXBco6RENFZLT1v1/bMoUKFuMWdXpXIi4Jc1gxIbVvhO\n"
    "chI/Py7/+7TZblovKSpybf/rW1EQ15kaglSgcP/5ljJ6NpjgwnRs+wOsfHTX/4Ca\n"
    "/EqeYCkNAgMBAAECggEASYqtzYiYLePzSgt30idgacE2hk18we3pG+6TGt7PqsYV\n"
    "dAhDwMT7blvb0LP46YWZy8+X7vS2g7FeMMtylb49Cm6NQ7Sw4f75omqfedN0PryP\n"
    "2rM1PLJpM7CzyOdGbV1pzihlVTvEzt071rCXkPDAoZgVI/+dxf/dVRcowMqVkOLg\n"
    "g6k8UFuV4sY//fQK4TpiNc3/IIvNFhUBIsiSIBUgqAdF/9IIhHmdXLHxaV3WIBF+\n"
    "yVK2oJhbYGUlAw+wKoUOXgY2A7KlTERoU44SmGM1MPnjhXQxaV01y+8kYTC5Ufif\n"
    "+MZ85xT2dyYQMlvgYqmJ1ztjiL3bCaGbo1rdqWko3QKBgQDs2SR0bnnW+GNmE0cc\n"
    "/2R6w/ELrur6Jo2jgpslshzlqII2iMSa8yCnwr1mnfvLoDeDhM3W+gbhqDofi+W7\n"
    "5MMbnbsWV8BmpjaLTv6kPYdupodwqV7SJ2N1Jduc+MMe5driDIVGrmJTxsuSVE5V\n"
    "TZOyXAD1rqcj+Ovo8zOERrvgkwKBgQC7px4Xk4kDJkPG5hEdOAMcButlaf7BaYj3\n"
    "iSsa9pl7n/c49iV0N0uSEYcNfGDArLI9mYl1rsxVuLQcBUaYg9TR9/DDznSse19U\n"
    "cO/kULFwP8owOEn4PhTkcD3NqnGp3eB9BQVY/qCnfo9t2+Tv9T7aswHBvxOu9F9V\n"
    "/SvensTz3wKBgQDORT5OeHh8E87dcySXyITFtigTuL7EJRdts61S4w/voxXkULCJ\n"
    "Efz6ncs9t5E3Ac3XKK3r78xWcqBMIRZu0Qhq4K+zAbF6tH8ETEPQ3hU49Kc4IwmF\n"
    "lPA1ckcVKkEkg6JhA+5+ZBkWRSe9xNaDzBA5YY8kaHsABSXPtx7CsKenKQKBgQCp\n"
    "dB8TcTIfuvUnbmhz9zmvnHwDZ3Ua2R9LUP2w6pDs9yY7tONbj/dZHyTSw8dnFkwa\n"
    "nkRoFgIFQra6OvVmEl4jgX9UgmIPw5TxXs7yYP/qemAtrRb26bDaHJVi3JCpsWff\n"
    "3aHXnJAc0Ifaz+Br5A3vVgi3GcI/kgNpVibAcKUwBwKBgBeDsy228vqpA1pKTxJh\n"
    "QZNyLKhDTOQf8dzvoAo0DtPynj5HUlh6AEoGrF7tZGZUiXbYJqXGkQ32HWSZF2XU\n"
    "UiSlU6P+DxycP6ugqjYl5Nxi6bGMQn7AkbNKPCFd0use6z2/RbFf9Q7kV3bbmySD\n"
    "LRLrlp0ufOiTxoUAmi8TLctP\n"
    "-----END PRIVATE KEY-----\n";

std::vector<CaKeyPair>* g_keys = nullptr;

X509Ptr FixedCaCert(EVP_PKEY* key) {
  CertificateTemplate t;
  t.subject = {{"CN", "custos SCEP fuzz CA"}};
  t.not_before = FromUnixSeconds(1700000000);
  t.not_after = FromUnixSeconds(2000000000);
  t.serial_hex = "5ce9";
  t.basic_constraints_ca = true;
  t.key_usage = kKuKeyCertSign | kKuCrlSign | kKuDigitalSignature | kKuKeyEncipherment;
  auto cert = BuildCertificate(t, key, nullptr, key);
  if (!cert.ok()) std::abort();
  return std::move(*cert);
}

void WriteSeeds(const std::string& dir, const CaKeyPair& ca) {
  FakeRandom random(1);
  auto dev_key = GenerateKey(KeyAlgorithm::kRsa, 2048);
  if (!dev_key.ok()) std::abort();
  CertificateTemplate t;
  t.subject = {{"CN", "fuzz device signer"}};
  t.not_before = FromUnixSeconds(1700000000);
  t.not_after = FromUnixSeconds(2000000000);
  t.serial_hex = "01";
  auto signer = BuildCertificate(t, dev_key->get(), nullptr, dev_key->get());
  if (!signer.ok()) std::abort();
  CsrTemplate ct;
  ct.subject = {{"CN", "fuzz-device"}, {"O", "custos"}};
  ct.sans = {{"dns", "device.example", ""}};
  ct.challenge_password = "challenge";
  std::string csr = *BuildCsrDer(ct, dev_key->get());
  std::string ias = *EncodeIssuerAndSubject(X509_get_subject_name(ca.cert.get()),
                                            X509_get_subject_name(signer->get()));
  std::string isn = *EncodeIssuerAndSerial(X509_get_subject_name(ca.cert.get()), "0a1b2c");
  struct Seed {
    MessageType type;
    const std::string* data;
    const char* cipher;
    const char* digest;
  } seeds[] = {
      {MessageType::kPkcsReq, &csr, "AES-256-CBC", "sha256"},
      {MessageType::kPkcsReq, &csr, "AES-128-CBC", "sha1"},
      {MessageType::kPkcsReq, &csr, "DES-EDE3-CBC", "sha512"},
      {MessageType::kPkcsReq, &csr, "DES-CBC", "sha1"},
      {MessageType::kRenewalReq, &csr, "AES-256-CBC", "sha256"},
      {MessageType::kCertPoll, &ias, "AES-128-CBC", "sha256"},
      {MessageType::kGetCert, &isn, "AES-128-CBC", "sha256"},
      {MessageType::kGetCrl, &isn, "DES-EDE3-CBC", "sha1"},
  };
  int n = 0;
  for (const Seed& s : seeds) {
    RequestParams p;
    p.type = s.type;
    p.transaction_id = HexEncode(random.Bytes(20));
    p.sender_nonce = random.Bytes(16);
    p.message_data = *s.data;
    p.recipient = ca.cert.get();
    p.cipher = s.cipher;
    p.digest = s.digest;
    p.signer_key = dev_key->get();
    p.signer_cert = signer->get();
    auto der = EncodePkiOperation(p);
    if (!der.ok()) std::abort();
    std::ofstream(dir + "/seed-" + std::to_string(n++) + ".der", std::ios::binary) << *der;
  }
}

// The providers are loaded here rather than with LoadLegacyProvider() so that they can be
// unloaded at exit: a provider still loaded when OPENSSL_cleanup runs shows up as a leak.
OSSL_PROVIDER* g_default_provider = nullptr;
OSSL_PROVIDER* g_legacy_provider = nullptr;

void Cleanup() {
  delete g_keys;
  g_keys = nullptr;
  if (g_legacy_provider != nullptr) OSSL_PROVIDER_unload(g_legacy_provider);
  if (g_default_provider != nullptr) OSSL_PROVIDER_unload(g_default_provider);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  g_default_provider = OSSL_PROVIDER_load(nullptr, "default");
  g_legacy_provider = OSSL_PROVIDER_load(nullptr, "legacy");
  if (g_default_provider == nullptr || g_legacy_provider == nullptr) std::abort();
  std::atexit(Cleanup);
  auto key = PrivateKeyFromPem(kCaKeyPem, "");
  if (!key.ok()) std::abort();
  g_keys = new std::vector<CaKeyPair>();
  CaKeyPair pair;
  pair.cert = FixedCaCert(key->get());
  pair.key = std::move(*key);
  g_keys->push_back(std::move(pair));
  if (const char* dir = std::getenv("SCEP_FUZZ_WRITE_SEEDS")) WriteSeeds(dir, g_keys->front());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  DecodeOptions options;
  options.legacy_algorithms = true;
  DecodedRequest req = DecodePkiOperation(input, options);
  if (req.ok() && EnvelopeAddressedTo(req, g_keys->front().cert.get())) {
    FailInfo info;
    auto content = OpenRequestEnvelope(req, g_keys->front().key.get(),
                                       g_keys->front().cert.get(), &info);
    (void)content;
  }
  Inspection inspection = InspectPkiOperation(input, *g_keys, /*legacy_algorithms=*/true);
  (void)inspection;
  return 0;
}
