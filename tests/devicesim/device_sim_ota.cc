// OTA enrollment through the profile service for the simulated device (device_sim.h), as an
// iPhone does it (Apple "Over-the-Air Profile Delivery and Configuration"): phase 1 fetches the
// Profile Service payload, phase 2 returns the requested attributes signed by the device's Apple
// certificate and installs the identity (SCEP) profile it gets back, phase 3 returns them again
// signed by that identity and opens the EncryptedPayloadContent of the enrollment profile.
#include <openssl/x509.h>
#include <plist/plist.h>

#include "mdm/plist_util.h"
#include "pki/cms.h"
#include "pki/key.h"
#include "pki/x509.h"
#include "tests/devicesim/device_sim.h"

namespace custos::devicesim {
namespace {

// The signed profile's plist (the CMS content, its signature verified), or the plain plist.
StatusOr<std::string> ProfilePlist(std::string_view body, bool* is_signed) {
  *is_signed = false;
  if (body.rfind("<?xml", 0) == 0 || body.rfind("<plist", 0) == 0) return std::string(body);
  ASSIGN_OR_RETURN(ParsedSignedData parsed, ParseSignedData(body));
  RETURN_IF_ERROR(VerifySignedData(parsed));
  if (!parsed.content) return InvalidArgumentError("signed profile has no content");
  *is_signed = true;
  return *parsed.content;
}

Status Answered200(const HttpResult& r, std::string_view what) {
  if (r.status == 200) return OkStatus();
  return InvalidArgumentError(std::string(what) + " answered " + std::to_string(r.status) + ": " +
                              r.body);
}

}  // namespace

StatusOr<FakeAppleDevicePki> MakeFakeAppleDevicePki(std::string_view udid) {
  FakeAppleDevicePki p;
  const Time now = Clock::Real()->Now();
  ASSIGN_OR_RETURN(p.root_key, GenerateKey(KeyAlgorithm::kEcP256));
  ASSIGN_OR_RETURN(p.ca_key, GenerateKey(KeyAlgorithm::kEcP256));
  ASSIGN_OR_RETURN(p.device_key, GenerateKey(KeyAlgorithm::kRsa, 2048));
  CertificateTemplate t;
  t.subject = {{"O", "Fake Apple Inc."}, {"CN", "Fake Apple Root CA"}};
  t.basic_constraints_ca = true;
  t.key_usage = kKuKeyCertSign | kKuCrlSign;
  t.not_before = now - Duration(86400 * 3650);
  t.not_after = now + Duration(86400 * 3650);
  t.serial_hex = "01";
  ASSIGN_OR_RETURN(p.root, BuildCertificate(t, p.root_key.get(), nullptr, p.root_key.get()));
  t.subject = {{"O", "Fake Apple Inc."}, {"CN", "Fake Apple iPhone Device CA"}};
  t.not_after = now - Duration(86400 * 365);  // expired, like Apple iPhone Device CA
  t.serial_hex = "02";
  ASSIGN_OR_RETURN(p.ca, BuildCertificate(t, p.ca_key.get(), p.root.get(), p.root_key.get()));
  CertificateTemplate l;
  l.subject = {{"CN", std::string(udid)}};
  l.basic_constraints_ca = false;
  l.key_usage = kKuDigitalSignature | kKuKeyEncipherment;
  l.not_before = now - Duration(86400 * 400);
  l.not_after = now + Duration(86400 * 365);
  l.serial_hex = "03";
  ASSIGN_OR_RETURN(p.device, BuildCertificate(l, p.device_key.get(), p.ca.get(), p.ca_key.get()));
  p.root_pem = CertificatePem(p.root.get());
  return p;
}

StatusOr<ProfileServicePayload> ParseProfileServiceProfile(std::string_view body) {
  ProfileServicePayload out;
  ASSIGN_OR_RETURN(std::string xml, ProfilePlist(body, &out.signed_profile));
  ASSIGN_OR_RETURN(mdm::Plist plist, mdm::Plist::Parse(xml));
  ASSIGN_OR_RETURN(mdm::PlistDict root, mdm::PlistDict::Of(plist.get(), "profile"));
  ASSIGN_OR_RETURN(std::string type, root.String("PayloadType"));
  if (type != "Profile Service") {
    return InvalidArgumentError("not a Profile Service payload: " + type);
  }
  ASSIGN_OR_RETURN(mdm::PlistDict content, root.Dict("PayloadContent"));
  ASSIGN_OR_RETURN(out.url, content.String("URL"));
  ASSIGN_OR_RETURN(out.challenge, content.StringOr("Challenge", ""));
  ASSIGN_OR_RETURN(mdm::PlistArray attributes, content.Array("DeviceAttributes"));
  ASSIGN_OR_RETURN(out.device_attributes, attributes.Strings("DeviceAttributes"));
  return out;
}

OtaEnrollment::OtaEnrollment(Device* device, const FakeAppleDevicePki* apple)
    : device_(device), apple_(apple), http_(std::make_unique<HttpClient>()) {}

OtaEnrollment::~OtaEnrollment() = default;

Status OtaEnrollment::FetchProfileService(const std::string& url,
                                          const std::vector<std::string>& headers) {
  ASSIGN_OR_RETURN(last_, http_->Request("GET", url, {}, headers));
  RETURN_IF_ERROR(Answered200(last_, "GET " + url));
  ASSIGN_OR_RETURN(payload_, ParseProfileServiceProfile(last_.body));
  return OkStatus();
}

std::string OtaEnrollment::AttributesPlist(std::string_view challenge) const {
  mdm::Plist d = mdm::Plist::NewDict();
  // Only what the payload asked for, as devices do, plus the challenge.
  for (const std::string& name : payload_.device_attributes) {
    std::string value;
    if (name == "UDID") value = device_->udid();
    if (name == "SERIAL") value = device_->serial();
    if (name == "PRODUCT") value = "iPhone14,2";
    if (name == "VERSION") value = "21E236";
    if (name == "DEVICE_NAME") value = "Simulated iPhone";
    if (name == "IMEI") value = "35 209900 176148 1";
    if (!value.empty()) (void)mdm::DictSetString(d.get(), name, value);
  }
  (void)mdm::DictSetString(d.get(), "CHALLENGE", challenge);
  return d.ToXml().value_or("");
}

StatusOr<HttpResult> OtaEnrollment::PostSigned(std::string_view content, EVP_PKEY* key, X509* cert,
                                               const std::vector<X509*>& chain,
                                               std::string_view digest) {
  if (payload_.url.empty()) return FailedPreconditionError("no Profile Service payload: phase 1 first");
  CmsSignOptions o;
  o.key = key;
  o.cert = cert;
  o.chain = chain;
  o.digest = std::string(digest);
  ASSIGN_OR_RETURN(std::string body, SignCms(content, o));
  return Post(body);
}

StatusOr<HttpResult> OtaEnrollment::Post(std::string_view body) {
  if (payload_.url.empty()) return FailedPreconditionError("no Profile Service payload: phase 1 first");
  ASSIGN_OR_RETURN(last_, http_->Request("POST", payload_.url, body,
                                         {"Content-Type: application/pkcs7-signature"}));
  return last_;
}

std::string OtaEnrollment::SignAsApple(std::string_view content) const {
  CmsSignOptions o;
  o.key = apple_->device_key.get();
  o.cert = apple_->device.get();
  o.chain = {apple_->ca.get()};
  o.digest = "sha1";  // devices still sign with SHA-1
  return SignCms(content, o).value_or("");
}

Status OtaEnrollment::Phase2() {
  ASSIGN_OR_RETURN(HttpResult r, PostSigned(AttributesPlist(payload_.challenge),
                                            apple_->device_key.get(), apple_->device.get(),
                                            {apple_->ca.get()}, "sha1"));
  RETURN_IF_ERROR(Answered200(r, "OTA phase 2"));
  bool is_signed = false;
  ASSIGN_OR_RETURN(std::string xml, ProfilePlist(r.body, &is_signed));
  ASSIGN_OR_RETURN(mdm::Plist plist, mdm::Plist::Parse(xml));
  ASSIGN_OR_RETURN(mdm::PlistDict root, mdm::PlistDict::Of(plist.get(), "profile"));
  ASSIGN_OR_RETURN(mdm::PlistArray payloads, root.Array("PayloadContent"));
  EnrollmentProfile identity;
  identity.signed_profile = is_signed;
  identity.plist = xml;
  for (size_t i = 0; i < payloads.size(); ++i) {
    ASSIGN_OR_RETURN(mdm::PlistDict d, mdm::PlistDict::Of(payloads.at(i), "payload"));
    if (d.StringOr("PayloadType", "").value_or("") != "com.apple.security.scep") continue;
    ASSIGN_OR_RETURN(mdm::PlistDict c, d.Dict("PayloadContent"));
    ASSIGN_OR_RETURN(identity.scep_url, c.String("URL"));
    ASSIGN_OR_RETURN(identity.challenge, c.String("Challenge"));
    ASSIGN_OR_RETURN(int64_t keysize, c.Integer("Keysize"));
    identity.key_size = static_cast<int>(keysize);
    ASSIGN_OR_RETURN(mdm::PlistArray subject, c.Array("Subject"));
    for (size_t s = 0; s < subject.size(); ++s) {
      ASSIGN_OR_RETURN(mdm::PlistArray rdn, mdm::PlistArray::Of(subject.at(s), "Subject RDN"));
      ASSIGN_OR_RETURN(mdm::PlistArray pair, mdm::PlistArray::Of(rdn.at(0), "Subject attribute"));
      ASSIGN_OR_RETURN(std::vector<std::string> kv, pair.Strings("Subject attribute"));
      if (kv.size() != 2) return InvalidArgumentError("Subject attribute is not a pair");
      identity.subject.emplace_back(kv[0], kv[1]);
    }
  }
  if (identity.scep_url.empty()) return InvalidArgumentError("phase-2 profile has no SCEP payload");
  identity_profile_ = identity;
  device_->UseProfile(std::move(identity));
  return device_->EnrollScep();
}

Status OtaEnrollment::Phase3() {
  if (device_->certificate() == nullptr) return FailedPreconditionError("no identity: phase 2 first");
  ASSIGN_OR_RETURN(HttpResult r, PostSigned(AttributesPlist(payload_.challenge), device_->key(),
                                            device_->certificate(), {}, "sha256"));
  RETURN_IF_ERROR(Answered200(r, "OTA phase 3"));
  bool is_signed = false;
  ASSIGN_OR_RETURN(std::string xml, ProfilePlist(r.body, &is_signed));
  ASSIGN_OR_RETURN(mdm::Plist plist, mdm::Plist::Parse(xml));
  ASSIGN_OR_RETURN(mdm::PlistDict root, mdm::PlistDict::Of(plist.get(), "profile"));
  ASSIGN_OR_RETURN(std::string envelope, root.Data("EncryptedPayloadContent"));
  ASSIGN_OR_RETURN(std::string content_xml,
                   DecryptCms(envelope, device_->key(), device_->certificate()));
  ASSIGN_OR_RETURN(mdm::Plist content, mdm::Plist::Parse(content_xml));
  if (plist_get_node_type(content.get()) != PLIST_ARRAY) {
    return InvalidArgumentError("EncryptedPayloadContent is not an array");
  }
  // The profile as the device sees it once decrypted.
  plist_dict_remove_item(plist.get(), "EncryptedPayloadContent");
  RETURN_IF_ERROR(mdm::DictSetNode(plist.get(), "PayloadContent", std::move(content)));
  ASSIGN_OR_RETURN(std::string clear, plist.ToXml());
  ASSIGN_OR_RETURN(EnrollmentProfile profile, ParseEnrollmentProfile(clear));
  profile.signed_profile = is_signed;
  device_->UseProfile(std::move(profile));
  return OkStatus();
}

}  // namespace custos::devicesim
