// The simulated device's attested ACME enrolment and its Apple Business Manager profile fetch
// (issue 7): what an Apple device does with a com.apple.security.acme payload (Apple's "ACME
// Certificate" payload reference; RFC 8555; draft-acme-device-attest with Apple's attestation
// format), with selectable breakages of the attestation so tests can see custos refuse each one.
// The attestation comes from the fake attestation CA of src/attest/testdata (custos must be
// configured to trust its root); everything else is the real protocol over HTTP.
#include <curl/curl.h>
#include <openssl/evp.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "acme/jws.h"
#include "attest/attestation_object.h"
#include "attest/testdata/fake_attestation.h"
#include "base/encoding.h"
#include "mdm/plist_util.h"
#include "pki/cms.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/x509.h"
#include "tests/devicesim/device_sim.h"

namespace custos::devicesim {
namespace {

using Json = nlohmann::json;

// One ACME HTTP exchange with the headers ACME needs (Replay-Nonce, Location). The shared
// HttpClient does not return headers, so the ACME flow keeps its own libcurl handle.
struct AcmeHttpReply {
  long status = 0;
  std::string body;
  std::string nonce;
  std::string location;
  Json json;  // parsed body, or null
};

size_t AppendTo(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

size_t CollectHeader(char* data, size_t size, size_t n, void* user) {
  auto* reply = static_cast<AcmeHttpReply*>(user);
  std::string line(data, size * n);
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.erase(0, 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
      value.pop_back();
    }
    if (name == "replay-nonce") reply->nonce = value;
    if (name == "location") reply->location = value;
  }
  return size * n;
}

class AcmeHttp {
 public:
  explicit AcmeHttp(std::string ca_pem) : ca_pem_(std::move(ca_pem)), curl_(curl_easy_init()) {}
  ~AcmeHttp() { curl_easy_cleanup(curl_); }
  AcmeHttp(const AcmeHttp&) = delete;
  AcmeHttp& operator=(const AcmeHttp&) = delete;

  // GET (body empty and !post), HEAD (head), or POST application/jose+json.
  StatusOr<AcmeHttpReply> Do(const std::string& url, bool post, std::string_view body = {},
                             bool head = false) {
    if (curl_ == nullptr) return InternalError("curl_easy_init failed");
    AcmeHttpReply reply;
    curl_easy_reset(curl_);
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, AppendTo);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &reply.body);
    curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, CollectHeader);
    curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &reply);
    struct curl_slist* headers = curl_slist_append(nullptr, "Expect:");
    if (head) {
      curl_easy_setopt(curl_, CURLOPT_NOBODY, 1L);
    } else if (post) {
      headers = curl_slist_append(headers, "Content-Type: application/jose+json");
      curl_easy_setopt(curl_, CURLOPT_POST, 1L);
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body.data());
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    }
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers);
    if (!ca_pem_.empty()) {
      curl_blob ca{ca_pem_.data(), ca_pem_.size(), CURL_BLOB_COPY};
      curl_easy_setopt(curl_, CURLOPT_CAINFO_BLOB, &ca);
    }
    CURLcode rc = curl_easy_perform(curl_);
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, nullptr);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) return UnavailableError(url + ": " + curl_easy_strerror(rc));
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &reply.status);
    reply.json = Json::parse(reply.body, nullptr, /*allow_exceptions=*/false);
    if (reply.json.is_discarded()) reply.json = nullptr;
    return reply;
  }

 private:
  std::string ca_pem_;
  CURL* curl_;
};

// An RFC 8555 client bound to one account key. URLs custos hands out name its public base URL;
// requests go to `rebase(url)` while the JWS keeps the URL as handed out.
class AcmeSession {
 public:
  AcmeSession(AcmeHttp* http, EVP_PKEY* account_key, std::function<std::string(const std::string&)> rebase)
      : http_(http), key_(account_key), rebase_(std::move(rebase)) {}

  Status Start(const std::string& directory_url) {
    ASSIGN_OR_RETURN(AcmeHttpReply dir, http_->Do(rebase_(directory_url), false));
    if (dir.status != 200 || !dir.json.is_object()) {
      return Fail("directory", dir);
    }
    new_nonce_ = dir.json.value("newNonce", "");
    new_account_ = dir.json.value("newAccount", "");
    new_order_ = dir.json.value("newOrder", "");
    if (new_nonce_.empty() || new_account_.empty() || new_order_.empty()) return Fail("directory", dir);
    return OkStatus();
  }

  // A signed POST; retries once on badNonce as RFC 8555 section 6.5 asks.
  StatusOr<AcmeHttpReply> Post(const std::string& url, std::string_view payload, bool use_jwk = false) {
    for (int attempt = 0;; ++attempt) {
      if (nonce_.empty()) {
        ASSIGN_OR_RETURN(AcmeHttpReply n, http_->Do(rebase_(new_nonce_), false, {}, /*head=*/true));
        if (n.nonce.empty()) return UnavailableError("newNonce answered no Replay-Nonce");
        nonce_ = n.nonce;
      }
      Json header{{"nonce", nonce_}, {"url", url}};
      if (use_jwk || kid_.empty()) {
        ASSIGN_OR_RETURN(header["jwk"], acme::JwkFromKey(key_));
      } else {
        header["kid"] = kid_;
      }
      ASSIGN_OR_RETURN(std::string body, acme::SignFlattenedJws(key_, header, payload));
      nonce_.clear();
      ASSIGN_OR_RETURN(AcmeHttpReply reply, http_->Do(rebase_(url), true, body));
      nonce_ = reply.nonce;
      if (attempt == 0 && reply.status == 400 && reply.json.is_object() &&
          reply.json.value("type", "") == "urn:ietf:params:acme:error:badNonce") {
        continue;
      }
      return reply;
    }
  }

  Status NewAccount() {
    ASSIGN_OR_RETURN(AcmeHttpReply r, Post(new_account_, Json{{"termsOfServiceAgreed", true}}.dump(),
                                           /*use_jwk=*/true));
    if ((r.status != 201 && r.status != 200) || r.location.empty()) return Fail("newAccount", r);
    kid_ = r.location;
    return OkStatus();
  }

  const std::string& new_order() const { return new_order_; }

  // Records the failed step and returns FAILED_PRECONDITION naming it.
  Status Fail(const std::string& step, const AcmeHttpReply& r) {
    result_.failed_step = step;
    result_.http_status = r.status;
    result_.problem = r.body;
    std::string detail = r.json.is_object() ? r.json.value("type", "") + ": " + r.json.value("detail", "")
                                            : r.body;
    return FailedPreconditionError("ACME " + step + " answered " + std::to_string(r.status) + ": " +
                                   detail);
  }
  const AcmeEnrollResult& result() const { return result_; }

 private:
  AcmeHttp* http_;
  EVP_PKEY* key_;
  std::function<std::string(const std::string&)> rebase_;
  std::string new_nonce_, new_account_, new_order_;
  std::string nonce_;
  std::string kid_;
  AcmeEnrollResult result_;
};

// The attestation chain (DER, leaf first) the device sends for `token`, broken as asked.
StatusOr<std::vector<std::string>> MakeAttestation(const AcmeEnrollOptions& options,
                                                   const std::string& token, EVP_PKEY* device_key,
                                                   const std::string& serial,
                                                   const std::string& udid,
                                                   attest::testing::FakeAttestationCa* wrong_ca) {
  using attest::testing::FakeLeafSpec;
  if (options.breakage == AttestationBreakage::kNoAttestation) return std::vector<std::string>{};
  const Time now = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  FakeLeafSpec spec;
  spec.not_before = now - std::chrono::hours(1);
  spec.not_after = now + std::chrono::hours(24 * 7);
  spec.serial_number = serial;
  spec.udid = udid;
  spec.os_version = options.attested_os_version;
  spec.sepos_version = options.attested_os_version;
  spec.freshness_code = Sha256(token);
  spec.key = device_key;
  EvpPkeyPtr other_key;
  const attest::testing::FakeAttestationCa* ca = options.attestation_ca;
  switch (options.breakage) {
    case AttestationBreakage::kNone:
    case AttestationBreakage::kNoAttestation:
      break;
    case AttestationBreakage::kWrongRoot: {
      ASSIGN_OR_RETURN(*wrong_ca, attest::testing::MakeFakeAttestationCa(
                                      now - std::chrono::hours(24), now + std::chrono::hours(24 * 365),
                                      "Untrusted Attestation Root CA"));
      ca = wrong_ca;
      break;
    }
    case AttestationBreakage::kWrongNonce:
      spec.freshness_code = Sha256("not the token " + token);
      break;
    case AttestationBreakage::kWrongSerial:
      spec.serial_number = "WRONG" + serial;
      spec.udid = "WRONG-" + udid;
      break;
    case AttestationBreakage::kOtherKey: {
      ASSIGN_OR_RETURN(other_key, GenerateKey(KeyAlgorithm::kEcP384));
      spec.key = other_key.get();
      break;
    }
  }
  ASSIGN_OR_RETURN(attest::testing::FakeLeaf leaf, attest::testing::IssueFakeLeaf(*ca, spec));
  return leaf.chain;
}

}  // namespace

std::string_view AttestationBreakageName(AttestationBreakage breakage) {
  switch (breakage) {
    case AttestationBreakage::kNone: return "none";
    case AttestationBreakage::kNoAttestation: return "no-attestation";
    case AttestationBreakage::kWrongRoot: return "wrong-root";
    case AttestationBreakage::kWrongNonce: return "wrong-nonce";
    case AttestationBreakage::kWrongSerial: return "wrong-serial";
    case AttestationBreakage::kOtherKey: return "other-key";
  }
  return "unknown";
}

StatusOr<bool> ReadAcmePayload(std::string_view plist, EnrollmentProfile* profile) {
  ASSIGN_OR_RETURN(mdm::Plist parsed, mdm::Plist::Parse(plist));
  ASSIGN_OR_RETURN(mdm::PlistDict root, mdm::PlistDict::Of(parsed.get(), "profile"));
  ASSIGN_OR_RETURN(mdm::PlistArray payloads, root.Array("PayloadContent"));
  for (size_t i = 0; i < payloads.size(); ++i) {
    ASSIGN_OR_RETURN(mdm::PlistDict d, mdm::PlistDict::Of(payloads.at(i), "payload"));
    ASSIGN_OR_RETURN(std::string type, d.StringOr("PayloadType", ""));
    if (type != "com.apple.security.acme") continue;
    profile->identity = "acme";
    ASSIGN_OR_RETURN(profile->acme_directory_url, d.String("DirectoryURL"));
    ASSIGN_OR_RETURN(profile->acme_client_identifier, d.String("ClientIdentifier"));
    ASSIGN_OR_RETURN(profile->acme_key_type, d.StringOr("KeyType", ""));
    ASSIGN_OR_RETURN(std::optional<int64_t> size, d.OptInteger("KeySize"));
    profile->acme_key_size = size ? static_cast<int>(*size) : 0;
    ASSIGN_OR_RETURN(profile->acme_hardware_bound, d.BoolOr("HardwareBound", false));
    ASSIGN_OR_RETURN(profile->acme_attest, d.BoolOr("Attest", false));
    return true;
  }
  return false;
}

std::string Device::MachineInfoPlist() const {
  mdm::Plist d = mdm::Plist::NewDict();
  (void)mdm::DictSetString(d.get(), "UDID", options_.udid);
  (void)mdm::DictSetString(d.get(), "SERIAL", options_.serial);
  (void)mdm::DictSetString(d.get(), "PRODUCT", options_.product);
  (void)mdm::DictSetString(d.get(), "VERSION", "21E219");
  (void)mdm::DictSetString(d.get(), "OS_VERSION", options_.os_version);
  (void)mdm::DictSetString(d.get(), "LANGUAGE", "en");
  return d.ToXml().value_or("");
}

Status Device::DownloadAbmProfile(const std::string& enroll_url, EVP_PKEY* apple_key,
                                  X509* apple_cert, const std::vector<X509*>& chain) {
  CmsSignOptions o;
  o.key = apple_key;
  o.cert = apple_cert;
  o.chain = chain;
  o.digest = "sha1";  // what devices send
  ASSIGN_OR_RETURN(std::string body, SignCms(MachineInfoPlist(), o));
  http_->SetTls(options_.server_ca_pem, "", "");
  ASSIGN_OR_RETURN(HttpResult r,
                   http_->Request("POST", enroll_url, body,
                                  {"Content-Type: application/pkcs7-signature"}));
  if (r.status != 200) {
    return InvalidArgumentError("POST " + enroll_url + " answered " + std::to_string(r.status) +
                                ": " + r.body);
  }
  ASSIGN_OR_RETURN(profile_, ParseEnrollmentProfile(r.body));
  return OkStatus();
}

Status Device::EnrollAcme(const AcmeEnrollOptions& options, AcmeEnrollResult* result) {
  if (profile_.identity != "acme" || profile_.acme_client_identifier.empty()) {
    return InvalidArgumentError("the profile has no ACME payload");
  }
  if (options.attestation_ca == nullptr) {
    return InvalidArgumentError("AcmeEnrollOptions.attestation_ca is required");
  }
  // The Secure Enclave key the payload asks for (ECSECPrimeRandom 384), and an account key.
  ASSIGN_OR_RETURN(EvpPkeyPtr device_key, GenerateKey(KeyAlgorithm::kEcP384));
  ASSIGN_OR_RETURN(EvpPkeyPtr account_key, GenerateKey(KeyAlgorithm::kEcP256));
  AcmeHttp http(options_.server_ca_pem);
  AcmeSession acme(&http, account_key.get(), [this](const std::string& u) { return Rebase(u); });
  auto run = [&]() -> Status {
    RETURN_IF_ERROR(acme.Start(profile_.acme_directory_url));
    RETURN_IF_ERROR(acme.NewAccount());
    Json order_req{{"identifiers",
                    {{{"type", "permanent-identifier"}, {"value", profile_.acme_client_identifier}}}}};
    ASSIGN_OR_RETURN(AcmeHttpReply order, acme.Post(acme.new_order(), order_req.dump()));
    if (order.status != 201 || order.location.empty() || !order.json.is_object() ||
        !order.json.contains("authorizations") || order.json["authorizations"].empty()) {
      return acme.Fail("newOrder", order);
    }
    const std::string order_url = order.location;
    const std::string finalize_url = order.json.value("finalize", "");
    ASSIGN_OR_RETURN(AcmeHttpReply authz,
                     acme.Post(order.json["authorizations"][0].get<std::string>(), ""));
    if (authz.status != 200 || !authz.json.is_object()) return acme.Fail("authz", authz);
    std::string chall_url, token;
    for (const auto& c : authz.json.value("challenges", Json::array())) {
      if (c.value("type", "") == "device-attest-01") {
        chall_url = c.value("url", "");
        token = c.value("token", "");
      }
    }
    if (token.empty()) return acme.Fail("authz", authz);
    attest::testing::FakeAttestationCa wrong_ca;
    ASSIGN_OR_RETURN(std::vector<std::string> chain,
                     MakeAttestation(options, token, device_key.get(), options_.serial,
                                     options_.udid, &wrong_ca));
    std::string payload;
    if (chain.empty()) {
      // An attestation object whose statement carries no certificate chain.
      std::vector<std::uint8_t> cbor =
          Json::to_cbor(Json{{"fmt", "apple"}, {"attStmt", Json::object()}});
      Json answer;
      answer["attObj"] = Base64UrlEncode(std::string(cbor.begin(), cbor.end()));
      payload = answer.dump();
    } else {
      payload = attest::EncodeDeviceAttestPayload(chain);
    }
    ASSIGN_OR_RETURN(AcmeHttpReply ch, acme.Post(chall_url, payload));
    if (ch.status != 200 || !ch.json.is_object() || ch.json.value("status", "") != "valid") {
      return acme.Fail("challenge", ch);
    }
    ASSIGN_OR_RETURN(std::string csr,
                     BuildCsrDer(CsrTemplate{{{"CN", options_.udid}}, {}, ""}, device_key.get()));
    ASSIGN_OR_RETURN(AcmeHttpReply fin,
                     acme.Post(finalize_url, Json{{"csr", Base64UrlEncode(csr)}}.dump()));
    if (fin.status != 200 || !fin.json.is_object() || fin.json.value("status", "") != "valid") {
      return acme.Fail("finalize", fin);
    }
    (void)order_url;
    ASSIGN_OR_RETURN(AcmeHttpReply cert, acme.Post(fin.json.value("certificate", ""), ""));
    if (cert.status != 200) return acme.Fail("certificate", cert);
    ASSIGN_OR_RETURN(X509Ptr leaf, ParseCertificate(cert.body));  // the first PEM is the leaf
    SetIdentity(device_key.get(), leaf.get());
    return OkStatus();
  };
  Status st = run();
  if (result != nullptr) *result = acme.result();
  return st;
}

}  // namespace custos::devicesim
