#include "push/apns.h"

#include <curl/curl.h>
#include <openssl/sha.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <future>
#include <queue>
#include <thread>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "base/logging.h"
#include "base/metrics.h"

namespace custos::push {

std::string_view PushOutcomeName(PushOutcome outcome) {
  switch (outcome) {
    case PushOutcome::kDelivered: return "delivered";
    case PushOutcome::kUnregistered: return "unregistered";
    case PushOutcome::kRejected: return "rejected";
    case PushOutcome::kFailed: return "failed";
    case PushOutcome::kNoCertificate: return "no_certificate";
    case PushOutcome::kInvalidTarget: return "invalid_target";
  }
  return "unknown";
}

std::string TokenLogId(std::string_view token) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), md);
  return HexEncode(std::string_view(reinterpret_cast<const char*>(md), 6));
}

void StaticPushCertificates::Put(std::shared_ptr<const PushCertificate> cert) {
  std::lock_guard lock(mu_);
  std::string topic = cert->topic();
  certs_[topic] = std::move(cert);
}

StatusOr<std::shared_ptr<const PushCertificate>> StaticPushCertificates::Lookup(
    std::string_view topic) {
  std::lock_guard lock(mu_);
  auto it = certs_.find(topic);
  if (it == certs_.end()) {
    return NotFoundError("no push certificate installed for topic " + std::string(topic));
  }
  return it->second;
}

std::vector<PushResult> Pusher::PushAndWait(std::vector<PushTarget> targets) {
  std::promise<std::vector<PushResult>> promise;
  std::future<std::vector<PushResult>> future = promise.get_future();
  Push(std::move(targets),
       [&promise](std::vector<PushResult> results) { promise.set_value(std::move(results)); });
  return future.get();
}

ApnsOptions ApnsOptions::FromConfig(const PushConfig& config) {
  ApnsOptions o;
  o.base_url = config.apns_url;
  o.ca_file = config.ca_file;
  o.max_concurrent_streams = config.max_concurrent_streams;
  o.max_retries = config.max_retries;
  o.expiration = config.expiration;
  return o;
}

namespace {

using SteadyClock = std::chrono::steady_clock;
using SteadyTime = SteadyClock::time_point;

constexpr size_t kMaxResponseBytes = 4096;
constexpr auto kMaxRetryDelay = std::chrono::milliseconds(30000);

struct Batch {
  std::vector<PushResult> results;
  std::atomic<size_t> remaining{0};
  PushCallback done;
};

struct Waiter {
  std::shared_ptr<Batch> batch;
  size_t index;
  bool coalesced;
};

// One push on the wire, shared by every caller waiting for its enrollment.
struct Job {
  std::string key;
  PushTarget target;
  std::vector<Waiter> waiters;  // guarded by Impl::mu_
  int attempts = 0;
  int last_status = 0;
  std::string last_reason;
  std::string apns_id;
};

// The connection identity of one topic: its certificate, and idle easy handles configured with
// it (libcurl pools connections by client certificate, so each endpoint gets its own).
struct Endpoint {
  std::string topic;
  std::shared_ptr<const PushCertificate> cert;  // null when `error` is set
  Status error;
  SteadyTime fetched_at;
  std::vector<CURL*> idle;

  ~Endpoint() {
    for (CURL* e : idle) curl_easy_cleanup(e);
  }
};

struct Transfer {
  Job* job = nullptr;
  std::shared_ptr<Endpoint> endpoint;
  CURL* easy = nullptr;
  std::string url;
  std::string body;
  curl_slist* headers = nullptr;
  std::string response;
  std::string apns_id;
  SteadyTime started;
  char error[CURL_ERROR_SIZE] = {0};

  ~Transfer() { curl_slist_free_all(headers); }
};

size_t WriteCallback(char* data, size_t size, size_t nmemb, void* userdata) {
  auto* t = static_cast<Transfer*>(userdata);
  size_t n = size * nmemb;
  if (t->response.size() < kMaxResponseBytes) {
    t->response.append(data, std::min(n, kMaxResponseBytes - t->response.size()));
  }
  return n;
}

size_t HeaderCallback(char* data, size_t size, size_t nmemb, void* userdata) {
  auto* t = static_cast<Transfer*>(userdata);
  size_t n = size * nmemb;
  std::string_view line(data, n);
  constexpr std::string_view kName = "apns-id:";
  if (line.size() > kName.size()) {
    bool match = true;
    for (size_t i = 0; i < kName.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(line[i])) != kName[i]) {
        match = false;
        break;
      }
    }
    if (match) {
      std::string_view v = line.substr(kName.size());
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) v.remove_suffix(1);
      t->apns_id.assign(v.substr(0, 64));
    }
  }
  return n;
}

Status GlobalInit() {
  static std::once_flag once;
  static CURLcode rc = CURLE_OK;
  std::call_once(once, [] { rc = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (rc != CURLE_OK) return InternalError(std::string("curl_global_init: ") + curl_easy_strerror(rc));
  return OkStatus();
}

struct Metrics {
  metrics::CounterFamily* requests = nullptr;  // {result}: one per HTTP attempt
  metrics::CounterFamily* results = nullptr;   // {outcome}: one per push (after coalescing)
  metrics::Counter* coalesced = nullptr;
  metrics::Gauge* in_flight = nullptr;
  metrics::Histogram* latency = nullptr;
  metrics::GaugeFamily* cert_not_after = nullptr;  // {topic}
};

}  // namespace

class ApnsProvider::Impl {
 public:
  Impl(ApnsOptions options, PushCertificateSource* certs)
      : options_(std::move(options)), certs_(certs) {
    metrics::Registry& reg = options_.metrics != nullptr ? *options_.metrics : metrics::Default();
    metrics_.requests = &reg.AddCounter("custos_push_requests_total",
                                        "HTTP requests sent to APNs, by result.", {"result"});
    metrics_.results = &reg.AddCounter("custos_push_results_total",
                                       "Pushes completed, by outcome.", {"outcome"});
    metrics_.coalesced = &reg.AddCounter("custos_push_coalesced_total",
                                         "Push requests that joined a push already pending for "
                                         "their enrollment.")
                              .Get();
    metrics_.in_flight =
        &reg.AddGauge("custos_push_in_flight", "HTTP/2 requests to APNs in flight.").Get();
    metrics_.latency = &reg.AddHistogram("custos_push_request_seconds",
                                         "Latency of one APNs request.", {})
                            .Get();
    metrics_.cert_not_after = &reg.AddGauge(
        "custos_push_certificate_not_after_seconds",
        "Expiry (Unix seconds) of the push certificate in use, by topic.", {"topic"});
  }

  ~Impl() { Stop(); }

  Status Start() {
    RETURN_IF_ERROR(GlobalInit());
    const curl_version_info_data* info = curl_version_info(CURLVERSION_NOW);
    if (info == nullptr || (info->features & CURL_VERSION_HTTP2) == 0) {
      return InternalError("libcurl was built without HTTP/2 support, which APNs requires");
    }
    multi_ = curl_multi_init();
    if (multi_ == nullptr) return InternalError("curl_multi_init failed");
    curl_multi_setopt(multi_, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    curl_multi_setopt(multi_, CURLMOPT_MAX_CONCURRENT_STREAMS,
                      static_cast<long>(options_.max_concurrent_streams));
    // Without a host limit libcurl 7.88 opens a new connection for every transfer beyond a
    // connection's stream limit (PIPEWAIT notwithstanding); with it, extra transfers wait for a
    // free stream. The limit is per APNs host, shared by all push certificates: an idle
    // connection of another certificate is closed when a new one is needed.
    curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, static_cast<long>(options_.max_connections));
    max_in_flight_ = static_cast<size_t>(options_.max_concurrent_streams * options_.max_connections);
    worker_ = std::thread([this] { Run(); });
    return OkStatus();
  }

  void Stop() {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
      stop_ = true;
    }
    if (multi_ != nullptr) curl_multi_wakeup(multi_);
    if (worker_.joinable()) worker_.join();
    if (multi_ != nullptr) curl_multi_cleanup(multi_);
    multi_ = nullptr;
  }

  void Push(std::vector<PushTarget> targets, PushCallback done) {
    if (targets.empty()) {
      if (done) done({});
      return;
    }
    auto batch = std::make_shared<Batch>();
    batch->results.resize(targets.size());
    batch->done = std::move(done);
    // One extra count held by this call, so the callback cannot run before setup is finished.
    batch->remaining.store(targets.size() + 1);
    size_t resolved = 0;
    bool queued = false;
    {
      std::lock_guard lock(mu_);
      for (size_t i = 0; i < targets.size(); ++i) {
        PushTarget& t = targets[i];
        PushResult& r = batch->results[i];
        r.enrollment_id = t.enrollment_id;
        if (stop_) {
          r.outcome = PushOutcome::kFailed;
          r.reason = "push provider shut down";
          ++resolved;
          continue;
        }
        if (t.token.empty() || t.topic.empty() || t.push_magic.empty()) {
          r.outcome = PushOutcome::kInvalidTarget;
          r.reason = t.token.empty() ? "no push token" : t.topic.empty() ? "no topic" : "no PushMagic";
          ++resolved;
          continue;
        }
        std::string key = t.enrollment_id.empty() ? "token:" + HexEncode(t.token) : t.enrollment_id;
        auto it = pending_.find(key);
        if (it != pending_.end()) {
          it->second->waiters.push_back(Waiter{batch, i, true});
          metrics_.coalesced->Inc();
          continue;
        }
        auto job = std::make_unique<Job>();
        job->key = key;
        job->target = std::move(t);
        job->waiters.push_back(Waiter{batch, i, false});
        inbox_.push_back(job.get());
        pending_.emplace(std::move(key), std::move(job));
        queued = true;
      }
    }
    if (queued) curl_multi_wakeup(multi_);
    if (batch->remaining.fetch_sub(resolved + 1) == resolved + 1) FinishBatch(*batch);
  }

  void Forget(std::string_view topic) {
    {
      std::lock_guard lock(mu_);
      forget_.emplace_back(topic);
    }
    curl_multi_wakeup(multi_);
  }

 private:
  static void FinishBatch(Batch& batch) {
    if (batch.done) batch.done(std::move(batch.results));
  }

  void Run() {
    std::vector<Job*> incoming;
    std::vector<std::string> forget;
    while (true) {
      {
        std::lock_guard lock(mu_);
        if (stop_) break;
        incoming.swap(inbox_);
        forget.swap(forget_);
      }
      for (Job* j : incoming) ready_.push_back(j);
      incoming.clear();
      for (const std::string& topic : forget) endpoints_.erase(topic);
      forget.clear();

      SteadyTime now = SteadyClock::now();
      while (!retries_.empty() && retries_.top().first <= now) {
        ready_.push_back(retries_.top().second);
        retries_.pop();
      }
      while (!ready_.empty() && active_ < max_in_flight_) {
        Job* job = ready_.front();
        ready_.pop_front();
        StartTransfer(job);
      }

      int running = 0;
      curl_multi_perform(multi_, &running);
      int left = 0;
      while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
        if (msg->msg == CURLMSG_DONE) FinishTransfer(msg->easy_handle, msg->data.result);
      }

      int timeout_ms = 1000;
      if (!ready_.empty() && active_ < max_in_flight_) {
        timeout_ms = 0;
      } else if (!retries_.empty()) {
        auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
            retries_.top().first - SteadyClock::now());
        timeout_ms = static_cast<int>(std::clamp<int64_t>(wait.count(), 0, 1000));
      }
      if (timeout_ms > 0) curl_multi_poll(multi_, nullptr, 0, timeout_ms, nullptr);
    }
    Shutdown();
  }

  void Shutdown() {
    for (auto& [easy, t] : transfers_) {
      curl_multi_remove_handle(multi_, easy);
      curl_easy_cleanup(easy);
    }
    transfers_.clear();
    active_ = 0;
    metrics_.in_flight->Set(0);
    ready_.clear();
    while (!retries_.empty()) retries_.pop();
    endpoints_.clear();
    std::vector<std::unique_ptr<Job>> left;
    {
      std::lock_guard lock(mu_);
      inbox_.clear();
      for (auto& [key, job] : pending_) left.push_back(std::move(job));
      pending_.clear();
    }
    for (auto& job : left) {
      job->last_reason = "push provider shut down";
      Deliver(*job, PushOutcome::kFailed, std::nullopt);
    }
  }

  // The endpoint of `topic`, asking the certificate source when the cache is cold or stale.
  std::shared_ptr<Endpoint> EndpointFor(const std::string& topic) {
    SteadyTime now = SteadyClock::now();
    auto it = endpoints_.find(topic);
    if (it != endpoints_.end() && now - it->second->fetched_at < options_.certificate_refresh) {
      return it->second;
    }
    StatusOr<std::shared_ptr<const PushCertificate>> cert = certs_->Lookup(topic);
    if (it != endpoints_.end() && cert.ok() && it->second->cert != nullptr &&
        (*cert)->sha256() == it->second->cert->sha256()) {
      it->second->fetched_at = now;  // same certificate: keep the connections
      return it->second;
    }
    auto ep = std::make_shared<Endpoint>();
    ep->topic = topic;
    ep->fetched_at = now;
    if (!cert.ok()) {
      ep->error = cert.status();
      spdlog::warn("push: no certificate for topic {}: {}", topic, cert.status().message());
    } else if ((*cert)->topic() != topic) {
      ep->error = FailedPreconditionError("the push certificate for topic " + topic +
                                          " is for topic " + (*cert)->topic());
    } else {
      ep->cert = *std::move(cert);
      metrics_.cert_not_after->WithLabels({topic}).Set(
          static_cast<double>(ToUnixSeconds(ep->cert->not_after())));
      spdlog::info("push: using certificate {} for topic {} (expires {})",
                   ep->cert->sha256().substr(0, 16), topic, FormatRfc3339(ep->cert->not_after()));
    }
    endpoints_[topic] = ep;
    return ep;
  }

  CURL* NewEasy(const Endpoint& ep) {
    CURL* e = curl_easy_init();
    if (e == nullptr) return nullptr;
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.request_timeout.count()));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(std::min<int64_t>(options_.request_timeout.count(), 10000)));
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!options_.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, options_.ca_file.c_str());
    // The client identity, in memory only: libcurl copies the blobs.
    curl_blob cert_blob{const_cast<char*>(ep.cert->certificate_pem().data()),
                        ep.cert->certificate_pem().size(), CURL_BLOB_COPY};
    curl_blob key_blob{const_cast<char*>(ep.cert->key_pem().data()), ep.cert->key_pem().size(),
                       CURL_BLOB_COPY};
    curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &cert_blob);
    curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &key_blob);
    curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, WriteCallback);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, HeaderCallback);
    return e;
  }

  void StartTransfer(Job* job) {
    std::shared_ptr<Endpoint> ep = EndpointFor(job->target.topic);
    if (ep->cert == nullptr) {
      job->last_reason = ep->error.message();
      Complete(job, PushOutcome::kNoCertificate);
      return;
    }
    Time now = options_.clock->Now();
    if (ep->cert->ExpiredAt(now)) {
      job->last_reason = "the push certificate for topic " + ep->topic + " is not valid now (expires " +
                         FormatRfc3339(ep->cert->not_after()) + ")";
      Complete(job, PushOutcome::kNoCertificate);
      return;
    }
    CURL* easy = nullptr;
    if (!ep->idle.empty()) {
      easy = ep->idle.back();
      ep->idle.pop_back();
    } else {
      easy = NewEasy(*ep);
    }
    if (easy == nullptr) {
      job->last_reason = "curl_easy_init failed";
      Complete(job, PushOutcome::kFailed);
      return;
    }
    auto t = std::make_unique<Transfer>();
    t->job = job;
    t->endpoint = ep;
    t->easy = easy;
    t->url = options_.base_url + "/3/device/" + HexEncode(job->target.token);
    t->body = nlohmann::json{{"mdm", job->target.push_magic}}.dump(
        -1, ' ', false, nlohmann::json::error_handler_t::replace);
    int64_t expiration =
        options_.expiration.count() == 0 ? 0 : ToUnixSeconds(now + options_.expiration);
    std::string topic_header = "apns-topic: " + job->target.topic;
    std::string expiration_header = "apns-expiration: " + std::to_string(expiration);
    for (const char* h : {topic_header.c_str(), "apns-push-type: mdm", "apns-priority: 10",
                          expiration_header.c_str(), "content-type: application/json"}) {
      curl_slist* next = curl_slist_append(t->headers, h);
      if (next == nullptr) {
        curl_easy_cleanup(easy);
        job->last_reason = "out of memory building headers";
        Complete(job, PushOutcome::kFailed);
        return;
      }
      t->headers = next;
    }
    curl_easy_setopt(easy, CURLOPT_URL, t->url.c_str());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, static_cast<long>(t->body.size()));
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, t->body.data());
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, t.get());
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t->error);
    t->started = SteadyClock::now();
    CURLMcode mrc = curl_multi_add_handle(multi_, easy);
    if (mrc != CURLM_OK) {
      curl_easy_cleanup(easy);
      job->last_reason = std::string("curl_multi_add_handle: ") + curl_multi_strerror(mrc);
      Complete(job, PushOutcome::kFailed);
      return;
    }
    ++job->attempts;
    ++active_;
    metrics_.in_flight->Set(static_cast<double>(active_));
    transfers_.emplace(easy, std::move(t));
  }

  void FinishTransfer(CURL* easy, CURLcode rc) {
    auto node = transfers_.extract(easy);
    curl_multi_remove_handle(multi_, easy);
    if (node.empty()) {  // not ours; cannot happen
      curl_easy_cleanup(easy);
      return;
    }
    std::unique_ptr<Transfer> t = std::move(node.mapped());
    --active_;
    metrics_.in_flight->Set(static_cast<double>(active_));
    metrics_.latency->Observe(
        std::chrono::duration<double>(SteadyClock::now() - t->started).count());
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, nullptr);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, nullptr);
    auto current = endpoints_.find(t->endpoint->topic);
    if (rc == CURLE_OK && current != endpoints_.end() && current->second == t->endpoint &&
        t->endpoint->idle.size() < max_in_flight_) {
      t->endpoint->idle.push_back(easy);
    } else {
      curl_easy_cleanup(easy);
    }

    Job* job = t->job;
    job->apns_id = t->apns_id;
    bool retry = false;
    // RFC 9113 section 8.1: a server may answer before it has read the whole request and then
    // reset the stream with NO_ERROR; libcurl 7.88 reports that as an HTTP/2 stream error although
    // the response is complete. A final status received is APNs' verdict on the push.
    if (rc == CURLE_HTTP2_STREAM && status >= 200) rc = CURLE_OK;
    if (rc != CURLE_OK) {
      job->last_status = 0;
      job->last_reason = std::string(curl_easy_strerror(rc));
      if (t->error[0] != '\0') job->last_reason += std::string(": ") + t->error;
      metrics_.requests->WithLabels({"error"}).Inc();
      retry = true;
    } else {
      job->last_status = static_cast<int>(status);
      job->last_reason.clear();
      std::optional<Time> since;
      if (status != 200) {
        nlohmann::json body = nlohmann::json::parse(t->response, nullptr, false);
        if (body.is_object()) {
          if (auto r = body.find("reason"); r != body.end() && r->is_string()) {
            job->last_reason = r->get<std::string>().substr(0, 200);
          }
          if (auto ts = body.find("timestamp"); ts != body.end() && ts->is_number_integer()) {
            since = FromUnixSeconds(ts->get<int64_t>() / 1000);
          }
        }
        if (job->last_reason.empty()) job->last_reason = "HTTP " + std::to_string(status);
      }
      if (status == 200) {
        metrics_.requests->WithLabels({"delivered"}).Inc();
        Complete(job, PushOutcome::kDelivered);
        return;
      }
      if (status == 410) {
        metrics_.requests->WithLabels({"unregistered"}).Inc();
        Complete(job, PushOutcome::kUnregistered, since);
        return;
      }
      if (status == 429 || status >= 500) {
        metrics_.requests->WithLabels({status == 429 ? "throttled" : "server_error"}).Inc();
        retry = true;
      } else {
        metrics_.requests->WithLabels({"rejected"}).Inc();
        Complete(job, PushOutcome::kRejected);
        return;
      }
    }
    if (retry && job->attempts <= options_.max_retries) {
      auto delay = options_.retry_base_delay * (int64_t{1} << std::min(job->attempts - 1, 16));
      delay = std::min<std::chrono::milliseconds>(delay, kMaxRetryDelay);
      spdlog::debug("push: {} token {} attempt {} failed ({} {}), retrying in {} ms",
                    job->target.enrollment_id, TokenLogId(job->target.token), job->attempts,
                    job->last_status, job->last_reason, delay.count());
      retries_.emplace(SteadyClock::now() + delay, job);
      return;
    }
    Complete(job, PushOutcome::kFailed);
  }

  // Retires `job`: removes it from the pending set and answers every waiter.
  void Complete(Job* job, PushOutcome outcome, std::optional<Time> since = std::nullopt) {
    std::unique_ptr<Job> owned;
    {
      std::lock_guard lock(mu_);
      auto node = pending_.extract(job->key);
      if (!node.empty()) owned = std::move(node.mapped());
    }
    if (owned == nullptr) return;
    metrics_.results->WithLabels({PushOutcomeName(outcome)}).Inc();
    switch (outcome) {
      case PushOutcome::kDelivered:
        spdlog::debug("push: {} token {} delivered (apns-id {})", owned->target.enrollment_id,
                      TokenLogId(owned->target.token), owned->apns_id);
        break;
      case PushOutcome::kUnregistered:
        spdlog::info("push: {} token {} unregistered ({})", owned->target.enrollment_id,
                     TokenLogId(owned->target.token), owned->last_reason);
        break;
      default:
        spdlog::warn("push: {} token {} {}: HTTP {} {}", owned->target.enrollment_id,
                     TokenLogId(owned->target.token), PushOutcomeName(outcome),
                     owned->last_status, owned->last_reason);
    }
    Deliver(*owned, outcome, since);
  }

  // Fills every waiter's result; runs callbacks of batches that are now complete. The job has
  // left pending_, so no waiter can be added concurrently.
  static void Deliver(Job& job, PushOutcome outcome, std::optional<Time> since) {
    for (Waiter& w : job.waiters) {
      PushResult& r = w.batch->results[w.index];
      r.outcome = outcome;
      r.http_status = job.last_status;
      r.reason = job.last_reason;
      r.apns_id = job.apns_id;
      r.attempts = job.attempts;
      r.coalesced = w.coalesced;
      r.unregistered_since = since;
      if (w.batch->remaining.fetch_sub(1) == 1) FinishBatch(*w.batch);
    }
    job.waiters.clear();
  }

  ApnsOptions options_;
  PushCertificateSource* certs_;
  Metrics metrics_;
  CURLM* multi_ = nullptr;
  std::thread worker_;
  size_t max_in_flight_ = 0;

  std::mutex mu_;  // guards the members below, up to the worker-only ones
  bool stop_ = false;
  std::vector<Job*> inbox_;
  std::vector<std::string> forget_;
  std::unordered_map<std::string, std::unique_ptr<Job>> pending_;

  // Worker thread only.
  std::deque<Job*> ready_;
  using Retry = std::pair<SteadyTime, Job*>;
  struct Later {
    bool operator()(const Retry& a, const Retry& b) const { return a.first > b.first; }
  };
  std::priority_queue<Retry, std::vector<Retry>, Later> retries_;
  std::unordered_map<std::string, std::shared_ptr<Endpoint>> endpoints_;
  std::unordered_map<CURL*, std::unique_ptr<Transfer>> transfers_;
  size_t active_ = 0;
};

StatusOr<std::unique_ptr<ApnsProvider>> ApnsProvider::Create(ApnsOptions options,
                                                             PushCertificateSource* certs) {
  if (certs == nullptr) return InvalidArgumentError("push: no certificate source");
  while (!options.base_url.empty() && options.base_url.back() == '/') options.base_url.pop_back();
  if (options.base_url.rfind("https://", 0) != 0 || options.base_url.size() <= 8) {
    return InvalidArgumentError("push: the APNs URL must be https://HOST[:PORT], not \"" +
                                options.base_url + "\"");
  }
  if (options.max_concurrent_streams < 1 || options.max_concurrent_streams > 10000 ||
      options.max_connections < 1 || options.max_connections > 64 || options.max_retries < 0 ||
      options.max_retries > 20 || options.expiration.count() < 0 ||
      options.retry_base_delay.count() < 0 || options.request_timeout.count() <= 0) {
    return InvalidArgumentError("push: limits out of range");
  }
  if (options.clock == nullptr) options.clock = Clock::Real();
  auto impl = std::make_unique<Impl>(std::move(options), certs);
  RETURN_IF_ERROR(impl->Start());
  return std::unique_ptr<ApnsProvider>(new ApnsProvider(std::move(impl)));
}

ApnsProvider::ApnsProvider(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ApnsProvider::~ApnsProvider() = default;

void ApnsProvider::Push(std::vector<PushTarget> targets, PushCallback done) {
  impl_->Push(std::move(targets), std::move(done));
}

void ApnsProvider::ForgetCertificate(std::string_view topic) { impl_->Forget(topic); }

}  // namespace custos::push
