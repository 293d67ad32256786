// OAuth 1.0a request signing (RFC 5849) with HMAC-SHA1, as Apple's device enrollment API wants it
// for GET /session (Apple "Device Assignment: Authenticating with a device enrollment program
// (DEP) server"): an `Authorization: OAuth realm="ADM", ...` header over the consumer key/secret
// and access token/secret of the server token file.
#ifndef CUSTOS_DEP_OAUTH1_H_
#define CUSTOS_DEP_OAUTH1_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "storage/dep_store.h"

namespace custos::dep {

// RFC 5849 section 3.6 percent-encoding (unreserved characters kept, everything else %XX).
std::string OAuthPercentEncode(std::string_view s);

// The base64 HMAC-SHA1 signature (RFC 5849 section 3.4.2) of a request: `method`, `url` (scheme,
// host, path and optional query; its query parameters are signed too) and `oauth_params` (every
// oauth_* parameter except oauth_signature).
std::string OAuthSignature(std::string_view method, std::string_view url,
                           const std::map<std::string, std::string>& oauth_params,
                           std::string_view consumer_secret, std::string_view token_secret);

// The Authorization header value for `tokens`, with the given timestamp (unix seconds) and nonce.
std::string OAuthAuthorizationHeader(std::string_view method, std::string_view url,
                                     const DepTokens& tokens, int64_t timestamp,
                                     std::string_view nonce);

// Parses an `OAuth k="v", ...` header into decoded parameters (realm included).
// INVALID_ARGUMENT when it is not an OAuth header.
StatusOr<std::map<std::string, std::string>> ParseOAuthHeader(std::string_view header);

}  // namespace custos::dep

#endif  // CUSTOS_DEP_OAUTH1_H_
