#include "dep/service.h"

#include "base/logging.h"
#include "dep/maid_jwt.h"
#include "dep/token_pki.h"
#include "pki/key.h"
#include "pki/x509.h"

namespace custos::dep {
namespace {

std::string CertHash(const std::string& pem) {
  if (pem.empty()) return "";
  StatusOr<X509Ptr> cert = ParseCertificate(pem);
  return cert.ok() ? CertSha256Hex(cert->get()) : "";
}

}  // namespace

Status ValidateDepName(std::string_view name) {
  if (name.empty() || name.size() > 64) return InvalidArgumentError("DEP name must be 1-64 characters");
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return InvalidArgumentError("DEP name may hold only A-Z a-z 0-9 . _ -");
  }
  return OkStatus();
}

DepService::DepService(const DepConfig& config, Storage* storage, Clock* clock, Random* random,
                       std::string passphrase, metrics::Registry* registry)
    : config_(config),
      storage_(storage),
      clock_(clock),
      random_(random),
      passphrase_(std::move(passphrase)),
      expiry_gauge_(registry->AddGauge("custos_dep_token_expiry_timestamp_seconds",
                                       "Expiry of the ABM OAuth tokens of a DEP name (unix "
                                       "seconds; 0 = unknown).",
                                       {"name"})) {
  client_options_.clock = clock;
  client_options_.random = random;
}

StatusOr<std::unique_ptr<DepService>> DepService::Create(const DepConfig& config,
                                                         Storage* storage, Clock* clock,
                                                         Random* random, std::string passphrase,
                                                         metrics::Registry* registry) {
  if (config.base_url.rfind("https://", 0) != 0 && config.base_url.rfind("http://", 0) != 0) {
    return InvalidArgumentError("dep.base_url must be an http(s) URL");
  }
  return std::unique_ptr<DepService>(
      new DepService(config, storage, clock, random, std::move(passphrase), registry));
}

DepNameInfo DepService::Describe(const DepNameRecord& r) const {
  DepNameInfo info;
  info.name = r.name;
  info.current_cert_sha256 = CertHash(r.current_cert_pem);
  info.staging_cert_sha256 = CertHash(r.staging_cert_pem);
  info.consumer_key = r.tokens.consumer_key;
  info.access_token_expiry = r.tokens.access_token_expiry;
  if (r.tokens.access_token_expiry) {
    info.token_expiry_warning =
        *r.tokens.access_token_expiry - clock_->Now() < config_.token_expiry_warning;
  }
  info.server_uuid = r.server_uuid;
  info.cursor = r.cursor;
  info.cursor_at = r.cursor_at;
  info.fetch_completed = r.fetch_completed_at.has_value();
  return info;
}

StatusOr<std::string> DepService::NewStagingCertificate(std::string_view name) {
  RETURN_IF_ERROR(ValidateDepName(name));
  Time now = clock_->Now();
  ASSIGN_OR_RETURN(TokenPkiPair pair, GenerateTokenPki(name, now, random_));
  ASSIGN_OR_RETURN(std::string key_pem, PrivateKeyToPkcs8Pem(pair.key.get(), passphrase_));
  std::string cert_pem = CertificatePem(pair.cert.get());
  RETURN_IF_ERROR(storage_->Transact(
      [&](Stores& s) { return s.dep().SetStaging(name, key_pem, cert_pem, now); }));
  spdlog::info("dep {}: new staging token PKI certificate {}", name, CertSha256Hex(pair.cert.get()));
  return cert_pem;
}

StatusOr<UploadResult> DepService::UploadTokens(std::string_view name,
                                                std::string_view token_file, bool force) {
  RETURN_IF_ERROR(ValidateDepName(name));
  ASSIGN_OR_RETURN(DepNameRecord record, LoadName(name));

  // Decrypt outside the transaction: crypto must not run inside a retried unit of work.
  auto try_pair = [&](const std::string& key_pem, const std::string& cert_pem) -> StatusOr<DepTokens> {
    ASSIGN_OR_RETURN(EvpPkeyPtr key, PrivateKeyFromPem(key_pem, passphrase_));
    ASSIGN_OR_RETURN(X509Ptr cert, ParseCertificate(cert_pem));
    return DecryptTokenFile(token_file, key.get(), cert.get());
  };
  std::optional<DepTokens> tokens;
  bool promote = false;
  Status staging_error = NotFoundError("no staging pair");
  if (!record.staging_cert_pem.empty()) {
    StatusOr<DepTokens> t = try_pair(record.staging_key_pem, record.staging_cert_pem);
    if (t.ok()) {
      tokens = *std::move(t);
      promote = true;
    } else {
      staging_error = t.status();
      if (t.status().code() == StatusCode::kPermissionDenied) return t.status();  // wrong passphrase
    }
  }
  if (!tokens && !record.current_cert_pem.empty()) {
    StatusOr<DepTokens> t = try_pair(record.current_key_pem, record.current_cert_pem);
    if (t.ok()) tokens = *std::move(t);
  }
  if (!tokens) {
    return InvalidArgumentError("dep " + std::string(name) +
                                ": the token file does not open with the staging or the current "
                                "key (" + staging_error.message() + ")");
  }
  if (!record.tokens.consumer_key.empty() && record.tokens.consumer_key != tokens->consumer_key &&
      !force) {
    return FailedPreconditionError("dep " + std::string(name) + ": the token file is for consumer key " +
                                   tokens->consumer_key + ", not the stored " +
                                   record.tokens.consumer_key + " (another ABM server?); force to replace");
  }
  Time now = clock_->Now();
  RETURN_IF_ERROR(storage_->Transact([&](Stores& s) {
    if (promote) RETURN_IF_ERROR(s.dep().PromoteStaging(name, record.staging_cert_pem, now));
    return s.dep().SetTokens(name, *tokens, now);
  }));
  spdlog::info("dep {}: OAuth tokens stored (consumer key {}){}", name, tokens->consumer_key,
               promote ? ", staging pair promoted to current" : ", current pair kept");
  UploadResult result;
  result.promoted = promote;
  ASSIGN_OR_RETURN(result.info, Show(name));
  CheckTokenExpiry();
  return result;
}

StatusOr<DepNameRecord> DepService::LoadName(std::string_view name) {
  DepNameRecord record;
  RETURN_IF_ERROR(storage_->Transact(
      [&](Stores& s) {
        ASSIGN_OR_RETURN(record, s.dep().GetName(name));
        return OkStatus();
      },
      TxMode::kReadOnly));
  return record;
}

StatusOr<DepNameInfo> DepService::Show(std::string_view name) {
  ASSIGN_OR_RETURN(DepNameRecord record, LoadName(name));
  return Describe(record);
}

StatusOr<std::vector<DepNameInfo>> DepService::List() {
  std::vector<DepNameRecord> records;
  RETURN_IF_ERROR(storage_->Transact(
      [&](Stores& s) {
        ASSIGN_OR_RETURN(records, s.dep().ListNames());
        return OkStatus();
      },
      TxMode::kReadOnly));
  std::vector<DepNameInfo> out;
  for (const auto& r : records) out.push_back(Describe(r));
  return out;
}

StatusOr<std::string> DepService::CurrentCertificatePem(std::string_view name) {
  ASSIGN_OR_RETURN(DepNameRecord record, LoadName(name));
  if (record.current_cert_pem.empty()) return NotFoundError("dep " + std::string(name) + " has no current certificate");
  return record.current_cert_pem;
}

StatusOr<std::string> DepService::MaidJwt(std::string_view name,
                                          std::string_view server_uuid_override) {
  ASSIGN_OR_RETURN(DepNameRecord record, LoadName(name));
  if (record.current_key_pem.empty()) {
    return FailedPreconditionError("dep " + std::string(name) +
                                   " has no current key yet (upload a token file first)");
  }
  std::string server_uuid(server_uuid_override);
  if (server_uuid.empty()) server_uuid = record.server_uuid;
  if (server_uuid.empty()) {
    ASSIGN_OR_RETURN(auto client, NewClient(name));
    ASSIGN_OR_RETURN(nlohmann::json account, client->Account());
    if (!account.is_object() || !account.contains("server_uuid") || !account["server_uuid"].is_string()) {
      return FailedPreconditionError("dep " + std::string(name) + ": ABM account has no server_uuid");
    }
    server_uuid = account["server_uuid"].get<std::string>();
    Time now = clock_->Now();
    RETURN_IF_ERROR(storage_->Transact(
        [&](Stores& s) { return s.dep().SetServerUuid(name, server_uuid, now); }));
  }
  ASSIGN_OR_RETURN(EvpPkeyPtr key, PrivateKeyFromPem(record.current_key_pem, passphrase_));
  return SignMaidJwt(key.get(), server_uuid, kMaidServiceType, clock_->Now(), random_);
}

StatusOr<std::string> DepService::MaidName() {
  if (!config_.maid_name.empty()) return config_.maid_name;
  std::vector<DepNameRecord> records;
  RETURN_IF_ERROR(storage_->Transact(
      [&](Stores& s) {
        ASSIGN_OR_RETURN(records, s.dep().ListNames());
        return OkStatus();
      },
      TxMode::kReadOnly));
  if (records.size() != 1) {
    return FailedPreconditionError("set dep.maid_name: " + std::to_string(records.size()) +
                                   " DEP names are configured");
  }
  return records[0].name;
}

StatusOr<std::unique_ptr<AbmClient>> DepService::NewClient(std::string_view name) {
  ASSIGN_OR_RETURN(DepNameRecord record, LoadName(name));
  if (record.tokens.consumer_key.empty()) {
    return FailedPreconditionError("dep " + std::string(name) + " has no OAuth tokens yet");
  }
  AbmClientOptions options = client_options_;
  options.base_url = config_.base_url;
  return std::make_unique<AbmClient>(record.tokens, options);
}

std::vector<std::string> DepService::CheckTokenExpiry() {
  std::vector<std::string> warned;
  StatusOr<std::vector<DepNameInfo>> names = List();
  if (!names.ok()) {
    spdlog::warn("dep: cannot check token expiry: {}", names.status().ToString());
    return warned;
  }
  for (const DepNameInfo& n : *names) {
    expiry_gauge_.WithLabels({n.name}).Set(
        n.access_token_expiry ? static_cast<double>(ToUnixSeconds(*n.access_token_expiry)) : 0);
    if (n.token_expiry_warning) {
      spdlog::warn("dep {}: ABM tokens expire {} (renew: custos dep cert {})", n.name,
                   FormatRfc3339(*n.access_token_expiry), n.name);
      warned.push_back(n.name);
    }
  }
  return warned;
}

}  // namespace custos::dep
