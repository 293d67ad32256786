// Test-only PKI for the push tests and benchmark: throw-away CAs, a TLS server certificate for
// the fake APNs server on 127.0.0.1, and MDM push certificates (subject UID = topic), all made
// with OpenSSL APIs. Never use outside tests.
#ifndef CUSTOS_PUSH_TESTING_TEST_PKI_H_
#define CUSTOS_PUSH_TESTING_TEST_PKI_H_

#include <string>
#include <string_view>

#include "base/openssl_util.h"
#include "base/status.h"
#include "base/time.h"

namespace custos::push::testing {

struct KeyAndCert {
  EvpPkeyPtr key;
  X509Ptr cert;
  std::string cert_pem;
  std::string key_pem;  // unencrypted PKCS#8
};

// An EC P-256 key, or an RSA key of `rsa_bits` when that is non-zero.
StatusOr<EvpPkeyPtr> NewKey(int rsa_bits = 0);

// A self-signed CA certificate valid for a day around now.
StatusOr<KeyAndCert> MakeCa(std::string_view common_name);

// A TLS server certificate for IP 127.0.0.1 and DNS localhost, signed by `ca`.
StatusOr<KeyAndCert> MakeServerCert(const KeyAndCert& ca);

// An MDM push certificate signed by `ca`: subject UID=`topic` (omitted when `topic` is empty),
// CN=APSP:<topic>, C=US; RSA 2048 like Apple's; valid [not_before, not_after].
StatusOr<KeyAndCert> MakePushCert(const KeyAndCert& ca, std::string_view topic, Time not_before,
                                  Time not_after);

// A PKCS#12 archive of `leaf` (+ `ca` when non-null) under `password`. `legacy` uses the
// RC2-40/3DES algorithms of older exporters (needs OpenSSL's legacy provider).
StatusOr<std::string> MakePkcs12(const KeyAndCert& leaf, const KeyAndCert* ca,
                                 std::string_view password, bool legacy = false);

// `key` as PEM encrypted with AES-256-CBC under `password`.
StatusOr<std::string> EncryptedKeyPem(EVP_PKEY* key, std::string_view password);

// Writes `data` to `path` (mode 0600).
Status WriteFile(const std::string& path, std::string_view data);

// A fresh folder under $TMPDIR (or /tmp).
StatusOr<std::string> MakeTempDir(std::string_view prefix);

}  // namespace custos::push::testing

#endif  // CUSTOS_PUSH_TESTING_TEST_PKI_H_
