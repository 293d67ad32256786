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
#include "api/policy_api.h"  // enrollment policy (issue 7)
#include "policy/enforcement.h"
#include "policy/policy.h"
#include "api/posture_api.h"  // device posture (issue 5)
#include "posture/posture.h"
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
#include "mdm/renewal.h"          // identity renewal (issue 7)
#include "api/renewal_api.h"      // identity renewal (issue 7)
#include "mdm/ota_handler.h"  // OTA enrollment (issue 7)
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
  // OTA enrollment through the profile service (issue 7): GET/POST /mdm/ota.
  std::unique_ptr<dep::AppleDeviceCa> apple_device_ca;
  std::unique_ptr<mdm::OtaService> ota;
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
  // Device posture (issue 5): DeviceInformation attestation, verified with the same trust anchors
  // as ACME; joins `events`; its worker stops before the MDM service it uses is destroyed.
  std::unique_ptr<attest::AttestationVerifier> posture_verifier;
  std::unique_ptr<posture::PostureService> posture;
  // ACME (issue 5): the ACME server under /acme/ and the ClientIdentifiers of ACME profiles.
  std::unique_ptr<acme::AcmeService> acme;
  std::unique_ptr<mdm::FunctionClientIdentifierSource> acme_client_identifiers;
  // Enrollment policy (issue 7): the require_hardware_attestation setting, refusals (stored,
  // logged, published on `events`), the Authenticate gate of the MDM service, and the identity
  // choice of ABM enrollment profiles.
  std::unique_ptr<policy::EnrollmentPolicy> enrollment_policy;
  std::unique_ptr<policy::RefusalRecorder> refusals;
  std::unique_ptr<policy::AuthenticateGate> authenticate_gate;
  std::unique_ptr<mdm::EnrollmentIdentityPolicy> profile_identity_policy;
  // Apple Business Manager (issue 6): DEP names, and one syncer thread per name with tokens
  // (declared last: the syncers stop before anything they use is destroyed).
  std::unique_ptr<dep::DepService> dep;
  std::unique_ptr<dep::SyncManager> dep_sync;
  // Identity renewal (issue 7, mdm/renewal.h): renewal profiles (their SCEP challenges live as
  // long as a renewal attempt) and the job, declared after everything it uses so that its thread
  // stops first.
  std::unique_ptr<mdm::RenewalChallengeSource> renewal_challenges;
  std::unique_ptr<mdm::ProfileService> renewal_profile_service;
  std::unique_ptr<mdm::RenewalProfileSource> renewal_profiles;
  std::unique_ptr<mdm::RenewalJob> renewal;
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

// The enrollment policy's choice for ABM enrollment profiles (issue 7).
class PolicyProfileIdentity : public mdm::EnrollmentIdentityPolicy {
 public:
  explicit PolicyProfileIdentity(policy::EnrollmentPolicy* policy) : policy_(policy) {}
  StatusOr<std::optional<mdm::EnrollIdentity>> IdentityFor(const mdm::EnrollingDevice& device,
                                                           std::string* reason) override {
    policy::Eligibility why;
    ASSIGN_OR_RETURN(std::optional<policy::IdentityKind> kind,
                     policy::ChooseAbmIdentity(*policy_, {device.serial, device.product,
                                                          device.os_version},
                                               &why));
    if (!kind) return std::optional<mdm::EnrollIdentity>();
    if (reason != nullptr) *reason = why.reason;
    return std::optional<mdm::EnrollIdentity>(*kind == policy::IdentityKind::kAttestedAcme
                                                  ? mdm::EnrollIdentity::kAcme
                                                  : mdm::EnrollIdentity::kScep);
  }

 private:
  policy::EnrollmentPolicy* policy_;
};

// A refused device-attest-01 as the policy records it (issue 7). The serial is the one the
// profile's ClientIdentifier was made for; what the attestation claimed goes to the detail.
policy::Refusal AcmeRefusal(const acme::DeviceAttestRefusal& r) {
  policy::Refusal out;
  out.serial = r.bound_to.empty() ? r.serial : r.bound_to;
  if (r.bound_to.empty() || r.serial == r.bound_to || r.udid == r.bound_to) out.udid = r.udid;
  out.stage = "acme";
  out.reason = "attested ACME enrollment refused at " + r.stage + ": " + r.detail;
  out.detail = {{"acme_stage", r.stage},     {"order", r.order_id},
                {"problem_type", r.problem_type}, {"bound_to", r.bound_to},
                {"attested_serial", r.serial},    {"attested_udid", r.udid}};
  return out;
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
  if (parts_ && parts_->posture) parts_->posture->Stop();  // device posture (issue 5)
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

  // Device posture (issue 5): POST /v1/devices/{id}/attest, GET /v1/devices/{id}/posture; the
  // posture service hears results and Authenticate on the event stream and runs the [posture]
  // policy job. Trust anchors: Apple's root plus [acme] extra_attestation_roots (tests).
  if (parts->mdm) {
    attest::AttestationVerifier::Options verifier_options;
    verifier_options.clock = clock;
    auto roots = acme::ReadPemFiles(config.acme.extra_attestation_roots);
    if (!roots.ok()) return roots.status().WithContext("posture");
    verifier_options.extra_roots_pem = *std::move(roots);
    auto verifier = attest::AttestationVerifier::Create(verifier_options);
    if (!verifier.ok()) return verifier.status().WithContext("posture");
    parts->posture_verifier = *std::move(verifier);
    auto posture_service = posture::PostureService::Create(
        posture::PostureOptions::FromConfig(config.posture), parts->storage.get(),
        parts->mdm.get(), parts->posture_verifier.get(), clock, random);
    if (!posture_service.ok()) return posture_service.status().WithContext("posture");
    parts->posture = *std::move(posture_service);
    parts->events.Add(parts->posture.get());
    api::AddPostureApiRoutes(*parts->router, parts->posture.get(), config.api.key);
    parts->posture->Start();
  }

  // Enrollment policy (issue 7): GET/PUT /v1/policy, GET /v1/enrollment-refusals; refusals from
  // ACME device-attest-01 and from Authenticate are stored, logged and published (enroll.Refused).
  {
    auto enrollment_policy = policy::EnrollmentPolicy::Create(config, parts->storage.get(), clock);
    if (!enrollment_policy.ok()) return enrollment_policy.status().WithContext("policy");
    parts->enrollment_policy = *std::move(enrollment_policy);
    parts->refusals = std::make_unique<policy::RefusalRecorder>(parts->storage.get(), clock, random,
                                                                &parts->events);
    parts->authenticate_gate = std::make_unique<policy::AuthenticateGate>(
        parts->enrollment_policy.get(), parts->storage.get(), parts->refusals.get());
    if (parts->mdm) parts->mdm->SetAuthenticatePolicy(parts->authenticate_gate.get());
    parts->acme->SetRefusalListener([recorder = parts->refusals.get()](
                                        const acme::DeviceAttestRefusal& r) {
      (void)recorder->Record(AcmeRefusal(r));  // logged by the recorder either way
    });
    parts->profile_identity_policy =
        std::make_unique<PolicyProfileIdentity>(parts->enrollment_policy.get());
    api::AddPolicyApiRoutes(*parts->router, parts->enrollment_policy.get(), parts->refusals.get(),
                            config.api.key);
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
  enroll_deps.identity_policy = parts->profile_identity_policy.get();     // issue 7
  auto profiles = mdm::ProfileService::Create(parts->config, parts->config.server.url, enroll_deps);
  if (!profiles.ok()) return profiles.status();
  parts->profiles = *std::move(profiles);
  auto machine_info = dep::MachineInfoVerifier::Create(config.dep, parts->storage.get());
  if (!machine_info.ok()) return machine_info.status().WithContext("dep");
  parts->machine_info = *std::move(machine_info);
  parts->machine_info_auth = std::make_unique<mdm::FunctionMachineInfoAuthenticator>(
      [verifier = parts->machine_info.get()](std::string_view body) -> StatusOr<mdm::EnrollingDevice> {
        ASSIGN_OR_RETURN(dep::MachineInfo info, verifier->Verify(body));
        return mdm::EnrollingDevice{info.udid, info.serial, info.product, info.os_version};
      });
  mdm::RegisterProfileRoutes(*parts->router, parts->profiles.get(), parts->machine_info_auth.get());

  // OTA enrollment (issue 7): GET /mdm/ota (phase 1, access as GET /mdm/enroll), POST /mdm/ota
  // (phase 2 signed by the Apple device certificate, verified like MachineInfo; phase 3 signed by
  // the identity phase 2 handed out).
  {
    auto apple = dep::AppleDeviceCa::Create(config.dep);
    if (!apple.ok()) return apple.status().WithContext("dep");
    parts->apple_device_ca = *std::move(apple);
    mdm::OtaService::Deps ota_deps;
    ota_deps.profiles = parts->profiles.get();
    ota_deps.scep = parts->scep.get();
    ota_deps.ca = parts->authority.get();
    ota_deps.apple = parts->apple_device_ca.get();
    ota_deps.storage = parts->storage.get();
    ota_deps.clock = clock;
    ota_deps.random = random;
    mdm::OtaService::Options ota_options;
    ota_options.public_url = parts->config.server.url;
    auto ota = mdm::OtaService::Create(ota_options, ota_deps);
    if (!ota.ok()) return ota.status().WithContext("ota");
    parts->ota = *std::move(ota);
    mdm::RegisterOtaRoutes(*parts->router, parts->ota.get());
  }

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
  // Identity renewal (issue 7, mdm/renewal.h): identities of enrolled devices expiring within
  // [renewal] window get an InstallProfile with a fresh enrollment profile (attested ACME when the
  // enrollment policy says so, else SCEP); GET /v1/renewals, POST /v1/renewals/run.
  if (parts->mdm) {
    const mdm::RenewalOptions renewal_options = mdm::RenewalOptions::FromConfig(config.renewal);
    parts->renewal_challenges =
        std::make_unique<mdm::RenewalChallengeSource>(parts->scep.get(), renewal_options.retry_after);
    mdm::ProfileService::Deps renewal_deps;
    renewal_deps.ca = parts->authority.get();
    renewal_deps.storage = parts->storage.get();
    renewal_deps.clock = clock;
    renewal_deps.random = random;
    renewal_deps.challenges = parts->renewal_challenges.get();
    renewal_deps.client_identifiers = parts->acme_client_identifiers.get();
    auto renewal_profiles =
        mdm::ProfileService::Create(parts->config, parts->config.server.url, renewal_deps);
    if (!renewal_profiles.ok()) return renewal_profiles.status().WithContext("renewal");
    parts->renewal_profile_service = *std::move(renewal_profiles);
    parts->renewal_profiles =
        mdm::NewProfileServiceRenewalSource(parts->renewal_profile_service.get());
    auto renewal = mdm::RenewalJob::Create(
        renewal_options, {parts->storage.get(), clock, random, parts->mdm.get(),
                          parts->renewal_profiles.get(), parts->enrollment_policy.get()});
    if (!renewal.ok()) return renewal.status().WithContext("renewal");
    parts->renewal = *std::move(renewal);
    api::AddRenewalApiRoutes(*parts->router, parts->renewal.get(), config.api.key);
    parts->renewal->Start();
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
  if (parts_->posture) parts_->posture->Stop();  // device posture (issue 5)
  return OkStatus();
}

}  // namespace custos
