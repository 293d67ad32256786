// libFuzzer target: a certificate signing request (DER or PEM) through ParseCsr, then every field
// custos reads from it (subject, SANs, challenge presence, key description, SPKI). Differential as
// well: whenever the fast path (csr_internal::ParseCsrFast) accepts an input that ParseCsr would
// give it (no PEM marker), OpenSSL's d2i_X509_REQ path must accept it too and give the same fields,
// or the fuzzer stops. The input is also read as a SubjectPublicKeyInfo: where pki/spki.h builds a
// key from it, d2i_PUBKEY must give the same key.
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "pki/csr.h"
#include "pki/spki.h"
#include "pki/x509.h"

namespace {

bool Same(const custos::Csr& a, const custos::Csr& b) {
  return a.subject == b.subject && a.sans == b.sans && a.spki_der == b.spki_der &&
         a.key_type == b.key_type && a.challenge_password == b.challenge_password &&
         a.signature_valid == b.signature_valid && a.der == b.der &&
         X509_NAME_cmp(a.subject_name.get(), b.subject_name.get()) == 0 &&
         EVP_PKEY_eq(a.public_key.get(), b.public_key.get()) == 1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace custos;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  bool pem = input.find("-----BEGIN") != std::string_view::npos;
  if (auto fast = pem ? std::nullopt : csr_internal::ParseCsrFast(input)) {
    auto general = csr_internal::ParseCsrWithOpenSsl(input);
    if (!general.ok() || !Same(*fast, *general)) abort();
  }
  if (auto parts = pki_internal::ParseSpkiParts(input)) {
    if (EvpPkeyPtr key = pki_internal::KeyFromSpkiParts(*parts)) {
      const auto* p = data;
      EvpPkeyPtr decoded(d2i_PUBKEY(nullptr, &p, static_cast<long>(size)));
      if (!decoded || p != data + size || EVP_PKEY_eq(key.get(), decoded.get()) != 1) abort();
    }
  }
  auto csr = ParseCsr(input);
  if (!csr.ok()) return 0;
  std::string seen = csr->subject + csr->key_type + csr->spki_der + SansToJson(csr->sans);
  seen += csr->challenge_password.has_value() ? "challenge" : "no challenge";
  seen += csr->signature_valid ? "valid" : "invalid";
  for (const auto& rdn : NameEntries(csr->subject_name.get())) seen += rdn.field + rdn.value;
  return seen.empty() ? 1 : 0;
}
