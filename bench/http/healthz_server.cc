// A minimal server for bench/http/run.sh: HttpServer with only AddBuiltinRoutes (GET /healthz,
// GET /metrics), until SIGINT or SIGTERM.
//
//   healthz_server HOST:PORT [THREADS=2] [ACCESS_LOG=0|1]
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

#include "base/config.h"
#include "base/logging.h"
#include "http/router.h"
#include "http/server.h"

namespace {
volatile std::sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: healthz_server HOST:PORT [THREADS] [ACCESS_LOG 0|1]\n";
    return 2;
  }
  custos::ServerConfig server;
  server.listen = argv[1];
  server.threads = argc > 2 ? std::atoll(argv[2]) : 2;
  custos::HttpConfig http;
  http.access_log = argc > 3 && std::string(argv[3]) == "1";
  custos::TlsConfig tls;

  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);

  custos::Status log = custos::InitLogging(custos::LogFormat::kText, "info");
  if (!log.ok()) {
    std::cerr << log << "\n";
    return 1;
  }
  custos::http::Router router;
  custos::http::AddBuiltinRoutes(router);
  auto created = custos::http::HttpServer::Create(http, server, tls, &router);
  if (!created.ok()) {
    std::cerr << "healthz_server: " << created.status().message() << "\n";
    return 1;
  }
  auto& s = *created;
  if (custos::Status st = s->Start(); !st.ok()) {
    std::cerr << "healthz_server: " << st.message() << "\n";
    return 1;
  }
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  s->Stop();
  return 0;
}
