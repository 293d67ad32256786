// An SCEP requester (RFC 8894 sections 3 and 4): what a device does, as custos' tests, the device
// simulator and bench/scep need it. Builds PKCSReq / RenewalReq / CertPoll / GetCert / GetCRL
// messages and decodes the CertRep answers. No I/O: the caller moves the bytes over HTTP
// (PKIOperation POST body, or GET with the base64 `message` query parameter).
//
// A PKCSReq is signed with a throw-away self-signed certificate for the request's own key
// (section 2.3); a RenewalReq with the identity being renewed. The transactionID is the hex
// SHA-256 of the requested public key (section 3.2.1.1), the senderNonce 16 random bytes.
#ifndef CUSTOS_SCEP_CLIENT_H_
#define CUSTOS_SCEP_CLIENT_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/openssl_util.h"
#include "base/random.h"
#include "base/status.h"
#include "base/time.h"
#include "scep/message.h"

namespace custos::scep {

struct ClientOptions {
  std::string cipher = "AES-256-CBC";  // content encryption of requests
  std::string digest = "sha256";
  Clock* clock = Clock::Real();        // validity of the self-signed signer certificate
  Random* random = Random::Secure();   // nonces
};

// One request in flight: what the reply is checked against.
struct ClientTransaction {
  MessageType type = MessageType::kPkcsReq;
  std::string transaction_id;
  std::string sender_nonce;
  std::string message;  // the DER pkiMessage to send
  EVP_PKEY* key = nullptr;  // signs the request, decrypts the reply (borrowed)
  X509Ptr signer;           // the certificate the request was signed with
};

class ScepClient {
 public:
  // `ca_certs`: what GetCACert returned. Requests are encrypted to the first certificate (custos
  // serves its issuing CA first); CertReps must be signed by one of them.
  // INVALID_ARGUMENT when `ca_certs` is empty.
  static StatusOr<std::unique_ptr<ScepClient>> Create(std::vector<X509Ptr> ca_certs,
                                                      ClientOptions options = {});

  // A GetCACert body: one DER certificate, or a certs-only PKCS#7 (application/x-x509-ca-ra-cert).
  static StatusOr<std::vector<X509Ptr>> ParseGetCaCert(std::string_view body);
  // "operation=PKIOperation&message=<url-encoded base64>" for GET transport.
  static std::string GetQuery(std::string_view message);

  // PKCSReq for `csr_der` (which must be for `key`), signed by a fresh self-signed certificate.
  StatusOr<ClientTransaction> PkcsReq(EVP_PKEY* key, std::string_view csr_der) const;
  // RenewalReq for `csr_der` (a new key), signed with the existing identity.
  StatusOr<ClientTransaction> RenewalReq(std::string_view csr_der, EVP_PKEY* old_key,
                                         const X509* old_cert) const;
  // CertPoll for a PENDING `previous` request (same transactionID, key and signer).
  StatusOr<ClientTransaction> CertPoll(const ClientTransaction& previous,
                                       const X509_NAME* subject) const;
  // GetCert / GetCRL for the certificate `serial_hex` issued by the CA, signed by `key`/`cert`.
  StatusOr<ClientTransaction> GetCert(std::string_view serial_hex, EVP_PKEY* key,
                                      const X509* cert) const;
  StatusOr<ClientTransaction> GetCrl(std::string_view serial_hex, EVP_PKEY* key,
                                     const X509* cert) const;

  // Decodes the CertRep answering `tx`: verifies the CA's signature, that the transactionID is
  // echoed and that recipientNonce equals our senderNonce (INVALID_ARGUMENT otherwise), and
  // decrypts a SUCCESS envelope.
  StatusOr<CertRep> ReadReply(const ClientTransaction& tx, std::string_view body) const;

  X509* recipient() const { return ca_certs_.front().get(); }

 private:
  ScepClient(std::vector<X509Ptr> ca_certs, ClientOptions options)
      : ca_certs_(std::move(ca_certs)), options_(std::move(options)) {}
  StatusOr<ClientTransaction> Build(MessageType type, std::string transaction_id,
                                    std::string message_data, EVP_PKEY* key,
                                    const X509* signer) const;

  std::vector<X509Ptr> ca_certs_;
  ClientOptions options_;
};

}  // namespace custos::scep

#endif  // CUSTOS_SCEP_CLIENT_H_
