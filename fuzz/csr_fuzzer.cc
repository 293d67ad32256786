// libFuzzer target: a certificate signing request (DER or PEM) through ParseCsr, then every field
// custos reads from it (subject, SANs, challenge presence, key description, SPKI).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "pki/csr.h"
#include "pki/x509.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace custos;
  auto csr = ParseCsr(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!csr.ok()) return 0;
  std::string seen = csr->subject + csr->key_type + csr->spki_der + SansToJson(csr->sans);
  seen += csr->challenge_password.has_value() ? "challenge" : "no challenge";
  seen += csr->signature_valid ? "valid" : "invalid";
  for (const auto& rdn : NameEntries(csr->subject_name.get())) seen += rdn.field + rdn.value;
  return seen.empty() ? 1 : 0;
}
