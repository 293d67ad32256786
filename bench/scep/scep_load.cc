// bench/scep: an SCEP enrollment load generator (issue 3). N concurrent clients, each on its own
// keep-alive HTTP/1.1 connection, POST PKCSReq messages built with custos' own SCEP client code
// (scep/client.h) from RSA-2048 keys generated before the clock starts. Every message is also
// built before the clock starts, and the replies are decoded (decrypted, checked) after it stops,
// so the timed phase measures the server, not this machine's client-side RSA work.
//
// Prints enrollments per second and, with --server-pid, the server's CPU milliseconds per
// enrollment (utime + stime from /proc/PID/stat, summed over all its threads).
//
//   scep_load --url http://127.0.0.1:8080/scep --challenge SECRET --clients 16 --enrollments 320
//             [--server-pid PID] [--cipher AES-256-CBC] [--digest sha256]
// Exit status 0 when every enrollment got a certificate, 1 otherwise.
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/encoding.h"
#include "base/openssl_util.h"
#include "base/random.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "scep/client.h"

namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using custos::scep::ClientTransaction;
using custos::scep::PkiStatus;
using custos::scep::ScepClient;

struct Options {
  std::string url = "http://127.0.0.1:8080/scep";
  std::string challenge;
  int clients = 16;
  int enrollments = 320;
  int server_pid = 0;
  std::string cipher = "AES-256-CBC";
  std::string digest = "sha256";
};

struct Url {
  std::string host;
  std::string port;
  std::string path;
};

bool ParseUrl(const std::string& url, Url* out) {
  const std::string prefix = "http://";
  if (url.rfind(prefix, 0) != 0) return false;
  std::string rest = url.substr(prefix.size());
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  out->path = slash == std::string::npos ? "/" : rest.substr(slash);
  size_t colon = hostport.rfind(':');
  out->host = hostport.substr(0, colon);
  out->port = colon == std::string::npos ? "80" : hostport.substr(colon + 1);
  return out->host == "127.0.0.1" || out->host == "localhost";  // loopback only
}

// One keep-alive connection.
class Connection {
 public:
  explicit Connection(const Url& url) : url_(url), stream_(ioc_) {}

  // Returns the status code, -1 on a transport error.
  int Do(bhttp::verb verb, const std::string& target, const std::string& body, std::string* out) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      try {
        if (!connected_) {
          tcp::resolver resolver(ioc_);
          stream_.connect(resolver.resolve(url_.host, url_.port));
          connected_ = true;
        }
        bhttp::request<bhttp::string_body> req{verb, target, 11};
        req.set(bhttp::field::host, url_.host);
        req.keep_alive(true);
        if (verb == bhttp::verb::post) {
          req.set(bhttp::field::content_type, "application/x-pki-message");
          req.body() = body;
        }
        req.prepare_payload();
        bhttp::write(stream_, req);
        beast::flat_buffer buffer;
        bhttp::response_parser<bhttp::string_body> parser;
        parser.body_limit(16 * 1024 * 1024);
        bhttp::read(stream_, buffer, parser);
        auto res = parser.release();
        *out = std::move(res.body());
        if (!res.keep_alive()) Close();
        return static_cast<int>(res.result_int());
      } catch (const std::exception& e) {
        Close();
        if (attempt == 1) {
          std::cerr << "scep_load: " << e.what() << std::endl;
          return -1;
        }
      }
    }
    return -1;
  }

 private:
  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
    connected_ = false;
  }

  Url url_;
  boost::asio::io_context ioc_;
  beast::tcp_stream stream_;
  bool connected_ = false;
};

// utime + stime of `pid` in milliseconds.
double CpuMillis(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  size_t close = line.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::atoll(field.c_str());
    if (i == 15) stime = std::atoll(field.c_str());
  }
  return 1000.0 * static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--url") o.url = v;
    else if (k == "--challenge") o.challenge = v;
    else if (k == "--clients") o.clients = std::atoi(v.c_str());
    else if (k == "--enrollments") o.enrollments = std::atoi(v.c_str());
    else if (k == "--server-pid") o.server_pid = std::atoi(v.c_str());
    else if (k == "--cipher") o.cipher = v;
    else if (k == "--digest") o.digest = v;
    else {
      std::cerr << "scep_load: unknown flag " << k << std::endl;
      return 2;
    }
  }
  Url url;
  if (!ParseUrl(o.url, &url) || o.clients <= 0 || o.enrollments < o.clients) {
    std::cerr << "scep_load: need --url http://127.0.0.1:PORT/path and enrollments >= clients"
              << std::endl;
    return 2;
  }

  // Debian's scepserver encrypts its replies with single DES whatever the request used.
  if (!custos::LoadLegacyProvider().ok()) {
    std::cerr << "scep_load: OpenSSL legacy provider unavailable" << std::endl;
  }

  // The CA certificate, as every device fetches it first.
  Connection setup(url);
  std::string body;
  if (setup.Do(bhttp::verb::get, url.path + "?operation=GetCACert", "", &body) != 200) {
    std::cerr << "scep_load: GetCACert failed" << std::endl;
    return 1;
  }
  auto certs = ScepClient::ParseGetCaCert(body);
  if (!certs.ok()) {
    std::cerr << "scep_load: " << certs.status() << std::endl;
    return 1;
  }
  custos::scep::ClientOptions copts;
  copts.cipher = o.cipher;
  copts.digest = o.digest;
  auto client = ScepClient::Create(std::move(*certs), copts);
  if (!client.ok()) return 1;

  // Keys and messages, before the clock starts (in parallel: it is the slow part).
  std::vector<custos::EvpPkeyPtr> keys(o.enrollments);
  std::vector<ClientTransaction> txs(o.enrollments);
  std::atomic<int> next{0};
  std::atomic<bool> prep_ok{true};
  // Unique subjects per run: scepserver refuses a subject it has already certified.
  const std::string run_id = custos::HexEncode(custos::Random::Secure()->Bytes(4));
  std::vector<std::thread> prep;
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned t = 0; t < cores; ++t) {
    prep.emplace_back([&] {
      for (int i; (i = next++) < o.enrollments;) {
        auto key = custos::GenerateKey(custos::KeyAlgorithm::kRsa, 2048);
        if (!key.ok()) { prep_ok = false; return; }
        keys[i] = std::move(*key);
        custos::CsrTemplate t;
        t.subject = {{"CN", "bench-" + run_id + "-" + std::to_string(i)}};
        t.challenge_password = o.challenge;
        auto csr = custos::BuildCsrDer(t, keys[i].get());
        if (!csr.ok()) { prep_ok = false; return; }
        auto tx = (*client)->PkcsReq(keys[i].get(), *csr);
        if (!tx.ok()) { prep_ok = false; return; }
        txs[i] = std::move(*tx);
      }
    });
  }
  for (auto& t : prep) t.join();
  if (!prep_ok) {
    std::cerr << "scep_load: preparing requests failed" << std::endl;
    return 1;
  }

  // The timed phase.
  std::vector<std::string> replies(o.enrollments);
  std::vector<int> codes(o.enrollments, 0);
  next = 0;
  double cpu_before = o.server_pid > 0 ? CpuMillis(o.server_pid) : 0;
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (int c = 0; c < o.clients; ++c) {
    workers.emplace_back([&] {
      Connection conn(url);
      for (int i; (i = next++) < o.enrollments;) {
        codes[i] = conn.Do(bhttp::verb::post, url.path + "?operation=PKIOperation",
                           txs[i].message, &replies[i]);
      }
    });
  }
  for (auto& t : workers) t.join();
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double cpu_after = o.server_pid > 0 ? CpuMillis(o.server_pid) : 0;

  // Checking the answers, after the clock stopped.
  int issued = 0;
  for (int i = 0; i < o.enrollments; ++i) {
    if (codes[i] != 200) continue;
    auto rep = (*client)->ReadReply(txs[i], replies[i]);
    if (rep.ok() && rep->status == PkiStatus::kSuccess && !rep->certificates.empty()) {
      ++issued;
    } else if (issued == i) {  // report the first problem only
      std::cerr << "scep_load: enrollment " << i << ": "
                << (rep.ok() ? "pkiStatus " + custos::scep::PkiStatusName(rep->status)
                             : rep.status().ToString())
                << std::endl;
    }
  }
  std::printf("enrollments: %d\nissued: %d\nclients: %d\nseconds: %.3f\n", o.enrollments, issued,
              o.clients, seconds);
  std::printf("enrollments_per_second: %.1f\n", issued / seconds);
  if (o.server_pid > 0 && issued > 0) {
    std::printf("server_cpu_ms_per_enrollment: %.3f\n", (cpu_after - cpu_before) / issued);
  }
  return issued == o.enrollments ? 0 : 1;
}
