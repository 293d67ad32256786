// The APNs provider: wakes MDM enrollments with a push over HTTP/2, authenticated with the MDM
// push certificate of each enrollment's topic.
//
// Follows Apple's "Sending notification requests to APNs" and "Handling notification responses
// from APNs" (certificate-based connection trust) and the MDM protocol reference ("Sending MDM
// commands to a device"): a push is `POST /3/device/<hex token>` with the body
// `{"mdm":"<PushMagic>"}` and the headers apns-topic (the push certificate's UID),
// apns-push-type: mdm, apns-expiration and apns-priority: 10.
//
// Design: one worker thread runs an epoll loop over a few kept-alive HTTP/2 connections per push
// certificate (each certificate has its own OpenSSL client context, so topics never share a TLS
// identity; keys stay in memory). Every push is one HTTP/2 stream (libnghttp2); requests queued
// in one loop iteration leave in one large TLS write, responses are read in 64 KiB chunks.
//
// Why libnghttp2 + OpenSSL and not libcurl (DESIGN.md names libcurl for outbound HTTP/2): the
// issue asks for 50,000 pushes/s on 2 cores shared by sender and receiver, a budget of ~40 us
// of CPU per push for both. Measured with bench/push (provider -> nginx over HTTP/2 with a client
// certificate; nginx itself needs 12-17 us per push), libcurl 7.88's multi interface with pooled
// easy handles cost 71-125 us of provider CPU per push, still 92 us with only 20 streams per
// connection: the cost is per transfer (easy-handle state, header lists, connection matching,
// malloc; perf: libc malloc/free 30%, libcurl 27%, nghttp2 8%), so no libcurl tuning fits the
// budget. Over libnghttp2 directly the same pushes cost ~15 us each and the benchmark reaches
// 54,000-62,000 pushes/s (libcurl: 9,000/s under the same conditions); bench/push/README.md.
//
// Semantics:
//   - A push for an enrollment that already has one pending (queued, in flight or waiting for a
//     retry) joins it: a burst of commands for one device sends one push. Every caller still gets
//     a result for each of its targets (marked `coalesced`).
//   - 200: delivered. 410: unregistered (the caller marks the token until the next TokenUpdate).
//     429 and 5xx, and connection/TLS errors: retried with exponential backoff, at most
//     `max_retries` times. Other statuses (400 BadDeviceToken, 403, 413, ...): rejected with the
//     APNs reason.
//   - Tokens, PushMagic and keys are never logged; a token is logged as the first 12 hex digits
//     of its SHA-256.
#ifndef CUSTOS_PUSH_APNS_H_
#define CUSTOS_PUSH_APNS_H_

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/config.h"
#include "base/status.h"
#include "base/time.h"
#include "push/push_cert.h"

namespace custos::metrics {
class Registry;
}

namespace custos::push {

inline constexpr std::string_view kApnsProductionUrl = "https://api.push.apple.com";
inline constexpr std::string_view kApnsSandboxUrl = "https://api.sandbox.push.apple.com";

// One push to send: who it wakes and how to reach it.
struct PushTarget {
  std::string enrollment_id;  // coalescing key; when empty, the token is the key
  std::string topic;          // the enrollment's MDM topic (selects the push certificate)
  std::string token;          // the device push token, raw bytes (as TokenUpdate's Token data)
  std::string push_magic;     // the enrollment's PushMagic
};

enum class PushOutcome {
  kDelivered,      // APNs answered 200
  kUnregistered,   // 410: the token is no longer valid for the topic
  kRejected,       // another 4xx (BadDeviceToken, TopicDisallowed, ...): not retried
  kFailed,         // retries exhausted (429, 5xx, connection or TLS errors), or shutting down
  kNoCertificate,  // no usable push certificate for the topic (missing or expired)
  kInvalidTarget,  // empty token, topic or PushMagic
};

// "delivered", "unregistered", "rejected", "failed", "no_certificate", "invalid_target".
std::string_view PushOutcomeName(PushOutcome outcome);

struct PushResult {
  std::string enrollment_id;
  PushOutcome outcome = PushOutcome::kFailed;
  int http_status = 0;     // the last HTTP status from APNs; 0 when none was received
  std::string reason;      // APNs "reason" (e.g. "BadDeviceToken"), or a transport error
  std::string apns_id;     // the apns-id response header of the last attempt
  int attempts = 0;        // HTTP requests made for the (shared) push; 0 when none was sent
  bool coalesced = false;  // this target joined a push already pending for its enrollment
  // For kUnregistered: when APNs says the token stopped being valid (its "timestamp"), if given.
  std::optional<Time> unregistered_since;
};

// Where the provider finds the push certificate of a topic. Implemented over storage by the MDM
// service; tests use StaticPushCertificates. Called on the provider's worker thread, at most once
// per topic per `certificate_refresh` interval (and after ForgetCertificate), so it may do I/O.
class PushCertificateSource {
 public:
  virtual ~PushCertificateSource() = default;
  // The certificate for `topic`; NOT_FOUND when none is installed.
  virtual StatusOr<std::shared_ptr<const PushCertificate>> Lookup(std::string_view topic) = 0;
};

// An in-memory PushCertificateSource keyed by each certificate's topic. Thread-safe.
class StaticPushCertificates : public PushCertificateSource {
 public:
  // Adds or replaces the certificate for its topic.
  void Put(std::shared_ptr<const PushCertificate> cert);
  StatusOr<std::shared_ptr<const PushCertificate>> Lookup(std::string_view topic) override;

 private:
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<const PushCertificate>, std::less<>> certs_;
};

// Callback with one result per target, in the order of the targets passed to Push. Runs on the
// provider's worker thread: it must be quick and must not call PushAndWait.
using PushCallback = std::function<void(std::vector<PushResult>)>;

// What the MDM service needs from a push provider, so its tests can fake it.
class Pusher {
 public:
  virtual ~Pusher() = default;
  // Queues pushes and returns at once; `done` is called exactly once, when every target has its
  // result. It runs on the caller's thread, before Push returns, when no target needed the
  // network (an empty vector, only invalid targets, or the provider shutting down).
  virtual void Push(std::vector<PushTarget> targets, PushCallback done) = 0;
  // Blocking convenience over Push. Must not be called from a PushCallback.
  std::vector<PushResult> PushAndWait(std::vector<PushTarget> targets);
};

struct ApnsOptions {
  std::string base_url = std::string(kApnsProductionUrl);  // scheme://host[:port], no path
  // PEM roots trusted for the APNs server instead of the system store (tests); "" = system.
  std::string ca_file;
  int64_t max_concurrent_streams = 500;  // per connection (the server may announce fewer)
  // Connections to the APNs host per push certificate (Apple recommends several for volume):
  // a new one opens only when the open ones have no free stream. At most
  // max_concurrent_streams * max_connections requests per certificate are in flight; more wait
  // queued. A connection that fails, is closed or sends GOAWAY is replaced on demand; its
  // unanswered requests are retried like any transport error.
  int64_t max_connections = 4;
  int64_t max_retries = 3;          // retries after the first attempt
  Duration expiration{86400};       // apns-expiration = now + this; 0 = "deliver now or never"
  std::chrono::milliseconds retry_base_delay{500};  // doubled per retry, capped at 30 s
  // One HTTP request, connect included (connecting alone: at most 10 s). A request without an
  // answer by then is cancelled (RST_STREAM) and retried; a connection that sent nothing for
  // that long is closed.
  std::chrono::milliseconds request_timeout{30000};
  std::chrono::seconds certificate_refresh{60};      // re-ask the source after this long
  Clock* clock = Clock::Real();     // for apns-expiration and certificate validity
  // Metrics registry; nullptr = metrics::Default(). Ignored when metrics are unavailable.
  metrics::Registry* metrics = nullptr;

  // The [push] section of the configuration.
  static ApnsOptions FromConfig(const PushConfig& config);
};

class ApnsProvider : public Pusher {
 public:
  // Starts the worker thread. INVALID_ARGUMENT for a malformed base URL (https://HOST[:PORT],
  // HOST a name, an IPv4 address or a bracketed IPv6 address) or limits out of range; INTERNAL
  // when OpenSSL, epoll or nghttp2 cannot be set up. `certs` must outlive the provider.
  static StatusOr<std::unique_ptr<ApnsProvider>> Create(ApnsOptions options,
                                                        PushCertificateSource* certs);

  // Stops the worker: pushes still pending complete with kFailed ("provider shut down").
  ~ApnsProvider() override;

  void Push(std::vector<PushTarget> targets, PushCallback done) override;

  // Drops the cached certificate of `topic` (after a new one was installed): the next push asks
  // the source again and opens new connections with the new identity.
  void ForgetCertificate(std::string_view topic);

  class Impl;

 private:
  explicit ApnsProvider(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The token as logged: the first 12 hex digits of SHA-256(token).
std::string TokenLogId(std::string_view token);

}  // namespace custos::push

#endif  // CUSTOS_PUSH_APNS_H_
