// The MAID access-management token (Apple "Managed Apple ID access management"; GetToken check-in
// with TokenServiceType com.apple.maid): a JWT (RFC 7519) signed RS256 (RFC 7518 section 3.3)
// with the DEP name's *current* token PKI key, whose certificate ABM holds, so Apple can verify it.
// Claims: iss = the ABM server UUID (from the account call), iat, a random jti, service_type.
#ifndef CUSTOS_DEP_MAID_JWT_H_
#define CUSTOS_DEP_MAID_JWT_H_

#include <string>
#include <string_view>

#include "base/openssl_util.h"
#include "base/random.h"
#include "base/status.h"
#include "base/time.h"

namespace custos::dep {

inline constexpr std::string_view kMaidServiceType = "com.apple.maid";

// Compact JWS "header.payload.signature". INVALID_ARGUMENT when `key` is not RSA or `server_uuid`
// is empty; INTERNAL when signing fails.
StatusOr<std::string> SignMaidJwt(EVP_PKEY* key, std::string_view server_uuid,
                                  std::string_view service_type, Time now, Random* random);

// Verifies an RS256 compact JWS with `public_key` and returns its claims JSON text (tests and
// `custos inspect`). INVALID_ARGUMENT when malformed or the signature does not verify.
StatusOr<std::string> VerifyRs256Jwt(std::string_view jwt, EVP_PKEY* public_key);

}  // namespace custos::dep

#endif  // CUSTOS_DEP_MAID_JWT_H_
