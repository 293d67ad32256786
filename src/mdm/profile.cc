#include "mdm/profile.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/encoding.h"
#include "mdm/plist_util.h"
#include "pki/cms.h"
#include "pki/key.h"
#include "pki/x509.h"
#include "scep/service.h"

namespace custos::mdm {
namespace {

// A signer custos issued is replaced when it has less than this left.
constexpr Duration kSignerRenewBefore{30 * 86400};
// Marker in ScepChallengeRecord::bound_to for enrollment tokens (see the header comment).
constexpr std::string_view kTokenMarker = "custos:enroll-token";
constexpr std::string_view kTokenDomain = "custos enrollment token\n";
constexpr char kSignerCertFile[] = "/profile-signing.crt";
constexpr char kSignerKeyFile[] = "/profile-signing.key";

}  // namespace

// Shared with the OTA profile service (ota.cc): declared in profile.h.
std::string NewUuid(Random* random) {
  std::string b = random->Bytes(16);
  b[6] = static_cast<char>((b[6] & 0x0f) | 0x40);  // RFC 9562 version 4
  b[8] = static_cast<char>((b[8] & 0x3f) | 0x80);  // variant
  std::string hex = HexEncode(b);
  for (char& c : hex) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20);
}

// The keys every payload carries (CommonPayloadKeys.yaml).
Status SetPayloadHeader(plist_t dict, std::string_view type, std::string_view identifier,
                        std::string_view uuid, std::string_view display_name,
                        std::string_view organization) {
  RETURN_IF_ERROR(DictSetString(dict, "PayloadType", type));
  RETURN_IF_ERROR(DictSetInteger(dict, "PayloadVersion", 1));
  RETURN_IF_ERROR(DictSetString(dict, "PayloadIdentifier", identifier));
  RETURN_IF_ERROR(DictSetString(dict, "PayloadUUID", uuid));
  RETURN_IF_ERROR(DictSetString(dict, "PayloadDisplayName", display_name));
  if (!organization.empty()) RETURN_IF_ERROR(DictSetString(dict, "PayloadOrganization", organization));
  return OkStatus();
}

namespace {

// Apple's X.500 subject form: [ [ ["O", "x"] ], [ ["CN", "y"] ] ] (one RDN per outer element).
StatusOr<Plist> SubjectArray(const ProfileContent& c) {
  Plist subject = Plist::NewArray();
  auto add = [&](std::string_view field, std::string_view value) -> Status {
    RETURN_IF_ERROR(CheckPlistText(value, field));
    plist_t pair = plist_new_array();
    plist_array_append_item(pair, plist_new_string(std::string(field).c_str()));
    plist_array_append_item(pair, plist_new_string(std::string(value).c_str()));
    plist_t rdn = plist_new_array();
    plist_array_append_item(rdn, pair);
    plist_array_append_item(subject.get(), rdn);
    return OkStatus();
  };
  if (!c.organization.empty()) RETURN_IF_ERROR(add("O", c.organization));
  if (!c.subject_common_name.empty()) RETURN_IF_ERROR(add("CN", c.subject_common_name));
  return subject;
}

Status RequireField(std::string_view value, std::string_view what) {
  if (value.empty()) return InvalidArgumentError(std::string("enrollment profile: ") + std::string(what) + " is empty");
  return OkStatus();
}

StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError(path + ": cannot be read");
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Writes `data` to `path` atomically (temporary file + rename) with `mode`.
Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode) {
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return InternalError(tmp + ": " + strerror(errno));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n <= 0) {
      int e = errno;
      close(fd);
      unlink(tmp.c_str());
      return InternalError(tmp + ": " + strerror(e));
    }
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    unlink(tmp.c_str());
    return InternalError(tmp + ": cannot be written");
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    unlink(tmp.c_str());
    return InternalError(path + ": " + strerror(e));
  }
  return OkStatus();
}

// The trusted issuing certificate that signed `cert`, then the root.
std::vector<X509Ptr> ChainFor(X509* cert, Authority* ca) {
  std::vector<X509Ptr> chain;
  for (X509Ptr& issuer : ca->TrustedIssuers()) {
    if (X509_check_issued(issuer.get(), cert) == X509_V_OK) {
      chain.push_back(std::move(issuer));
      break;
    }
  }
  chain.push_back(ca->Root());
  return chain;
}

StatusOr<ProfileSigner> LoadConfiguredSigner(const EnrollConfig& config,
                                             std::string_view passphrase) {
  ASSIGN_OR_RETURN(std::string cert_pem, ReadFile(config.signing_cert_file));
  ASSIGN_OR_RETURN(std::string key_pem, ReadFile(config.signing_key_file));
  auto certs = ParseCertificateChain(cert_pem);
  if (!certs.ok()) return certs.status().WithContext("enroll.signing_cert_file");
  auto key = PrivateKeyFromPem(key_pem, passphrase);
  if (!key.ok()) return key.status().WithContext("enroll.signing_key_file");
  ProfileSigner signer;
  signer.cert = std::move(certs->front());
  for (size_t i = 1; i < certs->size(); ++i) signer.chain.push_back(std::move((*certs)[i]));
  signer.key = *std::move(key);
  if (X509_check_private_key(signer.cert.get(), signer.key.get()) != 1) {
    ERR_clear_error();
    return InvalidArgumentError("enroll.signing_key_file does not match enroll.signing_cert_file");
  }
  return signer;
}

// The stored custos-issued signer, when it is still good to use.
std::optional<ProfileSigner> LoadStoredSigner(const std::string& data_dir,
                                              std::string_view passphrase, Authority* ca,
                                              Clock* clock) {
  auto cert_pem = ReadFile(data_dir + kSignerCertFile);
  auto key_pem = ReadFile(data_dir + kSignerKeyFile);
  if (!cert_pem.ok() || !key_pem.ok()) return std::nullopt;
  auto cert = ParseCertificate(*cert_pem);
  auto key = PrivateKeyFromPem(*key_pem, passphrase);
  if (!cert.ok() || !key.ok()) {
    spdlog::warn("enroll: stored profile-signing certificate unusable, issuing a new one");
    return std::nullopt;
  }
  if (X509_check_private_key(cert->get(), key->get()) != 1) {
    ERR_clear_error();
    return std::nullopt;
  }
  Time now = clock->Now();
  if (NotAfter(cert->get()) - now < kSignerRenewBefore) return std::nullopt;
  // Still chains to a trusted issuing certificate, recorded and unrevoked.
  if (!ca->VerifyIssued(cert->get(), now).ok()) return std::nullopt;
  ProfileSigner signer;
  signer.cert = *std::move(cert);
  signer.key = *std::move(key);
  signer.chain = ChainFor(signer.cert.get(), ca);
  return signer;
}

std::string TokenDigest(std::string_view token) {
  return Sha256Hex(std::string(kTokenDomain) + std::string(token));
}

}  // namespace

StatusOr<EnrollIdentity> ParseEnrollIdentity(std::string_view name) {
  if (name == "scep") return EnrollIdentity::kScep;
  if (name == "acme") return EnrollIdentity::kAcme;
  return InvalidArgumentError("identity must be scep or acme, not \"" + PrintableForError(name) + "\"");
}

std::string_view EnrollIdentityName(EnrollIdentity identity) {
  return identity == EnrollIdentity::kAcme ? "acme" : "scep";
}

StatusOr<std::string> ScepChallengeSource::NewChallenge() { return service_->NewChallenge(); }

StatusOr<std::string> BuildEnrollmentProfile(const ProfileContent& c, EnrollIdentity identity,
                                             std::string_view secret, Random* random) {
  RETURN_IF_ERROR(RequireField(c.identifier, "the payload identifier"));
  RETURN_IF_ERROR(RequireField(c.server_url, "ServerURL"));
  RETURN_IF_ERROR(RequireField(c.topic, "the push topic"));
  RETURN_IF_ERROR(RequireField(secret, identity == EnrollIdentity::kScep ? "the SCEP challenge"
                                                                         : "the ACME ClientIdentifier"));
  const std::string org = c.organization;
  Plist root = Plist::NewDict();
  Plist payloads = Plist::NewArray();

  // 1. The identity payload.
  const std::string identity_uuid = NewUuid(random);
  Plist id = Plist::NewDict();
  ASSIGN_OR_RETURN(Plist subject, SubjectArray(c));
  if (identity == EnrollIdentity::kScep) {
    RETURN_IF_ERROR(RequireField(c.scep_url, "the SCEP URL"));
    RETURN_IF_ERROR(SetPayloadHeader(id.get(), "com.apple.security.scep", c.identifier + ".scep",
                                     identity_uuid, "Device identity (SCEP)", org));
    Plist content = Plist::NewDict();
    RETURN_IF_ERROR(DictSetString(content.get(), "URL", c.scep_url));
    RETURN_IF_ERROR(DictSetString(content.get(), "Name", "custos"));
    RETURN_IF_ERROR(DictSetString(content.get(), "Challenge", secret));
    RETURN_IF_ERROR(DictSetInteger(content.get(), "Keysize", 2048));
    RETURN_IF_ERROR(DictSetString(content.get(), "Key Type", "RSA"));
    RETURN_IF_ERROR(DictSetInteger(content.get(), "Key Usage", 5));  // signing | encryption
    RETURN_IF_ERROR(DictSetNode(content.get(), "Subject", std::move(subject)));
    RETURN_IF_ERROR(DictSetNode(id.get(), "PayloadContent", std::move(content)));
  } else {
    RETURN_IF_ERROR(RequireField(c.acme_directory_url, "the ACME DirectoryURL"));
    RETURN_IF_ERROR(SetPayloadHeader(id.get(), "com.apple.security.acme", c.identifier + ".acme",
                                     identity_uuid, "Device identity (ACME, attested)", org));
    RETURN_IF_ERROR(DictSetString(id.get(), "DirectoryURL", c.acme_directory_url));
    RETURN_IF_ERROR(DictSetString(id.get(), "ClientIdentifier", secret));
    RETURN_IF_ERROR(DictSetString(id.get(), "KeyType", "ECSECPrimeRandom"));
    RETURN_IF_ERROR(DictSetInteger(id.get(), "KeySize", 384));
    RETURN_IF_ERROR(DictSetBool(id.get(), "HardwareBound", true));
    RETURN_IF_ERROR(DictSetBool(id.get(), "Attest", true));
    RETURN_IF_ERROR(DictSetNode(id.get(), "Subject", std::move(subject)));
  }
  plist_array_append_item(payloads.get(), id.release());

  // 2. The MDM payload.
  Plist mdm = Plist::NewDict();
  RETURN_IF_ERROR(SetPayloadHeader(mdm.get(), "com.apple.mdm", c.identifier + ".mdm",
                                   NewUuid(random), "Device management", org));
  RETURN_IF_ERROR(DictSetString(mdm.get(), "IdentityCertificateUUID", identity_uuid));
  RETURN_IF_ERROR(DictSetString(mdm.get(), "Topic", c.topic));
  RETURN_IF_ERROR(DictSetString(mdm.get(), "ServerURL", c.server_url));
  if (!c.checkin_url.empty()) RETURN_IF_ERROR(DictSetString(mdm.get(), "CheckInURL", c.checkin_url));
  RETURN_IF_ERROR(DictSetBool(mdm.get(), "SignMessage", c.sign_message));
  RETURN_IF_ERROR(DictSetInteger(mdm.get(), "AccessRights", c.access_rights));
  RETURN_IF_ERROR(DictSetBool(mdm.get(), "CheckOutWhenRemoved", true));
  if (c.use_development_apns) RETURN_IF_ERROR(DictSetBool(mdm.get(), "UseDevelopmentAPNS", true));
  Plist caps = Plist::NewArray();
  plist_array_append_item(caps.get(), plist_new_string("com.apple.mdm.per-user-connections"));
  plist_array_append_item(caps.get(), plist_new_string("com.apple.mdm.bootstraptoken"));
  RETURN_IF_ERROR(DictSetNode(mdm.get(), "ServerCapabilities", std::move(caps)));
  plist_array_append_item(payloads.get(), mdm.release());

  // 3. The root CA, when devices need it.
  if (!c.root_der.empty()) {
    Plist ca = Plist::NewDict();
    RETURN_IF_ERROR(SetPayloadHeader(ca.get(), "com.apple.security.root", c.identifier + ".root",
                                     NewUuid(random), "custos root CA", org));
    RETURN_IF_ERROR(DictSetString(ca.get(), "PayloadCertificateFileName", "custos-root.cer"));
    RETURN_IF_ERROR(DictSetData(ca.get(), "PayloadContent", c.root_der));
    plist_array_append_item(payloads.get(), ca.release());
  }

  RETURN_IF_ERROR(SetPayloadHeader(root.get(), "Configuration", c.identifier, NewUuid(random),
                                   c.display_name, org));
  RETURN_IF_ERROR(DictSetString(root.get(), "PayloadDescription",
                                "Enrolls this device in " + (org.empty() ? std::string("custos") : org) +
                                    " device management."));
  RETURN_IF_ERROR(DictSetString(root.get(), "PayloadScope", "System"));
  RETURN_IF_ERROR(DictSetNode(root.get(), "PayloadContent", std::move(payloads)));
  return root.ToXml();
}

StatusOr<std::string> SignProfile(std::string_view plist, const ProfileSigner& signer) {
  if (!signer.key || !signer.cert) return InternalError("profile signer has no key or certificate");
  CmsSignOptions options;
  options.key = signer.key.get();
  options.cert = signer.cert.get();
  for (const X509Ptr& c : signer.chain) options.chain.push_back(c.get());
  options.digest = "sha256";
  return SignCms(plist, options);
}

StatusOr<ProfileSigner> LoadOrIssueProfileSigner(const EnrollConfig& config,
                                                 std::string_view organization,
                                                 const std::string& data_dir,
                                                 std::string_view passphrase, Authority* ca,
                                                 Clock* clock) {
  if (!config.signing_cert_file.empty()) return LoadConfiguredSigner(config, passphrase);
  if (auto stored = LoadStoredSigner(data_dir, passphrase, ca, clock)) return *std::move(stored);

  ASSIGN_OR_RETURN(EvpPkeyPtr key, GenerateKey(KeyAlgorithm::kRsa, 2048));
  IssueRequest req;
  req.public_key = key.get();
  std::string org = organization.empty() ? std::string("custos") : std::string(organization);
  req.subject = {{"CN", org + " profile signing"}, {"O", org}};
  req.key_usage = kKuDigitalSignature;
  req.extended_key_usages = {kEkuEmailProtection};
  req.requester = "cli";
  req.requester_ref = "profile-signing";
  ASSIGN_OR_RETURN(IssuedCert issued, ca->Issue(req));
  ASSIGN_OR_RETURN(std::string key_pem, PrivateKeyToPkcs8Pem(key.get(), passphrase));
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);  // a PostgreSQL setup may not have made it
  RETURN_IF_ERROR(WriteFileAtomic(data_dir + kSignerKeyFile, key_pem, 0600));
  RETURN_IF_ERROR(WriteFileAtomic(data_dir + kSignerCertFile, issued.pem, 0644));
  spdlog::info("enroll: issued a profile-signing certificate serial={}", issued.record.serial_hex);
  ProfileSigner signer;
  ASSIGN_OR_RETURN(signer.cert, issued.Certificate());
  signer.key = std::move(key);
  signer.chain = ChainFor(signer.cert.get(), ca);
  return signer;
}

bool RootPayloadNeeded(const Config& config, std::string_view public_url) {
  if (public_url.rfind("https://", 0) != 0) return true;
  if (config.tls.cert_file.empty()) return false;
  auto pem = ReadFile(config.tls.cert_file);
  if (!pem.ok()) return true;
  auto certs = ParseCertificateChain(*pem);
  if (!certs.ok()) return true;
  X509StorePtr store(X509_STORE_new());
  X509StackPtr untrusted(sk_X509_new_null());
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!store || !untrusted || !ctx || X509_STORE_set_default_paths(store.get()) != 1) {
    ERR_clear_error();
    return true;
  }
  for (size_t i = 1; i < certs->size(); ++i) {
    X509_up_ref((*certs)[i].get());
    sk_X509_push(untrusted.get(), (*certs)[i].get());
  }
  bool trusted = X509_STORE_CTX_init(ctx.get(), store.get(), certs->front().get(), untrusted.get()) == 1 &&
                 X509_verify_cert(ctx.get()) == 1;
  ERR_clear_error();
  return !trusted;
}

ProfileService::ProfileService(const Config& config, ProfileContent content, Deps deps)
    : config_(config.enroll),
      data_dir_(config.server.data_dir),
      content_(std::move(content)),
      deps_(deps) {}

StatusOr<std::unique_ptr<ProfileService>> ProfileService::Create(const Config& config,
                                                                 std::string public_url,
                                                                 Deps deps) {
  if (!deps.ca || !deps.storage || !deps.clock || !deps.random) {
    return InvalidArgumentError("ProfileService needs a CA, storage, clock and random source");
  }
  while (!public_url.empty() && public_url.back() == '/') public_url.pop_back();
  ProfileContent c;
  c.identifier = config.enroll.identifier;
  c.organization = config.enroll.organization.empty() ? config.ca.organization : config.enroll.organization;
  c.display_name = config.enroll.display_name.empty()
                       ? (c.organization.empty() ? std::string("custos") : c.organization) + " device management"
                       : config.enroll.display_name;
  std::string scep_path = config.scep.path.empty() ? "/scep" : config.scep.path;
  if (scep_path.front() != '/') scep_path = "/" + scep_path;
  c.scep_url = public_url + scep_path;
  c.acme_directory_url = public_url + "/acme/directory";
  c.server_url = public_url + "/mdm/connect";
  c.checkin_url = public_url + "/mdm/checkin";
  c.subject_common_name = config.enroll.subject_common_name;
  c.sign_message = config.enroll.sign_message;
  c.access_rights = config.enroll.access_rights;
  c.use_development_apns = config.enroll.use_development_apns;
  bool include_root = config.enroll.include_root == "true" ||
                      (config.enroll.include_root == "auto" && RootPayloadNeeded(config, public_url));
  if (include_root) c.root_der = CertificateDer(deps.ca->Root().get());

  auto service = std::unique_ptr<ProfileService>(new ProfileService(config, std::move(c), deps));
  auto passphrase = config.CaPassphrase();
  if (!passphrase.ok()) return passphrase.status().WithContext("enroll");
  service->passphrase_ = *passphrase;
  service->default_organization_ = service->content_.organization;
  if (config.enroll.sign) {
    auto signer = service->CurrentSigner();
    if (!signer.ok()) return signer.status().WithContext("enroll");
  }
  return service;
}

StatusOr<std::shared_ptr<const ProfileSigner>> ProfileService::CurrentSigner() {
  std::lock_guard<std::mutex> lock(mu_);
  bool configured = !config_.signing_cert_file.empty();
  if (signer_ && (configured || NotAfter(signer_->cert.get()) - deps_.clock->Now() >= kSignerRenewBefore)) {
    return signer_;
  }
  ASSIGN_OR_RETURN(ProfileSigner s,
                   LoadOrIssueProfileSigner(config_, default_organization_, data_dir_, passphrase_,
                                            deps_.ca, deps_.clock));
  signer_ = std::make_shared<const ProfileSigner>(std::move(s));
  return signer_;
}

std::shared_ptr<const ProfileSigner> ProfileService::signer() const {
  std::lock_guard<std::mutex> lock(mu_);
  return signer_;
}

StatusOr<std::string> ProfileService::Topic() {
  if (!config_.topic.empty()) return config_.topic;
  std::vector<PushCertRecord> certs;
  Status s = deps_.storage->Transact(
      [&](Stores& st) -> Status {
        ASSIGN_OR_RETURN(certs, st.push().ListCerts());
        return OkStatus();
      },
      TxMode::kReadOnly);
  if (!s.ok() && s.code() != StatusCode::kUnimplemented) return s.WithContext("push certificates");
  if (certs.size() == 1) return certs.front().topic;
  if (certs.empty()) {
    return FailedPreconditionError(
        "no push topic: install an MDM push certificate (`custos push-cert install`) or set enroll.topic");
  }
  return FailedPreconditionError("several push certificates are installed: set enroll.topic to choose one");
}

StatusOr<ProfileService::Output> ProfileService::Generate(const Request& request) {
  Output out;
  if (request.identity) {
    out.identity = *request.identity;
  } else {
    ASSIGN_OR_RETURN(out.identity, ParseEnrollIdentity(config_.default_identity));
  }
  // Issue 7: for a device that proved itself, the enrollment policy may decide.
  if (request.device && deps_.identity_policy != nullptr) {
    ASSIGN_OR_RETURN(std::optional<EnrollIdentity> decided,
                     deps_.identity_policy->IdentityFor(*request.device, &out.policy_reason));
    if (decided) out.identity = *decided;
  }
  ProfileContent content = content_;
  ASSIGN_OR_RETURN(content.topic, Topic());
  std::string secret;
  if (out.identity == EnrollIdentity::kScep) {
    if (!deps_.challenges) return FailedPreconditionError("SCEP enrollment is not available");
    ASSIGN_OR_RETURN(secret, deps_.challenges->NewChallenge());
  } else {
    if (!deps_.client_identifiers) {
      return FailedPreconditionError("ACME enrollment is not available (no ACME service)");
    }
    ASSIGN_OR_RETURN(secret, deps_.client_identifiers->NewClientIdentifier(
                                 request.device ? request.device->serial : std::string()));
  }
  ASSIGN_OR_RETURN(std::string plist,
                   BuildEnrollmentProfile(content, out.identity, secret, deps_.random));
  if (!request.sign || !config_.sign) {
    out.body = std::move(plist);
    return out;
  }
  ASSIGN_OR_RETURN(auto signer, CurrentSigner());
  ASSIGN_OR_RETURN(out.body, SignProfile(plist, *signer));
  out.is_signed = true;
  return out;
}

Status ProfileService::Authorize(const EnrollCredentials& credentials) {
  if (!config_.basic_password.empty()) {
    std::string_view auth = credentials.authorization ? std::string_view(*credentials.authorization) : "";
    bool ok = false;
    if (auth.size() > 6 && (auth.substr(0, 6) == "Basic " || auth.substr(0, 6) == "basic ")) {
      auto decoded = Base64Decode(auth.substr(6));
      ok = decoded.ok() &&
           ConstantTimeEquals(*decoded, config_.basic_user + ":" + config_.basic_password);
    }
    if (!ok) return UnauthenticatedError("enrollment requires valid HTTP Basic credentials");
  }
  if (config_.require_token) {
    if (!credentials.token || credentials.token->empty()) {
      return PermissionDeniedError("enrollment requires a one-time token (?token=)");
    }
    const std::string digest = TokenDigest(*credentials.token);
    Status s = deps_.storage->Transact([&](Stores& st) -> Status {
      ASSIGN_OR_RETURN(ScepChallengeRecord rec, st.scep().GetChallenge(digest));
      if (rec.bound_to != kTokenMarker) return NotFoundError("not an enrollment token");
      return st.scep().SpendChallenge(digest, deps_.clock->Now(), "enroll-profile");
    });
    if (!s.ok()) {
      spdlog::info("enroll: refused an enrollment token: {}", s.message());
      return PermissionDeniedError("enrollment token unknown, expired or already used");
    }
  }
  return OkStatus();
}

StatusOr<std::string> ProfileService::NewToken(std::optional<Duration> ttl) {
  Duration life = ttl.value_or(config_.token_ttl);
  if (life.count() <= 0) return InvalidArgumentError("token lifetime must be positive");
  std::string token = Base64UrlEncode(deps_.random->Bytes(24));
  ScepChallengeRecord rec;
  rec.challenge_sha256 = TokenDigest(token);
  rec.created_at = deps_.clock->Now();
  rec.expires_at = rec.created_at + life;
  rec.bound_to = std::string(kTokenMarker);
  RETURN_IF_ERROR(deps_.storage->Transact([&](Stores& st) -> Status {
    RETURN_IF_ERROR(st.scep().DeleteExpiredChallenges(rec.created_at).status());
    return st.scep().InsertChallenge(rec);
  }));
  spdlog::info("enroll: new one-time enrollment token, valid {}", FormatDuration(life));
  return token;
}

}  // namespace custos::mdm
