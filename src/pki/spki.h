// SubjectPublicKeyInfo (RFC 5280 section 4.1.2.7) read as plain ASN.1, inside src/pki.
//
// OpenSSL 3.0 turns every SubjectPublicKeyInfo it parses (d2i_PUBKEY, and the X509_PUBKEY inside a
// certificate or a CSR) into a key through a provider decoder chain that it assembles anew each
// time (cached only from 3.2, openssl/openssl#21426): 0.2-0.5 ms, more than a signature check.
// Reading the two fields as plain ASN.1 and building the key from its parameters takes a few
// microseconds; that is done here for the key types custos meets every day, with the two small DER
// helpers (Bytes, D2iWhole) the CSR reader uses as well.
#ifndef CUSTOS_PKI_SPKI_H_
#define CUSTOS_PKI_SPKI_H_

#include <openssl/x509.h>

#include <string_view>

#include "base/openssl_util.h"

extern "C" {
typedef struct custos_spki_st {
  X509_ALGOR* algor;
  ASN1_BIT_STRING* public_key;
} CUSTOS_SPKI;
}

namespace custos::pki_internal {

// The content octets of an ASN.1 string (BIT STRING, OCTET STRING, SEQUENCE as ASN1_STRING).
inline std::string_view Bytes(const ASN1_STRING* s) {
  return {reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
          static_cast<size_t>(ASN1_STRING_length(s))};
}

// `d2i` of exactly `der`, nothing left over, into the owning pointer type `Ptr`; nullptr otherwise.
template <typename Ptr, typename D2i>
Ptr D2iWhole(std::string_view der, D2i d2i) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  Ptr out(d2i(nullptr, &p, static_cast<long>(der.size())));
  if (out && p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) out.reset();
  return out;
}

void FreeSpki(CUSTOS_SPKI* spki);
using SpkiPtr = OpenSslPtr<CUSTOS_SPKI, FreeSpki>;

// The algorithm and key bits of exactly `der` (nothing left over); nullptr when malformed.
SpkiPtr ParseSpkiParts(std::string_view der);

// The key of an EC SubjectPublicKeyInfo on a named curve (P-256, P-384, P-521; the point must lie
// on the curve) or of an rsaEncryption one, built from its parameters. nullptr for every other
// key type or parameter form (the caller then takes OpenSSL's decoder), and for invalid keys.
EvpPkeyPtr KeyFromSpkiParts(const CUSTOS_SPKI& spki);

}  // namespace custos::pki_internal

#endif  // CUSTOS_PKI_SPKI_H_
