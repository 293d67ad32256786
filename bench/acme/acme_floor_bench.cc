// bench/acme/acme_floor_bench: the CPU cost, on this machine with the linked OpenSSL and SQLite,
// of each operation an http-01 ACME order cannot do without. bench/acme/run.sh multiplies them by
// what one lego order needed (signed requests and TLS connections, counted from custos' /metrics)
// to print the floor of any server's CPU per order next to custos' and pebble's.
//
//   es256_verify_us            one JWS (or CSR) signature check: SHA-256 of ~600 bytes and an
//                              ECDSA P-256 verification with a kept context
//   rsa2048_sign_us            the certificate's signature by the RSA-2048 issuing key (SHA-256
//                              digest of ~900 bytes, kept context)
//   tls13_handshake_server_us  the server's half of one TLS 1.3 handshake as custos is set up in
//                              the benchmark (ECDSA P-256 certificate, default groups, no
//                              tickets): SSL_new, every SSL_do_handshake step and SSL_free. The
//                              client runs in the same thread over a BIO pair and is not timed.
//   sqlite_commit_us           one durable SQLite commit of a ~300-byte row into a table with a
//                              primary key, WAL with synchronous=NORMAL as custos opens its database
//   loopback_exchange_us       the server's side of one request/response over a kept-alive TCP
//                              loopback connection (recv 500 bytes, send 400), blocking sockets,
//                              TCP_NODELAY; the peer thread is not timed
//   http01_fetch_us            the validator's side of one http-01 fetch: connect to a loopback
//                              listener, send a GET, read the answer until the peer closes, close
//
// Everything is timed as this thread's CPU time. Nothing here is custos code: the figures are what
// the libraries ask for the work itself.
//
//   acme_floor_bench [--scale X] [--cold]   X multiplies every iteration count (default 1);
//                                           --cold prices each operation with cold caches
//                                           (cpu_timing.h)
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <thread>

#include "cpu_timing.h"
#include "fixtures.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>

namespace {

using custos_bench::EvictCaches;
using custos_bench::Listen;
using custos_bench::UseSelfSignedP256;
using custos_bench::MicrosPerOp;
using custos_bench::ThreadCpuSeconds;


[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "acme_floor_bench: %s\n", what);
  ERR_print_errors_fp(stderr);
  std::exit(1);
}


// SHA-256 of `data`, then a signature check with a context set up once.
double Es256VerifyMicros(int n) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (key == nullptr) Die("P-256 key");
  std::string data(600, 'j');
  unsigned char digest[32];
  unsigned int digest_len = 0;
  EVP_Digest(data.data(), data.size(), digest, &digest_len, EVP_sha256(), nullptr);
  EVP_PKEY_CTX* sign = EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr);
  unsigned char sig[128];
  size_t sig_len = sizeof(sig);
  if (EVP_PKEY_sign_init(sign) != 1 || EVP_PKEY_sign(sign, sig, &sig_len, digest, 32) != 1) {
    Die("ECDSA sign");
  }
  EVP_MD* sha256 = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
  EVP_PKEY_CTX* verify = EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr);
  if (EVP_PKEY_verify_init(verify) != 1 || EVP_PKEY_CTX_set_signature_md(verify, sha256) != 1) {
    Die("ECDSA verify init");
  }
  double us = MicrosPerOp(n, [&] {
    unsigned char d[32];
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), d, &len, sha256, nullptr) != 1 ||
        EVP_PKEY_verify(verify, sig, sig_len, d, len) != 1) {
      Die("ECDSA verify");
    }
  });
  EVP_PKEY_CTX_free(verify);
  EVP_PKEY_CTX_free(sign);
  EVP_MD_free(sha256);
  EVP_PKEY_free(key);
  return us;
}

double Rsa2048SignMicros(int n) {
  EVP_PKEY* key = EVP_RSA_gen(2048);
  if (key == nullptr) Die("RSA key");
  std::string tbs(900, 't');
  EVP_MD* sha256 = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr);
  if (EVP_PKEY_sign_init(ctx) != 1 || EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1 ||
      EVP_PKEY_CTX_set_signature_md(ctx, sha256) != 1) {
    Die("RSA sign init");
  }
  double us = MicrosPerOp(n, [&] {
    unsigned char d[32];
    unsigned int len = 0;
    unsigned char sig[512];
    size_t sig_len = sizeof(sig);
    if (EVP_Digest(tbs.data(), tbs.size(), d, &len, sha256, nullptr) != 1 ||
        EVP_PKEY_sign(ctx, sig, &sig_len, d, len) != 1) {
      Die("RSA sign");
    }
  });
  EVP_PKEY_CTX_free(ctx);
  EVP_MD_free(sha256);
  EVP_PKEY_free(key);
  return us;
}

double TlsHandshakeServerMicros(int n) {
  SSL_CTX* server_ctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX* client_ctx = SSL_CTX_new(TLS_client_method());
  if (server_ctx == nullptr || client_ctx == nullptr) Die("SSL_CTX");
  // As custos' listener: TLS 1.2+, no tickets (not even TLS 1.3 ones), no session cache.
  SSL_CTX_set_min_proto_version(server_ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(server_ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                      SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(server_ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(server_ctx, 0);
  UseSelfSignedP256(server_ctx);
  SSL_CTX_set_verify(client_ctx, SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_session_cache_mode(client_ctx, SSL_SESS_CACHE_OFF);

  double server_cpu = 0;
  auto one = [&] {
    double t0 = ThreadCpuSeconds();
    SSL* server = SSL_new(server_ctx);
    server_cpu += ThreadCpuSeconds() - t0;
    SSL* client = SSL_new(client_ctx);
    BIO* client_bio = nullptr;
    BIO* server_bio = nullptr;
    if (server == nullptr || client == nullptr ||
        BIO_new_bio_pair(&client_bio, 0, &server_bio, 0) != 1) {
      Die("SSL_new");
    }
    SSL_set_bio(client, client_bio, client_bio);
    SSL_set_bio(server, server_bio, server_bio);
    SSL_set_connect_state(client);
    SSL_set_accept_state(server);
    bool client_done = false;
    bool server_done = false;
    for (int round = 0; round < 20 && !(client_done && server_done); ++round) {
      if (!client_done) {
        int rc = SSL_do_handshake(client);
        client_done = rc == 1;
        if (rc <= 0 && SSL_get_error(client, rc) != SSL_ERROR_WANT_READ) Die("client handshake");
      }
      if (!server_done) {
        t0 = ThreadCpuSeconds();
        int rc = SSL_do_handshake(server);
        server_cpu += ThreadCpuSeconds() - t0;
        server_done = rc == 1;
        if (rc <= 0 && SSL_get_error(server, rc) != SSL_ERROR_WANT_READ) Die("server handshake");
      }
    }
    if (!client_done || !server_done) Die("handshake did not finish");
    SSL_free(client);
    t0 = ThreadCpuSeconds();
    SSL_free(server);
    server_cpu += ThreadCpuSeconds() - t0;
  };
  for (int i = 0; i < n / 20 + 1; ++i) one();  // warm-up
  server_cpu = 0;
  for (int i = 0; i < n; ++i) {
    EvictCaches();
    one();
  }
  SSL_CTX_free(client_ctx);
  SSL_CTX_free(server_ctx);
  return server_cpu * 1e6 / n;
}

double SqliteCommitMicros(int n) {
  custos_bench::TempWalDb temp;
  sqlite3* db = temp.db();
  sqlite3_stmt* begin = nullptr;
  sqlite3_stmt* insert = nullptr;
  sqlite3_stmt* commit = nullptr;
  sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, nullptr);
  sqlite3_prepare_v2(db, "INSERT INTO t (id, body) VALUES (?, ?)", -1, &insert, nullptr);
  sqlite3_prepare_v2(db, "COMMIT", -1, &commit, nullptr);
  if (begin == nullptr || insert == nullptr || commit == nullptr) Die("SQLite prepare");
  std::string body(300, 'r');
  long next = 0;
  double us = MicrosPerOp(n, [&] {
    char id[32];
    std::snprintf(id, sizeof(id), "row-%08ld", next++);
    sqlite3_bind_text(insert, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(insert, 2, body.data(), static_cast<int>(body.size()), SQLITE_STATIC);
    if (sqlite3_step(begin) != SQLITE_DONE || sqlite3_step(insert) != SQLITE_DONE ||
        sqlite3_step(commit) != SQLITE_DONE) {
      Die("SQLite commit");
    }
    sqlite3_reset(begin);
    sqlite3_reset(insert);
    sqlite3_reset(commit);
  });
  sqlite3_finalize(begin);
  sqlite3_finalize(insert);
  sqlite3_finalize(commit);
  return us;
}


int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) Die("connect");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

bool ReadExactly(int fd, char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = recv(fd, buf + got, n - got, 0);
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
  }
  return true;
}

double LoopbackExchangeMicros(int n) {
  int port = 0;
  int listener = Listen(&port);
  const int total = n + n / 20 + 1;
  std::thread client([&] {
    int fd = Connect(port);
    char request[500];
    char response[400];
    std::memset(request, 'q', sizeof(request));
    for (int i = 0; i < total; ++i) {
      if (send(fd, request, sizeof(request), 0) != sizeof(request) ||
          !ReadExactly(fd, response, sizeof(response))) {
        Die("client exchange");
      }
    }
    close(fd);
  });
  int fd = accept(listener, nullptr, nullptr);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  char request[500];
  char response[400];
  std::memset(response, 'a', sizeof(response));
  double cpu = 0;
  for (int i = 0; i < total; ++i) {
    EvictCaches();
    double t0 = ThreadCpuSeconds();
    if (!ReadExactly(fd, request, sizeof(request)) ||
        send(fd, response, sizeof(response), 0) != sizeof(response)) {
      Die("server exchange");
    }
    if (i >= total - n) cpu += ThreadCpuSeconds() - t0;
  }
  client.join();
  close(fd);
  close(listener);
  return cpu * 1e6 / n;
}

double Http01FetchMicros(int n) {
  int port = 0;
  int listener = Listen(&port);
  const int total = n + n / 20 + 1;
  std::thread server = custos_bench::ServeHttp01(listener, total);
  static constexpr char kGet[] =
      "GET /.well-known/acme-challenge/LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0 HTTP/1.1\r\n"
      "Host: d1.custos.test\r\nUser-Agent: custos-acme-validator\r\nAccept: */*\r\n\r\n";
  double cpu = 0;
  for (int i = 0; i < total; ++i) {
    EvictCaches();
    double t0 = ThreadCpuSeconds();
    int fd = Connect(port);
    char buf[1024];
    if (send(fd, kGet, sizeof(kGet) - 1, 0) != sizeof(kGet) - 1) Die("http-01 GET");
    while (recv(fd, buf, sizeof(buf), 0) > 0) {
    }
    close(fd);
    if (i >= total - n) cpu += ThreadCpuSeconds() - t0;
  }
  server.join();
  close(listener);
  return cpu * 1e6 / n;
}

}  // namespace

int main(int argc, char** argv) {
  double scale = custos_bench::ParseArgs(argc, argv);
  auto n = [&](int base) { return custos_bench::Iterations(base, scale); };
  std::printf("es256_verify_us: %.1f\n", Es256VerifyMicros(n(3000)));
  std::printf("rsa2048_sign_us: %.1f\n", Rsa2048SignMicros(n(600)));
  std::printf("tls13_handshake_server_us: %.1f\n", TlsHandshakeServerMicros(n(600)));
  std::printf("sqlite_commit_us: %.1f\n", SqliteCommitMicros(n(3000)));
  std::printf("loopback_exchange_us: %.1f\n", LoopbackExchangeMicros(n(5000)));
  std::printf("http01_fetch_us: %.1f\n", Http01FetchMicros(n(2000)));
  return 0;
}
