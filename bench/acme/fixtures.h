// bench/acme/fixtures.h: what acme_floor_bench and acme_stack_bench both set up: a loopback
// listener, the lego side of http-01 (each connection gets the key authorization once, then is
// closed), the servers' TLS certificate, and a throw-away SQLite database as custos opens its own.
// Each exits the process with a message when the setup fails.
#ifndef CUSTOS_BENCH_ACME_FIXTURES_H_
#define CUSTOS_BENCH_ACME_FIXTURES_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

namespace custos_bench {

[[noreturn]] inline void SetupFailed(const char* what) {
  std::fprintf(stderr, "bench: setting up %s failed\n", what);
  std::exit(1);
}

// A self-signed ECDSA P-256 certificate for `ctx`, as bench/acme/run.sh makes for both servers.
inline void UseSelfSignedP256(SSL_CTX* ctx) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  if (key == nullptr || cert == nullptr) SetupFailed("the TLS certificate");
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_set_pubkey(cert, key);
  if (X509_sign(cert, key, EVP_sha256()) <= 0 || SSL_CTX_use_certificate(ctx, cert) != 1 ||
      SSL_CTX_use_PrivateKey(ctx, key) != 1) {
    SetupFailed("the TLS certificate");
  }
  X509_free(cert);
  EVP_PKEY_free(key);
}

// A SQLite database in a fresh folder under /tmp, WAL with synchronous=NORMAL as custos opens
// its own, with one table t (id TEXT PRIMARY KEY, body BLOB NOT NULL). Removed on destruction.
class TempWalDb {
 public:
  TempWalDb() {
    if (mkdtemp(dir_) == nullptr) SetupFailed("a temporary folder");
    path_ = std::string(dir_) + "/bench.db";
    if (sqlite3_open(path_.c_str(), &db_) != SQLITE_OK ||
        sqlite3_exec(db_,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                     "CREATE TABLE t (id TEXT PRIMARY KEY, body BLOB NOT NULL)",
                     nullptr, nullptr, nullptr) != SQLITE_OK) {
      SetupFailed("the SQLite database");
    }
  }
  ~TempWalDb() {
    sqlite3_close(db_);
    for (const char* suffix : {"", "-wal", "-shm"}) unlink((path_ + suffix).c_str());
    rmdir(dir_);
  }
  TempWalDb(const TempWalDb&) = delete;
  TempWalDb& operator=(const TempWalDb&) = delete;

  sqlite3* db() const { return db_; }

 private:
  char dir_[32] = "/tmp/custos-acme-bench.XXXXXX";
  std::string path_;
  sqlite3* db_ = nullptr;
};

// The body every http-01 answer carries: token "." thumbprint.
inline constexpr size_t kKeyAuthorizationSize = 87;

// A listening TCP socket on 127.0.0.1 (any port); returns its fd and sets *port. Exits on failure.
inline int Listen(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(fd, 64) != 0 || getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    SetupFailed("a listener on 127.0.0.1");
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

// Answers `count` http-01 fetches on `listener`, one connection each, on a thread of its own.
inline std::thread ServeHttp01(int listener, int count) {
  return std::thread([listener, count] {
    static constexpr char kAnswer[] =
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 87\r\n"
        "Connection: close\r\n\r\n"
        "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";
    static_assert(sizeof(kAnswer) - 1 > kKeyAuthorizationSize);
    char buf[1024];
    for (int i = 0; i < count; ++i) {
      int fd = accept(listener, nullptr, nullptr);
      if (fd < 0 || recv(fd, buf, sizeof(buf), 0) <= 0) {
        std::fprintf(stderr, "bench: the http-01 peer failed\n");
        std::exit(1);
      }
      send(fd, kAnswer, sizeof(kAnswer) - 1, 0);
      close(fd);
    }
  });
}

}  // namespace custos_bench

#endif  // CUSTOS_BENCH_ACME_FIXTURES_H_
