// Fuzzes ACME JWS parsing (src/acme/jws.h): the flattened JSON serialization, the protected
// header, JWK parsing into an OpenSSL key, RFC 7638 thumbprints, and signature verification with
// the parsed key (including the dropped-leading-zero ECDSA retry). Every failure must be a tagged
// ACME problem, never a crash. Seeds: fuzz/corpus/acme_jws_fuzzer (made by
// fuzz/make_acme_jws_corpus.py).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "acme/jws.h"
#include "acme/problem.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace custos::acme;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto jws = ParseFlattenedJws(input);
  if (!jws.ok()) {
    if (ProblemFromStatus(jws.status()).type == ProblemType::kServerInternal) __builtin_trap();
    return 0;
  }
  if (jws->alg.empty() || jws->url.empty() || (jws->jwk.has_value() == !jws->kid.empty())) {
    __builtin_trap();
  }
  if (jws->jwk) {
    auto jwk = ParseJwk(*jws->jwk);
    if (jwk.ok()) {
      if (jwk->thumbprint.empty()) __builtin_trap();
      (void)VerifyJws(*jws, jwk->key.get());
      auto back = JwkFromKey(jwk->key.get());
      if (!back.ok()) __builtin_trap();
      auto tp = JwkThumbprint(*back);
      if (!tp.ok() || *tp != jwk->thumbprint) __builtin_trap();
    }
  }
  // The payload may itself be a JWS (keyChange).
  (void)ParseFlattenedJws(jws->payload);
  return 0;
}
