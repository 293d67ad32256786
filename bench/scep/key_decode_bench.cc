// key_decode_bench: what the OpenSSL that custos is built against charges for the operations every
// SCEP enrollment cannot avoid, measured in one process so the figures compare with each other:
//   - an RSA-2048 private-key signature (the CA does three per enrollment: open the envelope,
//     sign the certificate, sign the CertRep);
//   - an RSA-2048 public-key verification (the request's signature; the CSR's is in the parse);
//   - parsing a certificate with an RSA-2048 key (d2i_X509: the request's self-signed signer
//     certificate). OpenSSL 3.0 builds a provider decoder chain for every SubjectPublicKeyInfo it
//     parses; 3.2 caches it (openssl/openssl#21426);
//   - parsing and verifying an RSA-2048 CSR (custos::ParseCsr: the same key decode, plus a verify);
//   - for scale: the same RSA key built from its parameters (EVP_PKEY_fromdata), no decoder.
// Prints microseconds per operation and the SCEP floor: 3 signatures + 1 verification + 1
// certificate parse + 1 CSR parse, the CPU no enrollment can go below with this OpenSSL before
// HTTP, CMS structure, storage or anything else.
//
//   key_decode_bench [--seconds S]     (S per operation, default 0.5)
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/sha.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>

#include "base/status.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/x509.h"

namespace custos {
namespace {

double MicrosPerOp(double seconds, const std::function<bool()>& op) {
  for (int i = 0; i < 20; ++i) op();  // warm-up: fetch caches, first-use allocations
  auto start = std::chrono::steady_clock::now();
  long n = 0;
  double elapsed = 0;
  do {
    for (int i = 0; i < 20; ++i) {
      if (!op()) {
        std::fprintf(stderr, "key_decode_bench: operation failed\n");
        std::exit(1);
      }
    }
    n += 20;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } while (elapsed < seconds);
  return elapsed * 1e6 / static_cast<double>(n);
}

int Run(int argc, char** argv) {
  double seconds = 0.5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::atof(argv[i + 1]);
  }
  auto key = GenerateKey(KeyAlgorithm::kRsa, 2048);
  if (!key.ok()) return 1;
  CertificateTemplate t;
  t.subject = {{"CN", "key-decode-bench"}};
  t.not_before = std::chrono::system_clock::now();
  t.not_after = t.not_before + std::chrono::hours(24);
  t.serial_hex = "01";
  auto cert = BuildCertificate(t, key->get(), nullptr, key->get());
  auto csr = BuildCsrDer(CsrTemplate{{{"CN", "device"}}, {}, "challenge"}, key->get());
  if (!cert.ok() || !csr.ok()) return 1;
  const std::string cert_der = CertificateDer(cert->get());

  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(cert_der.data()), cert_der.size(), digest);
  unsigned char sig[512];
  size_t sig_len = sizeof sig;
  EVP_PKEY_CTX* sctx = EVP_PKEY_CTX_new(key->get(), nullptr);
  EVP_PKEY_sign_init(sctx);
  EVP_PKEY_CTX_set_signature_md(sctx, EVP_sha256());
  EVP_PKEY_CTX* vctx = EVP_PKEY_CTX_new(key->get(), nullptr);
  EVP_PKEY_verify_init(vctx);
  EVP_PKEY_CTX_set_signature_md(vctx, EVP_sha256());

  const double sign = MicrosPerOp(seconds, [&] {
    sig_len = sizeof sig;
    return EVP_PKEY_sign(sctx, sig, &sig_len, digest, sizeof digest) == 1;
  });
  const double verify = MicrosPerOp(seconds, [&] {
    return EVP_PKEY_verify(vctx, sig, sig_len, digest, sizeof digest) == 1;
  });
  const double cert_parse = MicrosPerOp(seconds, [&] { return ParseCertificate(cert_der).ok(); });
  const double csr_parse = MicrosPerOp(seconds, [&] { return ParseAndVerifyCsr(*csr).ok(); });

  BIGNUM* n = nullptr;
  BIGNUM* e = nullptr;
  EVP_PKEY_get_bn_param(key->get(), OSSL_PKEY_PARAM_RSA_N, &n);
  EVP_PKEY_get_bn_param(key->get(), OSSL_PKEY_PARAM_RSA_E, &e);
  EVP_PKEY_CTX* fctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr);
  const double from_params = MicrosPerOp(seconds, [&] {
    OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n);
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
    OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY* out = nullptr;
    bool ok = EVP_PKEY_fromdata_init(fctx) == 1 &&
              EVP_PKEY_fromdata(fctx, &out, EVP_PKEY_PUBLIC_KEY, params) == 1;
    EVP_PKEY_free(out);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    return ok;
  });
  EVP_PKEY_CTX_free(fctx);
  EVP_PKEY_CTX_free(sctx);
  EVP_PKEY_CTX_free(vctx);
  BN_free(n);
  BN_free(e);

  std::printf("openssl: %s\n", OpenSSL_version(OPENSSL_VERSION));
  std::printf("rsa2048_sign_us: %.1f\n", sign);
  std::printf("rsa2048_verify_us: %.1f\n", verify);
  std::printf("certificate_parse_us: %.1f (%.2f of a signature)\n", cert_parse, cert_parse / sign);
  std::printf("csr_parse_and_verify_us: %.1f (%.2f of a signature)\n", csr_parse, csr_parse / sign);
  std::printf("rsa_key_from_parameters_us: %.1f\n", from_params);
  std::printf("scep_floor_ms_per_enrollment: %.3f (3 signatures %.3f + verification, certificate "
              "parse and CSR parse %.3f)\n",
              (3 * sign + verify + cert_parse + csr_parse) / 1000, 3 * sign / 1000,
              (verify + cert_parse + csr_parse) / 1000);
  return 0;
}

}  // namespace
}  // namespace custos

int main(int argc, char** argv) { return custos::Run(argc, argv); }
