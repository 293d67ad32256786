// The http-01 challenge fetch (RFC 8555 section 8.3): GET
// http://NAME/.well-known/acme-challenge/TOKEN on port 80, body must equal the key authorization.
//
// The fetch goes through libcurl with no redirects to other ports or schemes, a small response
// limit and short timeouts. A test-only target ([acme] http01_target, HOST:PORT) makes every fetch
// connect there instead of to NAME (curl's CONNECT_TO: the Host header still names NAME), so
// interop tests never leave the machine.
#ifndef CUSTOS_ACME_HTTP01_H_
#define CUSTOS_ACME_HTTP01_H_

#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"

namespace custos::acme {

class Http01Fetcher {
 public:
  virtual ~Http01Fetcher() = default;
  // The response body of the challenge URL for `name` and `token`. Errors: UNAVAILABLE when the
  // connection fails, FAILED_PRECONDITION for a non-200 answer or a body over 8 KiB.
  virtual StatusOr<std::string> Fetch(std::string_view name, std::string_view token) = 0;
};

// libcurl fetcher. `connect_to` is "" or "HOST:PORT" (test-only override).
std::unique_ptr<Http01Fetcher> NewCurlHttp01Fetcher(std::string connect_to);

}  // namespace custos::acme

#endif  // CUSTOS_ACME_HTTP01_H_
