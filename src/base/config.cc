#include "base/config.h"

#include "base/logging.h"

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <variant>

#include <nlohmann/json.hpp>
#include <toml++/toml.h>

extern char** environ;

namespace custos {
namespace {

using FieldRef = std::variant<std::string*, int64_t*, bool*, Duration*>;

struct FieldSpec {
  std::string_view section;
  std::string_view key;
  bool secret;
  std::string_view help;
  FieldRef (*ref)(Config&);
};

#define CUSTOS_FIELD(sec, k, secret, help) \
  FieldSpec { #sec, #k, secret, help, [](Config& c) -> FieldRef { return &c.sec.k; } }

// The one table of configuration keys. Keep it in the order `config print` should show.
const FieldSpec kFields[] = {
    CUSTOS_FIELD(server, listen, false, "plain HTTP listener HOST:PORT; empty disables it"),
    CUSTOS_FIELD(server, url, false, "public base URL devices reach custos at"),
    CUSTOS_FIELD(server, data_dir, false, "folder for the SQLite database and local state"),
    CUSTOS_FIELD(server, threads, false, "I/O threads; 0 = one per core"),
    CUSTOS_FIELD(tls, listen, false, "TLS listener HOST:PORT; empty disables it"),
    CUSTOS_FIELD(tls, cert_file, false, "PEM certificate chain for the TLS listener"),
    CUSTOS_FIELD(tls, key_file, false, "PEM private key for the TLS listener"),
    CUSTOS_FIELD(tls, client_ca_file, false, "extra PEM roots accepted for client certificates"),
    CUSTOS_FIELD(tls, request_client_cert, false, "request (never require) a client certificate"),
    CUSTOS_FIELD(http, max_header_bytes, false, "largest request header block"),
    CUSTOS_FIELD(http, max_body_bytes, false, "largest request body"),
    CUSTOS_FIELD(http, read_timeout, false, "time allowed to read one request"),
    CUSTOS_FIELD(http, idle_timeout, false, "time a kept-alive connection may sit idle"),
    CUSTOS_FIELD(http, max_connections, false, "connections served at once; more are refused"),
    CUSTOS_FIELD(http, access_log, false, "log one line per request"),
    CUSTOS_FIELD(http, trusted_proxies, false, "comma-separated proxy IPs whose headers are trusted"),
    CUSTOS_FIELD(storage, driver, false, "sqlite or postgres"),
    CUSTOS_FIELD(storage, sqlite_path, false, "SQLite database file; default DATA_DIR/custos.db"),
    CUSTOS_FIELD(storage, dsn, true, "PostgreSQL connection string"),
    CUSTOS_FIELD(storage, pool_size, false, "database connections"),
    CUSTOS_FIELD(storage, busy_timeout, false, "SQLite busy timeout"),
    CUSTOS_FIELD(storage, connect_timeout, false, "how long to retry the database at start"),
    CUSTOS_FIELD(ca, common_name, false, "CA subject common name"),
    CUSTOS_FIELD(ca, organization, false, "CA subject organization"),
    CUSTOS_FIELD(ca, root_key_type, false, "root key: rsa or ec-p384"),
    CUSTOS_FIELD(ca, root_key_bits, false, "RSA root key size"),
    CUSTOS_FIELD(ca, issuing_key_bits, false, "RSA issuing key size: 2048, 3072 or 4096"),
    CUSTOS_FIELD(ca, root_validity, false, "root certificate lifetime"),
    CUSTOS_FIELD(ca, issuing_validity, false, "issuing certificate lifetime"),
    CUSTOS_FIELD(ca, cert_validity, false, "default lifetime of issued certificates"),
    CUSTOS_FIELD(ca, crl_validity, false, "CRL lifetime (nextUpdate - thisUpdate)"),
    CUSTOS_FIELD(ca, passphrase, true, "passphrase encrypting CA keys at rest"),
    CUSTOS_FIELD(ca, passphrase_file, false, "file holding the CA key passphrase"),
    CUSTOS_FIELD(log, format, false, "text or json"),
    CUSTOS_FIELD(log, level, false, "trace, debug, info, warn, error or off"),
    CUSTOS_FIELD(scep, path, false, "SCEP endpoint path"),
    CUSTOS_FIELD(scep, challenge, true, "static SCEP challengePassword; empty = dynamic challenges only"),
    CUSTOS_FIELD(scep, legacy_algorithms, false, "accept single DES, advertise SHA-1 and DES3 (legacy clients)"),
    CUSTOS_FIELD(scep, challenge_ttl, false, "lifetime of dynamic one-time SCEP challenges"),
    CUSTOS_FIELD(scep, renewal_grace, false, "how long after expiry a RenewalReq is still accepted"),
    CUSTOS_FIELD(scep, manual_approval, false, "answer PENDING until `custos scep approve`"),
    CUSTOS_FIELD(scep, min_rsa_bits, false, "smallest RSA key accepted in a SCEP CSR"),
    CUSTOS_FIELD(scep, validity, false, "lifetime of certificates issued over SCEP"),
    CUSTOS_FIELD(scep, allowed_subject_fields, false, "comma-separated subject attributes a CSR may carry"),
    CUSTOS_FIELD(scep, allowed_san_types, false, "comma-separated SAN types a CSR may carry"),
    CUSTOS_FIELD(scep, max_message_bytes, false, "largest PKIOperation message accepted"),
    CUSTOS_FIELD(push, apns_url, false, "APNs base URL: production, sandbox or a test server"),
    CUSTOS_FIELD(push, ca_file, false, "PEM roots trusted for the APNs server instead of the system's (tests)"),
    CUSTOS_FIELD(push, max_concurrent_streams, false, "HTTP/2 streams per APNs connection"),
    CUSTOS_FIELD(push, max_retries, false, "retries of a push after 429, 5xx or connection errors"),
    CUSTOS_FIELD(push, expiration, false, "how long APNs may hold a push for an offline device"),
    CUSTOS_FIELD(webhook, url, false, "URL MDM events are POSTed to (MicroMDM JSON); empty disables"),
    CUSTOS_FIELD(webhook, secret, true, "HMAC-SHA256 key signing webhook bodies (X-Custos-Signature)"),
    CUSTOS_FIELD(webhook, queue_size, false, "webhook events held in memory; the oldest is dropped beyond"),
    CUSTOS_FIELD(webhook, max_retries, false, "webhook retries after 408, 429, 5xx or connection errors"),
    CUSTOS_FIELD(api, key, true, "admin API key; empty disables the admin API"),
    CUSTOS_FIELD(dep, base_url, false, "Apple Business Manager API base URL"),
    CUSTOS_FIELD(dep, sync_interval, false, "how often each DEP name syncs devices; 0 disables"),
    CUSTOS_FIELD(dep, require_known_serial, false, "MachineInfo: refuse serials ABM never reported"),
    CUSTOS_FIELD(dep, default_profile_uuid, false, "ABM profile UUID assigned to newly added devices"),
    CUSTOS_FIELD(dep, maid_name, false, "DEP name whose key signs MAID JWTs; empty = the only one"),
    CUSTOS_FIELD(dep, device_ca_file, false, "PEM roots for MachineInfo signers instead of Apple's"),
    CUSTOS_FIELD(dep, token_expiry_warning, false, "warn this long before ABM tokens expire"),
    // [policy] (issue 7): the default of the enrollment policy's setting (the database may override it).
    CUSTOS_FIELD(policy, require_hardware_attestation, false,
                 "eligible ABM devices must enrol with a hardware-attested ACME identity"),
    CUSTOS_FIELD(acme, extra_attestation_roots, false, "comma-separated PEM files of extra attestation roots (tests only)"),
    CUSTOS_FIELD(acme, http01_target, false, "HOST:PORT every http-01 validation connects to (tests only)"),
    CUSTOS_FIELD(acme, nonce_lifetime, false, "how long an ACME Replay-Nonce stays usable"),
    CUSTOS_FIELD(acme, order_lifetime, false, "how long ACME orders and authorizations stay pending"),
    CUSTOS_FIELD(acme, cert_validity, false, "lifetime of certificates issued over ACME"),
    CUSTOS_FIELD(acme, client_identifier_ttl, false, "lifetime of one-time device-attest-01 ClientIdentifiers"),
    CUSTOS_FIELD(enroll, organization, false, "enrollment profile organization; empty = ca.organization"),
    CUSTOS_FIELD(enroll, display_name, false, "enrollment profile display name"),
    CUSTOS_FIELD(enroll, identifier, false, "enrollment profile PayloadIdentifier (payloads append a suffix)"),
    CUSTOS_FIELD(enroll, topic, false, "APNs topic in the profile; overrides the push certificate's"),
    CUSTOS_FIELD(enroll, subject_common_name, false, "CN the identity payload requests (device variables allowed)"),
    CUSTOS_FIELD(enroll, default_identity, false, "identity payload when a request names none: scep or acme"),
    CUSTOS_FIELD(enroll, sign, false, "CMS-sign enrollment profiles"),
    CUSTOS_FIELD(enroll, signing_cert_file, false, "PEM profile-signing certificate (+ chain); empty = issued by custos"),
    CUSTOS_FIELD(enroll, signing_key_file, false, "PEM key of enroll.signing_cert_file"),
    CUSTOS_FIELD(enroll, include_root, false, "add custos' root CA as a payload: auto, true or false"),
    CUSTOS_FIELD(enroll, sign_message, false, "MDM SignMessage: devices sign every request"),
    CUSTOS_FIELD(enroll, access_rights, false, "MDM AccessRights bit mask"),
    CUSTOS_FIELD(enroll, use_development_apns, false, "MDM UseDevelopmentAPNS"),
    CUSTOS_FIELD(enroll, require_token, false, "GET /mdm/enroll requires a one-time ?token="),
    CUSTOS_FIELD(enroll, token_ttl, false, "lifetime of one-time enrollment tokens"),
    CUSTOS_FIELD(enroll, basic_user, false, "HTTP Basic user for GET /mdm/enroll"),
    CUSTOS_FIELD(enroll, basic_password, true, "HTTP Basic password for GET /mdm/enroll; empty = none"),
    CUSTOS_FIELD(mdm, user_authenticate, false, "UserAuthenticate: refuse (410) or digest-challenge"),
    CUSTOS_FIELD(mdm, declarative_management_url, false, "forward DeclarativeManagement check-ins here; empty = refuse them"),
    CUSTOS_FIELD(mdm, declarative_management_timeout, false, "timeout of one forwarded DeclarativeManagement request"),
    CUSTOS_FIELD(mdm, bootstrap_token_key_file, false, "key encrypting bootstrap tokens; default DATA_DIR/mdm-bootstrap-token.key"),
    CUSTOS_FIELD(mdm, command_expiry, false, "default lifetime of queued commands; 0 = never"),
    CUSTOS_FIELD(mdm, allow_tls_client_cert, false, "accept the device identity from the TLS handshake"),
    CUSTOS_FIELD(mdm, allow_proxy_header, false, "accept the device identity from a trusted proxy's header"),
    CUSTOS_FIELD(mdm, allow_mdm_signature, false, "accept the device identity from Mdm-Signature"),
    CUSTOS_FIELD(mdm, proxy_cert_header, false, "header holding nginx's $ssl_client_escaped_cert"),
    // [renewal] (issue 7): identity renewal over MDM (src/mdm/renewal.h).
    CUSTOS_FIELD(renewal, enabled, false, "run the identity renewal job"),
    CUSTOS_FIELD(renewal, window, false, "renew device identities expiring within this"),
    CUSTOS_FIELD(renewal, interval, false, "time between two runs of the renewal job"),
    CUSTOS_FIELD(renewal, retry_after, false, "send a new renewal profile when nothing came of the last one after this"),
    CUSTOS_FIELD(renewal, batch_size, false, "identities renewed per run, most urgent first"),
    // [posture] (issue 5): DeviceInformation attestation policy.
    CUSTOS_FIELD(posture, rate_limit, false, "at most one unforced attestation request per device per this"),
    CUSTOS_FIELD(posture, request_on_os_change, false, "request a fresh attestation when OSVersion changes"),
    CUSTOS_FIELD(posture, min_interval, false, "random re-attestation: shortest delay"),
    CUSTOS_FIELD(posture, max_interval, false, "random re-attestation: longest delay; 0 disables"),
    CUSTOS_FIELD(posture, check_interval, false, "how often the attestation policy job runs; 0 disables it"),
    CUSTOS_FIELD(posture, answer_timeout, false, "an attestation request unanswered this long is marked failed"),
};
#undef CUSTOS_FIELD

const FieldSpec* FindField(std::string_view section, std::string_view key) {
  for (const auto& f : kFields) {
    if (f.section == section && f.key == key) return &f;
  }
  return nullptr;
}

bool SectionExists(std::string_view section) {
  for (const auto& f : kFields) {
    if (f.section == section) return true;
  }
  return false;
}

std::string EnvName(const FieldSpec& f) {
  std::string name = "CUSTOS_";
  for (char c : f.section) name += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  name += '_';
  for (char c : f.key) name += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

std::string Id(const FieldSpec& f) { return std::string(f.section) + "." + std::string(f.key); }

Status ParseBool(std::string_view v, bool* out) {
  if (v == "true" || v == "1" || v == "yes" || v == "on") {
    *out = true;
  } else if (v == "false" || v == "0" || v == "no" || v == "off") {
    *out = false;
  } else {
    return InvalidArgumentError("expected true or false, got \"" + std::string(v) + "\"");
  }
  return OkStatus();
}

Status ParseInt(std::string_view v, int64_t* out) {
  int64_t n = 0;
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || ptr != v.data() + v.size() || v.empty()) {
    return InvalidArgumentError("expected an integer, got \"" + std::string(v) + "\"");
  }
  *out = n;
  return OkStatus();
}

Status AssignText(FieldRef ref, std::string_view value) {
  return std::visit(
      [&](auto* p) -> Status {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_same_v<T, std::string>) {
          *p = std::string(value);
          return OkStatus();
        } else if constexpr (std::is_same_v<T, int64_t>) {
          return ParseInt(value, p);
        } else if constexpr (std::is_same_v<T, bool>) {
          return ParseBool(value, p);
        } else {
          ASSIGN_OR_RETURN(*p, ParseDuration(value));
          return OkStatus();
        }
      },
      ref);
}

Status AssignToml(FieldRef ref, const toml::node& node) {
  return std::visit(
      [&](auto* p) -> Status {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_same_v<T, std::string>) {
          if (auto s = node.value<std::string>(); s && node.is_string()) {
            *p = *s;
            return OkStatus();
          }
          return InvalidArgumentError("expected a string");
        } else if constexpr (std::is_same_v<T, int64_t>) {
          if (node.is_integer()) {
            *p = *node.value<int64_t>();
            return OkStatus();
          }
          return InvalidArgumentError("expected an integer");
        } else if constexpr (std::is_same_v<T, bool>) {
          if (node.is_boolean()) {
            *p = *node.value<bool>();
            return OkStatus();
          }
          return InvalidArgumentError("expected true or false");
        } else {
          if (node.is_integer()) {
            *p = Duration(*node.value<int64_t>());
            return OkStatus();
          }
          if (node.is_string()) {
            ASSIGN_OR_RETURN(*p, ParseDuration(*node.value<std::string>()));
            return OkStatus();
          }
          return InvalidArgumentError("expected a duration such as \"30s\", \"24h\" or \"365d\"");
        }
      },
      ref);
}

std::string QuoteToml(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default: out += c;
    }
  }
  return out + "\"";
}

std::string RenderToml(FieldRef ref, bool secret) {
  return std::visit(
      [&](auto* p) -> std::string {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_same_v<T, std::string>) {
          if (secret && !p->empty()) return "\"<redacted>\"";
          return QuoteToml(*p);
        } else if constexpr (std::is_same_v<T, int64_t>) {
          return std::to_string(*p);
        } else if constexpr (std::is_same_v<T, bool>) {
          return *p ? "true" : "false";
        } else {
          return QuoteToml(FormatDuration(*p));
        }
      },
      ref);
}

nlohmann::json RenderJson(FieldRef ref, bool secret) {
  return std::visit(
      [&](auto* p) -> nlohmann::json {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_same_v<T, std::string>) {
          if (secret && !p->empty()) return "<redacted>";
          return *p;
        } else if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, bool>) {
          return *p;
        } else {
          return FormatDuration(*p);
        }
      },
      ref);
}

template <typename T>
bool OneOf(const T& v, std::initializer_list<T> allowed) {
  for (const auto& a : allowed) {
    if (v == a) return true;
  }
  return false;
}

}  // namespace

StatusOr<Config> Config::Load(std::string_view path, const std::map<std::string, std::string>& env) {
  Config config;
  for (const auto& f : kFields) config.sources[Id(f)] = "default";

  if (!path.empty()) {
    std::string file(path);
    std::ifstream in(file);
    if (!in) return NotFoundError("configuration file " + file + ": cannot be read");
    std::stringstream text;
    text << in.rdbuf();
    toml::table root;
    try {
      root = toml::parse(text.str(), file);
    } catch (const toml::parse_error& err) {
      return InvalidArgumentError(file + ":" + std::to_string(err.source().begin.line) + ":" +
                                  std::to_string(err.source().begin.column) + ": " +
                                  std::string(err.description()));
    }
    for (const auto& [section_key, section_node] : root) {
      std::string section(section_key.str());
      std::string where = file + ":" + std::to_string(section_node.source().begin.line);
      const toml::table* table = section_node.as_table();
      if (table == nullptr || !SectionExists(section)) {
        return InvalidArgumentError(where + ": unknown section [" + section + "]");
      }
      for (const auto& [key_name, node] : *table) {
        std::string key(key_name.str());
        std::string at = file + ":" + std::to_string(node.source().begin.line);
        const FieldSpec* f = FindField(section, key);
        if (f == nullptr) {
          return InvalidArgumentError(at + ": [" + section + "] " + key + ": unknown key");
        }
        Status s = AssignToml(f->ref(config), node);
        if (!s.ok()) {
          return InvalidArgumentError(at + ": [" + section + "] " + key + ": " + s.message());
        }
        config.sources[Id(*f)] = "file:" + std::to_string(node.source().begin.line);
      }
    }
  }

  for (const auto& f : kFields) {
    std::string name = EnvName(f);
    auto it = env.find(name);
    if (it == env.end()) continue;
    Status s = AssignText(f.ref(config), it->second);
    if (!s.ok()) return InvalidArgumentError("environment variable " + name + ": " + s.message());
    config.sources[Id(f)] = "env " + name;
  }
  return config;
}

Status Config::Set(std::string_view section, std::string_view key, std::string_view value,
                   std::string_view source) {
  const FieldSpec* f = FindField(section, key);
  if (f == nullptr) {
    return InvalidArgumentError("unknown configuration key " + std::string(section) + "." +
                                std::string(key));
  }
  Status s = AssignText(f->ref(*this), value);
  if (!s.ok()) return s.WithContext(Id(*f));
  sources[Id(*f)] = std::string(source);
  return OkStatus();
}

Status Config::SetAssignment(std::string_view assignment, std::string_view source) {
  size_t eq = assignment.find('=');
  size_t dot = assignment.find('.');
  if (eq == std::string_view::npos || dot == std::string_view::npos || dot > eq) {
    return InvalidArgumentError("expected section.key=value, got \"" + std::string(assignment) + "\"");
  }
  return Set(assignment.substr(0, dot), assignment.substr(dot + 1, eq - dot - 1),
             assignment.substr(eq + 1), source);
}

Status Config::Finalize() {
  if (!OneOf<std::string>(storage.driver, {"sqlite", "postgres"})) {
    return InvalidArgumentError("storage.driver must be sqlite or postgres, not \"" + storage.driver + "\"");
  }
  if (storage.driver == "postgres" && storage.dsn.empty()) {
    return InvalidArgumentError("storage.driver is postgres but storage.dsn is empty");
  }
  if (storage.pool_size < 1 || storage.pool_size > 1024) {
    return InvalidArgumentError("storage.pool_size must be between 1 and 1024");
  }
  if (storage.sqlite_path.empty()) storage.sqlite_path = server.data_dir + "/custos.db";
  if (!OneOf<std::string>(ca.root_key_type, {"rsa", "ec-p384"})) {
    return InvalidArgumentError("ca.root_key_type must be rsa or ec-p384, not \"" + ca.root_key_type + "\"");
  }
  if (!OneOf<int64_t>(ca.issuing_key_bits, {2048, 3072, 4096})) {
    return InvalidArgumentError("ca.issuing_key_bits must be 2048, 3072 or 4096");
  }
  if (!OneOf<int64_t>(ca.root_key_bits, {2048, 3072, 4096})) {
    return InvalidArgumentError("ca.root_key_bits must be 2048, 3072 or 4096");
  }
  if (ca.cert_validity.count() <= 0 || ca.issuing_validity.count() <= 0 ||
      ca.root_validity.count() <= 0 || ca.crl_validity.count() <= 0) {
    return InvalidArgumentError("ca validity durations must be positive");
  }
  if (!ca.passphrase.empty() && !ca.passphrase_file.empty()) {
    return InvalidArgumentError("set ca.passphrase or ca.passphrase_file, not both");
  }
  RETURN_IF_ERROR(ParseLogFormat(log.format).status());
  if (!OneOf<std::string>(log.level, {"trace", "debug", "info", "warn", "error", "off"})) {
    return InvalidArgumentError("log.level must be trace, debug, info, warn, error or off");
  }
  if (server.listen.empty() && tls.listen.empty()) {
    return InvalidArgumentError("no listener: set server.listen and/or tls.listen");
  }
  if (!tls.listen.empty() && (tls.cert_file.empty() || tls.key_file.empty())) {
    return InvalidArgumentError("tls.listen is set but tls.cert_file or tls.key_file is empty");
  }
  if (http.max_header_bytes < 1024 || http.max_body_bytes < 1024 || http.max_connections < 1) {
    return InvalidArgumentError("http limits are too small (max_header_bytes and max_body_bytes >= 1024)");
  }
  if (server.threads < 0 || server.threads > 256) {
    return InvalidArgumentError("server.threads must be between 0 and 256");
  }
  if (acme.nonce_lifetime.count() <= 0 || acme.order_lifetime.count() <= 0 ||
      acme.cert_validity.count() <= 0 || acme.client_identifier_ttl.count() <= 0) {
    return InvalidArgumentError("acme durations must be positive");
  }
  // [renewal] (issue 7).
  if (renewal.window.count() <= 0 || renewal.interval.count() <= 0 ||
      renewal.retry_after.count() <= 0 || renewal.batch_size < 1 || renewal.batch_size > 10000) {
    return InvalidArgumentError(
        "renewal: window, interval and retry_after must be positive, batch_size 1 to 10000");
  }
  // [posture] (issue 5).
  if (posture.rate_limit.count() <= 0 || posture.answer_timeout.count() <= 0 ||
      posture.check_interval.count() < 0 || posture.min_interval.count() < 0 ||
      posture.max_interval.count() < 0 ||
      (posture.max_interval.count() > 0 && posture.min_interval > posture.max_interval)) {
    return InvalidArgumentError(
        "posture durations out of range (rate_limit, answer_timeout > 0; min_interval <= max_interval)");
  }
  if (push.apns_url.rfind("https://", 0) != 0) {
    return InvalidArgumentError("push.apns_url must start with https://");
  }
  if (push.max_concurrent_streams < 1 || push.max_concurrent_streams > 10000 ||
      push.max_retries < 0 || push.max_retries > 20 || push.expiration.count() < 0) {
    return InvalidArgumentError(
        "push limits out of range (max_concurrent_streams 1..10000, max_retries 0..20, expiration >= 0)");
  }
  if (!OneOf<std::string>(mdm.user_authenticate, {"refuse", "digest-challenge"})) {
    return InvalidArgumentError("mdm.user_authenticate must be refuse or digest-challenge");
  }
  if (!mdm.declarative_management_url.empty() &&
      mdm.declarative_management_url.rfind("https://", 0) != 0 &&
      mdm.declarative_management_url.rfind("http://", 0) != 0) {
    return InvalidArgumentError("mdm.declarative_management_url must be an http(s) URL");
  }
  if (mdm.command_expiry.count() < 0 || mdm.declarative_management_timeout.count() <= 0) {
    return InvalidArgumentError("mdm.command_expiry must be >= 0 and declarative_management_timeout > 0");
  }
  if (mdm.bootstrap_token_key_file.empty()) {
    mdm.bootstrap_token_key_file = server.data_dir + "/mdm-bootstrap-token.key";
  }
  if (!OneOf<std::string>(enroll.default_identity, {"scep", "acme"}) ||
      !OneOf<std::string>(enroll.include_root, {"auto", "true", "false"})) {
    return InvalidArgumentError("enroll.default_identity must be scep or acme, enroll.include_root auto, true or false");
  }
  if (enroll.signing_cert_file.empty() != enroll.signing_key_file.empty()) {
    return InvalidArgumentError("set both enroll.signing_cert_file and enroll.signing_key_file, or neither");
  }
  if (enroll.access_rights < 1 || enroll.access_rights > 8191 || enroll.token_ttl.count() <= 0) {
    return InvalidArgumentError("enroll.access_rights must be 1..8191 and enroll.token_ttl positive");
  }
  if (!webhook.url.empty() && webhook.url.rfind("http://", 0) != 0 &&
      webhook.url.rfind("https://", 0) != 0) {
    return InvalidArgumentError("webhook.url must start with http:// or https://");
  }
  if (webhook.queue_size < 1 || webhook.queue_size > 10000000 || webhook.max_retries < 0 ||
      webhook.max_retries > 100) {
    return InvalidArgumentError("webhook limits out of range (queue_size 1..10000000, max_retries 0..100)");
  }
  if (server.url.empty()) {
    server.url = !server.listen.empty() ? "http://" + server.listen : "https://" + tls.listen;
  }
  while (!server.url.empty() && server.url.back() == '/') server.url.pop_back();
  return OkStatus();
}

std::string Config::ToToml() const {
  Config copy = *this;  // FieldSpec::ref needs a mutable Config
  std::string out;
  std::string_view current;
  for (const auto& f : kFields) {
    if (f.section != current) {
      if (!current.empty()) out += "\n";
      out += "[" + std::string(f.section) + "]\n";
      current = f.section;
    }
    out += std::string(f.key) + " = " + RenderToml(f.ref(copy), f.secret);
    auto it = sources.find(Id(f));
    out += "  # " + (it == sources.end() ? std::string("default") : it->second) + "\n";
  }
  return out;
}

std::string Config::ToJson() const {
  Config copy = *this;
  nlohmann::json j = nlohmann::json::object();
  for (const auto& f : kFields) {
    j[std::string(f.section)][std::string(f.key)] = RenderJson(f.ref(copy), f.secret);
  }
  return j.dump(2);
}

StatusOr<std::string> Config::CaPassphrase() const {
  if (!ca.passphrase.empty()) return ca.passphrase;
  if (ca.passphrase_file.empty()) return std::string();
  std::ifstream in(ca.passphrase_file);
  if (!in) return NotFoundError("ca.passphrase_file " + ca.passphrase_file + ": cannot be read");
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  if (line.empty()) return InvalidArgumentError("ca.passphrase_file " + ca.passphrase_file + " is empty");
  return line;
}

std::map<std::string, std::string> ProcessEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

}  // namespace custos
