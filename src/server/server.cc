#include "server/server.h"

#include <signal.h>

#include <spdlog/spdlog.h>

#include "base/random.h"
#include "base/time.h"
#include "acme/http_handlers.h"
#include "acme/service.h"
#include "api/dep_api.h"
#include "dep/machine_info.h"
#include "dep/maid_token_service.h"
#include "dep/service.h"
#include "dep/syncer.h"
#include "api/scep_api.h"
#include "api/mdm_api.h"
#include "api/openapi.h"
#include "api/push_api.h"
#include "push/service.h"
#include "webhook/webhook.h"
#include "ca/authority.h"
#include "http/ca_handlers.h"
#include "http/router.h"
#include "http/server.h"
#include "mdm/device_auth.h"
#include "mdm/http_handler.h"
#include "mdm/profile.h"
#include "mdm/service.h"
#include "mdm/profile_handler.h"
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
  // Enrollment profile (GET /mdm/enroll).
  std::unique_ptr<mdm::ScepChallengeSource> enroll_challenges;
  std::unique_ptr<mdm::ProfileService> profiles;
  std::unique_ptr<dep::MachineInfoVerifier> machine_info;  // POST /mdm/enroll (ABM enrollment)
  std::unique_ptr<mdm::FunctionMachineInfoAuthenticator> machine_info_auth;
  // APNs push (push certificates in storage) and the webhook sender (null without [webhook] url),
  // declared before the MDM service and the DEP syncers that use them, so they outlive both.
  std::unique_ptr<push::PushService> push;
  std::unique_ptr<webhook::WebhookSink> webhook;
  // Every MDM/DEP/policy event goes through here to the webhook sender and the other listeners.
  mdm::FanOutEventSink events;
  // MDM check-in and commands (issue 4): /mdm/checkin, /mdm/connect, /mdm. Push and webhooks are
  // attached with mdm->SetPushTrigger / SetEventSink.
  std::unique_ptr<mdm::DeviceAuthenticator> device_auth;
  std::unique_ptr<mdm::MdmService> mdm;
  std::unique_ptr<mdm::MdmHttpHandler> mdm_http;
  // ACME (issue 5): the ACME server under /acme/ and the ClientIdentifiers of ACME profiles.
  std::unique_ptr<acme::AcmeService> acme;
  std::unique_ptr<mdm::FunctionClientIdentifierSource> acme_client_identifiers;
  // Apple Business Manager (issue 6): DEP names, and one syncer thread per name with tokens
  // (declared last: the syncers stop before anything they use is destroyed).
  std::unique_ptr<dep::DepService> dep;
  std::unique_ptr<dep::SyncManager> dep_sync;
};

namespace {

// "host:port" with the port replaced by the bound one.
std::string WithPort(const std::string& listen, uint16_t port) {
  size_t colon = listen.rfind(':');
  return (colon == std::string::npos ? listen : listen.substr(0, colon)) + ":" + std::to_string(port);
}

// `url` ("http://127.0.0.1:0/x") with an explicit port 0 replaced by the port bound for its
// scheme, so that a server started on port 0 (tests) hands devices URLs that work.
std::string WithBoundPort(const std::string& url, const http::HttpServer::Ports& ports) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return url;
  size_t host_start = scheme_end + 3;
  size_t path_start = url.find('/', host_start);
  std::string authority = url.substr(host_start, path_start == std::string::npos ? std::string::npos
                                                                                 : path_start - host_start);
  size_t colon = authority.rfind(':');
  if (colon == std::string::npos || authority.substr(colon + 1) != "0") return url;
  uint16_t port = url.rfind("https://", 0) == 0 ? ports.https : ports.http;
  if (port == 0) return url;
  return url.substr(0, host_start) + authority.substr(0, colon + 1) + std::to_string(port) +
         (path_start == std::string::npos ? "" : url.substr(path_start));
}

// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread (and so in every thread it starts
// afterwards); returns that set for sigtimedwait.
sigset_t BlockServerSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

// How often Run() looks for CA changes made by another process.
constexpr time_t kCaPollSeconds = 30;

// The CA certificates' ids and active flags: changes when a rollover happened anywhere.
StatusOr<std::string> CaFingerprint(Storage& storage) {
  std::string fingerprint;
  RETURN_IF_ERROR(storage.Transact(
      [&](Stores& s) -> Status {
        ASSIGN_OR_RETURN(auto certs, s.ca().ListCerts());
        fingerprint.clear();
        for (const CaCertRecord& c : certs) {
          fingerprint += std::to_string(c.id) + (c.active ? "a," : ",");
        }
        return OkStatus();
      },
      TxMode::kReadOnly));
  return fingerprint;
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
  // The public base URL derived from a listener on port 0 names the port actually bound.
  parts->config.server.url = WithBoundPort(parts->config.server.url, parts->http->ports());

  auto storage = Storage::Open(config.storage, clock);
  if (!storage.ok()) return storage.status().WithContext("storage");
  parts->storage = *std::move(storage);

  auto authority = LoadOrInitAuthority(config, parts->storage.get(), clock, random);
  if (!authority.ok()) return authority.status().WithContext("ca");
  parts->authority = *std::move(authority);

  // From here on services start worker threads (push, webhooks, ABM sync), which inherit this
  // thread's signal mask: block the signals Run() waits for, so that none of those threads takes
  // the default action (termination) for a SIGTERM meant for an orderly shutdown. The slow steps
  // above (database retries) stay interruptible.
  BlockServerSignals();

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

  // ACME (issue 5): RFC 8555 under /acme/ with http-01 and device-attest-01, URLs under the
  // public base URL (with the bound port when listening on port 0), and the admin route
  // POST /v1/acme/client-identifiers. Extra attestation roots come only from [acme] config.
  {
    acme::AcmeService::Options acme_options;
    acme_options.base_url = parts->config.server.url;
    acme_options.nonce_lifetime = config.acme.nonce_lifetime;
    acme_options.order_lifetime = config.acme.order_lifetime;
    acme_options.cert_validity = config.acme.cert_validity;
    acme_options.client_identifier_ttl = config.acme.client_identifier_ttl;
    acme_options.http01_target = config.acme.http01_target;
    auto roots = acme::ReadPemFiles(config.acme.extra_attestation_roots);
    if (!roots.ok()) return roots.status().WithContext("acme");
    acme_options.extra_attestation_roots_pem = *std::move(roots);
    auto acme_service = acme::AcmeService::Create(acme_options, parts->authority.get(),
                                                  parts->storage.get(), clock, random);
    if (!acme_service.ok()) return acme_service.status().WithContext("acme");
    parts->acme = *std::move(acme_service);
    acme::RegisterAcmeRoutes(*parts->router, parts->acme.get());
    acme::AddAcmeApiRoutes(*parts->router, parts->acme.get(), config.api.key);
    parts->acme_client_identifiers = std::make_unique<mdm::FunctionClientIdentifierSource>(
        [service = parts->acme.get()](std::string_view bound_to) {
          return service->NewClientIdentifier(bound_to);
        });
  }

  // APNs push and webhooks (issue 4): the push service wakes enrollments with the push certificate
  // of their topic ([push] section; certificates installed with `custos push-cert install` or
  // PUT /v1/pushcert, keys encrypted with the CA passphrase); webhooks POST MicroMDM-style events
  // to [webhook] url. Both are attached to the MDM service below.
  {
    push::PushServiceOptions push_options;
    push_options.passphrase = *passphrase;
    push_options.clock = clock;
    auto push_service = push::PushService::CreateWithApns(
        parts->storage.get(), push::ApnsOptions::FromConfig(config.push), push_options);
    if (!push_service.ok()) return push_service.status().WithContext("push");
    parts->push = *std::move(push_service);
    if (!config.webhook.url.empty()) {
      auto sink = webhook::WebhookSink::Create(webhook::WebhookOptions::FromConfig(config.webhook));
      if (!sink.ok()) return sink.status().WithContext("webhook");
      parts->webhook = *std::move(sink);
      spdlog::info("webhook: MDM events are POSTed to {}", config.webhook.url);
    }
  }

  // MDM check-in and command endpoints (issue 4): every request authenticated by its identity
  // certificate (DeviceAuthenticator), then the MdmService over the durable queue.
  {
    mdm::DeviceAuthOptions auth_options;
    auth_options.allow_tls_client_cert = config.mdm.allow_tls_client_cert;
    auth_options.allow_proxy_header = config.mdm.allow_proxy_header;
    auth_options.allow_mdm_signature = config.mdm.allow_mdm_signature;
    auth_options.proxy_header = config.mdm.proxy_cert_header;
    parts->device_auth =
        std::make_unique<mdm::DeviceAuthenticator>(auth_options, parts->authority.get(), clock);
    mdm::MdmServiceOptions mdm_options;
    mdm_options.user_authenticate_digest_challenge =
        config.mdm.user_authenticate == "digest-challenge";
    mdm_options.command_expiry = config.mdm.command_expiry;
    auto key = mdm::LoadOrCreateBootstrapTokenKey(config.mdm.bootstrap_token_key_file, random);
    if (!key.ok()) return key.status().WithContext("mdm");
    mdm_options.bootstrap_token_key = *std::move(key);
    auto mdm_service =
        mdm::MdmService::Create(mdm_options, parts->storage.get(), clock, random);
    if (!mdm_service.ok()) return mdm_service.status().WithContext("mdm");
    parts->mdm = *std::move(mdm_service);
    if (!config.mdm.declarative_management_url.empty()) {
      parts->mdm->SetDeclarativeManagement(mdm::NewHttpDeclarativeManagementForwarder(
          config.mdm.declarative_management_url, config.mdm.declarative_management_timeout));
    }
    parts->mdm_http = std::make_unique<mdm::MdmHttpHandler>(
        parts->mdm.get(), mdm::IdentifyWith(parts->device_auth.get()),
        static_cast<size_t>(config.http.max_body_bytes));
    mdm::RegisterMdmRoutes(*parts->router, parts->mdm_http.get());
    // Push and webhooks (see above), and the MDM + push admin API with NanoMDM's endpoints.
    parts->mdm->SetPushTrigger(parts->push.get());
    parts->events.Add(parts->webhook.get());
    parts->mdm->SetEventSink(&parts->events);  // more listeners may be added below
    api::AddMdmApiRoutes(*parts->router, parts->mdm.get(), parts->push.get(), config.api.key);
    api::AddPushApiRoutes(*parts->router, parts->push.get(), config.api.key);
  }

  // Enrollment profile (issue 4, issue 5): GET /mdm/enroll with a one-time SCEP challenge or ACME
  // ClientIdentifier per download; POST /mdm/enroll for ABM devices with a signed MachineInfo
  // (issue 6), verified to Apple's root (or [dep] device_ca_file).
  parts->enroll_challenges = std::make_unique<mdm::ScepChallengeSource>(parts->scep.get());
  mdm::ProfileService::Deps enroll_deps;
  enroll_deps.ca = parts->authority.get();
  enroll_deps.storage = parts->storage.get();
  enroll_deps.clock = clock;
  enroll_deps.random = random;
  enroll_deps.challenges = parts->enroll_challenges.get();
  enroll_deps.client_identifiers = parts->acme_client_identifiers.get();  // ACME (issue 5)
  auto profiles = mdm::ProfileService::Create(parts->config, parts->config.server.url, enroll_deps);
  if (!profiles.ok()) return profiles.status();
  parts->profiles = *std::move(profiles);
  auto machine_info = dep::MachineInfoVerifier::Create(config.dep, parts->storage.get());
  if (!machine_info.ok()) return machine_info.status().WithContext("dep");
  parts->machine_info = *std::move(machine_info);
  parts->machine_info_auth = std::make_unique<mdm::FunctionMachineInfoAuthenticator>(
      [verifier = parts->machine_info.get()](std::string_view body) -> StatusOr<mdm::EnrollingDevice> {
        ASSIGN_OR_RETURN(dep::MachineInfo info, verifier->Verify(body));
        return mdm::EnrollingDevice{info.udid, info.serial};
      });
  mdm::RegisterProfileRoutes(*parts->router, parts->profiles.get(), parts->machine_info_auth.get());

  // Apple Business Manager / DEP (issue 6): admin API under /v1/dep (token PKI with staging,
  // tokens, MAID JWT, sync, devices, ABM proxy), GetToken com.apple.maid on the MDM service, and
  // the periodic device sync ([dep] sync_interval; 0 disables). dep.* events go to the webhook
  // sender when [webhook] url is set.
  {
    auto dep_service = dep::DepService::Create(config.dep, parts->storage.get(), clock, random,
                                               *passphrase);
    if (!dep_service.ok()) return dep_service.status().WithContext("dep");
    parts->dep = *std::move(dep_service);
    api::AddDepApiRoutes(*parts->router, parts->dep.get(), parts->webhook.get(), config.api.key);
    if (parts->mdm) {
      parts->mdm->RegisterTokenService("com.apple.maid",
                                       std::make_shared<dep::MaidTokenService>(parts->dep.get()));
    }
    parts->dep->CheckTokenExpiry();
    parts->dep_sync = std::make_unique<dep::SyncManager>(parts->dep.get(), parts->webhook.get(),
                                                         config.dep.sync_interval);
    parts->dep_sync->Start();
  }
  // GET /v1/openapi.json: describes every /v1 route registered above.
  api::AddOpenApiRoute(*parts->router, config.api.key);
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

std::string Server::PublicUrl() const { return parts_->config.server.url; }

Status Server::Run() {
  // The signals are blocked in every thread (Create blocked them before starting any; the I/O
  // threads inherit the mask) and waited for here.
  sigset_t signals = BlockServerSignals();

  RETURN_IF_ERROR(parts_->http->Start());
  spdlog::info("custos serving ({} storage, CA {})", parts_->storage->driver(),
               parts_->authority->ActiveIssuerRecord().subject);

  // Until SIGINT/SIGTERM: reload the CA on SIGHUP, and when another process (`custos ca renew`,
  // `ca rekey`, a second server on the same PostgreSQL) changed the CA certificates; expire
  // queued commands every kCaPollSeconds.
  std::string ca_fingerprint = CaFingerprint(*parts_->storage).value_or("");
  for (;;) {
    timespec poll{.tv_sec = kCaPollSeconds, .tv_nsec = 0};
    int sig = sigtimedwait(&signals, nullptr, &poll);
    if (sig == SIGINT || sig == SIGTERM) {
      spdlog::info("received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
      break;
    }
    // Housekeeping on every tick: retire queued commands past their expiry.
    if (auto expired = parts_->mdm->ExpireCommands(); !expired.ok()) {
      spdlog::warn("expiring queued commands: {}", expired.status().ToString());
    }
    auto now = CaFingerprint(*parts_->storage);
    if (!now.ok()) {
      spdlog::warn("checking the CA for changes: {}", now.status().ToString());
      continue;
    }
    if (sig != SIGHUP && *now == ca_fingerprint) continue;
    Status s = parts_->authority->Reload();
    if (s.ok()) {
      ca_fingerprint = *now;
      spdlog::info("CA reloaded ({}): issuing from {}", sig == SIGHUP ? "SIGHUP" : "changed in storage",
                   parts_->authority->ActiveIssuerRecord().subject);
    } else {
      spdlog::error("CA reload failed, still serving the previous CA: {}", s.ToString());
    }
  }
  parts_->http->Stop();
  return OkStatus();
}

}  // namespace custos
