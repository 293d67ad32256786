// Test support for the SCEP code (tests, fuzz-corpus generation and benchmarks only): a small
// throw-away CA, requester identities and the path of the real captured request.
#ifndef CUSTOS_SCEP_TESTING_H_
#define CUSTOS_SCEP_TESTING_H_

#include <string>
#include <vector>

#include "base/openssl_util.h"
#include "base/status.h"
#include "pki/csr.h"

namespace custos::scep::testing {

struct Identity {
  EvpPkeyPtr key;
  X509Ptr cert;
};

// An RSA identity with a certificate for CN=`cn`, self-signed when `issuer` is null (a CA when
// `ca`), valid 2023-11-14 .. 2030-03-17. Aborts the test binary on failure (fixtures only).
Identity MakeIdentity(const std::string& cn, const Identity* issuer = nullptr, bool ca = false,
                      int bits = 2048);

// A self-signed SCEP signer certificate for `key` (RFC 8894 section 2.3).
X509Ptr MakeSelfSignedSigner(EVP_PKEY* key, const std::string& cn);

// DER PKCS#10 for `key` with CN=`cn` and an optional challengePassword.
std::string MakeCsr(EVP_PKEY* key, const std::string& cn, const std::string& challenge);

// The real PKIOperation captured from a device (../shared/vectors/scep/testdata/PKCSReq.der).
std::string RealPkcsReqPath();
std::string ReadFileOrDie(const std::string& path);

}  // namespace custos::scep::testing

#endif  // CUSTOS_SCEP_TESTING_H_
