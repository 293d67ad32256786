// DepService: Apple Business Manager (DEP) names of one custos (issue 6): the token PKI exchange
// with a staging pair, the OAuth tokens, MAID JWTs, ABM clients and device sync.
//
// Token PKI with staging (seed "Token PKI staging", NanoDEP #60): NewStagingCertificate makes a
// key pair that is only *staged*; the current pair keeps signing MAID JWTs. UploadTokens decrypts
// the ABM token file with the staging key and, only if that works, promotes staging to current
// and stores the tokens in ONE storage transaction; a file that opens with the current key (the
// same tokens uploaded again) is accepted without promotion. A consumer_key different from the
// stored one is refused unless `force`. Every failure leaves key and tokens exactly as they were.
//
// Keys at rest: PKCS#8 PEM, encrypted (PBES2, AES-256-CBC) with the CA passphrase when one is
// configured ([ca] passphrase / passphrase_file), exactly as the CA stores its own keys.
//
// Metrics: custos_dep_token_expiry_timestamp_seconds{name} (unix seconds; 0 = unknown) and
// custos_dep_sync_devices_total{name,op}. A warning is logged when tokens expire within
// [dep] token_expiry_warning (30 days by default) at every CheckTokenExpiry().
#ifndef CUSTOS_DEP_SERVICE_H_
#define CUSTOS_DEP_SERVICE_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/config.h"
#include "base/metrics.h"
#include "base/random.h"
#include "base/status.h"
#include "base/time.h"
#include "dep/client.h"
#include "mdm/hooks.h"
#include "storage/storage.h"

namespace custos::dep {

// What `custos dep show` and GET /v1/dep/{name} report.
struct DepNameInfo {
  std::string name;
  std::string current_cert_sha256;  // "" when none
  std::string staging_cert_sha256;  // "" when none
  std::string consumer_key;         // "" when no tokens
  std::optional<Time> access_token_expiry;
  bool token_expiry_warning = false;  // expires within the warning window (or expired)
  std::string server_uuid;
  std::string cursor;
  std::optional<Time> cursor_at;
  bool fetch_completed = false;
};

struct UploadResult {
  bool promoted = false;  // staging became current
  DepNameInfo info;
};

class DepService {
 public:
  // `storage`, `clock`, `random` must outlive the service. `passphrase` is the CA passphrase ("" =
  // keys stored unencrypted). INVALID_ARGUMENT for a malformed base URL.
  static StatusOr<std::unique_ptr<DepService>> Create(
      const DepConfig& config, Storage* storage, Clock* clock, Random* random,
      std::string passphrase, metrics::Registry* registry = &metrics::Default());

  // Generates a new staging pair for `name` (creating the name) and returns its certificate PEM.
  // INVALID_ARGUMENT for a bad name (1-64 of [A-Za-z0-9._-]).
  StatusOr<std::string> NewStagingCertificate(std::string_view name);

  // See the file comment. NOT_FOUND for an unknown name; INVALID_ARGUMENT when the file opens
  // with neither key or is malformed; FAILED_PRECONDITION for a consumer-key change without
  // `force` (or a staging pair replaced meanwhile).
  StatusOr<UploadResult> UploadTokens(std::string_view name, std::string_view token_file,
                                      bool force);

  StatusOr<DepNameInfo> Show(std::string_view name);  // NOT_FOUND
  StatusOr<std::vector<DepNameInfo>> List();

  // The current certificate PEM (NOT_FOUND without one).
  StatusOr<std::string> CurrentCertificatePem(std::string_view name);

  // A MAID JWT signed with the current key of `name`. The issuer is `server_uuid_override`, else
  // the cached server UUID, else the one from an ABM account call (then cached). FAILED_PRECONDITION
  // without a current key, or when no server UUID can be had.
  StatusOr<std::string> MaidJwt(std::string_view name, std::string_view server_uuid_override = "");
  // The DEP name that answers GetToken com.apple.maid: [dep] maid_name, else the only name.
  // FAILED_PRECONDITION when none or several are configured.
  StatusOr<std::string> MaidName();

  // An ABM client for `name` with its stored tokens. FAILED_PRECONDITION without tokens.
  StatusOr<std::unique_ptr<AbmClient>> NewClient(std::string_view name);

  // Updates the expiry metric of every name and logs a warning for tokens expiring within the
  // window. Returns the names that are in the window.
  std::vector<std::string> CheckTokenExpiry();

  const DepConfig& config() const { return config_; }
  Storage* storage() const { return storage_; }
  Clock* clock() const { return clock_; }
  Random* random() const { return random_; }
  // Tests: options for the clients this service creates (base_url is taken from config).
  void set_client_options(AbmClientOptions options) { client_options_ = std::move(options); }

 private:
  DepService(const DepConfig& config, Storage* storage, Clock* clock, Random* random,
             std::string passphrase, metrics::Registry* registry);
  DepNameInfo Describe(const DepNameRecord& record) const;
  // The stored record of `name`, in a read-only transaction (NOT_FOUND).
  StatusOr<DepNameRecord> LoadName(std::string_view name);

  DepConfig config_;
  Storage* storage_;
  Clock* clock_;
  Random* random_;
  std::string passphrase_;
  AbmClientOptions client_options_;
  metrics::GaugeFamily& expiry_gauge_;
};

// 1-64 characters of [A-Za-z0-9._-]. INVALID_ARGUMENT otherwise.
Status ValidateDepName(std::string_view name);

}  // namespace custos::dep

#endif  // CUSTOS_DEP_SERVICE_H_
