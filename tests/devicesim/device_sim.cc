#include "tests/devicesim/device_sim.h"

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <plist/plist.h>

#include <cctype>
#include <cstdio>
#include <mutex>
#include <utility>

#include "base/encoding.h"
#include "base/random.h"
#include "mdm/plist_util.h"
#include "pki/cms.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/x509.h"
#include "scep/client.h"

namespace custos::devicesim {
namespace {

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t AppendBody(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

std::string RandomUuid() {
  std::string b = HexEncode(Random::Secure()->Bytes(16));
  for (char& c : b) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return b.substr(0, 8) + "-" + b.substr(8, 4) + "-" + b.substr(12, 4) + "-" + b.substr(16, 4) +
         "-" + b.substr(20, 12);
}

// A libplist dict under construction.
class DictBuilder {
 public:
  DictBuilder() : plist_(mdm::Plist::NewDict()) {}
  DictBuilder& Str(const char* key, std::string_view value) {
    plist_dict_set_item(plist_.get(), key, plist_new_string(std::string(value).c_str()));
    return *this;
  }
  DictBuilder& Data(const char* key, std::string_view value) {
    plist_dict_set_item(plist_.get(), key, plist_new_data(value.data(), value.size()));
    return *this;
  }
  DictBuilder& Bool(const char* key, bool value) {
    plist_dict_set_item(plist_.get(), key, plist_new_bool(value ? 1 : 0));
    return *this;
  }
  DictBuilder& Node(const char* key, plist_t node) {
    plist_dict_set_item(plist_.get(), key, node);
    return *this;
  }
  std::string Xml() const { return plist_.ToXml().value_or(""); }

 private:
  mdm::Plist plist_;
};

std::string Pem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  return MemBioContents(bio.get());
}

}  // namespace

std::string_view AuthModeName(AuthMode mode) {
  switch (mode) {
    case AuthMode::kMdmSignature:
      return "mdm-signature";
    case AuthMode::kMutualTls:
      return "mtls";
    case AuthMode::kProxyHeader:
      return "proxy-header";
  }
  return "unknown";
}

// ---- HttpClient --------------------------------------------------------------------------------

HttpClient::HttpClient() {
  GlobalInit();
  curl_ = curl_easy_init();
}

HttpClient::~HttpClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

void HttpClient::SetTls(std::string ca_pem, std::string cert_pem, std::string key_pem) {
  if (ca_pem == ca_pem_ && cert_pem == cert_pem_ && key_pem == key_pem_) return;
  ca_pem_ = std::move(ca_pem);
  cert_pem_ = std::move(cert_pem);
  key_pem_ = std::move(key_pem);
  // A new handle: a kept-alive TLS connection made with the old client certificate must not be
  // reused for the new identity.
  curl_easy_cleanup(static_cast<CURL*>(curl_));
  curl_ = curl_easy_init();
}

StatusOr<HttpResult> HttpClient::Request(std::string_view method, const std::string& url,
                                         std::string_view body,
                                         const std::vector<std::string>& headers) {
  CURL* c = static_cast<CURL*>(curl_);
  if (c == nullptr) return InternalError("curl_easy_init failed");
  HttpResult result;
  std::string method_str(method);
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &result.body);
  if (method == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, nullptr);
  } else {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method_str.c_str());
  }
  struct curl_slist* list = curl_slist_append(nullptr, "Expect:");
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  if (!ca_pem_.empty()) {
    curl_blob ca{ca_pem_.data(), ca_pem_.size(), CURL_BLOB_COPY};
    curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &ca);
  }
  if (!cert_pem_.empty() && !key_pem_.empty()) {
    curl_blob cert{cert_pem_.data(), cert_pem_.size(), CURL_BLOB_COPY};
    curl_blob key{key_pem_.data(), key_pem_.size(), CURL_BLOB_COPY};
    curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
    curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &key);
  }
  CURLcode rc = curl_easy_perform(c);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(list);
  if (rc != CURLE_OK) {
    return UnavailableError(method_str + " " + url + ": " + curl_easy_strerror(rc));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &result.status);
  char* ct = nullptr;
  if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct != nullptr) {
    result.content_type = ct;
  }
  return result;
}

// ---- Profile -----------------------------------------------------------------------------------

StatusOr<EnrollmentProfile> ParseEnrollmentProfile(std::string_view body) {
  EnrollmentProfile p;
  if (body.rfind("<?xml", 0) == 0 || body.rfind("<plist", 0) == 0 ||
      body.rfind("bplist00", 0) == 0) {
    p.plist = std::string(body);
  } else {
    auto signed_data = ParseSignedData(body);
    if (!signed_data.ok()) {
      return InvalidArgumentError("profile is neither a plist nor CMS SignedData: " +
                                  signed_data.status().message());
    }
    RETURN_IF_ERROR(VerifySignedData(*signed_data));
    if (!signed_data->content.has_value()) return InvalidArgumentError("signed profile has no content");
    p.signed_profile = true;
    p.plist = *signed_data->content;
  }
  ASSIGN_OR_RETURN(mdm::Plist plist, mdm::Plist::Parse(p.plist));
  ASSIGN_OR_RETURN(mdm::PlistDict root, mdm::PlistDict::Of(plist.get(), "profile"));
  ASSIGN_OR_RETURN(mdm::PlistArray payloads, root.Array("PayloadContent"));
  bool have_scep = false;
  bool have_mdm = false;
  for (size_t i = 0; i < payloads.size(); ++i) {
    ASSIGN_OR_RETURN(mdm::PlistDict d, mdm::PlistDict::Of(payloads.at(i), "payload"));
    ASSIGN_OR_RETURN(std::string type, d.StringOr("PayloadType", ""));
    if (type == "com.apple.security.scep") {
      ASSIGN_OR_RETURN(mdm::PlistDict c, d.Dict("PayloadContent"));
      ASSIGN_OR_RETURN(p.scep_url, c.String("URL"));
      ASSIGN_OR_RETURN(p.challenge, c.StringOr("Challenge", ""));
      ASSIGN_OR_RETURN(std::optional<int64_t> keysize, c.OptInteger("Keysize"));
      if (keysize.has_value()) p.key_size = static_cast<int>(*keysize);
      // Subject: [ [ [oid, value] ], ... ] (one RDN per outer element).
      ASSIGN_OR_RETURN(std::optional<mdm::PlistArray> subject, c.OptArray("Subject"));
      if (subject.has_value()) {
        for (size_t r = 0; r < subject->size(); ++r) {
          auto rdn = mdm::PlistArray::Of(subject->at(r), "Subject RDN");
          if (!rdn.ok()) continue;
          for (size_t a = 0; a < rdn->size(); ++a) {
            auto pair = mdm::PlistArray::Of(rdn->at(a), "Subject attribute");
            if (!pair.ok() || pair->size() != 2) continue;
            auto strings = pair->Strings("Subject attribute");
            if (strings.ok()) p.subject.emplace_back((*strings)[0], (*strings)[1]);
          }
        }
      }
      have_scep = true;
    } else if (type == "com.apple.mdm") {
      ASSIGN_OR_RETURN(p.server_url, d.String("ServerURL"));
      ASSIGN_OR_RETURN(p.checkin_url, d.StringOr("CheckInURL", p.server_url));
      ASSIGN_OR_RETURN(p.topic, d.String("Topic"));
      ASSIGN_OR_RETURN(p.sign_message, d.BoolOr("SignMessage", false));
      have_mdm = true;
    }
  }
  if (!have_scep) {
    ASSIGN_OR_RETURN(bool have_acme, ReadAcmePayload(p.plist, &p));
    if (!have_acme) return InvalidArgumentError("profile has no SCEP or ACME payload");
  }
  if (!have_mdm) return InvalidArgumentError("profile has no MDM payload");
  return p;
}

StatusOr<std::optional<ReceivedCommand>> ParseCommandReply(std::string_view body) {
  if (body.empty()) return std::optional<ReceivedCommand>();
  ASSIGN_OR_RETURN(mdm::Plist plist, mdm::Plist::Parse(body));
  ASSIGN_OR_RETURN(mdm::PlistDict root, mdm::PlistDict::Of(plist.get(), "command"));
  ReceivedCommand c;
  ASSIGN_OR_RETURN(c.command_uuid, root.String("CommandUUID"));
  ASSIGN_OR_RETURN(mdm::PlistDict command, root.Dict("Command"));
  ASSIGN_OR_RETURN(c.request_type, command.String("RequestType"));
  c.plist = std::string(body);
  return std::optional<ReceivedCommand>(std::move(c));
}

// ---- Device ------------------------------------------------------------------------------------

Device::Device(DeviceOptions options) : options_(std::move(options)) {
  if (options_.udid.empty()) options_.udid = RandomUuid();
  if (options_.serial.empty()) {
    std::string s;
    for (char c : options_.udid) {
      if (std::isalnum(static_cast<unsigned char>(c))) s += c;
    }
    options_.serial = "SIM" + s.substr(0, 9);
  }
  push_token_ = Random::Secure()->Bytes(32);
  push_magic_ = RandomUuid();
  http_ = std::make_unique<HttpClient>();
}

Device::~Device() = default;

void Device::set_auth(AuthMode mode) { options_.auth = mode; }

std::string Device::push_token_hex() const { return HexEncode(push_token_); }

Status Device::DownloadProfile(const std::string& enroll_url,
                               const std::vector<std::string>& headers) {
  http_->SetTls(options_.server_ca_pem, "", "");
  ASSIGN_OR_RETURN(HttpResult r, http_->Request("GET", enroll_url, {}, headers));
  if (r.status != 200) {
    return InvalidArgumentError("GET " + enroll_url + " answered " + std::to_string(r.status) +
                                ": " + r.body);
  }
  ASSIGN_OR_RETURN(profile_, ParseEnrollmentProfile(r.body));
  return OkStatus();
}

std::string Device::Rebase(const std::string& url) const {
  if (options_.base_url.empty()) return url;
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  size_t path = url.find('/', scheme + 3);
  return options_.base_url + (path == std::string::npos ? std::string() : url.substr(path));
}

std::string Device::CheckinUrl() const { return Rebase(profile_.checkin_url); }
std::string Device::ServerUrl() const { return Rebase(profile_.server_url); }

StatusOr<HttpResult> Device::ScepRequest(bool renewal) {
  if (profile_.scep_url.empty()) return FailedPreconditionError("no profile: download it first");
  const std::string scep_url = Rebase(profile_.scep_url);
  http_->SetTls(options_.server_ca_pem, "", "");
  ASSIGN_OR_RETURN(HttpResult cacert, http_->Request("GET", scep_url + "?operation=GetCACert"));
  if (cacert.status != 200) {
    return UnavailableError("GetCACert answered " + std::to_string(cacert.status));
  }
  ASSIGN_OR_RETURN(std::vector<X509Ptr> ca_certs, scep::ScepClient::ParseGetCaCert(cacert.body));
  ASSIGN_OR_RETURN(auto client, scep::ScepClient::Create(std::move(ca_certs)));
  int bits = options_.key_bits > 0 ? options_.key_bits : profile_.key_size;
  ASSIGN_OR_RETURN(EvpPkeyPtr key, GenerateKey(KeyAlgorithm::kRsa, bits < 2048 ? 2048 : bits));
  CsrTemplate t;
  for (const auto& [field, value] : profile_.subject) {
    std::string v = value;
    // Profile placeholders (%HardwareUUID%, %SerialNumber%, ...) are filled by the device.
    if (v.find('%') != std::string::npos) v = options_.udid;
    t.subject.push_back({field, v});
  }
  if (t.subject.empty()) t.subject.push_back({"CN", options_.udid});
  // A renewal is trusted for the identity that signs it; a first request for its challenge.
  if (!renewal) t.challenge_password = profile_.challenge;
  ASSIGN_OR_RETURN(std::string csr, BuildCsrDer(t, key.get()));
  scep::ClientTransaction tx;
  if (renewal) {
    if (!cert_) return FailedPreconditionError("no identity to renew");
    ASSIGN_OR_RETURN(tx, client->RenewalReq(csr, key_.get(), cert_.get()));
  } else {
    ASSIGN_OR_RETURN(tx, client->PkcsReq(key.get(), csr));
  }
  ASSIGN_OR_RETURN(HttpResult rep,
                   http_->Request("POST", scep_url + "?operation=PKIOperation", tx.message,
                                  {"Content-Type: application/x-pki-message"}));
  if (rep.status != 200) {
    return UnavailableError("PKIOperation answered " + std::to_string(rep.status) + ": " +
                            rep.body);
  }
  ASSIGN_OR_RETURN(scep::CertRep cert_rep, client->ReadReply(tx, rep.body));
  if (cert_rep.status != scep::PkiStatus::kSuccess) {
    return FailedPreconditionError(std::string("SCEP ") + (renewal ? "RenewalReq" : "PKCSReq") +
                                   " not successful (pkiStatus " +
                                   std::to_string(static_cast<int>(cert_rep.status)) + ")");
  }
  for (X509Ptr& c : cert_rep.certificates) {
    if (X509_check_private_key(c.get(), key.get()) == 1) {
      key_ = std::move(key);
      cert_ = std::move(c);
      http_->SetTls(options_.server_ca_pem, "", "");
      return rep;
    }
  }
  ERR_clear_error();
  return InvalidArgumentError("CertRep does not hold a certificate for the requested key");
}

Status Device::EnrollScep() { return ScepRequest(false).status(); }
Status Device::RenewScep() { return ScepRequest(true).status(); }

std::string Device::CertificatePem() const { return cert_ ? Pem(cert_.get()) : std::string(); }

std::string Device::KeyPem() const {
  if (!key_) return {};
  return PrivateKeyToPkcs8Pem(key_.get(), "").value_or("");
}

void Device::SetIdentity(EVP_PKEY* key, X509* cert) {
  EVP_PKEY_up_ref(key);
  X509_up_ref(cert);
  key_.reset(key);
  cert_.reset(cert);
}

std::string Device::AuthenticateBody() const {
  return DictBuilder()
      .Str("MessageType", "Authenticate")
      .Str("UDID", options_.udid)
      .Str("Topic", profile_.topic)
      .Str("SerialNumber", options_.serial)
      .Str("Model", "iPhone14,2")
      .Str("ModelName", "iPhone")
      .Str("ProductName", options_.product)
      .Str("OSVersion", options_.os_version)
      .Str("BuildVersion", "21E219")
      .Str("DeviceName", "custos devicesim " + options_.udid.substr(0, 8))
      .Xml();
}

std::string Device::TokenUpdateBody() const {
  return DictBuilder()
      .Str("MessageType", "TokenUpdate")
      .Str("UDID", options_.udid)
      .Str("Topic", profile_.topic)
      .Data("Token", push_token_)
      .Str("PushMagic", push_magic_)
      .Data("UnlockToken", "devicesim-unlock-token")
      .Bool("AwaitingConfiguration", false)
      .Xml();
}

std::string Device::CheckOutBody() const {
  return DictBuilder()
      .Str("MessageType", "CheckOut")
      .Str("UDID", options_.udid)
      .Str("Topic", profile_.topic)
      .Xml();
}

std::string Device::ResultBody(std::string_view status, std::string_view command_uuid,
                               const std::map<std::string, std::string>& extra) const {
  DictBuilder b;
  b.Str("UDID", options_.udid).Str("Status", status);
  if (!command_uuid.empty()) b.Str("CommandUUID", command_uuid);
  if (status == "Error") {
    plist_t chain = plist_new_array();
    plist_t e = plist_new_dict();
    plist_dict_set_item(e, "ErrorCode", plist_new_uint(12021));
    plist_dict_set_item(e, "ErrorDomain", plist_new_string("MCMDMErrorDomain"));
    plist_dict_set_item(e, "LocalizedDescription", plist_new_string("Simulated failure"));
    plist_dict_set_item(e, "USEnglishDescription", plist_new_string("Simulated failure"));
    plist_array_append_item(chain, e);
    b.Node("ErrorChain", chain);
  }
  for (const auto& [k, v] : extra) b.Str(k.c_str(), v);
  return b.Xml();
}

StatusOr<std::string> Device::Sign(std::string_view body) const {
  if (!cert_ || !key_) return FailedPreconditionError("no identity: enrol first");
  CmsSignOptions o;
  o.key = key_.get();
  o.cert = cert_.get();
  o.detached = true;
  o.digest = options_.signature_digest;
  ASSIGN_OR_RETURN(std::string der, SignCms(body, o));
  return Base64Encode(der);
}

StatusOr<SignedBody> Device::SignedIdle() const {
  SignedBody s;
  s.body = ResultBody("Idle", "");
  ASSIGN_OR_RETURN(s.signature, Sign(s.body));
  return s;
}

StatusOr<HttpResult> Device::Send(bool checkin, std::string_view body,
                                  const std::string* signature) {
  if (!cert_ || !key_) return FailedPreconditionError("no identity: enrol first");
  std::vector<std::string> headers;
  headers.push_back(std::string("Content-Type: ") +
                    (checkin ? "application/x-apple-aspen-mdm-checkin"
                             : "application/x-apple-aspen-mdm"));
  switch (options_.auth) {
    case AuthMode::kMdmSignature: {
      http_->SetTls(options_.server_ca_pem, "", "");
      if (signature != nullptr) {
        headers.push_back("Mdm-Signature: " + *signature);
      } else {
        ASSIGN_OR_RETURN(std::string sig, Sign(body));
        headers.push_back("Mdm-Signature: " + sig);
      }
      break;
    }
    case AuthMode::kMutualTls:
      http_->SetTls(options_.server_ca_pem, CertificatePem(), KeyPem());
      break;
    case AuthMode::kProxyHeader: {
      http_->SetTls(options_.server_ca_pem, "", "");
      std::string der = CertificateDer(cert_.get());
      headers.push_back(options_.proxy_header + ": :" + Base64Encode(der) + ":");
      break;
    }
  }
  return http_->Request("PUT", checkin ? CheckinUrl() : ServerUrl(), body, headers);
}

StatusOr<HttpResult> Device::Authenticate() { return Send(true, AuthenticateBody()); }
StatusOr<HttpResult> Device::TokenUpdate() { return Send(true, TokenUpdateBody()); }
StatusOr<HttpResult> Device::CheckOut() { return Send(true, CheckOutBody()); }

StatusOr<HttpResult> Device::Result(std::string_view status, std::string_view command_uuid,
                                    std::optional<ReceivedCommand>* command,
                                    const std::map<std::string, std::string>& extra) {
  ASSIGN_OR_RETURN(HttpResult r, Send(false, ResultBody(status, command_uuid, extra)));
  if (command != nullptr) {
    command->reset();
    if (r.status == 200) {
      ASSIGN_OR_RETURN(*command, ParseCommandReply(r.body));
    }
  }
  return r;
}

StatusOr<HttpResult> Device::Idle(std::optional<ReceivedCommand>* command) {
  return Result("Idle", "", command);
}
StatusOr<HttpResult> Device::Acknowledged(std::string_view command_uuid,
                                          std::optional<ReceivedCommand>* command,
                                          const std::map<std::string, std::string>& extra) {
  return Result("Acknowledged", command_uuid, command, extra);
}
StatusOr<HttpResult> Device::Error(std::string_view command_uuid,
                                   std::optional<ReceivedCommand>* command) {
  return Result("Error", command_uuid, command);
}
StatusOr<HttpResult> Device::NotNow(std::string_view command_uuid,
                                    std::optional<ReceivedCommand>* command) {
  return Result("NotNow", command_uuid, command);
}

}  // namespace custos::devicesim
