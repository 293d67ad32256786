// The ACME server (RFC 8555) of custos, transport-neutral: directory, nonces, accounts (with
// onlyReturnExisting, update, deactivation and key rollover), orders, authorizations, challenges,
// finalize, certificate download, revocation and the account's orders list. Every POST is a JWS
// (jws.h) whose url must equal the request URL under the public base URL, whose nonce must be one
// this process issued (nonces.h), and which is signed by the jwk (newAccount, revokeCert only) or
// by the key of the account named by kid. Errors are RFC 7807 problems (problem.h).
//
// Challenges:
//  - http-01 for dns identifiers, fetched by libcurl (http01.h) on a small pool of worker threads,
//    so that a request never waits on the network; the client polls the challenge/authorization.
//  - device-attest-01 (draft-acme-device-attest, Apple's Managed Device Attestation) for
//    permanent-identifier identifiers, validated in the request: the identifier must be a one-time
//    ClientIdentifier custos created (NewClientIdentifier), unknown or spent ones are refused with
//    rejectedIdentifier; the payload {"attObj": base64url(CBOR)} must hold a chain verifying to the
//    Apple Enterprise Attestation Root CA (or an extra root from configuration, for tests), a
//    freshness code equal to SHA-256(token), and, when the ClientIdentifier was bound to a device,
//    that device's serial or UDID. The ClientIdentifier is spent on success. At finalize the CSR key
//    must be the attested leaf key; the certificate gets the PermanentIdentifier SAN (RFC 4043,
//    the attested serial, else the UDID), clientAuth, and its record keeps the attested facts in
//    attributes_json.
#ifndef CUSTOS_ACME_SERVICE_H_
#define CUSTOS_ACME_SERVICE_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "acme/http01.h"
#include "acme/jws.h"
#include "acme/nonces.h"
#include "attest/attestation.h"
#include "base/random.h"
#include "base/status.h"
#include "base/time.h"
#include "ca/authority.h"
#include "storage/storage.h"

namespace custos::acme {

// The POST endpoints under /acme/.
enum class Endpoint {
  kNewAccount,
  kNewOrder,
  kRevokeCert,
  kKeyChange,
  kAccount,        // /acme/account/{id}
  kAccountOrders,  // /acme/account/{id}/orders
  kOrder,          // /acme/order/{id}
  kFinalize,       // /acme/order/{id}/finalize
  kAuthz,          // /acme/authz/{id}
  kChallenge,      // /acme/chall/{id}
  kCert,           // /acme/cert/{id}
};

// A reply before transport encoding. The HTTP binding adds Replay-Nonce, the index Link and
// Cache-Control to every reply.
struct AcmeReply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::string location;            // "" = no Location header
  std::vector<std::string> links;  // full Link header values, e.g. <URL>;rel="up"
};

// A device-attest-01 enrollment the ACME server refused (issue 7): the attestation failed at the
// challenge, or the CSR at finalize does not carry the attested key. Nothing was issued.
struct DeviceAttestRefusal {
  std::string stage;         // "challenge" | "finalize"
  std::string order_id;
  std::string bound_to;      // the serial/UDID the ClientIdentifier was made for ("" = unbound)
  std::string serial;        // attested serial number, when the attestation got that far
  std::string udid;          // attested UDID, likewise
  std::string problem_type;  // ACME error type URN
  std::string detail;        // the problem's detail
};

class AcmeService {
 public:
  struct Options {
    // The public base URL (scheme://host[:port], no trailing slash); every ACME URL is
    // base_url + "/acme/...", and a JWS url must equal base_url + the request path.
    std::string base_url;
    Duration nonce_lifetime{3600};
    Duration order_lifetime{7 * 86400};
    Duration cert_validity{365 * 86400};
    Duration client_identifier_ttl{30 * 86400};
    // Attestation trust: the bundled Apple root unless turned off (tests), plus these PEM roots.
    bool trust_apple_root = true;
    std::vector<std::string> extra_attestation_roots_pem;
    // http-01: "" or HOST:PORT every validation connects to (tests only).
    std::string http01_target;
    int validation_threads = 2;
  };

  // `authority`, `storage`, `clock` and `random` must outlive the service. `fetcher` may be null
  // (the libcurl one is used). Errors: INVALID_ARGUMENT for a bad base URL or attestation root.
  static StatusOr<std::unique_ptr<AcmeService>> Create(Options options, Authority* authority,
                                                       Storage* storage, Clock* clock,
                                                       Random* random,
                                                       std::unique_ptr<Http01Fetcher> fetcher = {});
  ~AcmeService();  // stops the validation workers (pending validations are dropped)

  // GET /acme/directory.
  AcmeReply Directory() const;
  // A fresh nonce for a Replay-Nonce header (every reply gets one).
  std::string NewNonce();
  // Any POST under /acme/: `request_path` is the path as requested (for the url check),
  // `id` the path parameter of the endpoint ("" for the fixed ones).
  AcmeReply Post(Endpoint endpoint, std::string_view id, std::string_view request_path,
                 std::string_view content_type, std::string_view body);

  // A new one-time device-attest-01 ClientIdentifier (for an enrollment profile's ACME payload),
  // optionally bound to a device serial number or UDID. Only its SHA-256 is stored.
  StatusOr<std::string> NewClientIdentifier(std::string_view bound_to = "");

  // Blocks until no http-01 validation is queued or running (tests, benchmarks).
  void WaitForValidations();

  // Called (after the refusal was stored, on the request's thread) for every refused
  // device-attest-01 enrollment; set before serving. Issue 7 records and publishes them.
  void SetRefusalListener(std::function<void(const DeviceAttestRefusal&)> listener) {
    refusal_listener_ = std::move(listener);
  }

  const std::string& base_url() const { return options_.base_url; }

 private:
  struct Context;
  struct KnownAccount;  // an account with its parsed key

  AcmeService(Options options, Authority* authority, Storage* storage, Clock* clock,
               Random* random, std::unique_ptr<Http01Fetcher> fetcher,
               std::unique_ptr<attest::AttestationVerifier> verifier);

  StatusOr<AcmeReply> PostImpl(Endpoint endpoint, std::string_view id,
                               std::string_view request_path, std::string_view content_type,
                               std::string_view body);
  StatusOr<AcmeReply> NewAccount(Context& ctx);
  StatusOr<AcmeReply> Account(Context& ctx, std::string_view id);
  StatusOr<AcmeReply> AccountOrders(Context& ctx, std::string_view id);
  StatusOr<AcmeReply> KeyChange(Context& ctx, std::string_view request_url);
  StatusOr<AcmeReply> NewOrder(Context& ctx);
  StatusOr<AcmeReply> Order(Context& ctx, std::string_view id);
  StatusOr<AcmeReply> Finalize(Context& ctx, std::string_view id);
  StatusOr<AcmeReply> Authz(Context& ctx, std::string_view id);
  StatusOr<AcmeReply> Challenge(Context& ctx, std::string_view id);
  StatusOr<AcmeReply> Cert(Context& ctx, std::string_view id);
  StatusOr<AcmeReply> RevokeCert(Context& ctx);

  // The account `id` names, read in a transaction of its own; with `remember`, from (and into)
  // known_accounts_. ACME errors: accountDoesNotExist, unauthorized for an account that is not
  // valid.
  StatusOr<std::shared_ptr<const KnownAccount>> LoadAccount(const std::string& id, bool remember);
  void ForgetAccount(const std::string& id);
  // In a handler's transaction, before it reads or changes anything: the account a remembered
  // entry vouched for is still valid with the key the request was verified with. Another custos
  // process on the same database may have deactivated it or rolled its key over.
  Status ConfirmAccount(Stores& stores, const Context& ctx);

  // device-attest-01: verifies the attestation and records the outcome.
  Status ValidateDeviceAttest(const AcmeChallengeRecord& challenge, const AcmeAuthzRecord& authz,
                              std::string_view payload);
  // An http-01 validation for a worker: what the challenge POST read, so the worker does not
  // read it again.
  struct Http01Job {
    AcmeChallengeRecord challenge;
    AcmeAuthzRecord authz;
    std::string key_authorization;  // token "." account key thumbprint
  };
  // http-01 on a worker thread. The result is recorded only while the challenge is still
  // processing (another process may have judged it already).
  void ValidateHttp01(const Http01Job& job);
  // Queues the http-01 validations left in processing by a stopped process (the queue is in
  // memory), at start.
  Status ResumeValidations();
  // Marks the challenge and its authorization invalid with `problem`, and the order.
  Status RecordFailure(Stores& stores, const AcmeChallengeRecord& challenge,
                       const AcmeAuthzRecord& authz, const Status& problem);
  // Updates a pending/ready order's status from its authorizations and expiry.
  StatusOr<AcmeOrderRecord> RefreshOrder(Stores& stores, AcmeOrderRecord order);
  // The same with the order's authorizations already read (`authzs`, as ListAuthzs gives them).
  StatusOr<AcmeOrderRecord> RefreshOrder(Stores& stores, AcmeOrderRecord order,
                                         const std::vector<AcmeAuthzRecord>& authzs);

  nlohmann::json AccountJson(const AcmeAccountRecord& account) const;
  // `authzs`: the order's authorizations, as ListAuthzs gives them.
  nlohmann::json OrderJson(const AcmeOrderRecord& order,
                           const std::vector<AcmeAuthzRecord>& authzs) const;
  nlohmann::json AuthzJson(const AcmeAuthzRecord& authz,
                           const std::vector<AcmeChallengeRecord>& challenges) const;
  nlohmann::json ChallengeJson(const AcmeChallengeRecord& challenge) const;
  std::string Url(std::string_view suffix) const { return options_.base_url + "/acme/" + std::string(suffix); }
  std::string NewId();

  void WorkerLoop();

  const Options options_;
  Authority* authority_;
  Storage* storage_;
  Clock* clock_;
  Random* random_;
  std::unique_ptr<Http01Fetcher> fetcher_;
  std::unique_ptr<attest::AttestationVerifier> verifier_;
  NonceStore nonces_;

  // Valid accounts by id with their parsed keys, so that the signed requests of an order verify
  // without a transaction of their own; each handler confirms the entry in its transaction
  // (ConfirmAccount). Cleared when it grows past kMaxKnownAccounts.
  std::mutex known_accounts_mu_;
  std::unordered_map<std::string, std::shared_ptr<const KnownAccount>> known_accounts_;

  std::mutex work_mu_;
  std::condition_variable work_cv_;
  std::condition_variable idle_cv_;
  std::deque<Http01Job> work_;
  int busy_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
  std::function<void(const DeviceAttestRefusal&)> refusal_listener_;  // issue 7
};

// Reads the PEM files named in `comma_separated_paths` ([acme] extra_attestation_roots); "" gives
// none. INVALID_ARGUMENT naming a file that cannot be read or holds no PEM certificate.
StatusOr<std::vector<std::string>> ReadPemFiles(std::string_view comma_separated_paths);

}  // namespace custos::acme

#endif  // CUSTOS_ACME_SERVICE_H_
