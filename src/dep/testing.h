// Test helpers of the DEP component (library custos_dep_testing): token files made exactly as
// Apple Business Manager makes them, with the openssl command line.
#ifndef CUSTOS_DEP_TESTING_H_
#define CUSTOS_DEP_TESTING_H_

#include <string>
#include <string_view>

#include "base/status.h"
#include "pki/test_support.h"

namespace custos::dep {

// {"consumer_key": CK, "consumer_secret": "CS-"+CK, "access_token": "AT-"+CK,
//  "access_secret": "AS-"+CK, "access_token_expiry": expiry}
std::string TokenJson(std::string_view consumer_key, std::string_view expiry);

// `openssl smime -encrypt -aes256` to `cert_pem` around the MIME message ABM wraps the JSON in;
// returns the S/MIME file. INTERNAL when openssl fails.
StatusOr<std::string> MakeTokenFile(const testing_support::TempDir& dir, std::string_view cert_pem,
                                    std::string_view json);

}  // namespace custos::dep

#endif  // CUSTOS_DEP_TESTING_H_
