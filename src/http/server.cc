#include "http/server.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/encoding.h"
#include "base/logging.h"
#include "base/openssl_util.h"

namespace custos::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;

namespace {

constexpr size_t kFirstReadChunk = 4096;
constexpr auto kLingerTimeout = std::chrono::seconds(2);
constexpr std::string_view kRejectResponse =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 20\r\n"
    "Connection: close\r\n\r\ntoo many connections";
constexpr std::string_view kContinueResponse = "HTTP/1.1 100 Continue\r\n\r\n";

std::string LowerFirst(std::string s) {
  if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z') s[0] = static_cast<char>(s[0] - 'A' + 'a');
  return s;
}

// Parses "HOST:PORT" where HOST is an IPv4 address, "[IPv6]", "localhost", "" or "*" (any).
StatusOr<tcp::endpoint> ParseListen(std::string_view listen) {
  size_t colon = listen.rfind(':');
  if (colon == std::string_view::npos) {
    return InvalidArgumentError("listen address \"" + std::string(listen) +
                                "\" must be HOST:PORT");
  }
  std::string host(listen.substr(0, colon));
  std::string_view port_text = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty() || host == "*") host = "0.0.0.0";
  if (host == "localhost") host = "127.0.0.1";
  unsigned port = 0;
  if (port_text.empty() || port_text.size() > 5) {
    return InvalidArgumentError("listen address \"" + std::string(listen) + "\": bad port");
  }
  for (char c : port_text) {
    if (c < '0' || c > '9') {
      return InvalidArgumentError("listen address \"" + std::string(listen) + "\": bad port");
    }
    port = port * 10 + static_cast<unsigned>(c - '0');
  }
  if (port > 65535) {
    return InvalidArgumentError("listen address \"" + std::string(listen) + "\": bad port");
  }
  boost::system::error_code ec;
  net::ip::address address = net::ip::make_address(host, ec);
  if (ec) {
    return InvalidArgumentError("listen address \"" + std::string(listen) +
                                "\": host must be an IP address");
  }
  return tcp::endpoint(address, static_cast<uint16_t>(port));
}

net::ip::address Normalize(const net::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return net::ip::make_address_v4(net::ip::v4_mapped, a.to_v6());
  }
  return a;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool ValidRequestId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':';
    if (!ok) return false;
  }
  return true;
}

// Bounded method label for metrics.
std::string_view MethodLabel(std::string_view method) {
  static constexpr std::string_view kKnown[] = {"GET",    "HEAD",    "POST",  "PUT",
                                                "DELETE", "OPTIONS", "PATCH"};
  for (auto m : kKnown) {
    if (m == method) return m;
  }
  return "other";
}

bool HasControlChars(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 && c != '\t') return true;
    if (c == 0x7f) return true;
  }
  return false;
}

}  // namespace

class HttpServer::Impl {
 public:
  HttpConfig http;
  ServerConfig server;
  TlsConfig tls;
  Router* router = nullptr;
  Random* random = nullptr;
  metrics::CounterFamily* requests_total = nullptr;
  metrics::HistogramFamily* request_duration = nullptr;
  metrics::Gauge* open_connections = nullptr;
  metrics::Counter* rejected_connections = nullptr;
  metrics::Counter* accepted_plain = nullptr;  // custos_http_connections_total{listener="http"}
  metrics::Counter* accepted_tls = nullptr;    // {listener="https"}
  std::vector<net::ip::address> trusted_proxies;
  std::atomic<int64_t> open_count{0};
  std::optional<ssl::context> ssl_ctx;
  Ports ports;
  bool started = false;
  bool stopped = false;

  // Declared after everything sessions use: destroying the io_context destroys pending handlers
  // and with them the sessions, which still reach the fields above.
  // One io_context per I/O thread, each run by exactly one thread: a connection lives on one of
  // them for its whole life, so its handlers never run concurrently and need no strand.
  std::vector<std::unique_ptr<net::io_context>> iocs;
  std::atomic<size_t> next_ioc{0};
  std::unique_ptr<tcp::acceptor> plain_acceptor;
  std::unique_ptr<tcp::acceptor> tls_acceptor;
  std::vector<std::thread> threads;

  bool IsTrustedProxy(const net::ip::address& a) const {
    if (trusted_proxies.empty()) return false;
    net::ip::address n = Normalize(a);
    return std::find(trusted_proxies.begin(), trusted_proxies.end(), n) != trusted_proxies.end();
  }

  Status Bind(std::string_view listen, std::unique_ptr<tcp::acceptor>& out, uint16_t* port);
  void DoAccept(tcp::acceptor* acceptor, bool tls_listener);
  void OnAccept(net::basic_stream_socket<tcp, net::io_context::executor_type> socket,
                bool tls_listener);
  void ConnectionClosed() {
    open_count.fetch_sub(1, std::memory_order_relaxed);
    open_connections->Dec();
  }
};

namespace {

using Executor = net::io_context::executor_type;
using Socket = net::basic_stream_socket<tcp, Executor>;
using Timer = net::basic_waitable_timer<std::chrono::steady_clock,
                                        net::wait_traits<std::chrono::steady_clock>, Executor>;
using PlainStream = Socket;
using TlsStream = beast::ssl_stream<Socket>;
using SteadyClock = std::chrono::steady_clock;

template <typename Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  Executor executor() { return beast::get_lowest_layer(stream_).get_executor(); }

  template <typename... Args>
  Session(HttpServer::Impl* srv, Args&&... args)
      : srv_(srv),
        stream_(std::forward<Args>(args)...),
        timer_(beast::get_lowest_layer(stream_).get_executor()),
        check_interval_(std::min<SteadyClock::duration>(srv->http.read_timeout,
                                                         srv->http.idle_timeout)) {}

  ~Session() { srv_->ConnectionClosed(); }

  void Start() {
    boost::system::error_code ec;
    auto endpoint = beast::get_lowest_layer(stream_).remote_endpoint(ec);
    if (ec) return Close(false);  // already gone
    SetDeadline(srv_->http.read_timeout);
    ArmTimer();
    peer_ip_ = Normalize(endpoint.address());
    peer_address_ = peer_ip_.to_string();
    peer_port_ = endpoint.port();
    peer_trusted_ = srv_->IsTrustedProxy(peer_ip_);
    if constexpr (kTls) {
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code e) {
                                self->OnHandshake(e);
                              });
    } else {
      WaitForRequest(srv_->http.read_timeout);
    }
  }

 private:
  void OnHandshake(beast::error_code ec) {
    if (ec) {
      spdlog::debug("TLS handshake with {} failed: {}", peer_address_, ec.message());
      return Close(false);
    }
    if constexpr (kTls) {
      SSL* ssl = stream_.native_handle();
      X509* leaf = SSL_get0_peer_certificate(ssl);
      if (leaf != nullptr) {
        AppendDer(leaf);
        // On the server side the chain does not include the leaf.
        STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);
        for (int i = 0; chain != nullptr && i < sk_X509_num(chain); ++i) {
          X509* cert = sk_X509_value(chain, i);
          if (X509_cmp(cert, leaf) == 0) continue;
          AppendDer(cert);
        }
      }
    }
    WaitForRequest(srv_->http.read_timeout);
  }

  void AppendDer(X509* cert) {
    int len = i2d_X509(cert, nullptr);
    if (len <= 0) return;
    std::string der(static_cast<size_t>(len), '\0');
    auto* p = reinterpret_cast<unsigned char*>(der.data());
    if (i2d_X509(cert, &p) != len) return;
    chain_.push_back(std::move(der));
  }

  // Waits up to `timeout` for the first byte of the next request, then reads it whole within
  // read_timeout.
  void WaitForRequest(std::chrono::steady_clock::duration timeout) {
    if (buffer_.size() > 0) {  // pipelined bytes already here
      ReadRequest();
      return;
    }
    SetDeadline(timeout);
    stream_.async_read_some(buffer_.prepare(kFirstReadChunk),
                            [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                              if (ec) return self->Close(/*graceful=*/false);
                              self->buffer_.commit(n);
                              self->ReadRequest();
                            });
  }

  void ReadRequest() {
    SetDeadline(srv_->http.read_timeout);
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(
        std::clamp<int64_t>(srv_->http.max_header_bytes, 256, UINT32_MAX)));
    parser_->body_limit(static_cast<uint64_t>(std::max<int64_t>(srv_->http.max_body_bytes, 0)));
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = this->shared_from_this()](beast::error_code ec, size_t) {
                               self->OnHeader(ec);
                             });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    if (parser_->is_done()) return Handle();
    auto expect = parser_->get()[bhttp::field::expect];
    if (beast::iequals(expect, "100-continue")) {
      net::async_write(stream_, net::buffer(kContinueResponse.data(), kContinueResponse.size()),
                       [self = this->shared_from_this()](beast::error_code e, size_t) {
                         if (e) return self->Close(false);
                         self->ReadBody();
                       });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = this->shared_from_this()](beast::error_code ec, size_t) {
                        if (ec) return self->OnReadError(ec);
                        self->Handle();
                      });
  }

  void OnReadError(beast::error_code ec) {
    if (ec == bhttp::error::header_limit) {
      return SendError(431, "request header fields too large\n");
    }
    if (ec == bhttp::error::body_limit) {
      return SendError(413, "content too large\n");
    }
    if (timed_out_ || ec == bhttp::error::end_of_stream || ec == net::error::operation_aborted) {
      return Close(false);
    }
    if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category()) {
      return SendError(400, "malformed request\n");
    }
    Close(false);  // connection reset, TLS error, ...
  }

  std::string NewRequestId() { return HexEncode(srv_->random->Bytes(8)); }

  // The client address: the peer, or for a trusted proxy the right-most X-Forwarded-For entry
  // that is not itself a trusted proxy.
  std::string ClientAddress(const Request& req) const {
    if (!peer_trusted_) return peer_address_;
    std::vector<std::string_view> values = req.headers.GetAll("X-Forwarded-For");
    std::vector<std::string_view> hops;
    for (auto v : values) {
      while (!v.empty()) {
        size_t comma = v.find(',');
        hops.push_back(Trim(v.substr(0, comma)));
        if (comma == std::string_view::npos) break;
        v.remove_prefix(comma + 1);
      }
    }
    std::string client = peer_address_;
    for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
      boost::system::error_code ec;
      auto a = net::ip::make_address(std::string(*it), ec);
      if (ec) break;  // not an address: believe nothing further left
      client = Normalize(a).to_string();
      if (!srv_->IsTrustedProxy(a)) break;
    }
    return client;
  }

  void Handle() {
    auto started = std::chrono::steady_clock::now();
    bhttp::request<bhttp::string_body> msg = parser_->release();
    parser_.reset();
    keep_alive_ = msg.keep_alive();

    Request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    std::string_view target(req.target);
    size_t q = target.find('?');
    req.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) req.query = ParseQuery(target.substr(q + 1));
    req.headers.reserve(16);
    for (const auto& f : msg) {
      req.headers.Add(std::string(f.name_string()), std::string(f.value()));
    }
    req.body = std::move(msg.body());
    req.peer_address = peer_address_;
    req.remote_port = peer_port_;
    req.from_trusted_proxy = peer_trusted_;
    req.remote_address = ClientAddress(req);
    req.tls = kTls;
    req.client_cert_chain = chain_;
    if (peer_trusted_) {
      auto id = req.headers.Get("X-Request-Id");
      if (id && ValidRequestId(*id)) req.request_id = std::string(*id);
    }
    if (req.request_id.empty()) req.request_id = NewRequestId();

    std::string_view route = Router::kNoRoute;
    Response response;
    if (req.path.empty() || req.path.front() != '/') {
      response = Response::Text(400, "request target must be an absolute path\n");
      keep_alive_ = false;
    } else {
      ScopedRequestId scoped(req.request_id);
      try {
        response = srv_->router->Dispatch(req, &route);
      } catch (const std::exception& e) {
        spdlog::error("handler for {} {} threw: {}", req.method, route, e.what());
        response = Response::Error(InternalError("handler failed"));
      } catch (...) {
        spdlog::error("handler for {} {} threw", req.method, route);
        response = Response::Error(InternalError("handler failed"));
      }
    }
    if (response.status < 100 || response.status > 599) {
      spdlog::error("handler for {} {} returned invalid status {}", req.method, route,
                    response.status);
      response = Response::Error(InternalError("invalid status"));
    }

    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    Record(route, MethodLabel(req.method), response.status, seconds);
    if (srv_->http.access_log) {
      spdlog::info("http {} {} {} {}B {:.3f}ms remote={} id={}", req.method, req.path,
                   response.status, response.body.size(), seconds * 1000, req.remote_address,
                   req.request_id);
    }
    Write(std::move(response), req.request_id, req.method == "HEAD");
  }

  void Record(std::string_view route, std::string_view method, int status, double seconds) {
    char code[8];
    int n = std::snprintf(code, sizeof(code), "%d", status);
    srv_->requests_total->WithLabels({route, method, std::string_view(code, n)}).Inc();
    srv_->request_duration->WithLabels({route}).Observe(seconds);
  }

  // `head`: answer a HEAD request: the GET reply's headers and Content-Length, without the body.
  void Write(Response response, const std::string& request_id, bool head = false) {
    res_ = {};
    res_.version(11);
    res_.result(static_cast<unsigned>(response.status));
    for (auto& [name, value] : response.headers.fields()) {
      if (name.empty() || HasControlChars(name) || HasControlChars(value) ||
          beast::iequals(name, "Content-Length") || beast::iequals(name, "Transfer-Encoding") ||
          beast::iequals(name, "Connection")) {
        continue;
      }
      res_.insert(name, value);
    }
    res_.set("X-Request-Id", request_id);
    res_.keep_alive(keep_alive_);
    if (head) {
      res_.content_length(response.body.size());
    } else {
      res_.body() = std::move(response.body);
      res_.prepare_payload();
    }
    SetDeadline(srv_->http.read_timeout);
    bhttp::async_write(stream_, res_,
                       [self = this->shared_from_this()](beast::error_code ec, size_t) {
                         self->OnWrite(ec);
                       });
  }

  void OnWrite(beast::error_code ec) {
    if (ec) return Close(false);
    if (!keep_alive_) return Close(true);
    WaitForRequest(srv_->http.idle_timeout);
  }

  // Answers a request that could not be read and closes the connection.
  void SendError(int status, std::string_view text) {
    keep_alive_ = false;
    std::string id = NewRequestId();
    Record(Router::kNoRoute, "other", status, 0);
    if (srv_->http.access_log) {
      spdlog::info("http - - {} {}B 0.000ms remote={} id={}", status, text.size(), peer_address_,
                   id);
    }
    Write(Response::Text(status, std::string(text)), id);
  }

  // Timeouts: the deadline is a plain field, moved on every phase of a request without touching
  // the timer; one timer per connection wakes up at most every min(read_timeout, idle_timeout)
  // and closes the socket once the deadline has passed. A deadline moved earlier is therefore
  // enforced up to one check interval late (a request gets at most twice read_timeout).
  void SetDeadline(SteadyClock::duration d) { deadline_ = SteadyClock::now() + d; }

  void ArmTimer() {
    auto now = SteadyClock::now();
    timer_.expires_at(std::min(deadline_, now + check_interval_));
    timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec || self->closed_) return;
      if (SteadyClock::now() >= self->deadline_) {
        self->timed_out_ = true;
        spdlog::debug("closing connection from {}: timed out", self->peer_address_);
        boost::system::error_code ignored;
        beast::get_lowest_layer(self->stream_).close(ignored);  // pending I/O completes with an error
        return;
      }
      self->ArmTimer();
    });
  }

  // Graceful: close our sending side, then drain what the client still sends for a moment, so
  // that unread input does not turn the close into a reset that destroys our last response.
  void Close(bool graceful) {
    auto& lowest = beast::get_lowest_layer(stream_);
    boost::system::error_code ignored;
    if (!graceful || timed_out_) {
      closed_ = true;
      timer_.cancel();
      lowest.close(ignored);
      return;
    }
    SetDeadline(kLingerTimeout);
    if constexpr (kTls) {
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {
        self->Close(false);
      });
    } else {
      lowest.shutdown(tcp::socket::shutdown_send, ignored);
      Drain();
    }
  }

  void Drain() {
    buffer_.consume(buffer_.size());
    stream_.async_read_some(buffer_.prepare(kFirstReadChunk),
                            [self = this->shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) return self->Close(false);
                              self->Drain();
                            });
  }

  HttpServer::Impl* srv_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bhttp::response<bhttp::string_body> res_;
  net::ip::address peer_ip_;
  std::string peer_address_;
  uint16_t peer_port_ = 0;
  bool peer_trusted_ = false;
  bool keep_alive_ = true;
  bool closed_ = false;
  bool timed_out_ = false;
  std::vector<std::string> chain_;
  Timer timer_;
  SteadyClock::duration check_interval_;
  SteadyClock::time_point deadline_;
};

}  // namespace

Status HttpServer::Impl::Bind(std::string_view listen, std::unique_ptr<tcp::acceptor>& out,
                              uint16_t* port) {
  ASSIGN_OR_RETURN(tcp::endpoint endpoint, ParseListen(listen));
  auto acceptor = std::make_unique<tcp::acceptor>(*iocs.front());
  boost::system::error_code ec;
  auto fail = [&](std::string_view) {
    return UnavailableError("listen " + std::string(listen) + ": " + LowerFirst(ec.message()));
  };
  if (acceptor->open(endpoint.protocol(), ec)) return fail("open");
  if (acceptor->set_option(net::socket_base::reuse_address(true), ec)) return fail("option");
  if (acceptor->bind(endpoint, ec)) return fail("bind");
  if (acceptor->listen(net::socket_base::max_listen_connections, ec)) return fail("listen");
  *port = acceptor->local_endpoint(ec).port();
  if (ec) return fail("local_endpoint");
  out = std::move(acceptor);
  return OkStatus();
}

void HttpServer::Impl::DoAccept(tcp::acceptor* acceptor, bool tls_listener) {
  net::io_context& target = *iocs[next_ioc.fetch_add(1, std::memory_order_relaxed) % iocs.size()];
  acceptor->async_accept(
      target, [this, acceptor, tls_listener](beast::error_code ec, Socket socket) {
        if (ec == net::error::operation_aborted) return;
        if (ec) {
          // Typically EMFILE: back off briefly instead of spinning.
          spdlog::warn("accept failed: {}", ec.message());
          auto timer = std::make_shared<net::steady_timer>(*iocs.front(),
                                                           std::chrono::milliseconds(100));
          timer->async_wait([this, acceptor, tls_listener, timer](beast::error_code e) {
            if (!e) DoAccept(acceptor, tls_listener);
          });
          return;
        }
        OnAccept(std::move(socket), tls_listener);
        DoAccept(acceptor, tls_listener);
      });
}

void HttpServer::Impl::OnAccept(Socket socket, bool tls_listener) {
  int64_t now_open = open_count.fetch_add(1, std::memory_order_relaxed) + 1;
  if (now_open > http.max_connections) {
    open_count.fetch_sub(1, std::memory_order_relaxed);
    rejected_connections->Inc();
    boost::system::error_code ec;
    if (!tls_listener) {
      socket.non_blocking(true, ec);
      socket.write_some(net::buffer(kRejectResponse.data(), kRejectResponse.size()), ec);
      socket.shutdown(tcp::socket::shutdown_send, ec);
    }
    socket.close(ec);
    return;
  }
  open_connections->Inc();
  (tls_listener ? accepted_tls : accepted_plain)->Inc();
  boost::system::error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  // Once a session exists, its destructor releases the connection slot; before that, we do.
  std::shared_ptr<Session<TlsStream>> tls_session;
  std::shared_ptr<Session<PlainStream>> plain_session;
  try {
    if (tls_listener) {
      tls_session = std::make_shared<Session<TlsStream>>(this, std::move(socket), *ssl_ctx);
    } else {
      plain_session = std::make_shared<Session<PlainStream>>(this, std::move(socket));
    }
  } catch (const std::exception& e) {
    ConnectionClosed();
    spdlog::warn("could not create a session: {}", e.what());
    return;
  }
  // Start on the connection's own I/O thread.
  if (tls_session) {
    net::post(tls_session->executor(), [tls_session] { tls_session->Start(); });
  } else {
    net::post(plain_session->executor(), [plain_session] { plain_session->Start(); });
  }
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(const HttpConfig& http,
                                                         const ServerConfig& server,
                                                         const TlsConfig& tls, Router* router,
                                                         Random* random,
                                                         metrics::Registry* registry) {
  if (router == nullptr || random == nullptr || registry == nullptr) {
    return InvalidArgumentError("HttpServer needs a router, a random source and a registry");
  }
  if (server.listen.empty() && tls.listen.empty()) {
    return FailedPreconditionError("neither server.listen nor tls.listen is set: nothing to serve");
  }
  if (http.max_connections <= 0 || http.max_header_bytes <= 0 || http.max_body_bytes < 0 ||
      http.read_timeout.count() <= 0 || http.idle_timeout.count() <= 0) {
    return InvalidArgumentError(
        "http limits must be positive (max_connections, max_header_bytes, read_timeout, "
        "idle_timeout)");
  }
  auto impl = std::make_unique<Impl>();
  impl->http = http;
  impl->server = server;
  impl->tls = tls;
  impl->router = router;
  impl->random = random;

  std::string_view proxies = http.trusted_proxies;
  while (!proxies.empty()) {
    size_t comma = proxies.find(',');
    std::string_view entry = Trim(proxies.substr(0, comma));
    proxies = comma == std::string_view::npos ? std::string_view() : proxies.substr(comma + 1);
    if (entry.empty()) continue;
    boost::system::error_code ec;
    auto a = net::ip::make_address(std::string(entry), ec);
    if (ec) {
      return InvalidArgumentError("http.trusted_proxies: \"" + std::string(entry) +
                                  "\" is not an IP address");
    }
    impl->trusted_proxies.push_back(Normalize(a));
  }

  impl->requests_total = &registry->AddCounter(
      "custos_http_requests_total", "HTTP requests answered, by route pattern, method and status.",
      {"route", "method", "code"});
  impl->request_duration = &registry->AddHistogram(
      "custos_http_request_duration_seconds",
      "Time from a complete request to its response, by route pattern.", {"route"});
  impl->open_connections =
      &registry->AddGauge("custos_http_open_connections", "Open HTTP(S) connections.").Get();
  impl->rejected_connections =
      &registry
           ->AddCounter("custos_http_rejected_connections_total",
                        "Connections closed at once because http.max_connections was reached.")
           .Get();
  auto& accepted = registry->AddCounter(
      "custos_http_connections_total",
      "Connections accepted, by listener (http or https; with https, one TLS handshake each).",
      {"listener"});
  impl->accepted_plain = &accepted.WithLabels({"http"});
  impl->accepted_tls = &accepted.WithLabels({"https"});

  if (!tls.listen.empty()) {
    if (tls.cert_file.empty() || tls.key_file.empty()) {
      return InvalidArgumentError("tls.listen is set but tls.cert_file or tls.key_file is not");
    }
    impl->ssl_ctx.emplace(ssl::context::tls_server);
    SSL_CTX* ctx = impl->ssl_ctx->native_handle();
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_TICKET);
    // Without resumption every connection carries the full client chain to the handlers. Nothing
    // resumes, so TLS 1.3 session tickets (two per handshake by default, even with
    // SSL_OP_NO_TICKET) would be work and bytes for nothing.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);
    static constexpr unsigned char kSessionContext[] = "custos";
    SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof(kSessionContext) - 1);
    if (SSL_CTX_use_certificate_chain_file(ctx, tls.cert_file.c_str()) != 1) {
      return OpenSslError("tls.cert_file " + tls.cert_file, StatusCode::kInvalidArgument);
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      return OpenSslError("tls.key_file " + tls.key_file, StatusCode::kInvalidArgument);
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      return OpenSslError("tls.key_file does not match tls.cert_file",
                          StatusCode::kInvalidArgument);
    }
    if (!tls.client_ca_file.empty()) {
      STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(tls.client_ca_file.c_str());
      if (names == nullptr) {
        return OpenSslError("tls.client_ca_file " + tls.client_ca_file,
                            StatusCode::kInvalidArgument);
      }
      SSL_CTX_set_client_CA_list(ctx, names);  // takes ownership
    }
    if (tls.request_client_cert) {
      // Ask for a certificate, accept any (or none): trust is the handlers' decision, made
      // against custos' CA and the enrollment, not OpenSSL's default store.
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
    } else {
      SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    }
  }

  int64_t threads = server.threads > 0
                        ? server.threads
                        : static_cast<int64_t>(std::thread::hardware_concurrency());
  if (threads <= 0) threads = 1;
  for (int64_t i = 0; i < threads; ++i) {
    impl->iocs.push_back(std::make_unique<net::io_context>(1));
  }
  if (!server.listen.empty()) {
    RETURN_IF_ERROR(impl->Bind(server.listen, impl->plain_acceptor, &impl->ports.http));
  }
  if (!tls.listen.empty()) {
    RETURN_IF_ERROR(impl->Bind(tls.listen, impl->tls_acceptor, &impl->ports.https));
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

Status HttpServer::Start() {
  Impl& s = *impl_;
  if (s.started || s.stopped) return FailedPreconditionError("HttpServer already started");
  s.started = true;
  if (s.plain_acceptor) s.DoAccept(s.plain_acceptor.get(), false);
  if (s.tls_acceptor) s.DoAccept(s.tls_acceptor.get(), true);
  size_t n = s.iocs.size();
  for (auto& ioc_ptr : s.iocs) {
    s.threads.emplace_back([ioc = ioc_ptr.get()] {
      // Keep running while idle: connections arrive from the acceptor's thread.
      auto guard = net::make_work_guard(*ioc);
      while (true) {
        try {
          ioc->run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("I/O thread caught: {}", e.what());
        }
      }
    });
  }
  auto where = [](const std::unique_ptr<tcp::acceptor>& a) {
    boost::system::error_code ec;
    auto ep = a->local_endpoint(ec);
    return ec ? std::string("?") : ep.address().to_string() + ":" + std::to_string(ep.port());
  };
  spdlog::info("http: serving{}{} with {} I/O threads",
               s.plain_acceptor ? " http on " + where(s.plain_acceptor) : "",
               s.tls_acceptor ? " https on " + where(s.tls_acceptor) : "", n);
  return OkStatus();
}

void HttpServer::Stop() {
  if (!impl_) return;
  Impl& s = *impl_;
  if (s.stopped) return;
  s.stopped = true;
  for (auto& ioc : s.iocs) ioc->stop();
  for (auto& t : s.threads) t.join();
  s.threads.clear();
  boost::system::error_code ec;
  if (s.plain_acceptor) s.plain_acceptor->close(ec);
  if (s.tls_acceptor) s.tls_acceptor->close(ec);
  s.plain_acceptor.reset();
  s.tls_acceptor.reset();
  // Destroying an io_context destroys its pending handlers, and with them sessions and sockets.
  // The first one goes first: its pending accepts hold sockets of the others.
  for (auto& ioc : s.iocs) ioc.reset();
  s.iocs.clear();
}

HttpServer::Ports HttpServer::ports() const { return impl_->ports; }

}  // namespace custos::http
