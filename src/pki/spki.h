// SubjectPublicKeyInfo (RFC 5280 section 4.1.2.7) read as plain ASN.1, inside src/pki.
//
// OpenSSL 3.0 turns every SubjectPublicKeyInfo it parses (d2i_PUBKEY, and the X509_PUBKEY inside a
// certificate or a CSR) into a key through a provider decoder chain that it assembles anew each
// time (cached only from 3.2, openssl/openssl#21426): 0.2-0.5 ms, more than a signature check.
// Reading the two fields as plain ASN.1 and building the key from its parameters takes a few
// microseconds; that is done here for the key types custos meets every day.
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
