// HttpServer over real loopback sockets: an in-process server on port 0, raw POSIX clients (so a
// misbehaving server makes a test fail on a timeout instead of hanging), OpenSSL clients for TLS.
#include "http/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "base/encoding.h"
#include "base/openssl_util.h"

namespace custos::http {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct RawResponse {
  int status = 0;
  std::string head;  // status line + header fields
  std::string body;

  std::string Header(std::string_view name) const {
    size_t pos = 0;
    while (true) {
      size_t eol = head.find("\r\n", pos);
      if (eol == std::string::npos) return "";
      std::string_view line(head.data() + pos, eol - pos);
      size_t colon = line.find(':');
      if (colon != std::string_view::npos && EqualsIgnoreCase(line.substr(0, colon), name)) {
        std::string_view v = line.substr(colon + 1);
        while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
        return std::string(v);
      }
      pos = eol + 2;
    }
  }
};

// A blocking loopback client; every read waits at most the given timeout.
class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~Client() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (fd_ >= 0) close(fd_);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return connected_; }

  // Runs a TLS handshake with `ctx` (blocking, 5 s receive timeout).
  bool StartTls(SSL_CTX* ctx) {
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ssl_ = SSL_new(ctx);
    SSL_set_fd(ssl_, fd_);
    return SSL_connect(ssl_) == 1;
  }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ssl_ != nullptr ? SSL_write(ssl_, data.data(), static_cast<int>(data.size()))
                                  : send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads one response with a Content-Length body (none when `head`: a reply to HEAD). nullopt on
  // EOF, reset or timeout.
  std::optional<RawResponse> Read(std::chrono::milliseconds timeout = 5000ms, bool head = false) {
    auto deadline = Clock::now() + timeout;
    size_t head_end;
    while ((head_end = pending_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill(deadline)) return std::nullopt;
    }
    RawResponse r;
    r.head = pending_.substr(0, head_end + 2);
    if (std::sscanf(r.head.c_str(), "HTTP/1.1 %d", &r.status) != 1) return std::nullopt;
    size_t length = head ? 0 : static_cast<size_t>(std::stoul("0" + r.Header("Content-Length")));
    while (pending_.size() < head_end + 4 + length) {
      if (!Fill(deadline)) return std::nullopt;
    }
    r.body = pending_.substr(head_end + 4, length);
    pending_.erase(0, head_end + 4 + length);
    return r;
  }

  // True when the server closed the connection (EOF or reset) within `timeout`.
  bool WaitClosed(std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      int rc = ReadSome(deadline);
      if (rc <= 0 && rc != kTimeout) return true;
      if (rc == kTimeout) return false;
    }
    return false;
  }

  std::string Request(std::string_view method, std::string_view target,
                      std::string_view extra_headers = "", std::string_view body = "") {
    std::string req = std::string(method) + " " + std::string(target) +
                      " HTTP/1.1\r\nHost: localhost\r\n" + std::string(extra_headers);
    if (!body.empty() || method == "POST" || method == "PUT") {
      req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    req += "\r\n";
    req += body;
    return req;
  }

  std::optional<RawResponse> Get(std::string_view target, std::string_view extra_headers = "") {
    if (!Send(Request("GET", target, extra_headers))) return std::nullopt;
    return Read();
  }

 private:
  static constexpr int kTimeout = -2;

  // >0 bytes read, 0 EOF, -1 error, kTimeout.
  int ReadSome(Clock::time_point deadline) {
    char buf[16384];
    if (ssl_ != nullptr) {
      int n = SSL_read(ssl_, buf, sizeof(buf));
      if (n > 0) pending_.append(buf, static_cast<size_t>(n));
      return n > 0 ? n : (n == 0 ? 0 : -1);
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return kTimeout;
    pollfd p{fd_, POLLIN, 0};
    int rc = poll(&p, 1, static_cast<int>(left.count()));
    if (rc == 0) return kTimeout;
    ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n > 0) pending_.append(buf, static_cast<size_t>(n));
    return static_cast<int>(n);
  }

  bool Fill(Clock::time_point deadline) { return ReadSome(deadline) > 0; }

  int fd_ = -1;
  bool connected_ = false;
  SSL* ssl_ = nullptr;
  std::string pending_;
};

HttpConfig TestHttpConfig() {
  HttpConfig c;
  c.access_log = false;
  c.read_timeout = Duration(5);
  c.idle_timeout = Duration(5);
  return c;
}

ServerConfig TestServerConfig() {
  ServerConfig s;
  s.listen = "127.0.0.1:0";
  s.threads = 2;
  return s;
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AddBuiltinRoutes(router_, &registry_);
    router_.Add("GET", "/v1/enrollments/{id}", [](const Request& r) {
      return Response::Text(200, "id=" + std::string(r.PathParam("id")) +
                                     " q=" + std::string(r.Query("q").value_or("-")));
    });
    router_.Add("DELETE", "/v1/enrollments/{id}",
                [](const Request&) { return Response::Empty(204); });
    router_.Add("POST", "/echo", [](const Request& r) { return Response::Text(200, r.body); });
    router_.Add("GET", "/whoami", [this](const Request& r) {
      std::lock_guard lock(mu_);
      last_ = r;
      return Response::Text(200, r.remote_address + " " + std::to_string(r.remote_port) + " " +
                                     r.request_id + " " + (r.tls ? "tls" : "plain") + " " +
                                     std::to_string(r.client_cert_chain.size()));
    });
    router_.Add("GET", "/throw", [](const Request&) -> Response {
      throw std::runtime_error("boom");
    });
    router_.Add("GET", "/error", [](const Request&) {
      return Response::Error(NotFoundError("no such enrollment"));
    });
  }

  void StartServer(HttpConfig http = TestHttpConfig(), ServerConfig server = TestServerConfig(),
                   TlsConfig tls = {}) {
    auto s = HttpServer::Create(http, server, tls, &router_, Random::Secure(), &registry_);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    ASSERT_TRUE(server_->Start().ok());
    port_ = server_->ports().http;
  }

  double Metric(const std::string& series) {
    std::string text = registry_.Render();
    size_t pos = text.find("\n" + series + " ");
    if (pos == std::string::npos) return -1;
    return std::stod(text.substr(pos + series.size() + 2));
  }

  metrics::Registry registry_;
  Router router_;
  std::unique_ptr<HttpServer> server_;
  uint16_t port_ = 0;
  std::mutex mu_;
  Request last_;
};

TEST_F(ServerTest, RoutesParamsNotFoundAndMethodNotAllowed) {
  StartServer();
  ASSERT_NE(port_, 0);
  Client c(port_);
  ASSERT_TRUE(c.connected());
  auto r = c.Get("/v1/enrollments/AB%20C?q=x%2By");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "id=AB C q=x+y");
  EXPECT_EQ(r->Header("X-Request-Id").size(), 16u);

  auto nf = c.Get("/nope");
  ASSERT_TRUE(nf);
  EXPECT_EQ(nf->status, 404);

  ASSERT_TRUE(c.Send(c.Request("PUT", "/v1/enrollments/x")));
  auto na = c.Read();
  ASSERT_TRUE(na);
  EXPECT_EQ(na->status, 405);
  EXPECT_EQ(na->Header("Allow"), "GET, HEAD, DELETE");

  auto err = c.Get("/error");
  ASSERT_TRUE(err);
  EXPECT_EQ(err->status, 404);
  EXPECT_NE(err->body.find("\"error\":\"NOT_FOUND\""), std::string::npos) << err->body;

  auto health = c.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "ok");

  // HEAD: GET's headers, no body; the connection stays usable.
  ASSERT_TRUE(c.Send(c.Request("HEAD", "/healthz")));
  auto head = c.Read(5000ms, /*head=*/true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->Header("Content-Length"), "2");
  auto after = c.Get("/v1/enrollments/z");  // the next reply starts right after HEAD's headers
  ASSERT_TRUE(after);
  EXPECT_EQ(after->body, "id=z q=-");
}

TEST_F(ServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  StartServer();
  Client c(port_);
  std::string first_port;
  for (int i = 0; i < 5; ++i) {
    auto r = c.Get("/whoami");
    ASSERT_TRUE(r) << "request " << i;
    EXPECT_EQ(r->status, 200);
    std::string port = r->body.substr(r->body.find(' ') + 1);
    port = port.substr(0, port.find(' '));
    if (i == 0) first_port = port;
    EXPECT_EQ(port, first_port);  // same TCP connection
  }
  // Pipelined: two requests in one write, two responses in order.
  ASSERT_TRUE(c.Send(c.Request("GET", "/v1/enrollments/a") + c.Request("GET", "/v1/enrollments/b")));
  auto a = c.Read();
  auto b = c.Read();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->body, "id=a q=-");
  EXPECT_EQ(b->body, "id=b q=-");
  // Connection: close is honoured.
  ASSERT_TRUE(c.Send(c.Request("GET", "/healthz", "Connection: close\r\n")));
  auto last = c.Read();
  ASSERT_TRUE(last);
  EXPECT_EQ(last->status, 200);
  EXPECT_TRUE(c.WaitClosed(3000ms));
}

TEST_F(ServerTest, MalformedRequestGets400AndCloseWhileOthersAreServed) {
  StartServer();
  Client bad(port_);
  Client good(port_);
  ASSERT_TRUE(good.Get("/healthz"));  // connected and served before
  ASSERT_TRUE(bad.Send("GARBAGE LINE\r\n\r\n"));
  auto r = bad.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->Header("Connection"), "close");
  EXPECT_TRUE(bad.WaitClosed(3000ms));
  auto ok = good.Get("/healthz");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  Client fresh(port_);
  auto ok2 = fresh.Get("/healthz");
  ASSERT_TRUE(ok2);
  EXPECT_EQ(ok2->status, 200);
}

TEST_F(ServerTest, HandlerExceptionGives500AndServerKeepsServing) {
  StartServer();
  Client c(port_);
  auto r = c.Get("/throw");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(r->body.find("boom"), std::string::npos);
  auto ok = c.Get("/healthz");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST_F(ServerTest, OversizedBodyGets413) {
  HttpConfig http = TestHttpConfig();
  http.max_body_bytes = 1024;
  StartServer(http);
  Client small(port_);
  ASSERT_TRUE(small.Send(small.Request("POST", "/echo", "", std::string(1000, 'a'))));
  auto ok = small.Read();
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->body.size(), 1000u);

  Client big(port_);
  ASSERT_TRUE(big.Send(big.Request("POST", "/echo", "", std::string(5000, 'a'))));
  auto r = big.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_TRUE(big.WaitClosed(3000ms));

  // Chunked bodies are limited too.
  Client chunked(port_);
  std::string chunk(2000, 'b');
  ASSERT_TRUE(chunked.Send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "7d0\r\n" + chunk + "\r\n0\r\n\r\n"));
  auto rc = chunked.Read();
  ASSERT_TRUE(rc);
  EXPECT_EQ(rc->status, 413);
}

TEST_F(ServerTest, OversizedHeadersGet431) {
  HttpConfig http = TestHttpConfig();
  http.max_header_bytes = 1024;
  StartServer(http);
  Client c(port_);
  ASSERT_TRUE(c.Send(c.Request("GET", "/healthz", "X-Big: " + std::string(4000, 'h') + "\r\n")));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  EXPECT_TRUE(c.WaitClosed(3000ms));
}

TEST_F(ServerTest, SlowClientIsClosedAfterReadTimeout) {
  HttpConfig http = TestHttpConfig();
  http.read_timeout = Duration(1);
  StartServer(http);
  // Silent connection.
  Client silent(port_);
  // Slowloris: one header byte every 200 ms, never finishing.
  Client slow(port_);
  auto start = Clock::now();
  ASSERT_TRUE(slow.Send("GET /healthz HTTP/1.1\r\n"));
  bool closed = false;
  for (int i = 0; i < 40 && !closed; ++i) {
    if (!slow.Send("X")) {
      closed = true;
      break;
    }
    closed = slow.WaitClosed(200ms);
  }
  auto elapsed = Clock::now() - start;
  EXPECT_TRUE(closed);
  EXPECT_LT(elapsed, 3s);
  EXPECT_GE(elapsed, 900ms);
  EXPECT_TRUE(silent.WaitClosed(2000ms));
  // Everyone else is still served.
  Client c(port_);
  auto r = c.Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(ServerTest, IdleKeepAliveConnectionIsClosed) {
  HttpConfig http = TestHttpConfig();
  http.idle_timeout = Duration(1);
  StartServer(http);
  Client c(port_);
  ASSERT_TRUE(c.Get("/healthz"));
  auto start = Clock::now();
  EXPECT_TRUE(c.WaitClosed(4000ms));
  EXPECT_GE(Clock::now() - start, 800ms);
}

TEST_F(ServerTest, MaxConnectionsIsEnforced) {
  HttpConfig http = TestHttpConfig();
  http.max_connections = 2;
  StartServer(http);
  auto a = std::make_unique<Client>(port_);
  auto b = std::make_unique<Client>(port_);
  ASSERT_TRUE(a->Get("/healthz"));
  ASSERT_TRUE(b->Get("/healthz"));
  EXPECT_EQ(Metric("custos_http_open_connections"), 2);

  Client over(port_);
  ASSERT_TRUE(over.connected());  // the kernel accepts; the server closes at once
  auto r = over.Read(3000ms);
  if (r) {
    EXPECT_EQ(r->status, 503);
  }
  EXPECT_TRUE(over.WaitClosed(3000ms));
  EXPECT_EQ(Metric("custos_http_rejected_connections_total"), 1);

  a.reset();  // frees a slot
  for (int i = 0; i < 50 && Metric("custos_http_open_connections") != 1; ++i) {
    std::this_thread::sleep_for(20ms);
  }
  Client again(port_);
  auto ok = again.Get("/healthz");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST_F(ServerTest, MetricsShowRequestCounters) {
  StartServer();
  Client c(port_);
  ASSERT_TRUE(c.Get("/v1/enrollments/one"));
  ASSERT_TRUE(c.Get("/v1/enrollments/two"));
  ASSERT_TRUE(c.Get("/nope/x"));
  auto m = c.Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 200);
  EXPECT_NE(m->Header("Content-Type").find("text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(m->body.find("custos_http_requests_total{route=\"/v1/enrollments/{id}\",method=\"GET\","
                         "code=\"200\"} 2\n"),
            std::string::npos)
      << m->body;
  EXPECT_NE(m->body.find("custos_http_requests_total{route=\"unmatched\",method=\"GET\",code=\"404\"} 1"),
            std::string::npos)
      << m->body;
  // Four requests, one connection; a second connection counts once more.
  EXPECT_NE(m->body.find("custos_http_connections_total{listener=\"http\"} 1\n"), std::string::npos)
      << m->body;
  Client second(port_);
  auto m2 = second.Get("/metrics");
  ASSERT_TRUE(m2);
  EXPECT_NE(m2->body.find("custos_http_connections_total{listener=\"http\"} 2\n"), std::string::npos)
      << m2->body;
  EXPECT_NE(m->body.find("custos_http_request_duration_seconds_count{route=\"/v1/enrollments/{id}\"} 2"),
            std::string::npos)
      << m->body;
  EXPECT_NE(m->body.find("custos_http_open_connections 1"), std::string::npos) << m->body;
  EXPECT_EQ(m->body.find("/nope/x"), std::string::npos);  // raw paths never become labels
}

TEST_F(ServerTest, TrustedProxyHeaders) {
  HttpConfig http = TestHttpConfig();
  http.trusted_proxies = "127.0.0.1";
  StartServer(http);
  Client c(port_);
  auto r = c.Get("/whoami", "X-Forwarded-For: 203.0.113.9, 127.0.0.1\r\nX-Request-Id: req-42\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body.substr(0, r->body.find(' ')), "203.0.113.9");
  EXPECT_EQ(r->Header("X-Request-Id"), "req-42");
  std::lock_guard lock(mu_);
  EXPECT_EQ(last_.peer_address, "127.0.0.1");
  EXPECT_TRUE(last_.from_trusted_proxy);
}

TEST_F(ServerTest, UntrustedPeerHeadersAreIgnored) {
  StartServer();
  Client c(port_);
  auto r = c.Get("/whoami", "X-Forwarded-For: 203.0.113.9\r\nX-Request-Id: req-42\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body.substr(0, r->body.find(' ')), "127.0.0.1");
  std::string id = r->Header("X-Request-Id");
  EXPECT_EQ(id.size(), 16u);
  EXPECT_NE(id, "req-42");
  auto again = c.Get("/whoami");
  ASSERT_TRUE(again);
  EXPECT_NE(again->Header("X-Request-Id"), id);  // one ID per request
}

TEST_F(ServerTest, PortInUseIsAClearError) {
  StartServer();
  ServerConfig s = TestServerConfig();
  s.listen = "127.0.0.1:" + std::to_string(port_);
  auto second = HttpServer::Create(TestHttpConfig(), s, {}, &router_, Random::Secure(), &registry_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().message(),
            "listen 127.0.0.1:" + std::to_string(port_) + ": address already in use");
}

TEST_F(ServerTest, BadConfigurationIsRejected) {
  ServerConfig s = TestServerConfig();
  s.listen = "not-an-address:80";
  EXPECT_EQ(HttpServer::Create(TestHttpConfig(), s, {}, &router_).status().code(),
            StatusCode::kInvalidArgument);
  s.listen = "";
  EXPECT_EQ(HttpServer::Create(TestHttpConfig(), s, {}, &router_).status().code(),
            StatusCode::kFailedPrecondition);
  HttpConfig http = TestHttpConfig();
  http.trusted_proxies = "10.0.0.1, bogus";
  EXPECT_EQ(HttpServer::Create(http, TestServerConfig(), {}, &router_).status().code(),
            StatusCode::kInvalidArgument);
  TlsConfig tls;
  tls.listen = "127.0.0.1:0";
  tls.cert_file = "/nonexistent/cert.pem";
  tls.key_file = "/nonexistent/key.pem";
  EXPECT_EQ(HttpServer::Create(TestHttpConfig(), TestServerConfig(), tls, &router_).status().code(),
            StatusCode::kInvalidArgument);
}

// --- TLS ---------------------------------------------------------------------------------------

struct KeyAndCert {
  EvpPkeyPtr key;
  X509Ptr cert;
};

KeyAndCert MakeCert(std::string_view cn, const KeyAndCert* issuer, bool ca, long serial) {
  KeyAndCert out;
  out.key.reset(EVP_EC_gen("P-256"));
  out.cert.reset(X509_new());
  X509* x = out.cert.get();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(std::string(cn).c_str()), -1,
                             -1, 0);
  X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer->cert.get()) : name);
  X509_set_pubkey(x, out.key.get());
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer->cert.get() : x, x, nullptr, nullptr, 0);
  X509ExtensionPtr bc(
      X509V3_EXT_conf_nid(nullptr, &ctx, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE"));
  X509_add_ext(x, bc.get(), -1);
  if (!ca) {
    X509ExtensionPtr san(X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, "IP:127.0.0.1"));
    X509_add_ext(x, san.get(), -1);
  }
  X509_sign(x, issuer ? issuer->key.get() : out.key.get(), EVP_sha256());
  return out;
}

std::string Der(X509* cert) {
  int len = i2d_X509(cert, nullptr);
  std::string der(static_cast<size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  i2d_X509(cert, &p);
  return der;
}

class TlsServerTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    dir_ = std::filesystem::temp_directory_path() /
           ("custos_http_tls_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    server_ca_ = MakeCert("test server CA", nullptr, true, 1);
    server_leaf_ = MakeCert("127.0.0.1", &server_ca_, false, 2);
    {
      BioPtr bio(BIO_new_file((dir_ / "cert.pem").c_str(), "w"));
      PEM_write_bio_X509(bio.get(), server_leaf_.cert.get());
      PEM_write_bio_X509(bio.get(), server_ca_.cert.get());
    }
    {
      BioPtr bio(BIO_new_file((dir_ / "key.pem").c_str(), "w"));
      PEM_write_bio_PrivateKey(bio.get(), server_leaf_.key.get(), nullptr, nullptr, 0, nullptr,
                               nullptr);
    }
    client_ctx_.reset(SSL_CTX_new(TLS_client_method()));
    SSL_CTX_set_verify(client_ctx_.get(), SSL_VERIFY_NONE, nullptr);
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  void StartTls() {
    TlsConfig tls;
    tls.listen = "127.0.0.1:0";
    tls.cert_file = (dir_ / "cert.pem").string();
    tls.key_file = (dir_ / "key.pem").string();
    StartServer(TestHttpConfig(), TestServerConfig(), tls);
    tls_port_ = server_->ports().https;
    ASSERT_NE(tls_port_, 0);
  }

  std::filesystem::path dir_;
  KeyAndCert server_ca_;
  KeyAndCert server_leaf_;
  SslCtxPtr client_ctx_;
  uint16_t tls_port_ = 0;
};

TEST_F(TlsServerTest, ClientWithoutCertificateIsServedWithEmptyChain) {
  StartTls();
  Client c(tls_port_);
  ASSERT_TRUE(c.StartTls(client_ctx_.get()));
  auto r = c.Get("/whoami");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find(" tls 0"), std::string::npos) << r->body;
  // Keep-alive over TLS too.
  auto again = c.Get("/healthz");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
  // The plain listener still works and says so.
  Client plain(port_);
  auto p = plain.Get("/whoami");
  ASSERT_TRUE(p);
  EXPECT_NE(p->body.find(" plain 0"), std::string::npos) << p->body;
}

TEST_F(TlsServerTest, ClientCertificateChainReachesHandlerUnverified) {
  StartTls();
  // A client CA the server has never heard of: the handshake must still succeed.
  KeyAndCert client_ca = MakeCert("untrusted device CA", nullptr, true, 10);
  KeyAndCert device = MakeCert("device-UDID-1234", &client_ca, false, 11);
  SSL_CTX* ctx = client_ctx_.get();
  ASSERT_EQ(SSL_CTX_use_certificate(ctx, device.cert.get()), 1);
  ASSERT_EQ(SSL_CTX_use_PrivateKey(ctx, device.key.get()), 1);
  ASSERT_EQ(SSL_CTX_add1_chain_cert(ctx, client_ca.cert.get()), 1);

  Client c(tls_port_);
  ASSERT_TRUE(c.StartTls(ctx));
  auto r = c.Get("/whoami");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find(" tls 2"), std::string::npos) << r->body;
  std::lock_guard lock(mu_);
  ASSERT_EQ(last_.client_cert_chain.size(), 2u);
  EXPECT_EQ(last_.client_cert_chain[0], Der(device.cert.get()));
  EXPECT_EQ(last_.client_cert_chain[1], Der(client_ca.cert.get()));
  EXPECT_TRUE(last_.tls);
}

TEST_F(TlsServerTest, NoSessionTicketsAreSent) {
  // Sessions are never resumed (every connection must carry the client's chain), so a ticket would
  // be work for nothing: by default OpenSSL sends two after each TLS 1.3 handshake.
  StartTls();
  static std::atomic<int> tickets{0};
  tickets = 0;
  SSL_CTX* ctx = client_ctx_.get();
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, [](SSL*, SSL_SESSION*) {
    ++tickets;
    return 0;  // not kept
  });
  Client c(tls_port_);
  ASSERT_TRUE(c.StartTls(ctx));
  auto r = c.Get("/healthz");  // tickets would arrive before the answer
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  auto again = c.Get("/healthz");
  ASSERT_TRUE(again);
  EXPECT_EQ(tickets.load(), 0);
}

TEST_F(TlsServerTest, PlainTextOnTlsPortDoesNotDisturbOthers) {
  StartTls();
  Client garbage(tls_port_);
  ASSERT_TRUE(garbage.Send("GET / HTTP/1.1\r\n\r\n"));
  EXPECT_TRUE(garbage.WaitClosed(3000ms));
  Client c(tls_port_);
  ASSERT_TRUE(c.StartTls(client_ctx_.get()));
  auto r = c.Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

}  // namespace
}  // namespace custos::http
