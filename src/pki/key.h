// Private and public key handling for custos' CA and protocol code, on OpenSSL 3 (EVP_PKEY).
//
// Keys at rest are PKCS#8 (RFC 5208 / RFC 5958) PEM; when a passphrase is given the key is an
// EncryptedPrivateKeyInfo with PBES2 (RFC 8018): AES-256-CBC, PBKDF2 with HMAC-SHA256 (OpenSSL's
// defaults). Public keys travel as DER SubjectPublicKeyInfo (RFC 5280 section 4.1.2.7).
// No I/O: callers read and write files or storage themselves.
#ifndef CUSTOS_PKI_KEY_H_
#define CUSTOS_PKI_KEY_H_

#include <string>
#include <string_view>

#include "base/openssl_util.h"
#include "base/status.h"

namespace custos {

enum class KeyAlgorithm { kRsa, kEcP256, kEcP384 };

// Generates a new private key. `rsa_bits` is used for kRsa only and must be 2048..8192.
// INVALID_ARGUMENT for an out-of-range size; INTERNAL when OpenSSL fails.
StatusOr<EvpPkeyPtr> GenerateKey(KeyAlgorithm algorithm, int rsa_bits = 2048);

// Parses "rsa", "ec-p256", "ec-p384" (as in configuration). INVALID_ARGUMENT otherwise.
StatusOr<KeyAlgorithm> ParseKeyAlgorithm(std::string_view name);

// "rsa-2048", "ec-p256", "ec-p384", "ed25519", ... for display and logs.
std::string KeyDescription(const EVP_PKEY* key);

// The digest custos signs with when `key` signs: SHA-384 for P-384 (and larger curves), SHA-256
// otherwise. nullptr for keys that sign without a separate digest (Ed25519).
const EVP_MD* SigningDigestFor(const EVP_PKEY* key);

// PKCS#8 PEM of the private key. With a non-empty `passphrase` the result is
// "-----BEGIN ENCRYPTED PRIVATE KEY-----" (AES-256-CBC, PBKDF2); without, "BEGIN PRIVATE KEY".
StatusOr<std::string> PrivateKeyToPkcs8Pem(const EVP_PKEY* key, std::string_view passphrase);

// Reads a PEM private key (PKCS#8, encrypted or not; traditional RSA/EC PEM also accepted).
// An encrypted key with an empty passphrase, a wrong passphrase or damaged PEM is
// PERMISSION_DENIED "wrong passphrase or corrupt key" (never a prompt on the terminal).
// A plain key read with a passphrase is accepted (the passphrase is then unused).
StatusOr<EvpPkeyPtr> PrivateKeyFromPem(std::string_view pem, std::string_view passphrase);

// True when `pem` holds an EncryptedPrivateKeyInfo (or an encrypted traditional PEM).
bool IsEncryptedPrivateKeyPem(std::string_view pem);

// DER SubjectPublicKeyInfo of the public half of `key`.
StatusOr<std::string> PublicKeyToSpkiDer(const EVP_PKEY* key);
// Parses a DER SubjectPublicKeyInfo; INVALID_ARGUMENT when malformed.
StatusOr<EvpPkeyPtr> PublicKeyFromSpkiDer(std::string_view der);
// Parses a PEM "PUBLIC KEY" block; INVALID_ARGUMENT when malformed.
StatusOr<EvpPkeyPtr> PublicKeyFromPem(std::string_view pem);

// Public keys built from their parameters, without the SubjectPublicKeyInfo decoder that
// OpenSSL 3.0 assembles anew for every key it parses (0.2-0.5 ms against a few microseconds
// here). nullptr when OpenSSL refuses the parameters.
// An EC point (X9.62 octets, uncompressed or compressed) on a named group ("prime256v1",
// "secp384r1", "secp521r1"), which must lie on the curve (for these cofactor-1 curves the quick
// check is the whole public-key check).
EvpPkeyPtr EcPublicKeyFromPoint(const char* group, std::string_view point);
// An RSA modulus and public exponent.
EvpPkeyPtr RsaPublicKeyFromModulus(const BIGNUM* n, const BIGNUM* e);

// Lowercase hex SHA-256 of the DER SubjectPublicKeyInfo of `key` ("" if it cannot be encoded).
std::string SpkiSha256Hex(const EVP_PKEY* key);

// True when both keys have the same public half (EVP_PKEY_eq).
bool PublicKeysEqual(const EVP_PKEY* a, const EVP_PKEY* b);

// SHA-256 and SHA-384 fetched once from the default provider. Hashing through EVP_sha256(), or
// the one-shot SHA256(), makes OpenSSL 3.0 look the implementation up again on every call.
const EVP_MD* Sha256Md();
const EVP_MD* Sha384Md();

// Lowercase hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);
// Raw SHA-256 of `data` (32 bytes).
std::string Sha256(std::string_view data);

}  // namespace custos

#endif  // CUSTOS_PKI_KEY_H_
