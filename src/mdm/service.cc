#include "mdm/service.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <unordered_set>

#include "base/encoding.h"
#include "base/logging.h"
#include "base/openssl_util.h"

namespace custos::mdm {
namespace {

constexpr size_t kTokenKeyBytes = 32;
constexpr size_t kGcmNonceBytes = 12;
constexpr size_t kGcmTagBytes = 16;
constexpr char kTokenFormatVersion = 1;
// last_seen is refreshed at most this often, so an idle device's polls stay read-only.
constexpr auto kLastSeenResolution = std::chrono::seconds(60);

std::string ErrorChainJson(const std::vector<ErrorChainEntry>& chain) {
  if (chain.empty()) return "";
  nlohmann::json j = nlohmann::json::array();
  for (const auto& e : chain) {
    j.push_back({{"ErrorCode", e.error_code},
                 {"ErrorDomain", e.error_domain},
                 {"LocalizedDescription", e.localized_description},
                 {"USEnglishDescription", e.us_english_description}});
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

MdmReply EmptyReply() { return MdmReply{}; }

MdmReply PlistReply(std::string body) {
  MdmReply r;
  r.body = std::move(body);
  r.content_type = "application/xml";
  return r;
}

// ---- DeclarativeManagement over libcurl ----------------------------------------------------------

size_t AppendBody(char* data, size_t size, size_t n, void* out) {
  constexpr size_t kMaxResponse = 8 * 1024 * 1024;
  auto* s = static_cast<std::string*>(out);
  if (s->size() + size * n > kMaxResponse) return 0;  // aborts the transfer
  s->append(data, size * n);
  return size * n;
}

class HttpForwarder : public DeclarativeManagementForwarder {
 public:
  HttpForwarder(std::string base_url, Duration timeout)
      : base_url_(std::move(base_url)), timeout_(timeout) {
    while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
  }

  StatusOr<std::string> Forward(const DeclarativeManagementRequest& request) override {
    // The endpoint comes from the device: it may name a path below the base URL, nothing else.
    if (request.endpoint.find("..") != std::string::npos ||
        request.endpoint.find_first_of("?#\\ \r\n\t") != std::string::npos) {
      return InvalidArgumentError("DeclarativeManagement Endpoint \"" +
                                  PrintableForError(request.endpoint) + "\" is not a plain path");
    }
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
    if (!curl) return InternalError("curl_easy_init failed");
    std::string url = base_url_ + "/" + request.endpoint;
    std::string response;
    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, ("X-Enrollment-ID: " + request.enrollment_id).c_str());
    std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_guard(headers,
                                                                              curl_slist_free_all);
    curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, static_cast<long>(timeout_.count()));
    curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, AppendBody);
    curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &response);
    if (!request.data.empty()) {
      curl_easy_setopt(curl.get(), CURLOPT_POST, 1L);
      curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, request.data.data());
      curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE, static_cast<long>(request.data.size()));
    }
    CURLcode rc = curl_easy_perform(curl.get());
    if (rc != CURLE_OK) {
      return UnavailableError("DeclarativeManagement forward to " + url + " failed: " +
                              curl_easy_strerror(rc));
    }
    long code = 0;
    curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &code);
    if (code < 200 || code > 299) {
      return UnavailableError("DeclarativeManagement forward to " + url + " answered HTTP " +
                              std::to_string(code));
    }
    return response;
  }

 private:
  std::string base_url_;
  Duration timeout_;
};

}  // namespace

std::unique_ptr<DeclarativeManagementForwarder> NewHttpDeclarativeManagementForwarder(
    std::string base_url, Duration timeout) {
  return std::make_unique<HttpForwarder>(std::move(base_url), timeout);
}

StatusOr<std::string> LoadOrCreateBootstrapTokenKey(const std::string& path, Random* random) {
  std::ifstream in(path, std::ios::binary);
  if (in) {
    std::ostringstream ss;
    ss << in.rdbuf();
    std::string key = ss.str();
    if (key.size() != kTokenKeyBytes) {
      return FailedPreconditionError("bootstrap token key file " + path + " holds " +
                                     std::to_string(key.size()) + " bytes, expected 32");
    }
    return key;
  }
  std::string key = random->Bytes(kTokenKeyBytes);
  std::error_code ec;
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  // O_EXCL: two processes starting at once must not both write a key (the loser reads the
  // winner's).
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return LoadOrCreateBootstrapTokenKey(path, random);
    return FailedPreconditionError("cannot create bootstrap token key file " + path + ": " +
                                   std::strerror(errno));
  }
  ssize_t written = write(fd, key.data(), key.size());
  int close_rc = close(fd);
  if (written != static_cast<ssize_t>(key.size()) || close_rc != 0) {
    unlink(path.c_str());
    return FailedPreconditionError("cannot write bootstrap token key file " + path);
  }
  spdlog::info("generated the bootstrap token key {}", path);
  return key;
}

// ---- MdmService --------------------------------------------------------------------------------

StatusOr<std::unique_ptr<MdmService>> MdmService::Create(MdmServiceOptions options,
                                                          Storage* storage, Clock* clock,
                                                          Random* random) {
  if (options.bootstrap_token_key.size() != kTokenKeyBytes) {
    return InvalidArgumentError("the bootstrap token key must be 32 bytes");
  }
  if (storage == nullptr || clock == nullptr || random == nullptr) {
    return InvalidArgumentError("MdmService needs storage, a clock and randomness");
  }
  return std::unique_ptr<MdmService>(new MdmService(std::move(options), storage, clock, random));
}

MdmService::MdmService(MdmServiceOptions options, Storage* storage, Clock* clock, Random* random)
    : options_(std::move(options)), storage_(storage), clock_(clock), random_(random) {}

MdmService::~MdmService() = default;

void MdmService::SetDeclarativeManagement(
    std::unique_ptr<DeclarativeManagementForwarder> forwarder) {
  std::lock_guard<std::mutex> lock(mu_);
  forwarder_ = std::move(forwarder);
}

void MdmService::RegisterTokenService(std::string token_service_type,
                                      std::shared_ptr<TokenService> service) {
  std::lock_guard<std::mutex> lock(mu_);
  token_services_[std::move(token_service_type)] = std::move(service);
}

void MdmService::Publish(MdmEvent event) {
  EventSink* sink = sink_.load();
  if (sink != nullptr) sink->Publish(std::move(event));
}

// Bootstrap tokens at rest: version (1) | nonce (12) | AES-256-GCM ciphertext | tag (16), with
// the device id as authenticated data, so a token copied to another device's row does not decrypt.
namespace {

StatusOr<std::string> Seal(std::string_view key, std::string_view nonce, std::string_view aad,
                           std::string_view plaintext) {
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(),
                                                                      EVP_CIPHER_CTX_free);
  if (!ctx) return OpenSslError("EVP_CIPHER_CTX_new");
  const auto* k = reinterpret_cast<const unsigned char*>(key.data());
  const auto* iv = reinterpret_cast<const unsigned char*>(nonce.data());
  int len = 0;
  std::string out(1, kTokenFormatVersion);
  out += nonce;
  const size_t header = out.size();
  out.resize(header + plaintext.size() + kGcmTagBytes);
  auto* dst = reinterpret_cast<unsigned char*>(out.data() + header);
  if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kGcmNonceBytes, nullptr) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, k, iv) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), dst, &len,
                        reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) != 1) {
    return OpenSslError("AES-256-GCM encrypt");
  }
  int total = len;
  if (EVP_EncryptFinal_ex(ctx.get(), dst + total, &len) != 1) return OpenSslError("AES-GCM final");
  total += len;
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kGcmTagBytes, dst + total) != 1) {
    return OpenSslError("AES-GCM tag");
  }
  out.resize(header + total + kGcmTagBytes);
  return out;
}

StatusOr<std::string> Open(std::string_view key, std::string_view aad, std::string_view sealed) {
  if (sealed.size() < 1 + kGcmNonceBytes + kGcmTagBytes || sealed[0] != kTokenFormatVersion) {
    return DataLossError("stored bootstrap token is malformed");
  }
  std::string_view nonce = sealed.substr(1, kGcmNonceBytes);
  std::string_view body = sealed.substr(1 + kGcmNonceBytes);
  std::string_view tag = body.substr(body.size() - kGcmTagBytes);
  body.remove_suffix(kGcmTagBytes);
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(),
                                                                      EVP_CIPHER_CTX_free);
  if (!ctx) return OpenSslError("EVP_CIPHER_CTX_new");
  std::string out(body.size(), '\0');
  int len = 0;
  if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kGcmNonceBytes, nullptr) != 1 ||
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr,
                         reinterpret_cast<const unsigned char*>(key.data()),
                         reinterpret_cast<const unsigned char*>(nonce.data())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len,
                        reinterpret_cast<const unsigned char*>(body.data()),
                        static_cast<int>(body.size())) != 1) {
    return OpenSslError("AES-256-GCM decrypt");
  }
  int total = len;
  std::string tag_copy(tag);
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kGcmTagBytes, tag_copy.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()) + total, &len) !=
          1) {
    ERR_clear_error();
    return DataLossError(
        "stored bootstrap token does not decrypt (wrong mdm.bootstrap_token_key_file?)");
  }
  out.resize(total + len);
  return out;
}

}  // namespace

// ---- Identity ----------------------------------------------------------------------------------

bool IsHardwareAttestedIdentity(const CertificateRecord& cert) {
  if (cert.requester != "acme") return false;
  auto attributes = nlohmann::json::parse(cert.attributes_json, nullptr, /*allow_exceptions=*/false);
  if (!attributes.is_object()) return false;
  auto attested = attributes.find("attested");
  auto bound = attributes.find("hardware_bound");
  return attributes.value("challenge", "") == "device-attest-01" && attested != attributes.end() &&
         attested->is_object() && bound != attributes.end() && bound->is_boolean() &&
         bound->get<bool>();
}

namespace {

// Sets the device's hardware_attested mark from the certificate it now speaks with (issue 7).
Status MarkHardwareAttested(Stores& stores, const std::string& device_id,
                            const std::string& cert_serial_hex) {
  bool attested = false;
  auto cert = stores.certs().GetBySerial(cert_serial_hex);
  if (cert.ok()) {
    attested = IsHardwareAttestedIdentity(*cert);
  } else if (cert.status().code() != StatusCode::kNotFound) {
    return cert.status();
  }
  Status st = stores.policy().SetDeviceAttestation({device_id, attested, cert_serial_hex});
  return st.code() == StatusCode::kNotFound ? OkStatus() : st;  // no device record (yet)
}

}  // namespace

Status MdmService::AuthorizeIdentity(Stores& stores, const VerifiedDevice& device,
                                     const ResolvedEnrollment& enrollment, bool authenticate,
                                     std::string_view what) {
  MdmStore& store = stores.mdm();
  const std::string& device_id = enrollment.device_id();
  if (device.cert_sha256.empty()) {
    return PermissionDeniedError(std::string(what) + " from " + device_id +
                                 " without an identity certificate");
  }
  auto existing = store.GetCertAssociation(device.cert_sha256);
  if (existing.ok()) {
    if (existing->device_id == device_id) return OkStatus();
    return PermissionDeniedError(std::string(what) + " for " + device_id + ": certificate " +
                                 device.serial_hex + " (" + device.source +
                                 ") is associated with another device, " + existing->device_id);
  }
  if (existing.status().code() != StatusCode::kNotFound) return existing.status();
  MdmCertAssociation association{device.cert_sha256, device.serial_hex, device_id,
                                 clock_->Now()};
  if (authenticate) return store.AssociateCert(association);
  // Not associated: accepted only as custos' renewal of a certificate this device holds.
  if (!device.renewal_of.empty()) {
    auto renewed = store.GetCertAssociationBySerial(device.renewal_of);
    if (renewed.ok() && renewed->device_id == device_id) {
      spdlog::info("MDM {}: certificate {} renews {}; associated without Authenticate", device_id,
                   device.serial_hex, device.renewal_of);
      RETURN_IF_ERROR(store.AssociateCert(association));
      // Issue 7: the device's hardware_attested mark follows its newest identity.
      return MarkHardwareAttested(stores, device_id, device.serial_hex);
    }
    if (!renewed.ok() && renewed.status().code() != StatusCode::kNotFound) {
      return renewed.status();
    }
  }
  // Issue 7, identity renewal (mdm/renewal.h): or a certificate issued against the one-time secret
  // of a renewal profile custos queued for THIS device (by the SCEP transaction or ACME order that
  // spent it), while the renewed identity is still valid and associated with this device.
  ASSIGN_OR_RETURN(auto arranged,
                   stores.renewal().FindRequestForIssuedCert(device_id, device.serial_hex));
  if (arranged.has_value()) {
    spdlog::info("MDM {}: certificate {} comes from renewal profile {} of {}; associated without "
                 "Authenticate", device_id, device.serial_hex, arranged->command_uuid,
                 arranged->old_serial);
    RETURN_IF_ERROR(store.AssociateCert(association));
    RETURN_IF_ERROR(
        stores.renewal().CompleteRequest(arranged->id, device.serial_hex, association.created_at));
    return MarkHardwareAttested(stores, device_id, device.serial_hex);
  }
  return PermissionDeniedError(std::string(what) + " for " + device_id + ": certificate " +
                               device.serial_hex + " (" + device.source +
                               ") is not associated with this device (no Authenticate with it)");
}

// ---- Check-in ----------------------------------------------------------------------------------

StatusOr<MdmReply> MdmService::Checkin(const VerifiedDevice& device, std::string_view body) {
  ASSIGN_OR_RETURN(CheckinMessage msg, DecodeCheckin(body, options_.limits));
  const ResolvedEnrollment& enr = msg.enrollment;
  const std::string& device_id = enr.device_id();
  const std::string type_name(MessageTypeName(msg.type));
  const Time now = clock_->Now();

  if (msg.type == MessageType::kAuthenticate && enr.user_channel) {
    return InvalidArgumentError("Authenticate on a user channel (" + enr.id + ")");
  }
  if (msg.type == MessageType::kGetToken) {
    std::lock_guard<std::mutex> lock(mu_);
    const auto* m = msg.As<GetTokenMessage>();
    if (token_services_.find(m->token_service_type) == token_services_.end()) {
      return InvalidArgumentError("GetToken: unknown TokenServiceType \"" +
                                  PrintableForError(m->token_service_type) + "\"");
    }
  }
  if (msg.type == MessageType::kDeclarativeManagement) {
    std::lock_guard<std::mutex> lock(mu_);
    if (forwarder_ == nullptr) {
      return FailedPreconditionError(
          "DeclarativeManagement is not configured (set mdm.declarative_management_url)");
    }
  }

  // Issue 7: the enrollment policy may refuse the identity (recorded by the policy).
  if (AuthenticatePolicy* policy = authenticate_policy_.load();
      policy != nullptr && msg.type == MessageType::kAuthenticate) {
    const auto* m = msg.As<AuthenticateMessage>();
    RETURN_IF_ERROR(policy->CheckAuthenticate({device_id, m->serial_number, m->product_name,
                                               m->os_version, device.serial_hex, device.source}));
  }

  MdmReply reply;
  Status st = storage_->Transact([&](Stores& stores) -> Status {
    reply = EmptyReply();
    MdmStore& store = stores.mdm();
    RETURN_IF_ERROR(AuthorizeIdentity(stores, device, enr,
                                      msg.type == MessageType::kAuthenticate, type_name));
    StatusOr<MdmEnrollmentRecord> current = store.GetEnrollment(enr.id);
    if (!current.ok() && current.status().code() != StatusCode::kNotFound) return current.status();
    const bool exists = current.ok();

    switch (msg.type) {
      case MessageType::kAuthenticate: {
        const auto* m = msg.As<AuthenticateMessage>();
        MdmDeviceRecord d;
        d.id = device_id;
        d.serial_number = m->serial_number;
        d.model = m->model;
        d.model_name = m->model_name;
        d.product_name = m->product_name;
        d.device_name = m->device_name;
        d.os_version = m->os_version;
        d.build_version = m->build_version;
        d.imei = m->imei;
        d.meid = m->meid;
        d.authenticate_raw = msg.raw;
        d.created_at = now;
        d.updated_at = now;
        RETURN_IF_ERROR(store.UpsertDevice(d));
        // Issue 7: hardware_attested from the presented certificate's issuance record.
        RETURN_IF_ERROR(MarkHardwareAttested(stores, device_id, device.serial_hex));
        RETURN_IF_ERROR(store.ClearQueue(device_id, now).status());
        RETURN_IF_ERROR(store.DisableEnrollment(device_id, /*with_user_channels=*/true, now).status());
        MdmEnrollmentRecord e = exists ? *current : MdmEnrollmentRecord{};
        e.id = enr.id;
        e.type = std::string(EnrollmentTypeName(enr.type));
        e.parent_id = "";
        e.device_id = device_id;
        e.topic = msg.topic;
        e.enabled = false;
        e.token_update_tally = 0;
        e.last_seen = now;
        if (!exists) e.created_at = now;
        e.updated_at = now;
        return store.UpsertEnrollment(e);
      }
      case MessageType::kTokenUpdate: {
        const auto* m = msg.As<TokenUpdateMessage>();
        if (enr.user_channel) {
          auto parent = store.GetEnrollment(device_id);
          if (!parent.ok()) {
            return parent.status().code() == StatusCode::kNotFound
                       ? FailedPreconditionError("TokenUpdate for user channel " + enr.id +
                                                 " of unknown device " + device_id)
                       : parent.status();
          }
        } else if (!exists) {
          return FailedPreconditionError("TokenUpdate from " + enr.id + " before Authenticate");
        }
        MdmEnrollmentRecord e = exists ? *current : MdmEnrollmentRecord{};
        e.id = enr.id;
        e.type = std::string(EnrollmentTypeName(enr.type));
        e.parent_id = enr.user_channel ? enr.parent_id : "";
        e.device_id = device_id;
        e.user_id = msg.identifiers.user_id;
        e.user_short_name = msg.identifiers.user_short_name;
        e.user_long_name = msg.identifiers.user_long_name;
        e.enrollment_user_id = msg.identifiers.enrollment_user_id;
        e.topic = msg.topic;
        e.push_token_hex = HexEncode(m->token);
        e.push_magic = m->push_magic;
        if (m->unlock_token) e.unlock_token = *m->unlock_token;
        e.enabled = true;
        e.token_unregistered = false;
        e.token_update_tally += 1;
        e.last_seen = now;
        if (!exists) e.created_at = now;
        e.updated_at = now;
        return store.UpsertEnrollment(e);
      }
      case MessageType::kCheckOut:
        RETURN_IF_ERROR(store.DisableEnrollment(enr.id, !enr.user_channel, now).status());
        return store.TouchEnrollment(enr.id, now);
      case MessageType::kUserAuthenticate: {
        const auto* m = msg.As<UserAuthenticateMessage>();
        if (!options_.user_authenticate_digest_challenge) {
          reply.http_status = 410;
        } else if (!m->digest_response) {
          ASSIGN_OR_RETURN(std::string challenge, EncodeUserAuthenticateChallenge(""));
          reply = PlistReply(std::move(challenge));
        }  // the second request (with DigestResponse): an empty 200
        return OkStatus();
      }
      case MessageType::kSetBootstrapToken: {
        const auto* m = msg.As<SetBootstrapTokenMessage>();
        std::string sealed;
        if (m->bootstrap_token && !m->bootstrap_token->empty()) {
          ASSIGN_OR_RETURN(sealed, Seal(options_.bootstrap_token_key,
                                        random_->Bytes(kGcmNonceBytes), device_id,
                                        *m->bootstrap_token));
        }
        RETURN_IF_ERROR(store.PutBootstrapToken(device_id, sealed, now));
        return store.TouchEnrollment(enr.id, now);
      }
      case MessageType::kGetBootstrapToken: {
        std::string token;
        auto sealed = store.GetBootstrapToken(device_id);
        if (sealed.ok()) {
          ASSIGN_OR_RETURN(token, Open(options_.bootstrap_token_key, device_id, *sealed));
        } else if (sealed.status().code() != StatusCode::kNotFound) {
          return sealed.status();
        }
        ASSIGN_OR_RETURN(std::string body_out, EncodeGetBootstrapTokenResponse(token));
        reply = PlistReply(std::move(body_out));
        return store.TouchEnrollment(enr.id, now);
      }
      case MessageType::kDeclarativeManagement:
      case MessageType::kGetToken:
        // Answered after the transaction (network or another component's storage).
        return store.TouchEnrollment(enr.id, now);
    }
    return InternalError("unhandled MessageType");
  });
  if (!st.ok()) {
    spdlog::warn("MDM check-in {} from {} refused: {}", type_name, enr.id, st.ToString());
    return st;
  }

  if (msg.type == MessageType::kDeclarativeManagement) {
    const auto* m = msg.As<DeclarativeManagementMessage>();
    std::shared_ptr<DeclarativeManagementForwarder> forwarder;
    {
      std::lock_guard<std::mutex> lock(mu_);
      forwarder = forwarder_;
    }
    if (forwarder == nullptr) {
      return FailedPreconditionError("DeclarativeManagement is not configured");
    }
    ASSIGN_OR_RETURN(std::string out,
                     forwarder->Forward({enr.id, m->endpoint, m->data.value_or(""), msg.raw}));
    reply = MdmReply{200, std::move(out), "application/json"};
  } else if (msg.type == MessageType::kGetToken) {
    const auto* m = msg.As<GetTokenMessage>();
    std::shared_ptr<TokenService> service;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = token_services_.find(m->token_service_type);
      if (it != token_services_.end()) service = it->second;
    }
    if (service == nullptr) {
      return InvalidArgumentError("GetToken: unknown TokenServiceType \"" +
                                  PrintableForError(m->token_service_type) + "\"");
    }
    ASSIGN_OR_RETURN(std::string token_data,
                     service->GetToken({enr.id, device_id, m->token_service_type,
                                        m->token_parameters, msg.raw}));
    ASSIGN_OR_RETURN(std::string out, EncodeGetTokenResponse(token_data));
    reply = PlistReply(std::move(out));
  }

  spdlog::info("MDM check-in {} from {} ({})", type_name, enr.id, device.source);
  MdmEvent event;
  event.topic = "mdm." + type_name;
  event.event_id = random_->Uuid();
  event.created_at = now;
  event.enrollment_id = enr.id;
  event.udid = msg.identifiers.udid;
  event.user_id = msg.identifiers.user_id;
  event.enrollment_user_id = msg.identifiers.enrollment_user_id;
  event.raw_payload = msg.raw;
  Publish(std::move(event));
  return reply;
}

// ---- Command reports ---------------------------------------------------------------------------

StatusOr<MdmReply> MdmService::Report(const VerifiedDevice& device, std::string_view body) {
  ASSIGN_OR_RETURN(CommandResult result, DecodeCommandResult(body, options_.limits));
  const ResolvedEnrollment& enr = result.enrollment;
  const std::string status_name(CommandStatusName(result.status));
  const bool idle = result.status == CommandStatus::kIdle;
  const Time now = clock_->Now();
  const std::string error_chain = ErrorChainJson(result.error_chain);

  MdmReply reply;
  std::string delivered;  // CommandUUID sent back, for the log
  // Phase 1 is read-only and finishes an Idle poll with nothing to send by a recently seen
  // device; everything else (and any identity association) runs read-write in phase 2.
  bool needs_write = false;
  auto body_fn = [&](Stores& stores, bool read_only) -> Status {
    reply = EmptyReply();
    delivered.clear();
    needs_write = false;
    MdmStore& store = stores.mdm();
    if (read_only) {
      // Phase 1 (Idle only): association, last_seen and "anything queued" in one statement.
      // Anything but "associated with this device, enrollment known, recently seen, queue
      // empty" is decided (refused, associated, delivered, touched) by phase 2.
      ASSIGN_OR_RETURN(MdmIdleState state, store.GetIdleState(device.cert_sha256, enr.id, now));
      const bool stale = !state.last_seen || now - *state.last_seen >= kLastSeenResolution;
      needs_write = !state.enrollment_found || state.command_pending || stale ||
                    state.cert_device_id != enr.device_id();
      return OkStatus();
    }
    RETURN_IF_ERROR(AuthorizeIdentity(stores, device, enr, false, "command report " + status_name));
    auto current = store.GetEnrollment(enr.id);
    if (!current.ok()) {
      return current.status().code() == StatusCode::kNotFound
                 ? FailedPreconditionError("command report from unknown enrollment " + enr.id)
                 : current.status();
    }
    if (!idle) {
      auto entry = store.GetQueueEntry(enr.id, result.command_uuid);
      if (!entry.ok() && entry.status().code() != StatusCode::kNotFound) return entry.status();
      if (!entry.ok() || entry->status == kMdmQueued) {
        return InvalidArgumentError("result " + status_name + " for command " +
                                    PrintableForError(result.command_uuid) +
                                    " that was never sent to " + enr.id);
      }
      if (entry->active) {
        RETURN_IF_ERROR(store.RecordResult(enr.id, result.command_uuid, status_name, result.raw,
                                           error_chain, now));
      } else {
        spdlog::info("MDM {}: repeated {} for retired command {} ({}); kept the first result",
                     enr.id, status_name, result.command_uuid, entry->status);
      }
    }
    ASSIGN_OR_RETURN(auto next, store.NextCommand(enr.id, now, /*skip_not_now=*/!idle));
    const bool stale = !current->last_seen || now - *current->last_seen >= kLastSeenResolution;
    if (next) {
      RETURN_IF_ERROR(store.MarkSent(enr.id, next->command_uuid, now));
      delivered = next->command_uuid;
      reply = PlistReply(std::move(next->payload));
    }
    if (stale) RETURN_IF_ERROR(store.TouchEnrollment(enr.id, now));
    return OkStatus();
  };

  Status st = OkStatus();
  if (idle) {
    st = storage_->Transact([&](Stores& s) { return body_fn(s, true); }, TxMode::kReadOnly);
  }
  if (st.ok() && (!idle || needs_write)) {
    st = storage_->Transact([&](Stores& s) { return body_fn(s, false); });
  }
  if (!st.ok()) {
    spdlog::warn("MDM report {} {} from {} refused: {}", status_name,
                 PrintableForError(result.command_uuid), enr.id, st.ToString());
    return st;
  }
  if (!delivered.empty()) spdlog::debug("MDM {}: sent command {}", enr.id, delivered);

  MdmEvent event;
  event.topic = "mdm.Connect";
  event.event_id = random_->Uuid();
  event.created_at = now;
  event.enrollment_id = enr.id;
  event.udid = result.identifiers.udid;
  event.user_id = result.identifiers.user_id;
  event.enrollment_user_id = result.identifiers.enrollment_user_id;
  event.raw_payload = result.raw;
  event.command_uuid = result.command_uuid;
  event.status = status_name;
  Publish(std::move(event));
  return reply;
}

// ---- Administration ----------------------------------------------------------------------------

StatusOr<EnqueueResult> MdmService::Enqueue(const EnqueueRequest& request) {
  if (request.enrollment_ids.empty()) return InvalidArgumentError("no enrollment ids");
  std::vector<std::string> ids;
  ids.reserve(request.enrollment_ids.size());
  {
    std::unordered_set<std::string> seen;
    seen.reserve(request.enrollment_ids.size());
    for (const auto& id : request.enrollment_ids) {
      RETURN_IF_ERROR(CheckIdentifier(id, "enrollment id"));
      if (seen.insert(id).second) ids.push_back(id);
    }
  }
  Command command;
  if (!request.raw_command.empty()) {
    ASSIGN_OR_RETURN(command, DecodeRawCommand(request.raw_command, options_.limits));
  } else {
    if (request.request_type.empty()) {
      return InvalidArgumentError("give a raw command plist or a request type");
    }
    std::string uuid = request.command_uuid.empty() ? random_->Uuid() : request.command_uuid;
    ASSIGN_OR_RETURN(command, BuildCommand(request.request_type, request.params, uuid));
  }
  RETURN_IF_ERROR(CheckIdentifier(command.uuid, "CommandUUID"));
  RETURN_IF_ERROR(CheckIdentifier(command.request_type, "RequestType"));
  ASSIGN_OR_RETURN(std::string payload, EncodeCommand(command));

  const Time now = clock_->Now();
  MdmCommandRecord record;
  record.command_uuid = command.uuid;
  record.request_type = command.request_type;
  record.payload = std::move(payload);
  record.priority = request.priority;
  record.expires_at = request.expires_at;
  if (!record.expires_at && options_.command_expiry.count() > 0) {
    record.expires_at = now + options_.command_expiry;
  }
  record.created_at = now;

  EnqueueResult out;
  out.command_uuid = command.uuid;
  out.request_type = command.request_type;
  RETURN_IF_ERROR(storage_->Transact([&](Stores& stores) -> Status {
    RETURN_IF_ERROR(stores.mdm().InsertCommand(record));
    ASSIGN_OR_RETURN(out.queued, stores.mdm().Enqueue(record.command_uuid, ids, now));
    return OkStatus();
  }));
  if (out.queued.size() != ids.size()) {
    std::unordered_set<std::string> queued(out.queued.begin(), out.queued.end());
    for (const auto& id : ids) {
      if (!queued.count(id)) out.unknown.push_back(id);
    }
  }
  spdlog::info("MDM command {} {} queued for {} enrollment(s), {} unknown", out.request_type,
               out.command_uuid, out.queued.size(), out.unknown.size());
  PushTrigger* push = push_.load();
  if (!request.no_push && push != nullptr && !out.queued.empty()) {
    push->PushEnrollments(out.queued);
    out.push_requested = true;
  }
  return out;
}

StatusOr<std::vector<MdmEnrollmentRecord>> MdmService::ListEnrollments(
    const MdmEnrollmentFilter& filter) {
  std::vector<MdmEnrollmentRecord> out;
  RETURN_IF_ERROR(storage_->Transact(
      [&](Stores& s) -> Status {
        ASSIGN_OR_RETURN(out, s.mdm().ListEnrollments(filter));
        return OkStatus();
      },
      TxMode::kReadOnly));
  return out;
}

StatusOr<MdmEnrollmentRecord> MdmService::GetEnrollment(std::string_view id) {
  MdmEnrollmentRecord out;
  RETURN_IF_ERROR(storage_->Transact(
      [&](Stores& s) -> Status {
        ASSIGN_OR_RETURN(out, s.mdm().GetEnrollment(id));
        return OkStatus();
      },
      TxMode::kReadOnly));
  return out;
}

StatusOr<std::vector<MdmQueueEntry>> MdmService::ListCommands(const MdmQueueFilter& filter) {
  std::vector<MdmQueueEntry> out;
  RETURN_IF_ERROR(storage_->Transact(
      [&](Stores& s) -> Status {
        ASSIGN_OR_RETURN(out, s.mdm().ListQueue(filter));
        return OkStatus();
      },
      TxMode::kReadOnly));
  const Time now = clock_->Now();
  for (auto& e : out) {
    if (e.active && e.expires_at && *e.expires_at <= now) {
      e.status = std::string(kMdmExpired);
      e.active = false;
    }
  }
  return out;
}

StatusOr<MdmCommandRecord> MdmService::GetCommand(std::string_view command_uuid) {
  MdmCommandRecord out;
  RETURN_IF_ERROR(storage_->Transact(
      [&](Stores& s) -> Status {
        ASSIGN_OR_RETURN(out, s.mdm().GetCommand(command_uuid));
        return OkStatus();
      },
      TxMode::kReadOnly));
  return out;
}

StatusOr<int64_t> MdmService::DeleteQueued(std::string_view enrollment_id,
                                           std::string_view command_uuid) {
  int64_t n = 0;
  RETURN_IF_ERROR(storage_->Transact([&](Stores& s) -> Status {
    ASSIGN_OR_RETURN(n, s.mdm().DeleteQueued(enrollment_id, command_uuid));
    return OkStatus();
  }));
  return n;
}

StatusOr<int64_t> MdmService::ExpireCommands() {
  int64_t n = 0;
  const Time now = clock_->Now();
  RETURN_IF_ERROR(storage_->Transact([&](Stores& s) -> Status {
    ASSIGN_OR_RETURN(n, s.mdm().ExpireCommands(now));
    return OkStatus();
  }));
  if (n > 0) spdlog::info("mdm: {} queued command(s) expired", n);
  return n;
}

StatusOr<std::vector<MdmPushInfo>> MdmService::GetPushInfo(
    const std::vector<std::string>& enrollment_ids) {
  std::vector<MdmPushInfo> out;
  RETURN_IF_ERROR(storage_->Transact(
      [&](Stores& s) -> Status {
        ASSIGN_OR_RETURN(out, s.mdm().GetPushInfo(enrollment_ids));
        return OkStatus();
      },
      TxMode::kReadOnly));
  return out;
}

Status MdmService::MarkTokenUnregistered(std::string_view enrollment_id,
                                         std::string_view push_token_hex) {
  return storage_->Transact([&](Stores& s) -> Status {
    return s.mdm().MarkTokenUnregistered(enrollment_id, push_token_hex, clock_->Now()).status();
  });
}

}  // namespace custos::mdm
