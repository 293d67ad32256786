#include "push/service.h"

#include <future>
#include <unordered_map>

#include "base/encoding.h"
#include "base/logging.h"
#include "base/metrics.h"
#include "pki/key.h"

namespace custos::push {
namespace {

constexpr std::string_view kExpiryMetric = "custos_push_certificate_not_after_seconds";

PushCertInfo InfoFromRecord(const PushCertRecord& r) {
  PushCertInfo i;
  i.topic = r.topic;
  i.subject = r.subject;
  i.sha256 = r.sha256_hex;
  i.not_before = r.not_before;
  i.not_after = r.not_after;
  i.key_encrypted = r.key_encrypted;
  i.updated_at = r.updated_at;
  return i;
}

metrics::GaugeFamily& ExpiryGauge(metrics::Registry* registry) {
  // The APNs provider registers the same family (apns.cc); whichever comes first sets the help.
  return registry->AddGauge(kExpiryMetric,
                            "Expiry (Unix seconds) of the push certificate in use, by topic.",
                            {"topic"});
}

}  // namespace

StatusOr<PushCertInfo> InstallPushCertificate(Storage& storage, const PushCertificate& cert,
                                              std::string_view passphrase, Clock* clock) {
  const Time now = clock->Now();
  if (cert.ExpiredAt(now)) {
    return FailedPreconditionError("push certificate for " + cert.topic() +
                                   " is not valid now (notAfter " +
                                   FormatRfc3339(cert.not_after()) + ")");
  }
  PushCertRecord r;
  r.topic = cert.topic();
  r.cert_pem = cert.certificate_pem();
  ASSIGN_OR_RETURN(r.key_pem, PrivateKeyToPkcs8Pem(cert.key(), passphrase));
  r.key_encrypted = !passphrase.empty();
  r.subject = cert.subject();
  r.sha256_hex = cert.sha256();
  r.not_before = cert.not_before();
  r.not_after = cert.not_after();
  r.created_at = now;
  r.updated_at = now;
  if (passphrase.empty()) {
    spdlog::warn("push certificate key for {} stored unencrypted: no [ca] passphrase configured",
                 r.topic);
  }
  RETURN_IF_ERROR(storage.Transact([&](Stores& s) { return s.push().PutCert(r); }));
  spdlog::info("installed push certificate for topic {} (sha256 {}, notAfter {})", r.topic,
               r.sha256_hex, FormatRfc3339(r.not_after));
  return InfoFromRecord(r);
}

StatusOr<std::vector<PushCertInfo>> ListPushCertificates(Storage& storage) {
  std::vector<PushCertRecord> records;
  RETURN_IF_ERROR(storage.Transact(
      [&](Stores& s) -> Status {
        ASSIGN_OR_RETURN(records, s.push().ListCerts());
        return OkStatus();
      },
      TxMode::kReadOnly));
  std::vector<PushCertInfo> out;
  out.reserve(records.size());
  for (const auto& r : records) out.push_back(InfoFromRecord(r));
  return out;
}

StatusOr<PushCertInfo> GetPushCertificate(Storage& storage, std::string_view topic) {
  PushCertRecord record;
  RETURN_IF_ERROR(storage.Transact(
      [&](Stores& s) -> Status {
        ASSIGN_OR_RETURN(record, s.push().GetCert(topic));
        return OkStatus();
      },
      TxMode::kReadOnly));
  return InfoFromRecord(record);
}

StatusOr<std::shared_ptr<const PushCertificate>> StoragePushCertificates::Lookup(
    std::string_view topic) {
  PushCertRecord record;
  RETURN_IF_ERROR(storage_->Transact(
      [&](Stores& s) -> Status {
        ASSIGN_OR_RETURN(record, s.push().GetCert(topic));
        return OkStatus();
      },
      TxMode::kReadOnly));
  if (record.key_encrypted && passphrase_.empty()) {
    return PermissionDeniedError("push certificate key for " + record.topic +
                                 " is encrypted but no [ca] passphrase is configured");
  }
  auto cert = PushCertificate::FromPem(record.cert_pem, record.key_pem, passphrase_);
  if (!cert.ok()) {
    if (record.key_encrypted) {
      return PermissionDeniedError("push certificate key for " + record.topic +
                                   ": wrong [ca] passphrase or corrupt key (" +
                                   cert.status().message() + ")");
    }
    return cert.status();
  }
  return std::shared_ptr<const PushCertificate>(*std::move(cert));
}

PushService::PushService(Storage* storage, Pusher* pusher, PushServiceOptions options)
    : storage_(storage),
      pusher_(pusher),
      options_(std::move(options)),
      registry_(options_.metrics != nullptr ? options_.metrics : &metrics::Default()) {}

StatusOr<std::unique_ptr<PushService>> PushService::Create(Storage* storage, Pusher* pusher,
                                                           PushServiceOptions options) {
  if (storage == nullptr || pusher == nullptr) {
    return InvalidArgumentError("push service needs storage and a pusher");
  }
  if (options.clock == nullptr) options.clock = Clock::Real();
  std::unique_ptr<PushService> service(new PushService(storage, pusher, std::move(options)));
  Status s = service->RefreshMetrics();
  if (!s.ok()) spdlog::warn("push certificate metrics: {}", s.ToString());
  service->worker_ = std::thread([p = service.get()] { p->Run(); });
  return service;
}

StatusOr<std::unique_ptr<PushService>> PushService::CreateWithApns(Storage* storage,
                                                                   ApnsOptions apns,
                                                                   PushServiceOptions options) {
  if (storage == nullptr) return InvalidArgumentError("push service needs storage");
  auto source = std::make_unique<StoragePushCertificates>(storage, options.passphrase);
  if (apns.metrics == nullptr) apns.metrics = options.metrics;
  if (options.clock != nullptr) apns.clock = options.clock;
  ASSIGN_OR_RETURN(auto provider, ApnsProvider::Create(std::move(apns), source.get()));
  ASSIGN_OR_RETURN(auto service, Create(storage, provider.get(), std::move(options)));
  service->owned_source_ = std::move(source);
  service->owned_provider_ = std::move(provider);
  return service;
}

PushService::~PushService() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  // The provider (if owned) completes what it holds with kFailed; its callbacks call
  // HandleResults, which only queues (and is ignored once stopping_).
  owned_provider_.reset();
}

void PushService::PushEnrollments(std::vector<std::string> enrollment_ids) {
  if (enrollment_ids.empty()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    pending_pushes_.push_back(std::move(enrollment_ids));
  }
  cv_.notify_all();
}

bool PushService::WaitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [this] {
    return pending_pushes_.empty() && pending_unregistered_.empty() && busy_ == 0;
  });
}

Status PushService::RefreshMetrics() {
  ASSIGN_OR_RETURN(auto certs, ListPushCertificates(*storage_));
  auto& gauge = ExpiryGauge(registry_);
  for (const auto& c : certs) {
    gauge.WithLabels({c.topic}).Set(static_cast<double>(ToUnixSeconds(c.not_after)));
  }
  return OkStatus();
}

StatusOr<PushCertInfo> PushService::Install(const PushCertificate& cert) {
  ASSIGN_OR_RETURN(PushCertInfo info,
                   InstallPushCertificate(*storage_, cert, options_.passphrase, options_.clock));
  if (owned_provider_ != nullptr) owned_provider_->ForgetCertificate(info.topic);
  ExpiryGauge(registry_).WithLabels({info.topic}).Set(
      static_cast<double>(ToUnixSeconds(info.not_after)));
  return info;
}

StatusOr<std::vector<PushTarget>> PushService::Targets(
    const std::vector<std::string>& ids, std::vector<std::pair<std::string, std::string>>* skipped) {
  std::vector<MdmPushInfo> infos;
  RETURN_IF_ERROR(storage_->Transact(
      [&](Stores& s) -> Status {
        ASSIGN_OR_RETURN(infos, s.mdm().GetPushInfo(ids));
        return OkStatus();
      },
      TxMode::kReadOnly));
  std::unordered_map<std::string_view, const MdmPushInfo*> by_id;
  by_id.reserve(infos.size());
  for (const auto& i : infos) by_id.emplace(i.enrollment_id, &i);
  std::vector<PushTarget> targets;
  targets.reserve(infos.size());
  for (const auto& id : ids) {
    auto it = by_id.find(id);
    std::string why;
    if (it == by_id.end()) {
      why = "unknown enrollment";
    } else if (!it->second->enabled) {
      why = "enrollment is not enabled (no TokenUpdate since Authenticate, or checked out)";
    } else if (it->second->push_token_hex.empty()) {
      why = "no push token";
    } else if (it->second->token_unregistered) {
      why = "push token unregistered by APNs (410) until the next TokenUpdate";
    }
    if (why.empty()) {
      auto token = HexDecode(it->second->push_token_hex);
      if (!token.ok()) {
        why = "stored push token is not hex";
      } else {
        targets.push_back(PushTarget{id, it->second->topic, *std::move(token),
                                     it->second->push_magic});
        continue;
      }
    }
    if (skipped != nullptr) skipped->emplace_back(id, why);
  }
  return targets;
}

void PushService::HandleResults(const std::vector<PushTarget>& targets,
                                std::vector<PushResult> results) {
  std::vector<std::pair<std::string, std::string>> gone;
  for (size_t i = 0; i < results.size() && i < targets.size(); ++i) {
    const PushResult& r = results[i];
    switch (r.outcome) {
      case PushOutcome::kDelivered:
        spdlog::debug("push to {} delivered (apns-id {})", r.enrollment_id, r.apns_id);
        break;
      case PushOutcome::kUnregistered:
        spdlog::info("push to {}: APNs says the token is unregistered (410 {}); marking it",
                     r.enrollment_id, r.reason);
        if (!r.coalesced) gone.emplace_back(targets[i].enrollment_id, HexEncode(targets[i].token));
        break;
      default:
        spdlog::warn("push to {} {}: HTTP {} {} after {} attempts", r.enrollment_id,
                     PushOutcomeName(r.outcome), r.http_status, r.reason, r.attempts);
        break;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& g : gone) pending_unregistered_.push_back(std::move(g));
    --busy_;
  }
  cv_.notify_all();
}

void PushService::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  auto next_refresh = std::chrono::steady_clock::now() + options_.metrics_refresh;
  while (true) {
    cv_.wait_until(lock, next_refresh, [this] {
      return stopping_ || !pending_pushes_.empty() || !pending_unregistered_.empty();
    });
    if (stopping_) break;
    if (std::chrono::steady_clock::now() >= next_refresh) {
      lock.unlock();
      Status s = RefreshMetrics();
      if (!s.ok()) spdlog::warn("push certificate metrics: {}", s.ToString());
      lock.lock();
      next_refresh = std::chrono::steady_clock::now() + options_.metrics_refresh;
      continue;
    }
    if (!pending_unregistered_.empty()) {
      auto [id, token_hex] = std::move(pending_unregistered_.front());
      pending_unregistered_.pop_front();
      ++busy_;
      lock.unlock();
      auto changed = storage_->Transact([&](Stores& s) -> Status {
        return s.mdm().MarkTokenUnregistered(id, token_hex, options_.clock->Now()).status();
      });
      if (!changed.ok()) spdlog::warn("marking the push token of {} unregistered: {}", id, changed.ToString());
      lock.lock();
      --busy_;
      cv_.notify_all();
      continue;
    }
    // Merge every queued batch into one: a burst of enqueues becomes one lookup and one Push.
    std::vector<std::string> ids = std::move(pending_pushes_.front());
    pending_pushes_.pop_front();
    while (!pending_pushes_.empty()) {
      auto& more = pending_pushes_.front();
      ids.insert(ids.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
      pending_pushes_.pop_front();
    }
    ++busy_;
    lock.unlock();
    std::vector<std::pair<std::string, std::string>> skipped;
    auto targets = Targets(ids, &skipped);
    for (const auto& [id, why] : skipped) spdlog::debug("no push to {}: {}", id, why);
    if (!targets.ok()) {
      spdlog::warn("push to {} enrollments: reading push info: {}", ids.size(),
                   targets.status().ToString());
    } else if (!targets->empty()) {
      auto shared = std::make_shared<std::vector<PushTarget>>(*std::move(targets));
      {
        std::lock_guard<std::mutex> inner(mu_);
        ++busy_;  // released by HandleResults
      }
      pusher_->Push(*shared, [this, shared](std::vector<PushResult> results) {
        HandleResults(*shared, std::move(results));
      });
    }
    lock.lock();
    --busy_;
    cv_.notify_all();
  }
}

StatusOr<std::vector<EnrollmentPushResult>> PushService::PushNow(
    const std::vector<std::string>& enrollment_ids, std::chrono::milliseconds timeout) {
  std::vector<std::pair<std::string, std::string>> skipped;
  ASSIGN_OR_RETURN(auto targets_value, Targets(enrollment_ids, &skipped));
  auto targets = std::make_shared<std::vector<PushTarget>>(std::move(targets_value));
  std::unordered_map<std::string, std::string> skip_reason(skipped.begin(), skipped.end());

  struct Shared {
    std::promise<std::vector<PushResult>> promise;
  };
  auto shared = std::make_shared<Shared>();
  auto future = shared->promise.get_future();
  if (!targets->empty()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++busy_;
    }
    pusher_->Push(*targets, [this, targets, shared](std::vector<PushResult> results) {
      HandleResults(*targets, results);
      shared->promise.set_value(std::move(results));
    });
  }
  std::unordered_map<std::string, PushResult> by_id;
  bool done = targets->empty() || future.wait_for(timeout) == std::future_status::ready;
  if (done && !targets->empty()) {
    for (auto& r : future.get()) by_id.emplace(r.enrollment_id, std::move(r));
  }
  std::vector<EnrollmentPushResult> out;
  out.reserve(enrollment_ids.size());
  for (const auto& id : enrollment_ids) {
    EnrollmentPushResult e;
    e.enrollment_id = id;
    if (auto s = skip_reason.find(id); s != skip_reason.end()) {
      e.error = s->second;
    } else if (auto r = by_id.find(id); r != by_id.end()) {
      e.ok = r->second.outcome == PushOutcome::kDelivered;
      e.apns_id = r->second.apns_id;
      if (!e.ok) {
        e.error = std::string(PushOutcomeName(r->second.outcome));
        if (r->second.http_status != 0) e.error += ": HTTP " + std::to_string(r->second.http_status);
        if (!r->second.reason.empty()) e.error += " " + r->second.reason;
      }
    } else {
      e.pending = true;  // still in flight at the deadline; it completes in the background
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace custos::push
