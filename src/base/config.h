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

struct ApiConfig {
  // The admin API key (secret): HTTP Basic with user "custos" and this as password, or
  // "Authorization: Bearer KEY". Empty: the admin API under /v1/ is disabled.
  std::string key;
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
  ApiConfig api;

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
