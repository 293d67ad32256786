// The DEP token PKI exchange with Apple Business Manager (Apple "Device Assignment" / "Obtain the
// server token"): custos makes an RSA key pair and a self-signed certificate; the administrator
// uploads the certificate to ABM and downloads the server token file, an S/MIME message (RFC 8551)
// whose CMS EnvelopedData (RFC 5652) is encrypted to that certificate. Decrypted, it holds a MIME
// entity whose body carries the OAuth 1.0a credentials as JSON between "-----BEGIN MESSAGE-----"
// and "-----END MESSAGE-----" lines.
//
// Pure functions, no storage: the staging workflow around them is DepService (service.h).
#ifndef CUSTOS_DEP_TOKEN_PKI_H_
#define CUSTOS_DEP_TOKEN_PKI_H_

#include <string>
#include <string_view>

#include "base/openssl_util.h"
#include "base/random.h"
#include "base/status.h"
#include "base/time.h"
#include "storage/dep_store.h"

namespace custos::dep {

// Largest token file accepted (real ones are about 3 KiB).
inline constexpr size_t kMaxTokenFileBytes = 256 * 1024;

struct TokenPkiPair {
  EvpPkeyPtr key;
  X509Ptr cert;
};

// A new RSA-2048 key and a self-signed certificate for it (CN "custos DEP <name>", valid one
// year from `now`, random serial). INTERNAL when OpenSSL fails.
StatusOr<TokenPkiPair> GenerateTokenPki(std::string_view name, Time now, Random* random);

// Takes the CMS EnvelopedData out of a token file: an S/MIME message (headers, base64 body), a
// PEM "PKCS7"/"CMS" block or raw DER/BER. INVALID_ARGUMENT when none of these parses, or the
// file is larger than kMaxTokenFileBytes. Returns the DER/BER ContentInfo.
StatusOr<std::string> TokenFileEnvelope(std::string_view file);

// Parses the decrypted MIME entity: JSON between the BEGIN/END MESSAGE lines with string fields
// consumer_key, consumer_secret, access_token, access_secret and optional access_token_expiry
// (RFC 3339). INVALID_ARGUMENT when the markers, the JSON or a required field is missing.
StatusOr<DepTokens> ParseTokenMessage(std::string_view mime);

// TokenFileEnvelope + decryption with `key`/`cert` + ParseTokenMessage. INVALID_ARGUMENT when the
// file is malformed or not encrypted to `cert` (wrong key).
StatusOr<DepTokens> DecryptTokenFile(std::string_view file, EVP_PKEY* key, X509* cert);

}  // namespace custos::dep

#endif  // CUSTOS_DEP_TOKEN_PKI_H_
