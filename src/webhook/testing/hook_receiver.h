// Test-only: a loopback webhook receiver, for the webhook sink's own tests (webhook.h) and for
// end-to-end tests that check the events a running `custos serve` POSTs (MicroMDM's webhook
// format). It is custos' own HTTP server (http/server.h) on 127.0.0.1:0, one I/O thread, with a
// single route, POST /hook, that records every request (raw body, the body parsed as JSON, its
// Content-Type and both signature headers) and answers with scripted status codes. Never use it
// outside tests.
#ifndef CUSTOS_WEBHOOK_TESTING_HOOK_RECEIVER_H_
#define CUSTOS_WEBHOOK_TESTING_HOOK_RECEIVER_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/metrics.h"
#include "base/status.h"
#include "http/router.h"
#include "http/server.h"

namespace custos::webhook::testing {

class HookReceiver {
 public:
  struct Options {
    // Status codes answered to the first requests, in order; 200 after them.
    std::vector<int> statuses;
  };

  // One request the receiver got.
  struct Received {
    std::string body;               // the raw bytes
    nlohmann::json json;            // `body` parsed; is_discarded() when it is not JSON
    std::string content_type;       // "" when absent
    std::string signature;          // X-Custos-Signature ("" when absent)
    std::string nanomdm_signature;  // X-Hmac-Signature ("" when absent)
    int status = 0;                 // what the receiver answered
  };

  // Binds 127.0.0.1:0 and starts serving. Errors: those of http::HttpServer::Create and Start
  // (UNAVAILABLE when no loopback port can be bound).
  static StatusOr<std::unique_ptr<HookReceiver>> Start(Options options = {});
  ~HookReceiver();  // stops the server (in-flight requests are abandoned)
  HookReceiver(const HookReceiver&) = delete;
  HookReceiver& operator=(const HookReceiver&) = delete;

  // "http://127.0.0.1:PORT/hook"; the port stays closed after destruction.
  std::string url() const;

  // Every request so far, in arrival order.
  std::vector<Received> received() const;

  // Polls (every 50 ms, up to `timeout`) until at least `n` received requests satisfy `match`,
  // and returns those that do, in arrival order: fewer than `n` when the time ran out. With
  // n == 0 it does not wait.
  std::vector<Received> WaitFor(size_t n, const std::function<bool(const Received&)>& match,
                                std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;

  // While blocked, the handler keeps each request (and so the server's only worker thread) after
  // recording it, until unblocked or about 5 s have passed (a broken test cannot hang).
  void SetBlocked(bool blocked) { blocked_ = blocked; }

 private:
  explicit HookReceiver(Options options) : statuses_(std::move(options.statuses)) {}
  http::Response Handle(const http::Request& request);

  mutable std::mutex mu_;
  std::vector<int> statuses_;
  size_t calls_ = 0;
  std::vector<Received> received_;
  std::atomic<bool> blocked_{false};
  metrics::Registry registry_;
  http::Router router_;
  std::unique_ptr<http::HttpServer> server_;
};

}  // namespace custos::webhook::testing

#endif  // CUSTOS_WEBHOOK_TESTING_HOOK_RECEIVER_H_
