// The SCEP service (RFC 8894) on custos' CA: GetCACaps, GetCACert and PKIOperation, with the
// challenge, idempotency, approval and renewal rules of issue 3. Transport-free: the HTTP handler
// (http_handler.h) only moves bytes in and out.
//
//   - PKCSReq (19): trust comes from the challengePassword: the static one from configuration
//     (compared in constant time) or a dynamic one-time challenge (stored as SHA-256, expires,
//     optionally bound to a device serial/UDID that must appear in the CSR's subject or SANs). A
//     dynamic challenge is spent in the same storage transaction that issues the certificate, so
//     two concurrent requests with one challenge yield exactly one certificate.
//   - RenewalReq (17): no challenge; the request must be signed by a certificate custos issued,
//     chaining to a trusted issuing certificate, unrevoked, and unexpired or expired for at most
//     scep.renewal_grace. The new certificate records renewal_of.
//   - Idempotency: a request with a known transactionID and the same public key gets the
//     certificate already issued (or PENDING); with a different key, FAILURE badRequest.
//   - Manual approval (scep.manual_approval): PKCSReq/RenewalReq answer PENDING until Approve();
//     CertPoll (20) then returns the certificate.
//   - GetCert (21) / GetCRL (22): a certificate by serial, the CRL of the active issuing key.
// Every refusal is logged with its reason (never the challenge) and answered with a CertRep
// FAILURE and the failInfo of message.h when a CertRep can be formed, else INVALID_ARGUMENT
// (HTTP 400).
#ifndef CUSTOS_SCEP_SERVICE_H_
#define CUSTOS_SCEP_SERVICE_H_

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/config.h"
#include "base/random.h"
#include "base/status.h"
#include "base/time.h"
#include "ca/authority.h"
#include "scep/inspect.h"
#include "scep/message.h"
#include "storage/storage.h"

namespace custos::scep {

struct CaCertReply {
  std::string content_type;  // application/x-x509-ca-cert | application/x-x509-ca-ra-cert
  std::string body;
};

class ScepService {
 public:
  // `ca` and `storage` must outlive the service. Loads the issuing keys (for envelopes) with
  // `ca_passphrase`. Loads OpenSSL's legacy provider when scep.legacy_algorithms is set.
  static StatusOr<std::unique_ptr<ScepService>> Create(const ScepConfig& config, Authority* ca,
                                                       Storage* storage, Clock* clock,
                                                       Random* random,
                                                       std::string ca_passphrase);

  // The GetCACaps body: one capability per line.
  std::string GetCaCaps() const;
  // The active issuing certificate and the root (plus older issuing certificates still trusted
  // after a rollover) as a certs-only PKCS#7, active issuing certificate first.
  StatusOr<CaCertReply> GetCaCert() const;
  // Handles a PKIOperation message: the DER CertRep to answer with (HTTP 200,
  // application/x-pki-message), or INVALID_ARGUMENT when no CertRep can be formed (HTTP 400).
  StatusOr<std::string> PkiOperation(std::string_view message);

  // A new dynamic one-time challenge (32 hex characters) valid for `ttl` (default
  // scep.challenge_ttl), optionally reserved for the device with serial number or UDID `bound_to`.
  StatusOr<std::string> NewChallenge(std::optional<Duration> ttl = std::nullopt,
                                     std::string_view bound_to = "");
  // Issues the certificate of a PENDING transaction; returns its serial. NOT_FOUND for an
  // unknown transaction, FAILED_PRECONDITION when it is not pending.
  StatusOr<std::string> Approve(std::string_view transaction_id);
  // Refuses a PENDING transaction (its next CertPoll gets FAILURE badRequest).
  Status Reject(std::string_view transaction_id);

 private:
  struct Outcome;
  ScepService(const ScepConfig& config, Authority* ca, Storage* storage, Clock* clock,
              Random* random, std::string passphrase);

  std::shared_ptr<const std::vector<CaKeyPair>> Keys() const;
  Status ReloadKeys();
  StatusOr<std::string> Reply(const DecodedRequest& req, const CaKeyPair& signer,
                              const Outcome& outcome);
  Outcome Enroll(const DecodedRequest& req, const RequestContent& content);
  Outcome Poll(const DecodedRequest& req);
  Outcome GetCert(const RequestContent& content);
  Outcome GetCrl();
  Status CheckPolicy(const Csr& csr) const;
  // OK with the renewed serial, or a failure with its failInfo.
  StatusOr<std::string> CheckRenewalSigner(X509* signer, FailInfo* fail_info);
  bool StaticChallengeMatches(const std::optional<std::string>& challenge) const;

  ScepConfig config_;
  Authority* ca_;
  Storage* storage_;
  Clock* clock_;
  Random* random_;
  std::string passphrase_;
  DecodeOptions decode_options_;
  std::vector<std::string> allowed_subject_fields_;
  std::vector<std::string> allowed_san_types_;
  mutable std::mutex mu_;
  std::shared_ptr<const std::vector<CaKeyPair>> keys_;  // guarded by mu_
};

}  // namespace custos::scep

#endif  // CUSTOS_SCEP_SERVICE_H_
