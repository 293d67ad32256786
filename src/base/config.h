// custos configuration: one typed struct, filled from (lowest to highest precedence)
//   1. built-in defaults,
//   2. a TOML file (--config FILE, or CUSTOS_CONFIG),
//   3. environment variables CUSTOS_<SECTION>_<KEY> (e.g. CUSTOS_SERVER_LISTEN),
//   4. command-line flags (--listen, --url, --data-dir, and --set section.key=value).
// Every key is declared once in the registry in config.cc (section, key, type, default, whether it
// is secret, help); TOML, environment, flags, validation and `custos config print` all read that
// one table, so adding a key is one line there plus the struct field here.
#ifndef CUSTOS_BASE_CONFIG_H_
#define CUSTOS_BASE_CONFIG_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/time.h"

namespace custos {

struct ServerConfig {
  std::string listen = "127.0.0.1:8080";  // plain HTTP listener; "" disables it
  std::string url;                        // public base URL; default http://<listen>
  std::string data_dir = "./var";
  int64_t threads = 0;                    // io threads; 0 = one per core
};

struct TlsConfig {
  std::string listen;          // TLS listener, e.g. "0.0.0.0:8443"; "" disables it
  std::string cert_file;       // PEM chain, leaf first
  std::string key_file;        // PEM private key
  std::string client_ca_file;  // extra PEM roots for client certs (custos' own CA is always one)
  bool request_client_cert = true;  // ask for, never require, a client certificate
};

struct HttpConfig {
  int64_t max_header_bytes = 16 * 1024;
  int64_t max_body_bytes = 8 * 1024 * 1024;
  Duration read_timeout{30};   // whole request, from its first byte
  Duration idle_timeout{75};   // between requests on a kept-alive connection
  int64_t max_connections = 4096;
  bool access_log = true;
  // Trust X-Forwarded-For / X-Forwarded-Proto / client-certificate headers from these peers
  // (comma-separated IPs). Empty: trust nobody's headers.
  std::string trusted_proxies;
};

struct StorageConfig {
  std::string driver = "sqlite";  // sqlite | postgres
  std::string sqlite_path;        // default <data_dir>/custos.db
  std::string dsn;                // PostgreSQL connection string (secret: may hold a password)
  int64_t pool_size = 8;
  Duration busy_timeout{5};       // SQLite busy timeout
  Duration connect_timeout{60};   // give up connecting at start after this long (with backoff)
};

struct CaConfig {
  std::string common_name = "custos CA";
  std::string organization = "custos";
  std::string root_key_type = "rsa";  // rsa | ec-p384
  int64_t root_key_bits = 4096;       // for rsa roots
  int64_t issuing_key_bits = 2048;    // RSA: SCEP devices encrypt to it. 2048 | 3072 | 4096
  Duration root_validity{20 * 365 * 86400};
  Duration issuing_validity{10 * 365 * 86400};
  Duration cert_validity{365 * 86400};  // default for issued certificates
  Duration crl_validity{7 * 86400};     // nextUpdate - thisUpdate; regenerated at half-life
  std::string passphrase;               // encrypts CA keys at rest (secret)
  std::string passphrase_file;          // or read it from this file (first line)
};

struct LogConfig {
  std::string format = "text";  // text | json
  std::string level = "info";
};

struct ScepConfig {
  std::string path = "/scep";       // GET/POST endpoint (RFC 8894 section 4.1)
  std::string challenge;            // static challengePassword (secret); "" = dynamic ones only
  bool legacy_algorithms = false;   // also single DES and advertise SHA-1/DES3 (OpenSSL legacy provider)
  Duration challenge_ttl{3600};     // lifetime of dynamic one-time challenges
  Duration renewal_grace{0};        // RenewalReq accepted this long after the old identity expired
  bool manual_approval = false;     // answer PENDING until `custos scep approve TRANSACTION_ID`
  int64_t min_rsa_bits = 2048;      // smallest RSA key accepted in a CSR
  Duration validity{365 * 86400};   // lifetime of certificates issued over SCEP
  std::string allowed_subject_fields = "CN,O,OU,C,ST,L,emailAddress,serialNumber,UID,DC";
  std::string allowed_san_types = "dns,email,uri,ip";  // CSR SAN types accepted
  int64_t max_message_bytes = 64 * 1024;  // larger PKIOperation bodies are refused (400)
};

struct PushConfig {
  std::string apns_url = "https://api.push.apple.com";  // or https://api.sandbox.push.apple.com
  std::string ca_file;                  // PEM roots for the APNs server instead of the system's (tests)
  int64_t max_concurrent_streams = 500;  // HTTP/2 streams per APNs connection
  int64_t max_retries = 3;              // retries of a push after 429, 5xx or a connection error
  Duration expiration{86400};           // apns-expiration = now + this; 0 = deliver now or never
};

struct AcmeConfig {
  // Comma-separated PEM files of extra attestation roots trusted besides Apple's (tests only).
  std::string extra_attestation_roots;
  // HOST:PORT every http-01 validation connects to instead of the identifier (tests only); "" = off.
  std::string http01_target;
  Duration nonce_lifetime{3600};              // a Replay-Nonce is usable this long, once
  Duration order_lifetime{7 * 86400};         // pending orders and authorizations expire after this
  Duration cert_validity{365 * 86400};        // lifetime of certificates issued over ACME
  Duration client_identifier_ttl{30 * 86400};  // lifetime of one-time device-attest-01 ClientIdentifiers
};

struct WebhookConfig {
  std::string url;              // where MDM events are POSTed (MicroMDM JSON); "" disables webhooks
  std::string secret;           // HMAC-SHA256 key for X-Custos-Signature (secret); "" = unsigned
  int64_t queue_size = 10000;   // events held in memory; the oldest is dropped beyond
  int64_t max_retries = 5;      // retries after 408, 429, 5xx or a connection error
};

struct ApiConfig {
  // The admin API key (secret): HTTP Basic with user "custos" and this as password, or
  // "Authorization: Bearer KEY". Empty: the admin API under /v1/ is disabled.
  std::string key;
};

// [mdm]: the MDM check-in and command endpoints (issue 4). URLs are fixed (/mdm/checkin,
// /mdm/connect, /mdm).
struct MdmConfig {
  // UserAuthenticate: "refuse" answers 410 (the device goes on without a user channel, NanoMDM's
  // default); "digest-challenge" answers an empty DigestChallenge (NanoMDM's opt-in).
  std::string user_authenticate = "refuse";
  // DeclarativeManagement check-ins are forwarded (POST) to this URL + "/" + Endpoint; "" answers
  // them with an error.
  std::string declarative_management_url;
  Duration declarative_management_timeout{10};
  // Bootstrap tokens are encrypted at rest (AES-256-GCM) with a 32-byte key read from this file,
  // generated (mode 0600) at first start when absent. Default DATA_DIR/mdm-bootstrap-token.key.
  // Several servers sharing one PostgreSQL database must share this file.
  std::string bootstrap_token_key_file;
  Duration command_expiry{0};  // default lifetime of queued commands; 0 = never expire
  // How a device's identity certificate may reach custos (src/mdm/device_auth.h).
  bool allow_tls_client_cert = true;
  bool allow_proxy_header = true;     // believed only from http.trusted_proxies
  bool allow_mdm_signature = true;
  std::string proxy_cert_header = "X-Client-Cert";  // nginx $ssl_client_escaped_cert
};

// The enrollment profile (issue 4 "Enrollment profile", issue 5 "Enrollment with an attested
// identity"): GET /mdm/enroll and `custos enroll profile`.
struct EnrollConfig {
  std::string organization;          // PayloadOrganization; "" = ca.organization
  std::string display_name;          // PayloadDisplayName; "" = "<organization> device management"
  std::string identifier = "com.custos.enroll";  // PayloadIdentifier (payloads append .mdm, .scep...)
  std::string topic;                 // APNs topic; overrides the installed push certificate's
  std::string subject_common_name = "%HardwareUUID%";  // CN requested by the identity payload
  std::string default_identity = "scep";  // scep | acme, when the request names none
  bool sign = true;                  // CMS-sign profiles (unsigned only on request)
  std::string signing_cert_file;     // PEM signer certificate (+ chain); "" = custos issues one
  std::string signing_key_file;      // PEM signer key
  std::string include_root = "auto";  // auto | true | false: add custos' root as a payload
  bool sign_message = true;          // MDM SignMessage (Mdm-Signature on every request)
  int64_t access_rights = 8191;      // MDM AccessRights
  bool use_development_apns = false;  // MDM UseDevelopmentAPNS (sandbox push certificates)
  bool require_token = false;        // GET /mdm/enroll needs ?token= (one-time, `custos enroll token`)
  Duration token_ttl{86400};         // lifetime of one-time enrollment tokens
  std::string basic_user = "enroll";  // HTTP Basic user when basic_password is set
  std::string basic_password;        // HTTP Basic password for GET /mdm/enroll (secret); "" = none
};

// [posture]: DeviceInformation attestation policy (issue 5, src/posture/posture.h). Devices make
// a fresh attestation at most every 7 days (Apple's rate limit); custos never asks more often
// unless an administrator forces it.
struct PostureConfig {
  Duration rate_limit{7 * 86400};     // at most one unforced attestation request per device per this
  bool request_on_os_change = true;   // request a fresh attestation when OSVersion changes
  Duration min_interval{14 * 86400};  // random re-attestation: next request after a uniformly
  Duration max_interval{45 * 86400};  //   random delay in [min, max]; max 0 disables it
  Duration check_interval{300};       // how often the policy job runs; 0 disables the job
  Duration answer_timeout{30 * 86400};  // a request unanswered this long is marked failed
};

// [policy]: the enrollment policy (issue 7, src/policy/policy.h). The default of the setting an
// administrator may change with `custos policy set` / PUT /v1/policy (stored in the database).
struct PolicyConfig {
  bool require_hardware_attestation = false;  // eligible ABM devices must enrol with attested ACME
};

// [renewal]: identity renewal over MDM (issue 7, src/mdm/renewal.h).
struct RenewalConfig {
  bool enabled = true;            // run the renewal job in `custos serve`
  Duration window{30 * 86400};    // renew identities expiring within this
  Duration interval{3600};        // between two runs of the job
  Duration retry_after{86400};    // send a new profile when nothing came of the last one
  int64_t batch_size = 500;       // identities handled per run (most urgent first)
};

// Apple Business Manager (DEP), issue 6.
struct DepConfig {
  std::string base_url = "https://mdmenrollment.apple.com";  // ABM API (a simulator in tests)
  Duration sync_interval{1800};       // periodic devices/sync per DEP name; 0 disables the syncer
  bool require_known_serial = false;  // MachineInfo: refuse serials ABM never reported
  std::string default_profile_uuid;   // assigned to newly added devices; "" = none
  std::string maid_name;              // DEP name signing MAID JWTs; "" = the only one
  std::string device_ca_file;         // PEM roots for MachineInfo signers instead of Apple's
  Duration token_expiry_warning{30 * 86400};  // warn this long before the tokens expire
};

struct Config {
  ServerConfig server;
  TlsConfig tls;
  HttpConfig http;
  StorageConfig storage;
  CaConfig ca;
  LogConfig log;
  ScepConfig scep;
  PushConfig push;
  WebhookConfig webhook;
  ApiConfig api;
  AcmeConfig acme;
  EnrollConfig enroll;
  MdmConfig mdm;
  DepConfig dep;
  PolicyConfig policy;  // issue 7, enrollment policy
  PostureConfig posture;  // issue 5, DeviceInformation attestation policy
  RenewalConfig renewal;  // issue 7, identity renewal

  // Fills `config` from defaults, the TOML file at `path` (none when empty), and `env` (the
  // process environment as NAME -> value; only CUSTOS_* entries are read). Flags are applied
  // afterwards with Set(). Errors name the file, line and key, or the variable.
  static StatusOr<Config> Load(std::string_view path, const std::map<std::string, std::string>& env);

  // Sets one key from text, as a flag would ("server", "listen", "0.0.0.0:80").
  Status Set(std::string_view section, std::string_view key, std::string_view value,
             std::string_view source = "flag");
  // Sets "section.key=value".
  Status SetAssignment(std::string_view assignment, std::string_view source = "flag");

  // Cross-key checks and derived defaults (sqlite_path, url). Call after the last Set().
  Status Finalize();

  // The effective configuration as TOML, secrets shown as "<redacted>", each key annotated with
  // where its value came from.
  std::string ToToml() const;
  // The same as one JSON object {"section": {"key": value}}, secrets redacted.
  std::string ToJson() const;

  // The CA key passphrase from `passphrase` or `passphrase_file`; "" when none is configured.
  StatusOr<std::string> CaPassphrase() const;

  // Where each "section.key" got its value: "default", "file:LINE", "env NAME", "flag".
  std::map<std::string, std::string> sources;
};

// The process environment as a map, for Config::Load.
std::map<std::string, std::string> ProcessEnvironment();

}  // namespace custos

#endif  // CUSTOS_BASE_CONFIG_H_
