// JSON Web Signatures as ACME uses them (RFC 8555 section 6.2): the flattened JSON serialization
// (RFC 7515 section 7.2.2) with a protected header carrying alg, nonce, url and exactly one of jwk
// (RFC 7517) or kid; RFC 7638 JWK thumbprints (account identity, key authorizations).
//
// Algorithms: ES256 (P-256), ES384 (P-384), RS256 (RSA >= 2048 bits) and EdDSA (Ed25519,
// RFC 8037), all verified with OpenSSL EVP. ECDSA signatures are the raw r||s of RFC 7518 section
// 3.4; Apple's ACME client sometimes drops a leading zero byte from r or s, so a signature one or
// two bytes short is retried with the zero put back in front of each half (as step-ca does).
#ifndef CUSTOS_ACME_JWS_H_
#define CUSTOS_ACME_JWS_H_

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/openssl_util.h"
#include "base/status.h"

namespace custos::acme {

// Largest JWS body accepted (a device-attest-01 answer with its attestation chain is ~5 KiB).
inline constexpr size_t kMaxJwsBytes = 128 * 1024;

// A public key from a JWK.
struct Jwk {
  nlohmann::json json;     // only the public members (kty, crv, x, y, n, e), as received
  EvpPkeyPtr key;
  std::string thumbprint;  // RFC 7638, base64url of SHA-256
};

// Parses a JWK: kty EC (crv P-256/P-384), RSA (>= 2048 bits) or OKP (crv Ed25519).
// Errors: badPublicKey (tagged, see problem.h) for anything else or an invalid key.
StatusOr<Jwk> ParseJwk(const nlohmann::json& jwk);
// The JWK of a public key (EC P-256/P-384, RSA, Ed25519). INVALID_ARGUMENT for other keys.
StatusOr<nlohmann::json> JwkFromKey(EVP_PKEY* key);
// RFC 7638 thumbprint (base64url) of a JWK's required members. badPublicKey when some are missing.
StatusOr<std::string> JwkThumbprint(const nlohmann::json& jwk);

// A parsed, not yet verified, flattened JWS.
struct Jws {
  std::string protected_b64;
  std::string payload_b64;
  std::string signature;  // decoded
  nlohmann::json header;  // the decoded protected header
  std::string payload;    // decoded; "" for POST-as-GET
  std::string alg;
  std::string nonce;
  std::string url;
  std::string kid;                    // "" when absent
  std::optional<nlohmann::json> jwk;  // when present
};

// Parses the request body. Errors (tagged): malformed for bad JSON, a missing or non-string
// member, bad base64url, an unprotected "header" member, both or neither of jwk/kid, a missing
// url; badSignatureAlgorithm for an alg outside ES256/ES384/RS256/EdDSA (or "none"/HS*).
// A missing nonce is left to the caller (badNonce).
StatusOr<Jws> ParseFlattenedJws(std::string_view body);

// Verifies the signature over protected_b64 "." payload_b64 with `key`. Errors (tagged):
// badSignatureAlgorithm when alg does not fit the key, malformed when the signature is wrong.
Status VerifyJws(const Jws& jws, EVP_PKEY* key);

// The JWS alg for `key` ("ES256", "ES384", "RS256", "EdDSA"), or INVALID_ARGUMENT.
StatusOr<std::string> JwsAlgForKey(EVP_PKEY* key);

// Signs `payload` as a flattened JWS (client side: tests, benchmarks, the in-test ACME client).
// `header` gets "alg" added. Returns the JSON body.
StatusOr<std::string> SignFlattenedJws(EVP_PKEY* key, nlohmann::json header,
                                       std::string_view payload);

}  // namespace custos::acme

#endif  // CUSTOS_ACME_JWS_H_
