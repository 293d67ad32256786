// The HTTP(S) server: Boost.Beast 1.74 HTTP/1.1 (RFC 9112) over Boost.Asio, asynchronous, with
// keep-alive, a plain listener (for use behind a TLS-terminating proxy) and a TLS listener that
// requests, but never requires, a client certificate (RFC 8446 section 4.3.2) and hands the chain
// the client sent to handlers unverified.
//
// Protection against slow or hostile clients, all from HttpConfig:
//   - max_header_bytes (431 and close), max_body_bytes (413 and close);
//   - read_timeout: a request must arrive completely within it, counted from its first byte (and a
//     new connection must send a first byte within it): a slowloris client is closed;
//   - idle_timeout: how long a kept-alive connection may wait for its next request;
//   - max_connections: connections over the limit are accepted and closed at once (the plain
//     listener writes a best-effort 503 first), counted in custos_http_rejected_connections_total;
//   - malformed HTTP: 400 and close; every other connection is unaffected.
// Requests from a peer listed in http.trusted_proxies take their client address from
// X-Forwarded-For and their request ID from X-Request-Id; from anyone else those headers are not
// believed. Every request gets an ID (ScopedRequestId around the handler, echoed as X-Request-Id),
// an access-log line when http.access_log is set (the path without its query string, which can
// hold SCEP messages and challenges), and metrics:
//   custos_http_requests_total{route,method,code}, custos_http_request_duration_seconds{route},
//   custos_http_open_connections, custos_http_rejected_connections_total.
#ifndef CUSTOS_HTTP_SERVER_H_
#define CUSTOS_HTTP_SERVER_H_

#include <cstdint>
#include <memory>

#include "base/config.h"
#include "base/metrics.h"
#include "base/random.h"
#include "base/status.h"
#include "http/router.h"

namespace custos::http {

class HttpServer {
 public:
  struct Ports {
    uint16_t http = 0;   // 0 when the plain listener is disabled
    uint16_t https = 0;  // 0 when the TLS listener is disabled
  };

  // Validates the configuration, loads the TLS certificate chain and key (when tls.listen is set),
  // and binds the listeners (so ports() is known and a busy port fails here). `router` must outlive
  // the server. `random` makes request IDs; `registry` receives the metrics.
  // Errors: INVALID_ARGUMENT for a malformed listen address or TLS file, UNAVAILABLE for a port
  // that cannot be bound ("listen 127.0.0.1:8080: address already in use"), FAILED_PRECONDITION
  // when neither listener is configured.
  static StatusOr<std::unique_ptr<HttpServer>> Create(
      const HttpConfig& http, const ServerConfig& server, const TlsConfig& tls, Router* router,
      Random* random = Random::Secure(), metrics::Registry* registry = &metrics::Default());

  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Starts accepting on server.threads I/O threads (0: one per core). Errors: FAILED_PRECONDITION
  // when already started or stopped.
  Status Start();

  // Stops accepting, closes every connection and joins the I/O threads. Idempotent; also done by
  // the destructor. In-flight requests are abandoned.
  void Stop();

  // The bound ports (useful with port 0).
  Ports ports() const;

  class Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace custos::http

#endif  // CUSTOS_HTTP_SERVER_H_
