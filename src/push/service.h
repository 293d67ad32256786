// The push service: wakes MDM enrollments over APNs for the MDM service (mdm::PushTrigger), keeps
// the MDM push certificates per topic in storage, and exports their expiry as a metric.
//
// Follows Apple's "Sending MDM commands to a device" / "Setting up push notifications for your MDM
// customers" and the issue-4 semantics (see push/apns.h for the wire level):
//   - PushEnrollments(ids) returns at once; a worker thread reads each enrollment's topic, push
//     token and PushMagic from the MDM store and hands them to the Pusher (the APNs provider), which
//     coalesces a burst for one enrollment into one push. Enrollments that are unknown, disabled
//     (checked out), without a token, or whose token APNs declared unregistered are skipped and
//     logged (debug), never sent.
//   - APNs 410: the enrollment's token is marked unregistered in the MDM store (only if it is still
//     the token that was pushed, so a racing TokenUpdate wins); the next TokenUpdate clears it.
//   - Every result is counted by the provider (custos_push_results_total{outcome}); failures are
//     logged with the enrollment id, never with the token or PushMagic.
//   - custos_push_certificate_not_after_seconds{topic}: the notAfter of each installed push
//     certificate (unix seconds), refreshed at start, on install and every `metrics_refresh`. It is
//     the same family the APNs provider sets for the certificate it loads (apns.cc), so installed
//     but unused topics show too.
//
// Push certificates are stored by PushStore (storage/push_store.h) with their private key as
// PKCS#8 encrypted under the CA passphrase ([ca] passphrase / passphrase_file), exactly as CA keys
// are (pki/key.h), or unencrypted when no passphrase is configured (logged as a warning once per
// install). StoragePushCertificates is the provider's PushCertificateSource over that store.
#ifndef CUSTOS_PUSH_SERVICE_H_
#define CUSTOS_PUSH_SERVICE_H_

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/status.h"
#include "base/time.h"
#include "mdm/hooks.h"
#include "push/apns.h"
#include "push/push_cert.h"
#include "storage/storage.h"

namespace custos::metrics {
class Registry;
}

namespace custos::push {

// What the API and CLI show about an installed push certificate (never the key).
struct PushCertInfo {
  std::string topic;
  std::string subject;
  std::string sha256;  // of the leaf DER
  Time not_before;
  Time not_after;
  bool key_encrypted = false;
  Time updated_at;
};

// Stores `cert` for its topic (replacing any previous one), its key encrypted with `passphrase`
// when that is non-empty. FAILED_PRECONDITION when the certificate has expired at clock->Now();
// errors from storage otherwise.
StatusOr<PushCertInfo> InstallPushCertificate(Storage& storage, const PushCertificate& cert,
                                              std::string_view passphrase, Clock* clock);
// Every installed certificate, by topic.
StatusOr<std::vector<PushCertInfo>> ListPushCertificates(Storage& storage);
// One installed certificate; NOT_FOUND when the topic has none.
StatusOr<PushCertInfo> GetPushCertificate(Storage& storage, std::string_view topic);

// PushCertificateSource over PushStore: loads and decrypts the certificate of a topic.
// NOT_FOUND when none is installed; PERMISSION_DENIED when the key does not decrypt with the
// passphrase (wrong [ca] passphrase).
class StoragePushCertificates : public PushCertificateSource {
 public:
  StoragePushCertificates(Storage* storage, std::string passphrase)
      : storage_(storage), passphrase_(std::move(passphrase)) {}
  StatusOr<std::shared_ptr<const PushCertificate>> Lookup(std::string_view topic) override;

 private:
  Storage* storage_;
  std::string passphrase_;
};

struct PushServiceOptions {
  std::string passphrase;  // the CA passphrase (Config::CaPassphrase()); "" = keys unencrypted
  Clock* clock = Clock::Real();
  metrics::Registry* metrics = nullptr;  // nullptr = metrics::Default()
  std::chrono::seconds metrics_refresh{300};
};

// The per-enrollment answer of PushNow (NanoMDM's /v1/push result).
struct EnrollmentPushResult {
  std::string enrollment_id;
  bool ok = false;
  std::string apns_id;  // APNs' apns-id on success
  std::string error;    // why not, when !ok ("" while still pending at the deadline)
  bool pending = false; // the push had not completed when PushNow's deadline passed
};

class PushService : public mdm::PushTrigger {
 public:
  // Uses `pusher` (not owned; tests pass a fake). `storage` and `pusher` must outlive the service.
  static StatusOr<std::unique_ptr<PushService>> Create(Storage* storage, Pusher* pusher,
                                                       PushServiceOptions options);
  // Owns an ApnsProvider over StoragePushCertificates, configured by `apns` ([push] section).
  // Errors from ApnsProvider::Create.
  static StatusOr<std::unique_ptr<PushService>> CreateWithApns(Storage* storage, ApnsOptions apns,
                                                               PushServiceOptions options);
  // Stops the worker; pushes already handed to the provider complete (or fail) with it.
  ~PushService() override;

  // mdm::PushTrigger: queues the ids and returns at once.
  void PushEnrollments(std::vector<std::string> enrollment_ids) override;

  // Pushes to `enrollment_ids` now and waits at most `timeout` for the APNs answers (the admin
  // API's synchronous push, as NanoMDM's). One result per id, in order; unknown or unpushable ids
  // get ok=false with the reason.
  StatusOr<std::vector<EnrollmentPushResult>> PushNow(const std::vector<std::string>& enrollment_ids,
                                                      std::chrono::milliseconds timeout);

  // Installs a certificate (see InstallPushCertificate), makes the provider use it for the next
  // push and updates the expiry metric.
  StatusOr<PushCertInfo> Install(const PushCertificate& cert);
  Storage* storage() const { return storage_; }

  // Waits until every id queued by PushEnrollments so far was handed to the pusher and every 410
  // was recorded; true when idle within `timeout`. For tests.
  bool WaitIdle(std::chrono::milliseconds timeout);

  // Re-reads the installed certificates into the expiry metric.
  Status RefreshMetrics();

 private:
  PushService(Storage* storage, Pusher* pusher, PushServiceOptions options);
  void Run();
  // Looks up push info for `ids`, returns the targets and fills `skipped` with reasons.
  StatusOr<std::vector<PushTarget>> Targets(const std::vector<std::string>& ids,
                                            std::vector<std::pair<std::string, std::string>>* skipped);
  void HandleResults(const std::vector<PushTarget>& targets, std::vector<PushResult> results);

  Storage* storage_;
  Pusher* pusher_;
  PushServiceOptions options_;
  std::unique_ptr<StoragePushCertificates> owned_source_;
  std::unique_ptr<ApnsProvider> owned_provider_;
  metrics::Registry* registry_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::vector<std::string>> pending_pushes_;
  // (enrollment id, token hex) pairs APNs answered 410 for.
  std::deque<std::pair<std::string, std::string>> pending_unregistered_;
  int busy_ = 0;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace custos::push

#endif  // CUSTOS_PUSH_SERVICE_H_
