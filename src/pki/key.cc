#include "pki/key.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include <cstring>

#include "base/encoding.h"
#include "pki/spki.h"

namespace custos {

StatusOr<EvpPkeyPtr> GenerateKey(KeyAlgorithm algorithm, int rsa_bits) {
  EVP_PKEY* key = nullptr;
  switch (algorithm) {
    case KeyAlgorithm::kRsa:
      if (rsa_bits < 2048 || rsa_bits > 8192) {
        return InvalidArgumentError("RSA key size must be 2048..8192 bits, got " +
                                    std::to_string(rsa_bits));
      }
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(rsa_bits));
      break;
    case KeyAlgorithm::kEcP256:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
      break;
    case KeyAlgorithm::kEcP384:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
      break;
  }
  if (key == nullptr) return OpenSslError("generating key");
  return EvpPkeyPtr(key);
}

StatusOr<KeyAlgorithm> ParseKeyAlgorithm(std::string_view name) {
  if (name == "rsa") return KeyAlgorithm::kRsa;
  if (name == "ec-p256") return KeyAlgorithm::kEcP256;
  if (name == "ec-p384") return KeyAlgorithm::kEcP384;
  return InvalidArgumentError("unknown key type \"" + std::string(name) +
                              "\" (expected rsa, ec-p256 or ec-p384)");
}

namespace {

std::string EcGroupName(const EVP_PKEY* key) {
  char buf[64] = {0};
  size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, buf, sizeof(buf), &len) !=
      1) {
    DrainOpenSslErrors();
    return "";
  }
  return std::string(buf, len);
}

}  // namespace

std::string KeyDescription(const EVP_PKEY* key) {
  if (key == nullptr) return "none";
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS:
      return "rsa-" + std::to_string(EVP_PKEY_get_bits(key));
    case EVP_PKEY_EC: {
      std::string group = EcGroupName(key);
      if (group == "prime256v1" || group == "P-256") return "ec-p256";
      if (group == "secp384r1" || group == "P-384") return "ec-p384";
      if (group == "secp521r1" || group == "P-521") return "ec-p521";
      return "ec-" + group;
    }
    case EVP_PKEY_ED25519:
      return "ed25519";
    case EVP_PKEY_ED448:
      return "ed448";
    default:
      return "unknown";
  }
}

const EVP_MD* SigningDigestFor(const EVP_PKEY* key) {
  int id = EVP_PKEY_get_base_id(key);
  if (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448) return nullptr;
  if (id == EVP_PKEY_EC && EVP_PKEY_get_bits(key) > 256) return EVP_sha384();
  return EVP_sha256();
}

StatusOr<std::string> PrivateKeyToPkcs8Pem(const EVP_PKEY* key, std::string_view passphrase) {
  if (key == nullptr) return InvalidArgumentError("no key");
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return OpenSslError("allocating BIO");
  int ok;
  if (passphrase.empty()) {
    ok = PEM_write_bio_PKCS8PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  } else {
    ok = PEM_write_bio_PKCS8PrivateKey(bio.get(), key, EVP_aes_256_cbc(), passphrase.data(),
                                       static_cast<int>(passphrase.size()), nullptr, nullptr);
  }
  if (ok != 1) return OpenSslError("writing PKCS#8 private key");
  return MemBioContents(bio.get());
}

namespace {

struct PassphraseArg {
  std::string_view passphrase;
};

int PassphraseCallback(char* buf, int size, int /*rwflag*/, void* u) {
  auto* arg = static_cast<PassphraseArg*>(u);
  if (arg == nullptr || arg->passphrase.empty()) return -1;  // never prompt
  if (arg->passphrase.size() > static_cast<size_t>(size)) return -1;
  std::memcpy(buf, arg->passphrase.data(), arg->passphrase.size());
  return static_cast<int>(arg->passphrase.size());
}

}  // namespace

bool IsEncryptedPrivateKeyPem(std::string_view pem) {
  return pem.find("BEGIN ENCRYPTED PRIVATE KEY") != std::string_view::npos ||
         pem.find("Proc-Type: 4,ENCRYPTED") != std::string_view::npos;
}

StatusOr<EvpPkeyPtr> PrivateKeyFromPem(std::string_view pem, std::string_view passphrase) {
  BioPtr bio = MemBioFrom(pem);
  if (!bio) return OpenSslError("allocating BIO");
  PassphraseArg arg{passphrase};
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, PassphraseCallback, &arg);
  if (key == nullptr) {
    DrainOpenSslErrors();  // the details would only say "bad decrypt" or "asn1 error"
    if (IsEncryptedPrivateKeyPem(pem) && passphrase.empty()) {
      return PermissionDeniedError("key is encrypted but no passphrase is configured");
    }
    return PermissionDeniedError("wrong passphrase or corrupt key");
  }
  return EvpPkeyPtr(key);
}

StatusOr<std::string> PublicKeyToSpkiDer(const EVP_PKEY* key) {
  if (key == nullptr) return InvalidArgumentError("no key");
  return EncodeDer(key, i2d_PUBKEY, "encoding SubjectPublicKeyInfo");
}

StatusOr<EvpPkeyPtr> PublicKeyFromSpkiDer(std::string_view der) {
  if (pki_internal::SpkiPtr parts = pki_internal::ParseSpkiParts(der)) {
    if (EvpPkeyPtr key = pki_internal::KeyFromSpkiParts(*parts)) return key;
  }
  // Other key types, and every error message: OpenSSL's decoder.
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  EVP_PKEY* key = d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size()));
  if (key == nullptr) {
    return OpenSslError("parsing SubjectPublicKeyInfo", StatusCode::kInvalidArgument);
  }
  if (p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    EVP_PKEY_free(key);
    return InvalidArgumentError("parsing SubjectPublicKeyInfo: trailing data");
  }
  return EvpPkeyPtr(key);
}

StatusOr<EvpPkeyPtr> PublicKeyFromPem(std::string_view pem) {
  BioPtr bio = MemBioFrom(pem);
  if (!bio) return OpenSslError("allocating BIO");
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  if (key == nullptr) return OpenSslError("parsing PEM public key", StatusCode::kInvalidArgument);
  return EvpPkeyPtr(key);
}

std::string SpkiSha256Hex(const EVP_PKEY* key) {
  auto der = PublicKeyToSpkiDer(key);
  if (!der.ok()) return "";
  return Sha256Hex(*der);
}

bool PublicKeysEqual(const EVP_PKEY* a, const EVP_PKEY* b) {
  if (a == nullptr || b == nullptr) return false;
  bool eq = EVP_PKEY_eq(a, b) == 1;
  DrainOpenSslErrors();
  return eq;
}

const EVP_MD* Sha256Md() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
  return md;
}

const EVP_MD* Sha384Md() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA2-384", nullptr);
  return md;
}

std::string Sha256(std::string_view data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  unsigned int len = 0;
  if (Sha256Md() == nullptr ||
      EVP_Digest(data.data(), data.size(), md, &len, Sha256Md(), nullptr) != 1 ||
      len != sizeof(md)) {
    // Only a broken OpenSSL installation gets here; the one-shot call fetches for itself.
    ERR_clear_error();
    SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  }
  return std::string(reinterpret_cast<char*>(md), sizeof(md));
}

std::string Sha256Hex(std::string_view data) { return HexEncode(Sha256(data)); }

namespace {

// EVP_PKEY_fromdata of the public parameters `bld` holds, for key type `type`; frees `bld`.
EvpPkeyPtr PublicKeyFromParams(const char* type, OSSL_PARAM_BLD* bld) {
  OSSL_PARAM* params = bld != nullptr ? OSSL_PARAM_BLD_to_param(bld) : nullptr;
  OSSL_PARAM_BLD_free(bld);
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* pkey = nullptr;
  bool ok = params != nullptr && ctx && EVP_PKEY_fromdata_init(ctx.get()) == 1 &&
            EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1;
  OSSL_PARAM_free(params);
  if (!ok) {
    DrainOpenSslErrors();
    return nullptr;
  }
  return EvpPkeyPtr(pkey);
}

}  // namespace

EvpPkeyPtr EcPublicKeyFromPoint(const char* group, std::string_view point) {
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  if (bld != nullptr &&
      (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
       OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                        point.size()) != 1)) {
    OSSL_PARAM_BLD_free(bld);
    return nullptr;
  }
  EvpPkeyPtr key = PublicKeyFromParams("EC", bld);
  if (!key) return nullptr;
  // fromdata does not check that the point is on the curve.
  EvpPkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check || EVP_PKEY_public_check_quick(check.get()) != 1) {
    DrainOpenSslErrors();
    return nullptr;
  }
  return key;
}

EvpPkeyPtr RsaPublicKeyFromModulus(const BIGNUM* n, const BIGNUM* e) {
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  if (bld != nullptr && (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
                         OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1)) {
    OSSL_PARAM_BLD_free(bld);
    return nullptr;
  }
  return PublicKeyFromParams("RSA", bld);
}

}  // namespace custos
