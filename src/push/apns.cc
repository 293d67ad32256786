#include "push/apns.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <future>
#include <queue>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "base/logging.h"
#include "base/metrics.h"
#include "base/openssl_util.h"

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
constexpr auto kMaxConnectTimeout = std::chrono::milliseconds(10000);
// How often in-flight requests and connection attempts are checked against their deadlines.
constexpr auto kSweepInterval = std::chrono::milliseconds(50);
// Output gathered from nghttp2 before it is handed to SSL_write: large writes are what make
// many small multiplexed requests cheap.
constexpr size_t kWriteChunk = 64 * 1024;
constexpr size_t kReadChunk = 64 * 1024;
constexpr uint64_t kWakeupId = 0;

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

struct Connection;

// One push on the wire, shared by every caller waiting for its enrollment. While an attempt is
// in flight the job sits in its connection's intrusive list (oldest first, so the timeout sweep
// stops at the first job still within its deadline).
struct Job {
  std::string key;
  PushTarget target;
  std::vector<Waiter> waiters;  // guarded by Impl::mu_
  int attempts = 0;
  int last_status = 0;
  std::string last_reason;
  std::string apns_id;

  // Worker thread only: the current attempt.
  std::string path;  // ":path", built once per job
  std::string body;  // {"mdm":"<PushMagic>"}, built once per job
  Connection* conn = nullptr;
  int32_t stream_id = 0;  // 0 while the connection is still being set up
  SteadyTime started;
  SteadyTime deadline;
  int status = 0;
  std::string response;
  size_t body_sent = 0;
  Job* prev = nullptr;
  Job* next = nullptr;
};

// The connection identity of one topic: its certificate as an OpenSSL client context, the jobs
// waiting for a stream and the connections opened with it. Connections are per certificate, so
// topics never share a TLS identity.
struct Endpoint : std::enable_shared_from_this<Endpoint> {
  std::string topic;
  std::shared_ptr<const PushCertificate> cert;  // null when `error` is set
  Status error;
  SteadyTime fetched_at;
  SslCtxPtr ctx;
  std::deque<Job*> queue;             // waiting for a stream
  std::vector<Connection*> conns;     // open or opening, not yet retired
  bool retired = false;               // replaced or forgotten: no new work
};

struct Connection {
  enum class State { kConnecting, kHandshaking, kReady, kClosed };

  uint64_t id = 0;
  std::shared_ptr<Endpoint> endpoint;
  State state = State::kConnecting;
  int fd = -1;
  SSL* ssl = nullptr;
  nghttp2_session* session = nullptr;
  SteadyTime connect_deadline;
  SteadyTime last_read;         // last time the server sent anything
  bool goaway = false;          // the server (or we) ended the connection: no new streams
  uint32_t events = 0;          // registered with epoll
  bool want_flush = false;      // in Impl::flush_
  bool dead = false;            // in Impl::dead_
  std::string dead_reason;
  std::string out;              // encrypted-side pending output (plaintext for SSL_write)
  size_t out_off = 0;
  Job* head = nullptr;          // attached jobs, oldest first
  Job* tail = nullptr;
  size_t jobs = 0;

  void Attach(Job* j) {
    j->conn = this;
    j->prev = tail;
    j->next = nullptr;
    if (tail != nullptr) tail->next = j; else head = j;
    tail = j;
    ++jobs;
  }
  void Detach(Job* j) {
    if (j->prev != nullptr) j->prev->next = j->next; else head = j->next;
    if (j->next != nullptr) j->next->prev = j->prev; else tail = j->prev;
    j->prev = j->next = nullptr;
    j->conn = nullptr;
    --jobs;
  }
  // Streams this connection may carry at once: our limit and the server's SETTINGS.
  size_t Capacity(size_t ours) const {
    if (session == nullptr) return ours;
    uint32_t theirs =
        nghttp2_session_get_remote_settings(session, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    return std::min<size_t>(ours, theirs);
  }
};

Status GlobalInit() {
  static std::once_flag once;
  static int ok = 0;
  std::call_once(once, [] { ok = OPENSSL_init_ssl(0, nullptr); });
  if (ok != 1) return OpenSslError("OPENSSL_init_ssl");
  return OkStatus();
}

// {"mdm":"<magic>"}; nlohmann-json only when the magic needs escaping (PushMagic is a UUID).
std::string PushBody(std::string_view magic) {
  bool plain = std::all_of(magic.begin(), magic.end(), [](char c) {
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
  });
  if (!plain) {
    return nlohmann::json{{"mdm", magic}}.dump(-1, ' ', false,
                                               nlohmann::json::error_handler_t::replace);
  }
  std::string body;
  body.reserve(magic.size() + 11);
  body.append("{\"mdm\":\"").append(magic).append("\"}");
  return body;
}

struct Metrics {
  metrics::Counter* req_delivered = nullptr;  // custos_push_requests_total{result}
  metrics::Counter* req_unregistered = nullptr;
  metrics::Counter* req_rejected = nullptr;
  metrics::Counter* req_throttled = nullptr;
  metrics::Counter* req_server_error = nullptr;
  metrics::Counter* req_error = nullptr;
  metrics::CounterFamily* results = nullptr;  // {outcome}: one per push (after coalescing)
  metrics::Counter* res_delivered = nullptr;
  metrics::Counter* coalesced = nullptr;
  metrics::Gauge* in_flight = nullptr;
  metrics::Gauge* connections = nullptr;
  metrics::Histogram* latency = nullptr;
  metrics::GaugeFamily* cert_not_after = nullptr;  // {topic}
};

}  // namespace

class ApnsProvider::Impl {
 public:
  Impl(ApnsOptions options, PushCertificateSource* certs, std::string host, std::string port,
       std::string authority)
      : options_(std::move(options)),
        certs_(certs),
        host_(std::move(host)),
        port_(std::move(port)),
        authority_(std::move(authority)) {
    metrics::Registry& reg = options_.metrics != nullptr ? *options_.metrics : metrics::Default();
    auto& requests = reg.AddCounter("custos_push_requests_total",
                                    "HTTP requests sent to APNs, by result.", {"result"});
    metrics_.req_delivered = &requests.WithLabels({"delivered"});
    metrics_.req_unregistered = &requests.WithLabels({"unregistered"});
    metrics_.req_rejected = &requests.WithLabels({"rejected"});
    metrics_.req_throttled = &requests.WithLabels({"throttled"});
    metrics_.req_server_error = &requests.WithLabels({"server_error"});
    metrics_.req_error = &requests.WithLabels({"error"});
    metrics_.results = &reg.AddCounter("custos_push_results_total",
                                       "Pushes completed, by outcome.", {"outcome"});
    metrics_.res_delivered = &metrics_.results->WithLabels({"delivered"});
    metrics_.coalesced = &reg.AddCounter("custos_push_coalesced_total",
                                         "Push requests that joined a push already pending for "
                                         "their enrollment.")
                              .Get();
    metrics_.in_flight =
        &reg.AddGauge("custos_push_in_flight", "HTTP/2 requests to APNs in flight.").Get();
    metrics_.connections =
        &reg.AddGauge("custos_push_connections", "HTTP/2 connections to APNs open or opening.")
             .Get();
    metrics_.latency = &reg.AddHistogram("custos_push_request_seconds",
                                         "Latency of one APNs request.", {})
                            .Get();
    metrics_.cert_not_after = &reg.AddGauge(
        "custos_push_certificate_not_after_seconds",
        "Expiry (Unix seconds) of the push certificate in use, by topic.", {"topic"});
  }

  ~Impl() {
    Stop();
    if (epoll_fd_ >= 0) close(epoll_fd_);
    if (wake_fd_ >= 0) close(wake_fd_);
    if (callbacks_ != nullptr) nghttp2_session_callbacks_del(callbacks_);
    if (session_options_ != nullptr) nghttp2_option_del(session_options_);
  }

  Status Start() {
    RETURN_IF_ERROR(GlobalInit());
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epoll_fd_ < 0 || wake_fd_ < 0) {
      return InternalError(std::string("push: epoll/eventfd: ") + std::strerror(errno));
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kWakeupId;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0) {
      return InternalError(std::string("push: epoll_ctl: ") + std::strerror(errno));
    }
    if (nghttp2_session_callbacks_new(&callbacks_) != 0 || nghttp2_option_new(&session_options_) != 0) {
      return InternalError("push: nghttp2 out of memory");
    }
    nghttp2_session_callbacks_set_on_header_callback(callbacks_, OnHeader);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks_, OnDataChunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks_, OnStreamClose);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks_, OnFrameRecv);
    // Until the server's SETTINGS arrive, assume it takes as many streams as we want to use.
    nghttp2_option_set_peer_max_concurrent_streams(
        session_options_, static_cast<uint32_t>(options_.max_concurrent_streams));
    max_in_flight_ = static_cast<size_t>(options_.max_concurrent_streams);
    worker_ = std::thread([this] { Run(); });
    return OkStatus();
  }

  void Stop() {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
      stop_ = true;
    }
    Wake();
    if (worker_.joinable()) worker_.join();
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
    if (queued) Wake();
    if (batch->remaining.fetch_sub(resolved + 1) == resolved + 1) FinishBatch(*batch);
  }

  void Forget(std::string_view topic) {
    {
      std::lock_guard lock(mu_);
      forget_.emplace_back(topic);
    }
    Wake();
  }

 private:
  static void FinishBatch(Batch& batch) {
    if (batch.done) batch.done(std::move(batch.results));
  }

  void Wake() {
    // One wakeup per loop iteration is enough: Push calls in a burst skip the syscall.
    if (!wake_pending_.exchange(true, std::memory_order_acq_rel)) {
      uint64_t one = 1;
      ssize_t n = write(wake_fd_, &one, sizeof(one));
      (void)n;
    }
  }

  // ---- the worker loop ---------------------------------------------------------------------

  void Run() {
    // OpenSSL writes to the socket with write(2): a peer that closed the connection would raise
    // SIGPIPE and kill the process. Blocked on this thread, the write fails with EPIPE instead.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    std::vector<Job*> incoming;
    std::vector<std::string> forget;
    std::vector<epoll_event> events(256);
    SteadyTime next_sweep = SteadyClock::now() + kSweepInterval;
    while (true) {
      wake_pending_.store(false, std::memory_order_release);
      {
        std::lock_guard lock(mu_);
        if (stop_) break;
        incoming.swap(inbox_);
        forget.swap(forget_);
      }
      for (const std::string& topic : forget) RetireEndpoint(topic);
      forget.clear();
      for (Job* j : incoming) Route(j);
      incoming.clear();

      SteadyTime now = SteadyClock::now();
      while (!retries_.empty() && retries_.top().first <= now) {
        Job* j = retries_.top().second;
        retries_.pop();
        Route(j);
      }
      DispatchAll();
      FlushAll();
      ReapDead();
      metrics_.in_flight->Set(static_cast<double>(in_flight_));

      int timeout_ms = 1000;
      if (!dirty_.empty() || !flush_.empty() || !dead_.empty()) {
        timeout_ms = 0;
      } else if (conns_.empty() && retries_.empty()) {
        // Nothing to watch: no connection, no retry due. Push() and Forget() wake the loop; an
        // idle server costs no wakeups here.
        timeout_ms = -1;
      } else {
        if (!retries_.empty()) {
          auto wait = std::chrono::ceil<std::chrono::milliseconds>(retries_.top().first - now);
          timeout_ms = static_cast<int>(std::clamp<int64_t>(wait.count(), 0, timeout_ms));
        }
        if (in_flight_ > 0) {  // deadlines to watch; an idle provider sleeps
          auto wait = std::chrono::ceil<std::chrono::milliseconds>(next_sweep - now);
          timeout_ms = static_cast<int>(std::clamp<int64_t>(wait.count(), 0, timeout_ms));
        }
      }
      int n = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), timeout_ms);
      for (int i = 0; i < n; ++i) {
        uint64_t id = events[i].data.u64;
        if (id == kWakeupId) {
          uint64_t v;
          ssize_t r = read(wake_fd_, &v, sizeof(v));
          (void)r;
          continue;
        }
        auto it = conns_.find(id);
        if (it != conns_.end()) HandleEvent(it->second.get(), events[i].events);
      }
      now = SteadyClock::now();
      if (now >= next_sweep) {
        Sweep(now);
        next_sweep = now + kSweepInterval;
      }
    }
    Shutdown();
  }

  void Shutdown() {
    for (auto& [id, c] : conns_) {
      for (Job* j = c->head; j != nullptr;) {
        Job* next = j->next;
        c->Detach(j);
        j = next;
      }
      Close(c.get());
    }
    conns_.clear();
    dead_.clear();
    flush_.clear();
    dirty_.clear();
    in_flight_ = 0;
    metrics_.in_flight->Set(0);
    metrics_.connections->Set(0);
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

  // ---- endpoints and dispatch --------------------------------------------------------------

  // Puts `job` in the queue of its topic's endpoint, or completes it when the topic has no
  // usable certificate.
  void Route(Job* job) {
    Endpoint* ep = EndpointFor(job->target.topic);
    if (ep->cert == nullptr) {
      job->last_reason = ep->error.message();
      Complete(job, PushOutcome::kNoCertificate);
      return;
    }
    if (ep->cert->ExpiredAt(options_.clock->Now())) {
      job->last_reason = "the push certificate for topic " + ep->topic +
                         " is not valid now (expires " + FormatRfc3339(ep->cert->not_after()) + ")";
      Complete(job, PushOutcome::kNoCertificate);
      return;
    }
    ep->queue.push_back(job);
    MarkDirty(ep);
  }

  void MarkDirty(Endpoint* ep) {
    if (!ep->queue.empty()) dirty_.insert(ep);
  }

  // The endpoint of `topic`, asking the certificate source when the cache is cold or stale.
  Endpoint* EndpointFor(const std::string& topic) {
    SteadyTime now = SteadyClock::now();
    auto it = endpoints_.find(topic);
    if (it != endpoints_.end() && now - it->second->fetched_at < options_.certificate_refresh) {
      return it->second.get();
    }
    StatusOr<std::shared_ptr<const PushCertificate>> cert = certs_->Lookup(topic);
    if (it != endpoints_.end() && cert.ok() && it->second->cert != nullptr &&
        (*cert)->sha256() == it->second->cert->sha256()) {
      it->second->fetched_at = now;  // same certificate: keep the connections
      return it->second.get();
    }
    if (it != endpoints_.end()) RetireEndpoint(topic);
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
      StatusOr<SslCtxPtr> ctx = ClientContext(**cert);
      if (!ctx.ok()) {
        ep->error = ctx.status();
        spdlog::warn("push: certificate for topic {} unusable: {}", topic, ctx.status().message());
      } else {
        ep->ctx = *std::move(ctx);
        ep->cert = *std::move(cert);
        metrics_.cert_not_after->WithLabels({topic}).Set(
            static_cast<double>(ToUnixSeconds(ep->cert->not_after())));
        spdlog::info("push: using certificate {} for topic {} (expires {})",
                     ep->cert->sha256().substr(0, 16), topic, FormatRfc3339(ep->cert->not_after()));
      }
    }
    Endpoint* raw = ep.get();
    endpoints_[topic] = std::move(ep);
    return raw;
  }

  // Stops using the endpoint of `topic`: its waiting jobs are routed again in the next loop
  // iteration (to a fresh lookup; not now, since this may run inside EndpointFor), its
  // connections finish what they carry and close.
  void RetireEndpoint(const std::string& topic) {
    auto it = endpoints_.find(topic);
    if (it == endpoints_.end()) return;
    std::shared_ptr<Endpoint> ep = std::move(it->second);
    endpoints_.erase(it);
    ep->retired = true;
    dirty_.erase(ep.get());
    std::deque<Job*> waiting;
    waiting.swap(ep->queue);
    for (Connection* c : ep->conns) {
      c->goaway = true;
      if (c->jobs == 0) Kill(c, "");  // else closed by Flush once its streams are done
    }
    SteadyTime now = SteadyClock::now();
    for (Job* j : waiting) retries_.emplace(now, j);  // due at once; no attempt was made
  }

  // The OpenSSL client context of a push certificate: TLS 1.2+, ALPN h2, the certificate (and
  // any chain in its PEM) as client identity, the APNs server verified against ca_file or the
  // system store.
  StatusOr<SslCtxPtr> ClientContext(const PushCertificate& cert) {
    SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
    if (ctx == nullptr) return OpenSslError("push: SSL_CTX_new");
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    if (!options_.ca_file.empty()) {
      if (SSL_CTX_load_verify_locations(ctx.get(), options_.ca_file.c_str(), nullptr) != 1) {
        return OpenSslError("push: loading CA file " + options_.ca_file);
      }
    } else if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
      return OpenSslError("push: loading the system trust store");
    }
    if (SSL_CTX_use_certificate(ctx.get(), cert.certificate()) != 1 ||
        SSL_CTX_use_PrivateKey(ctx.get(), cert.key()) != 1 ||
        SSL_CTX_check_private_key(ctx.get()) != 1) {
      return OpenSslError("push: loading the push certificate " + cert.sha256().substr(0, 16));
    }
    // Intermediates that came with the certificate (after the leaf in its PEM).
    BioPtr bio(BIO_new_mem_buf(cert.certificate_pem().data(),
                               static_cast<int>(cert.certificate_pem().size())));
    if (bio != nullptr) {
      X509Ptr leaf(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
      while (X509* extra = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
        if (SSL_CTX_add0_chain_cert(ctx.get(), extra) != 1) X509_free(extra);
      }
      ERR_clear_error();  // the end of the PEM stream
    }
    static const unsigned char kAlpn[] = {2, 'h', '2'};
    if (SSL_CTX_set_alpn_protos(ctx.get(), kAlpn, sizeof(kAlpn)) != 0) {
      return OpenSslError("push: setting ALPN");
    }
    SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return ctx;
  }

  void DispatchAll() {
    if (dirty_.empty()) return;
    std::vector<Endpoint*> eps(dirty_.begin(), dirty_.end());
    dirty_.clear();
    for (Endpoint* ep : eps) Dispatch(ep);
  }

  // Hands waiting jobs of `ep` to connections with free streams, opening connections (up to
  // max_connections) when every open one is full.
  void Dispatch(Endpoint* ep) {
    while (!ep->queue.empty()) {
      Connection* best = nullptr;
      size_t best_free = 0;
      size_t usable = 0;
      for (Connection* c : ep->conns) {
        if (c->goaway) continue;
        ++usable;  // a failed connection still counts until ReapDead: no storm of new ones
        if (c->dead) continue;
        size_t cap = c->Capacity(max_in_flight_);
        size_t free = cap > c->jobs ? cap - c->jobs : 0;
        if (free > best_free) {
          best = c;
          best_free = free;
        }
      }
      if (best == nullptr) {
        if (usable >= static_cast<size_t>(options_.max_connections)) return;  // all full
        best = Open(ep);
        best_free = max_in_flight_;
      }
      bool ready = best->state == Connection::State::kReady;
      while (best_free > 0 && !ep->queue.empty()) {
        Job* job = ep->queue.front();
        ep->queue.pop_front();
        --best_free;
        StartAttempt(best, job);
        if (ready) Submit(best, job);
      }
      if (ready) RequestFlush(best);
    }
  }

  void StartAttempt(Connection* c, Job* job) {
    ++job->attempts;
    job->status = 0;
    job->response.clear();
    job->apns_id.clear();
    job->stream_id = 0;
    job->body_sent = 0;
    job->started = SteadyClock::now();
    job->deadline = job->started + options_.request_timeout;
    c->Attach(job);
    ++in_flight_;
  }

  // Submits the request of `job` (attached to the ready connection `c`) as a new stream.
  void Submit(Connection* c, Job* job) {
    if (job->path.empty()) {
      job->path.reserve(10 + 2 * job->target.token.size());
      job->path.append("/3/device/").append(HexEncode(job->target.token));
      job->body = PushBody(job->target.push_magic);
    }
    const std::string& expiration = ExpirationHeader();
    // Names and constant values are referenced (they outlive the session); per-request values
    // are copied by nghttp2, since a request may wait in its queue for a free stream.
    auto nv = [](std::string_view name, std::string_view value, bool constant) {
      uint8_t flags = NGHTTP2_NV_FLAG_NO_COPY_NAME;
      if (constant) flags |= NGHTTP2_NV_FLAG_NO_COPY_VALUE;
      return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                        reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                        value.size(), flags};
    };
    nghttp2_nv headers[] = {
        nv(":method", "POST", true),
        nv(":scheme", "https", true),
        nv(":authority", authority_, true),
        nv(":path", job->path, false),
        nv("apns-topic", job->target.topic, false),
        nv("apns-push-type", "mdm", true),
        nv("apns-priority", "10", true),
        nv("apns-expiration", expiration, false),
        nv("content-type", "application/json", true),
    };
    nghttp2_data_provider data;
    data.source.ptr = job;
    data.read_callback = ReadBody;
    int32_t id = nghttp2_submit_request(c->session, nullptr, headers,
                                        sizeof(headers) / sizeof(headers[0]), &data, job);
    if (id < 0) {
      c->Detach(job);
      --in_flight_;
      metrics_.req_error->Inc();
      job->last_status = 0;
      job->last_reason = std::string("HTTP/2 request: ") + nghttp2_strerror(id);
      RetryOrFail(job);
      // The session refuses new streams (e.g. stream ids exhausted): open another connection.
      c->goaway = true;
      MarkDirty(c->endpoint.get());
      return;
    }
    job->stream_id = id;
  }

  // "apns-expiration" for requests sent now: one string per second, not per push.
  const std::string& ExpirationHeader() {
    Time now = options_.clock->Now();
    int64_t second = ToUnixSeconds(now);
    if (second != expiration_second_ || expiration_value_.empty()) {
      expiration_second_ = second;
      int64_t expiration =
          options_.expiration.count() == 0 ? 0 : ToUnixSeconds(now + options_.expiration);
      expiration_value_ = std::to_string(expiration);
    }
    return expiration_value_;
  }

  // ---- connections -------------------------------------------------------------------------

  Connection* Open(Endpoint* ep) {
    auto owned = std::make_unique<Connection>();
    Connection* c = owned.get();
    c->id = ++next_conn_id_;
    c->endpoint = ep->shared_from_this();
    c->connect_deadline =
        SteadyClock::now() + std::min<std::chrono::milliseconds>(options_.request_timeout,
                                                                  kMaxConnectTimeout);
    conns_.emplace(c->id, std::move(owned));
    ep->conns.push_back(c);
    metrics_.connections->Set(static_cast<double>(conns_.size()));
    std::string where = host_ + ":" + port_;

    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    // Blocking resolution on the worker, once per new connection (connections are long-lived).
    int rc = getaddrinfo(host_.c_str(), port_.c_str(), &hints, &res);
    if (rc != 0 || res == nullptr) {
      Kill(c, "could not resolve " + host_ + ": " + gai_strerror(rc));
      return c;
    }
    int err = 0;
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
      int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
      if (fd < 0) {
        err = errno;
        continue;
      }
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
      if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
        c->fd = fd;
        break;
      }
      err = errno;
      close(fd);
    }
    freeaddrinfo(res);
    if (c->fd < 0) {
      Kill(c, "could not connect to " + where + ": " + std::strerror(err));
      return c;
    }
    epoll_event ev{};
    ev.events = EPOLLOUT;
    ev.data.u64 = c->id;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
      Kill(c, std::string("epoll_ctl: ") + std::strerror(errno));
      return c;
    }
    c->events = EPOLLOUT;
    spdlog::debug("push: connecting to {} for topic {} (connection {})", where, ep->topic, c->id);
    return c;
  }

  void SetEvents(Connection* c, uint32_t events) {
    if (c->fd < 0 || c->events == events) return;
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = c->id;
    epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c->fd, &ev);
    c->events = events;
  }

  void HandleEvent(Connection* c, uint32_t events) {
    if (c->dead) return;
    switch (c->state) {
      case Connection::State::kConnecting: {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
        if (err != 0) {
          Kill(c, "could not connect to " + host_ + ":" + port_ + ": " + std::strerror(err));
          return;
        }
        if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) return;
        if (!BeginTls(c)) return;
        Handshake(c);
        return;
      }
      case Connection::State::kHandshaking:
        Handshake(c);
        return;
      case Connection::State::kReady:
        if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) Read(c);
        if (!c->dead && (events & EPOLLOUT)) RequestFlush(c);
        return;
      case Connection::State::kClosed:
        return;
    }
  }

  bool BeginTls(Connection* c) {
    c->state = Connection::State::kHandshaking;
    c->ssl = SSL_new(c->endpoint->ctx.get());
    if (c->ssl == nullptr || SSL_set_fd(c->ssl, c->fd) != 1) {
      Kill(c, OpenSslError("TLS setup").message());
      return false;
    }
    in6_addr addr6;
    in_addr addr4;
    bool is_ip = inet_pton(AF_INET, host_.c_str(), &addr4) == 1 ||
                 inet_pton(AF_INET6, host_.c_str(), &addr6) == 1;
    if (is_ip) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), host_.c_str());
    } else {
      SSL_set_tlsext_host_name(c->ssl, host_.c_str());
      SSL_set1_host(c->ssl, host_.c_str());
    }
    SSL_set_connect_state(c->ssl);
    return true;
  }

  void Handshake(Connection* c) {
    ERR_clear_error();
    int rc = SSL_do_handshake(c->ssl);
    if (rc != 1) {
      int err = SSL_get_error(c->ssl, rc);
      if (err == SSL_ERROR_WANT_READ) {
        SetEvents(c, EPOLLIN);
        return;
      }
      if (err == SSL_ERROR_WANT_WRITE) {
        SetEvents(c, EPOLLOUT);
        return;
      }
      std::string why = DrainOpenSslErrors();
      long verify = SSL_get_verify_result(c->ssl);
      if (verify != X509_V_OK) why += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
      if (why.empty()) why = err == SSL_ERROR_SYSCALL ? "connection closed" : "error";
      Kill(c, "TLS handshake with " + host_ + ":" + port_ + " failed: " + why);
      return;
    }
    const unsigned char* alpn = nullptr;
    unsigned int alpn_len = 0;
    SSL_get0_alpn_selected(c->ssl, &alpn, &alpn_len);
    if (alpn_len != 2 || std::memcmp(alpn, "h2", 2) != 0) {
      Kill(c, "the server at " + host_ + ":" + port_ + " did not agree to HTTP/2 (ALPN h2)");
      return;
    }
    if (nghttp2_session_client_new2(&c->session, callbacks_, this, session_options_) != 0) {
      Kill(c, "nghttp2_session_client_new failed");
      return;
    }
    nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20},
    };
    nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, settings, 2);
    c->state = Connection::State::kReady;
    c->last_read = SteadyClock::now();
    SetEvents(c, EPOLLIN);
    spdlog::debug("push: connection {} to {}:{} ready", c->id, host_, port_);
    for (Job* j = c->head; j != nullptr;) {
      Job* next = j->next;  // Submit may detach j
      if (j->stream_id == 0) Submit(c, j);
      j = next;
    }
    RequestFlush(c);
    MarkDirty(c->endpoint.get());
  }

  void Read(Connection* c) {
    uint8_t buf[kReadChunk];
    while (true) {
      ERR_clear_error();
      int n = SSL_read(c->ssl, buf, sizeof(buf));
      if (n > 0) {
        c->last_read = SteadyClock::now();
        ssize_t used = nghttp2_session_mem_recv(c->session, buf, static_cast<size_t>(n));
        if (used < 0) {
          Kill(c, std::string("HTTP/2 protocol error from APNs: ") +
                      nghttp2_strerror(static_cast<int>(used)));
          return;
        }
        continue;
      }
      int err = SSL_get_error(c->ssl, n);
      if (err == SSL_ERROR_WANT_READ) break;
      if (err == SSL_ERROR_WANT_WRITE) {
        RequestFlush(c);
        break;
      }
      std::string why = err == SSL_ERROR_ZERO_RETURN || err == SSL_ERROR_SYSCALL
                            ? "connection closed by the server"
                            : "TLS error: " + DrainOpenSslErrors();
      Kill(c, why);
      return;
    }
    RequestFlush(c);
    MarkDirty(c->endpoint.get());
  }

  void RequestFlush(Connection* c) {
    if (!c->want_flush && !c->dead) {
      c->want_flush = true;
      flush_.push_back(c->id);
    }
  }

  void FlushAll() {
    while (!flush_.empty()) {
      std::vector<uint64_t> ids;
      ids.swap(flush_);
      for (uint64_t id : ids) {
        auto it = conns_.find(id);
        if (it == conns_.end()) continue;
        it->second->want_flush = false;
        Flush(it->second.get());
      }
    }
  }

  // Writes what nghttp2 has to send, in large chunks, until the socket would block.
  void Flush(Connection* c) {
    if (c->dead || c->state != Connection::State::kReady) return;
    while (true) {
      if (c->out_off == c->out.size()) {
        c->out.clear();
        c->out_off = 0;
        while (c->out.size() < kWriteChunk) {
          const uint8_t* data = nullptr;
          ssize_t n = nghttp2_session_mem_send(c->session, &data);
          if (n < 0) {
            Kill(c, std::string("HTTP/2 error: ") + nghttp2_strerror(static_cast<int>(n)));
            return;
          }
          if (n == 0) break;
          c->out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
        }
        if (c->out.empty()) break;
      }
      ERR_clear_error();
      int n = SSL_write(c->ssl, c->out.data() + c->out_off, static_cast<int>(c->out.size() - c->out_off));
      if (n > 0) {
        c->out_off += static_cast<size_t>(n);
        continue;
      }
      int err = SSL_get_error(c->ssl, n);
      if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
        SetEvents(c, EPOLLIN | EPOLLOUT);
        return;
      }
      Kill(c, err == SSL_ERROR_SYSCALL ? std::string("connection lost while writing")
                                       : "TLS error: " + DrainOpenSslErrors());
      return;
    }
    SetEvents(c, EPOLLIN);
    if (nghttp2_session_want_read(c->session) == 0 && nghttp2_session_want_write(c->session) == 0) {
      Kill(c, "connection closed (GOAWAY)");
      return;
    }
    if (c->goaway && c->jobs == 0) {
      Kill(c, "");
    }
  }

  // Marks `c` for closing: its attached jobs fail this attempt with `reason` (retried), the
  // connection is closed in ReapDead, outside any nghttp2 callback.
  void Kill(Connection* c, std::string reason) {
    if (c->dead) return;
    c->dead = true;
    c->dead_reason = std::move(reason);
    dead_.push_back(c->id);
  }

  void ReapDead() {
    while (!dead_.empty()) {
      std::vector<uint64_t> ids;
      ids.swap(dead_);
      for (uint64_t id : ids) {
        auto it = conns_.find(id);
        if (it == conns_.end()) continue;
        std::unique_ptr<Connection> c = std::move(it->second);
        conns_.erase(it);
        const std::string& reason = c->dead_reason;
        if (!reason.empty()) {
          if (c->jobs > 0 || c->state != Connection::State::kReady) {
            spdlog::warn("push: connection {} for topic {}: {} ({} requests affected)", c->id,
                         c->endpoint->topic, reason, c->jobs);
          } else {
            spdlog::debug("push: connection {} closed: {}", c->id, reason);
          }
        }
        while (Job* j = c->head) {
          c->Detach(j);
          --in_flight_;
          metrics_.req_error->Inc();
          JobError(j, reason.empty() ? "connection closed" : reason);
        }
        Close(c.get());
        Endpoint* ep = c->endpoint.get();
        ep->conns.erase(std::remove(ep->conns.begin(), ep->conns.end(), c.get()), ep->conns.end());
        if (!ep->retired) MarkDirty(ep);
      }
      metrics_.connections->Set(static_cast<double>(conns_.size()));
      DispatchAll();
      FlushAll();
    }
  }

  void JobError(Job* j, const std::string& reason) {
    j->last_status = 0;
    j->last_reason = reason;
    RetryOrFail(j);
  }

  void Close(Connection* c) {
    if (c->session != nullptr) nghttp2_session_del(c->session);
    c->session = nullptr;
    if (c->ssl != nullptr) SSL_free(c->ssl);
    c->ssl = nullptr;
    if (c->fd >= 0) {
      epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c->fd, nullptr);
      close(c->fd);
    }
    c->fd = -1;
    c->state = Connection::State::kClosed;
  }

  // Fails attempts past their deadline and connections that did not come up in time.
  void Sweep(SteadyTime now) {
    for (auto& [id, owned] : conns_) {
      Connection* c = owned.get();
      if (c->dead) continue;
      if (c->state != Connection::State::kReady) {
        if (now >= c->connect_deadline) {
          Kill(c, "connecting to " + host_ + ":" + port_ + " timed out");
        }
        continue;
      }
      bool cancelled = false;
      while (c->head != nullptr && c->head->deadline <= now) {
        Job* j = c->head;
        if (j->stream_id > 0) {
          nghttp2_session_set_stream_user_data(c->session, j->stream_id, nullptr);
          nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, j->stream_id, NGHTTP2_CANCEL);
        }
        c->Detach(j);
        --in_flight_;
        metrics_.req_error->Inc();
        JobError(j, "no answer from APNs within " +
                         std::to_string(options_.request_timeout.count()) + " ms");
        cancelled = true;
      }
      if (cancelled) {
        // A server that sent nothing for a whole request timeout is gone: reconnect.
        if (now - c->last_read >= options_.request_timeout) {
          Kill(c, "no data from APNs for " + std::to_string(options_.request_timeout.count()) +
                      " ms");
        } else {
          RequestFlush(c);
        }
        MarkDirty(c->endpoint.get());
      }
    }
  }

  // ---- nghttp2 callbacks -------------------------------------------------------------------

  static ssize_t ReadBody(nghttp2_session*, int32_t, uint8_t* buf, size_t length,
                          uint32_t* data_flags, nghttp2_data_source* source, void*) {
    auto* job = static_cast<Job*>(source->ptr);
    size_t n = std::min(length, job->body.size() - job->body_sent);
    std::memcpy(buf, job->body.data() + job->body_sent, n);
    job->body_sent += n;
    if (job->body_sent == job->body.size()) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }

  static int OnHeader(nghttp2_session* session, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void*) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    auto* job = static_cast<Job*>(nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
    if (job == nullptr) return 0;
    std::string_view n(reinterpret_cast<const char*>(name), namelen);
    std::string_view v(reinterpret_cast<const char*>(value), valuelen);
    if (n == ":status") {
      int status = 0;
      for (char ch : v) {
        if (ch < '0' || ch > '9' || status > 999) return 0;
        status = status * 10 + (ch - '0');
      }
      job->status = status;
    } else if (n == "apns-id") {
      job->apns_id.assign(v.substr(0, 64));
    }
    return 0;
  }

  static int OnDataChunk(nghttp2_session* session, uint8_t, int32_t stream_id,
                         const uint8_t* data, size_t len, void*) {
    auto* job = static_cast<Job*>(nghttp2_session_get_stream_user_data(session, stream_id));
    if (job == nullptr || job->response.size() >= kMaxResponseBytes) return 0;
    job->response.append(reinterpret_cast<const char*>(data),
                         std::min(len, kMaxResponseBytes - job->response.size()));
    return 0;
  }

  static int OnFrameRecv(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
    if (frame->hd.type != NGHTTP2_GOAWAY) return 0;
    auto* self = static_cast<Impl*>(user);
    // Find the connection of this session: few connections, and GOAWAY is rare.
    for (auto& [id, c] : self->conns_) {
      if (c->session != session) continue;
      c->goaway = true;
      const uint8_t* debug = frame->goaway.opaque_data;
      std::string why(reinterpret_cast<const char*>(debug),
                      std::min<size_t>(frame->goaway.opaque_data_len, 200));
      spdlog::info("push: APNs sent GOAWAY on connection {} (error {}{}{})", c->id,
                   frame->goaway.error_code, why.empty() ? "" : ", ", why);
      self->MarkDirty(c->endpoint.get());
      break;
    }
    return 0;
  }

  static int OnStreamClose(nghttp2_session* session, int32_t stream_id, uint32_t error_code,
                           void* user) {
    auto* job = static_cast<Job*>(nghttp2_session_get_stream_user_data(session, stream_id));
    if (job == nullptr) return 0;  // cancelled after its deadline
    static_cast<Impl*>(user)->FinishAttempt(job, error_code);
    return 0;
  }

  // The stream of `job` closed: applies APNs' verdict.
  void FinishAttempt(Job* job, uint32_t error_code) {
    Connection* c = job->conn;
    c->Detach(job);
    --in_flight_;
    MarkDirty(c->endpoint.get());
    if (c->goaway && c->jobs == 0) RequestFlush(c);  // closes it once drained
    SteadyTime now = SteadyClock::now();
    metrics_.latency->Observe(std::chrono::duration<double>(now - job->started).count());
    int status = job->status;
    // RFC 9113 section 8.1: a server may answer before it has read the whole request and then
    // reset the stream with NO_ERROR. A final status received is APNs' verdict on the push.
    if (status < 200) {
      metrics_.req_error->Inc();
      job->last_status = 0;
      job->last_reason = error_code == NGHTTP2_REFUSED_STREAM
                             ? std::string("stream refused by APNs (GOAWAY or stream limit)")
                             : std::string("stream reset by APNs: ") +
                                   nghttp2_http2_strerror(error_code);
      RetryOrFail(job);
      return;
    }
    job->last_status = status;
    job->last_reason.clear();
    if (status == 200) {
      metrics_.req_delivered->Inc();
      Complete(job, PushOutcome::kDelivered);
      return;
    }
    std::optional<Time> since;
    nlohmann::json body = nlohmann::json::parse(job->response, nullptr, false);
    if (body.is_object()) {
      if (auto r = body.find("reason"); r != body.end() && r->is_string()) {
        job->last_reason = r->get<std::string>().substr(0, 200);
      }
      if (auto ts = body.find("timestamp"); ts != body.end() && ts->is_number_integer()) {
        since = FromUnixSeconds(ts->get<int64_t>() / 1000);
      }
    }
    if (job->last_reason.empty()) job->last_reason = "HTTP " + std::to_string(status);
    if (status == 410) {
      metrics_.req_unregistered->Inc();
      Complete(job, PushOutcome::kUnregistered, since);
      return;
    }
    if (status == 429 || status >= 500) {
      (status == 429 ? metrics_.req_throttled : metrics_.req_server_error)->Inc();
      RetryOrFail(job);
      return;
    }
    metrics_.req_rejected->Inc();
    Complete(job, PushOutcome::kRejected);
  }

  // After a failed attempt: schedules a retry with exponential backoff, or gives up.
  void RetryOrFail(Job* job) {
    if (job->attempts <= options_.max_retries) {
      auto delay = options_.retry_base_delay * (int64_t{1} << std::min(job->attempts - 1, 16));
      delay = std::min<std::chrono::milliseconds>(delay, kMaxRetryDelay);
      if (spdlog::should_log(spdlog::level::debug)) {
        spdlog::debug("push: {} token {} attempt {} failed ({} {}), retrying in {} ms",
                      job->target.enrollment_id, TokenLogId(job->target.token), job->attempts,
                      job->last_status, job->last_reason, delay.count());
      }
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
    switch (outcome) {
      case PushOutcome::kDelivered:
        metrics_.res_delivered->Inc();
        if (spdlog::should_log(spdlog::level::debug)) {
          spdlog::debug("push: {} token {} delivered (apns-id {})", owned->target.enrollment_id,
                        TokenLogId(owned->target.token), owned->apns_id);
        }
        break;
      case PushOutcome::kUnregistered:
        metrics_.results->WithLabels({PushOutcomeName(outcome)}).Inc();
        spdlog::info("push: {} token {} unregistered ({})", owned->target.enrollment_id,
                     TokenLogId(owned->target.token), owned->last_reason);
        break;
      default:
        metrics_.results->WithLabels({PushOutcomeName(outcome)}).Inc();
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
  const std::string host_;       // from base_url, without brackets
  const std::string port_;       // "443" unless base_url names one
  const std::string authority_;  // ":authority": host[:port] as in base_url
  Metrics metrics_;
  std::thread worker_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::atomic<bool> wake_pending_{false};
  nghttp2_session_callbacks* callbacks_ = nullptr;
  nghttp2_option* session_options_ = nullptr;
  size_t max_in_flight_ = 0;  // per connection

  std::mutex mu_;  // guards the members below, up to the worker-only ones
  bool stop_ = false;
  std::vector<Job*> inbox_;
  std::vector<std::string> forget_;
  std::unordered_map<std::string, std::unique_ptr<Job>> pending_;

  // Worker thread only.
  using Retry = std::pair<SteadyTime, Job*>;
  struct Later {
    bool operator()(const Retry& a, const Retry& b) const { return a.first > b.first; }
  };
  std::priority_queue<Retry, std::vector<Retry>, Later> retries_;
  std::unordered_map<std::string, std::shared_ptr<Endpoint>> endpoints_;
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> conns_;
  uint64_t next_conn_id_ = kWakeupId;
  std::unordered_set<Endpoint*> dirty_;  // endpoints with queued jobs to dispatch
  std::vector<uint64_t> flush_;          // connections with output to write
  std::vector<uint64_t> dead_;           // connections to close
  size_t in_flight_ = 0;
  int64_t expiration_second_ = -1;
  std::string expiration_value_;
};

StatusOr<std::unique_ptr<ApnsProvider>> ApnsProvider::Create(ApnsOptions options,
                                                             PushCertificateSource* certs) {
  if (certs == nullptr) return InvalidArgumentError("push: no certificate source");
  while (!options.base_url.empty() && options.base_url.back() == '/') options.base_url.pop_back();
  auto bad_url = [&] {
    return InvalidArgumentError("push: the APNs URL must be https://HOST[:PORT], not \"" +
                                options.base_url + "\"");
  };
  if (options.base_url.rfind("https://", 0) != 0 || options.base_url.size() <= 8) return bad_url();
  std::string authority = options.base_url.substr(8);
  if (authority.find_first_of("/?#@ ") != std::string::npos) return bad_url();
  std::string host, port = "443";
  if (authority.front() == '[') {  // [IPv6]:port
    size_t close = authority.find(']');
    if (close == std::string::npos) return bad_url();
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return bad_url();
      port = authority.substr(close + 2);
    }
  } else {
    size_t colon = authority.rfind(':');
    host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (host.empty() || port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      std::stoi(port) == 0 || std::stoi(port) > 65535) {
    return bad_url();
  }
  if (options.max_concurrent_streams < 1 || options.max_concurrent_streams > 10000 ||
      options.max_connections < 1 || options.max_connections > 64 || options.max_retries < 0 ||
      options.max_retries > 20 || options.expiration.count() < 0 ||
      options.retry_base_delay.count() < 0 || options.request_timeout.count() <= 0) {
    return InvalidArgumentError("push: limits out of range");
  }
  if (options.clock == nullptr) options.clock = Clock::Real();
  auto impl = std::make_unique<Impl>(std::move(options), certs, std::move(host), std::move(port),
                                     std::move(authority));
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
