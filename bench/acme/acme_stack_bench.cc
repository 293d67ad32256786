// bench/acme/acme_stack_bench: what the libraries custos is built on (DESIGN.md's table) ask for
// each ACME request when used as lightly as they allow. acme_floor_bench prices the work no server
// can avoid (signatures, handshakes, kernel round trips, commits); this adds, per request, what
// any server built on these libraries pays on top. bench/acme/run.sh adds both up, with the request
// counts of the lego orders, into a "stack floor" next to custos' and pebble's CPU per order.
//
//   tls_records_server_us  the server's TLS 1.3 record work for one exchange on an established
//                          connection (OpenSSL 3.0, AES-GCM): SSL_read of a 700-byte request and
//                          SSL_write of a 600-byte answer, over a BIO pair
//   beast_http_us          Boost.Beast: parse a lego-like POST (headers, 700-byte body) and
//                          serialize a 600-byte answer with six headers
//   json_jws_us            nlohmann::json: parse a flattened JWS and its protected header, and
//                          dump a 400-byte answer object
//   sqlite_read_tx_us      SQLite: one read transaction (BEGIN, a SELECT by primary key of a
//                          300-byte row, COMMIT) on a WAL database with a warm cache
//   curl_http01_fetch_us   libcurl: the validator's side of one http-01 fetch with a kept easy
//                          handle and a fresh connection, as custos fetches (acme_floor_bench's
//                          http01_fetch_us is the same fetch on a bare socket)
//
// Everything is timed as this thread's CPU time; nothing of custos' own code runs.
//
//   acme_stack_bench [--scale X] [--cold]   X multiplies every iteration count (default 1);
//                                           --cold prices each operation with cold caches
//                                           (cpu_timing.h)
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sqlite3.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "cpu_timing.h"
#include "fixtures.h"

namespace {

namespace http = boost::beast::http;
using custos_bench::EvictCaches;
using custos_bench::MicrosPerOp;
using custos_bench::ThreadCpuSeconds;

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "acme_stack_bench: %s failed\n", what);
  std::exit(1);
}

// A lego-like protected header (kid form).
constexpr char kHeaderText[] =
    R"({"alg":"ES256","kid":"https://127.0.0.1:8443/acme/account/Jp0cS2c7tW1kXw3QmH9rLg",)"
    R"("nonce":"q2xV0o6fQGmQ3f1l8m6sWJ3bHq0xYcKp",)"
    R"("url":"https://127.0.0.1:8443/acme/order/9Ydp0kqkzQ4mK2c7v1b3nA/finalize"})";

// A lego-like JWS body, ~700 bytes: the protected member as long as kHeaderText in base64url
// (shape only: the header text itself is parsed separately), a payload and an ES256 signature.
std::string JwsBody() {
  std::string b64((sizeof(kHeaderText) - 1) * 4 / 3 + 4, 'e');
  nlohmann::json outer{{"protected", b64},
                       {"payload", std::string(300, 'p')},
                       {"signature", std::string(86, 's')}};
  return outer.dump();
}

double TlsRecordsMicros(int n) {
  SSL_CTX* server_ctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX* client_ctx = SSL_CTX_new(TLS_client_method());
  if (server_ctx == nullptr || client_ctx == nullptr) Die("SSL_CTX");
  custos_bench::UseSelfSignedP256(server_ctx);
  SSL_CTX_set_num_tickets(server_ctx, 0);
  SSL_CTX_set_verify(client_ctx, SSL_VERIFY_NONE, nullptr);
  SSL* server = SSL_new(server_ctx);
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
    if (!client_done) client_done = SSL_do_handshake(client) == 1;
    if (!server_done) server_done = SSL_do_handshake(server) == 1;
  }
  if (!client_done || !server_done) Die("handshake");
  std::string request(700, 'q');
  std::string answer(600, 'a');
  char buf[2048];
  double server_cpu = 0;
  const int total = n + n / 20 + 1;
  for (int i = 0; i < total; ++i) {
    if (SSL_write(client, request.data(), static_cast<int>(request.size())) <= 0) Die("client write");
    EvictCaches();
    double t0 = ThreadCpuSeconds();
    int got = 0;
    while (got < static_cast<int>(request.size())) {
      int r = SSL_read(server, buf, sizeof(buf));
      if (r <= 0) Die("server read");
      got += r;
    }
    if (SSL_write(server, answer.data(), static_cast<int>(answer.size())) <= 0) Die("server write");
    if (i >= total - n) server_cpu += ThreadCpuSeconds() - t0;
    got = 0;
    while (got < static_cast<int>(answer.size())) {
      int r = SSL_read(client, buf, sizeof(buf));
      if (r <= 0) Die("client read");
      got += r;
    }
  }
  SSL_free(client);
  SSL_free(server);
  SSL_CTX_free(client_ctx);
  SSL_CTX_free(server_ctx);
  return server_cpu * 1e6 / n;
}

double BeastHttpMicros(int n) {
  std::string body(700, 'b');
  std::string raw =
      "POST /acme/order/9Ydp0kqkzQ4mK2c7v1b3nA/finalize HTTP/1.1\r\nHost: 127.0.0.1:8443\r\n"
      "User-Agent: xenolf-acme/4.10.2 (release; linux; amd64)\r\nContent-Length: " +
      std::to_string(body.size()) +
      "\r\nContent-Type: application/jose+json\r\nAccept-Encoding: gzip\r\n\r\n" + body;
  std::string out;
  size_t sink = 0;
  double us = MicrosPerOp(n, [&] {
    http::request_parser<http::string_body> parser;
    parser.eager(true);
    boost::beast::error_code ec;
    size_t used = parser.put(boost::asio::buffer(raw), ec);
    if (ec || used != raw.size() || !parser.is_done()) Die("beast parse");
    http::request<http::string_body> req = parser.release();
    sink += req.body().size() + req.target().size();

    http::response<http::string_body> res{http::status::ok, 11};
    res.set(http::field::content_type, "application/json");
    res.set("Replay-Nonce", "q2xV0o6fQGmQ3f1l8m6sWJ3bHq0xYcKp");
    res.set(http::field::link, "<https://127.0.0.1:8443/acme/directory>;rel=\"index\"");
    res.set(http::field::location, "https://127.0.0.1:8443/acme/order/9Ydp0kqkzQ4mK2c7v1b3nA");
    res.set(http::field::cache_control, "no-store");
    res.body() = std::string(600, 'r');
    res.prepare_payload();
    http::serializer<false, http::string_body> sr{res};
    out.clear();
    do {
      sr.next(ec, [&](boost::beast::error_code& e, const auto& buffers) {
        e = {};
        for (auto b : boost::beast::buffers_range_ref(buffers)) {
          out.append(static_cast<const char*>(b.data()), b.size());
        }
        sr.consume(boost::beast::buffer_bytes(buffers));
      });
    } while (!ec && !sr.is_done());
    if (ec) Die("beast serialize");
    sink += out.size();
  });
  if (sink == 0) Die("beast");
  return us;
}

double JsonJwsMicros(int n) {
  std::string body = JwsBody();
  size_t sink = 0;
  double us = MicrosPerOp(n, [&] {
    nlohmann::json outer = nlohmann::json::parse(body, nullptr, false);
    nlohmann::json header = nlohmann::json::parse(kHeaderText, nullptr, false);
    if (!outer.is_object() || !header.is_object()) Die("JSON parse");
    sink += outer["payload"].get_ref<const std::string&>().size();
    sink += header["url"].get_ref<const std::string&>().size();
    nlohmann::json answer{
        {"status", "valid"},
        {"expires", "2026-11-30T07:00:00Z"},
        {"identifiers", {{{"type", "dns"}, {"value", "d1.custos.test"}}}},
        {"authorizations", {"https://127.0.0.1:8443/acme/authz/Jp0cS2c7tW1kXw3QmH9rLg"}},
        {"finalize", "https://127.0.0.1:8443/acme/order/9Ydp0kqkzQ4mK2c7v1b3nA/finalize"},
        {"certificate", "https://127.0.0.1:8443/acme/cert/9Ydp0kqkzQ4mK2c7v1b3nA"}};
    sink += answer.dump().size();
  });
  if (sink == 0) Die("JSON");
  return us;
}

double SqliteReadTxMicros(int n) {
  custos_bench::TempWalDb temp;
  sqlite3* db = temp.db();
  sqlite3_stmt* insert = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO t (id, body) VALUES (?, ?)", -1, &insert, nullptr);
  if (insert == nullptr) Die("SQLite prepare");
  std::string row(300, 'r');
  sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
  for (int i = 0; i < 1000; ++i) {
    std::string id = "row-" + std::to_string(i);
    sqlite3_bind_text(insert, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(insert, 2, row.data(), static_cast<int>(row.size()), SQLITE_STATIC);
    if (sqlite3_step(insert) != SQLITE_DONE) Die("SQLite insert");
    sqlite3_reset(insert);
  }
  sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  sqlite3_stmt* begin = nullptr;
  sqlite3_stmt* select = nullptr;
  sqlite3_stmt* commit = nullptr;
  sqlite3_prepare_v2(db, "BEGIN", -1, &begin, nullptr);
  sqlite3_prepare_v2(db, "SELECT body FROM t WHERE id = ?", -1, &select, nullptr);
  sqlite3_prepare_v2(db, "COMMIT", -1, &commit, nullptr);
  if (begin == nullptr || select == nullptr || commit == nullptr) Die("SQLite prepare");
  long next = 0;
  size_t sink = 0;
  double us = MicrosPerOp(n, [&] {
    std::string id = "row-" + std::to_string(next++ % 1000);
    sqlite3_bind_text(select, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(begin) != SQLITE_DONE || sqlite3_step(select) != SQLITE_ROW) Die("SQLite read");
    sink += static_cast<size_t>(sqlite3_column_bytes(select, 0));
    if (sqlite3_step(select) != SQLITE_DONE || sqlite3_step(commit) != SQLITE_DONE) Die("SQLite end");
    sqlite3_reset(begin);
    sqlite3_reset(select);
    sqlite3_reset(commit);
  });
  sqlite3_finalize(insert);
  sqlite3_finalize(begin);
  sqlite3_finalize(select);
  sqlite3_finalize(commit);
  if (sink == 0) Die("SQLite");
  return us;
}

size_t Collect(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

double CurlFetchMicros(int n) {
  int port = 0;
  int listener = custos_bench::Listen(&port);
  const int total = n + n / 20 + 1;
  std::thread server = custos_bench::ServeHttp01(listener, total);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURL* curl = curl_easy_init();
  if (curl == nullptr) Die("curl_easy_init");
  std::string target = "d1.custos.test:80:127.0.0.1:" + std::to_string(port);
  curl_slist* connect_to = curl_slist_append(nullptr, target.c_str());
  const std::string url =
      "http://d1.custos.test/.well-known/acme-challenge/LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
  std::string body;
  double cpu = 0;
  for (int i = 0; i < total; ++i) {
    EvictCaches();
    double t0 = ThreadCpuSeconds();
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_CONNECT_TO, connect_to);
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
    curl_easy_setopt(curl, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
    body.clear();
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    if (curl_easy_perform(curl) != CURLE_OK || body.size() != custos_bench::kKeyAuthorizationSize) {
      Die("curl fetch");
    }
    if (i >= total - n) cpu += ThreadCpuSeconds() - t0;
  }
  server.join();
  curl_slist_free_all(connect_to);
  curl_easy_cleanup(curl);
  close(listener);
  return cpu * 1e6 / n;
}

}  // namespace

int main(int argc, char** argv) {
  double scale = custos_bench::ParseArgs(argc, argv);
  auto n = [&](int base) { return custos_bench::Iterations(base, scale); };
  std::printf("tls_records_server_us: %.1f\n", TlsRecordsMicros(n(20000)));
  std::printf("beast_http_us: %.1f\n", BeastHttpMicros(n(20000)));
  std::printf("json_jws_us: %.1f\n", JsonJwsMicros(n(20000)));
  std::printf("sqlite_read_tx_us: %.1f\n", SqliteReadTxMicros(n(20000)));
  std::printf("curl_http01_fetch_us: %.1f\n", CurlFetchMicros(n(2000)));
  return 0;
}
