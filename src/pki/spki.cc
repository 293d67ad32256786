#include "pki/spki.h"

#include <openssl/asn1t.h>
#include <openssl/bn.h>

#include "pki/key.h"

// Declared with OpenSSL's ASN.1 templates so OpenSSL does the DER work; unlike X509_PUBKEY,
// decoding these does not decode the key.
extern "C" {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
ASN1_SEQUENCE(CUSTOS_SPKI) = {
    ASN1_SIMPLE(CUSTOS_SPKI, algor, X509_ALGOR),
    ASN1_SIMPLE(CUSTOS_SPKI, public_key, ASN1_BIT_STRING),
} ASN1_SEQUENCE_END(CUSTOS_SPKI)
IMPLEMENT_ASN1_FUNCTIONS(CUSTOS_SPKI)

// RFC 8017 appendix A.1.1: RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
typedef struct custos_rsa_public_key_st {
  ASN1_INTEGER* n;
  ASN1_INTEGER* e;
} CUSTOS_RSA_PUBLIC_KEY;

ASN1_SEQUENCE(CUSTOS_RSA_PUBLIC_KEY) = {
    ASN1_SIMPLE(CUSTOS_RSA_PUBLIC_KEY, n, ASN1_INTEGER),
    ASN1_SIMPLE(CUSTOS_RSA_PUBLIC_KEY, e, ASN1_INTEGER),
} ASN1_SEQUENCE_END(CUSTOS_RSA_PUBLIC_KEY)
IMPLEMENT_ASN1_FUNCTIONS(CUSTOS_RSA_PUBLIC_KEY)
#pragma GCC diagnostic pop
}

namespace custos::pki_internal {
namespace {

using RsaPublicKeyPtr = OpenSslPtr<CUSTOS_RSA_PUBLIC_KEY, CUSTOS_RSA_PUBLIC_KEY_free>;

EvpPkeyPtr EcKey(const X509_ALGOR* alg, const ASN1_BIT_STRING* point) {
  int param_type = 0;
  const void* param = nullptr;
  X509_ALGOR_get0(nullptr, &param_type, &param, alg);
  if (param_type != V_ASN1_OBJECT) return nullptr;  // namedCurve only
  const char* group = nullptr;
  switch (OBJ_obj2nid(static_cast<const ASN1_OBJECT*>(param))) {
    case NID_X9_62_prime256v1: group = "prime256v1"; break;
    case NID_secp384r1: group = "secp384r1"; break;
    case NID_secp521r1: group = "secp521r1"; break;
    default: return nullptr;
  }
  return EcPublicKeyFromPoint(group, Bytes(point));
}

EvpPkeyPtr RsaKey(const X509_ALGOR* alg, const ASN1_BIT_STRING* bits) {
  int param_type = 0;
  X509_ALGOR_get0(nullptr, &param_type, nullptr, alg);
  if (param_type != V_ASN1_NULL) return nullptr;  // RFC 3279 section 2.3.1: parameters NULL
  auto rsa = D2iWhole<RsaPublicKeyPtr>(Bytes(bits), d2i_CUSTOS_RSA_PUBLIC_KEY);
  if (!rsa) return nullptr;
  BigNumPtr n(ASN1_INTEGER_to_BN(rsa->n, nullptr));
  BigNumPtr e(ASN1_INTEGER_to_BN(rsa->e, nullptr));
  if (!n || !e || BN_is_negative(n.get()) || BN_is_negative(e.get())) return nullptr;
  return RsaPublicKeyFromModulus(n.get(), e.get());
}

}  // namespace

void FreeSpki(CUSTOS_SPKI* spki) { CUSTOS_SPKI_free(spki); }

SpkiPtr ParseSpkiParts(std::string_view der) {
  auto spki = D2iWhole<SpkiPtr>(der, d2i_CUSTOS_SPKI);
  if (!spki) DrainOpenSslErrors();
  return spki;
}

EvpPkeyPtr KeyFromSpkiParts(const CUSTOS_SPKI& spki) {
  // An unused-bits count in the key's BIT STRING fits neither key type.
  if ((spki.public_key->flags & 0x07) != 0) return nullptr;
  const ASN1_OBJECT* oid = nullptr;
  X509_ALGOR_get0(&oid, nullptr, nullptr, spki.algor);
  EvpPkeyPtr key;
  switch (OBJ_obj2nid(oid)) {
    case NID_X9_62_id_ecPublicKey: key = EcKey(spki.algor, spki.public_key); break;
    case NID_rsaEncryption: key = RsaKey(spki.algor, spki.public_key); break;
    default: break;
  }
  DrainOpenSslErrors();
  return key;
}

}  // namespace custos::pki_internal
