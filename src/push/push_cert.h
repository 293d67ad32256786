// An MDM push certificate: the client certificate (and its private key) Apple issues through the
// Apple Push Certificates Portal, with which custos authenticates to APNs for one MDM topic.
//
// Follows Apple's "Setting up push notifications for your MDM customers" and "Sending
// notification requests to APNs" (certificate-based trust). The topic a push must carry in
// `apns-topic` is the certificate subject's UID attribute (OID 0.9.2342.19200300.100.1.1), for
// example "com.apple.mgmt.External.0b6e8e5b-...". The MDM enrollment profile's Topic must equal it.
//
// Accepted forms:
//   - PEM: the certificate and the private key, in one text or in two (any order; extra
//     certificates are kept as the chain). The key may be encrypted (PKCS#8 or traditional PEM
//     encryption) with a password.
//   - PKCS#12 (.p12 as exported from Keychain Access) with a password. Files using legacy
//     algorithms (RC2-40, 3DES) load through OpenSSL's legacy provider.
//
// A PushCertificate is immutable and safe to share between threads.
#ifndef CUSTOS_PUSH_PUSH_CERT_H_
#define CUSTOS_PUSH_PUSH_CERT_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/openssl_util.h"
#include "base/status.h"
#include "base/time.h"

namespace custos::push {

// The subject attribute that names the MDM topic (UID, 0.9.2342.19200300.100.1.1).
inline constexpr std::string_view kTopicAttributeOid = "0.9.2342.19200300.100.1.1";

class PushCertificate {
 public:
  // Loads from PEM. `cert_pem` holds at least one certificate; the private key is read from
  // `key_pem`, or from `cert_pem` when `key_pem` is empty. `password` decrypts an encrypted key
  // (ignored for an unencrypted one).
  // Errors (all INVALID_ARGUMENT, each saying which): no certificate, no private key, an
  // encrypted key without or with a wrong password, a key that matches none of the certificates,
  // a certificate without a UID (topic) subject attribute.
  static StatusOr<std::unique_ptr<PushCertificate>> FromPem(std::string_view cert_pem,
                                                           std::string_view key_pem = {},
                                                           std::string_view password = {});

  // Loads a PKCS#12 (DER) archive with `password` ("" for none).
  // Errors: not PKCS#12 (INVALID_ARGUMENT), wrong password (INVALID_ARGUMENT, message says
  // "wrong password"), no certificate or key inside, key not matching, no UID attribute.
  static StatusOr<std::unique_ptr<PushCertificate>> FromPkcs12(std::string_view der,
                                                              std::string_view password);

  // Sniffs the format: PEM when `data` contains "-----BEGIN", PKCS#12 otherwise. `key_pem` only
  // applies to PEM input. Same errors as the two loaders above.
  static StatusOr<std::unique_ptr<PushCertificate>> Load(std::string_view data,
                                                         std::string_view password = {},
                                                         std::string_view key_pem = {});

  PushCertificate(const PushCertificate&) = delete;
  PushCertificate& operator=(const PushCertificate&) = delete;
  ~PushCertificate();

  // The MDM topic (subject UID), e.g. "com.apple.mgmt.External.<uuid>".
  const std::string& topic() const { return topic_; }
  // The subject in RFC 2253 form, for display.
  const std::string& subject() const { return subject_; }
  Time not_before() const { return not_before_; }
  Time not_after() const { return not_after_; }
  // Lowercase hex SHA-256 of the leaf certificate's DER: identifies the certificate in logs, the
  // API and metrics.
  const std::string& sha256() const { return sha256_; }
  // True when `now` is outside [not_before, not_after].
  bool ExpiredAt(Time now) const { return now < not_before_ || now > not_after_; }

  // The leaf certificate followed by any chain certificates, PEM.
  const std::string& certificate_pem() const { return certificate_pem_; }
  // The private key as unencrypted PKCS#8 PEM. SECRET: only ever handed to TLS in memory
  // (the APNs provider uses key() directly); never log it or write it to disk. Wiped on destruction.
  const std::string& key_pem() const { return key_pem_; }

  X509* certificate() const { return cert_.get(); }
  EVP_PKEY* key() const { return key_.get(); }

 private:
  PushCertificate() = default;
  // Picks the certificate matching `key` from `certs` as the leaf, fills every field.
  static StatusOr<std::unique_ptr<PushCertificate>> Build(X509StackPtr certs, EvpPkeyPtr key);

  X509Ptr cert_;
  X509StackPtr chain_;
  EvpPkeyPtr key_;
  std::string topic_;
  std::string subject_;
  Time not_before_{};
  Time not_after_{};
  std::string sha256_;
  std::string certificate_pem_;
  std::string key_pem_;
};

}  // namespace custos::push

#endif  // CUSTOS_PUSH_PUSH_CERT_H_
