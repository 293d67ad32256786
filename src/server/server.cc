#include "server/server.h"

#include <signal.h>

#include <spdlog/spdlog.h>

#include "base/random.h"
#include "base/time.h"
#include "api/scep_api.h"
#include "ca/authority.h"
#include "http/ca_handlers.h"
#include "http/router.h"
#include "http/server.h"
#include "scep/http_handler.h"
#include "scep/service.h"
#include "storage/storage.h"

namespace custos {

struct Server::Parts {
  Config config;
  std::unique_ptr<Storage> storage;
  std::unique_ptr<Authority> authority;
  std::unique_ptr<scep::ScepService> scep;
  std::unique_ptr<http::Router> router;
  std::unique_ptr<http::HttpServer> http;
};

namespace {

// "host:port" with the port replaced by the bound one.
std::string WithPort(const std::string& listen, uint16_t port) {
  size_t colon = listen.rfind(':');
  return (colon == std::string::npos ? listen : listen.substr(0, colon)) + ":" + std::to_string(port);
}

}  // namespace

Server::Server(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}
Server::~Server() {
  if (parts_ && parts_->http) parts_->http->Stop();
}

StatusOr<std::unique_ptr<Server>> Server::Create(const Config& config) {
  auto parts = std::make_unique<Parts>();
  parts->config = config;
  Clock* clock = Clock::Real();
  Random* random = Random::Secure();

  // Bind first: a busy port is reported at once, before slow work (database retries, CA keys).
  parts->router = std::make_unique<http::Router>();
  auto http = http::HttpServer::Create(config.http, config.server, config.tls, parts->router.get());
  if (!http.ok()) return http.status();
  parts->http = *std::move(http);

  auto storage = Storage::Open(config.storage, clock);
  if (!storage.ok()) return storage.status().WithContext("storage");
  parts->storage = *std::move(storage);

  auto authority = LoadOrInitAuthority(config, parts->storage.get(), clock, random);
  if (!authority.ok()) return authority.status().WithContext("ca");
  parts->authority = *std::move(authority);

  auto passphrase = config.CaPassphrase();
  if (!passphrase.ok()) return passphrase.status().WithContext("ca");
  auto scep = scep::ScepService::Create(config.scep, parts->authority.get(), parts->storage.get(),
                                        clock, random, *passphrase);
  if (!scep.ok()) return scep.status().WithContext("scep");
  parts->scep = *std::move(scep);

  // Routes are registered before Start(); the router is read-only once serving.
  http::AddBuiltinRoutes(*parts->router);
  http::AddCaRoutes(*parts->router, parts->authority.get());
  scep::RegisterScepRoutes(*parts->router, parts->scep.get(), config.scep.path);
  api::AddScepApiRoutes(*parts->router, parts->scep.get(), config.api.key);
  if (config.api.key.empty()) spdlog::info("admin API disabled (no api.key)");
  return std::unique_ptr<Server>(new Server(std::move(parts)));
}

std::vector<std::string> Server::ListenUrls() const {
  std::vector<std::string> urls;
  auto ports = parts_->http->ports();
  if (ports.http != 0) urls.push_back("http://" + WithPort(parts_->config.server.listen, ports.http));
  if (ports.https != 0) urls.push_back("https://" + WithPort(parts_->config.tls.listen, ports.https));
  return urls;
}

Status Server::Run() {
  // Block the signals in every thread (the I/O threads inherit the mask), then wait for them here.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  RETURN_IF_ERROR(parts_->http->Start());
  spdlog::info("custos serving ({} storage, CA {})", parts_->storage->driver(),
               parts_->authority->ActiveIssuerRecord().subject);

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
  parts_->http->Stop();
  return OkStatus();
}

}  // namespace custos
