#include "mdm/ota.h"

#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include "base/encoding.h"
#include "dep/machine_info.h"
#include "mdm/plist_util.h"
#include "pki/cms.h"
#include "pki/key.h"
#include "pki/x509.h"
#include "scep/service.h"

namespace custos::mdm {
namespace {

// The attributes phase 1 asks for (Apple's DeviceAttributes names). IMEI and MEID are absent on
// devices without cellular hardware; DEVICE_NAME is only for the administrator's log.
constexpr std::string_view kDeviceAttributes[] = {"UDID",  "VERSION", "PRODUCT",    "SERIAL",
                                                  "IMEI", "MEID",    "DEVICE_NAME"};

// Where the PayloadContent goes when it is encrypted (Configuration Profile Reference).
constexpr std::string_view kEncryptedPayloadContent = "EncryptedPayloadContent";

std::string ChallengeDigest(std::string_view challenge) { return Sha256Hex(challenge); }

// A refused request: the store's NOT_FOUND / FAILED_PRECONDITION become PERMISSION_DENIED (HTTP
// 403) with the reason; anything else (the database) passes through.
Status Refused(const Status& s, std::string_view phase) {
  if (s.code() == StatusCode::kNotFound) {
    return PermissionDeniedError(std::string(phase) + ": unknown OTA challenge");
  }
  if (s.code() == StatusCode::kFailedPrecondition) {
    return PermissionDeniedError(std::string(phase) + ": " + s.message());
  }
  return s;
}

// True when `value` is one of the certificate's subject values or SAN values.
bool CertificateNames(X509* cert, std::string_view value) {
  for (const RdnEntry& rdn : NameEntries(X509_get_subject_name(cert))) {
    if (rdn.value == value) return true;
  }
  auto sans = CertificateSans(cert);
  if (sans.ok()) {
    for (const San& san : *sans) {
      if (san.value == value) return true;
    }
  }
  return false;
}

}  // namespace

StatusOr<std::string> BuildProfileServicePayload(std::string_view identifier,
                                                 std::string_view organization,
                                                 std::string_view display_name,
                                                 std::string_view url, std::string_view challenge,
                                                 Random* random) {
  if (identifier.empty() || url.empty() || challenge.empty()) {
    return InvalidArgumentError("profile service payload needs an identifier, a URL and a challenge");
  }
  Plist root = Plist::NewDict();
  RETURN_IF_ERROR(SetPayloadHeader(root.get(), "Profile Service", identifier, NewUuid(random),
                                   display_name, organization));
  RETURN_IF_ERROR(DictSetString(root.get(), "PayloadDescription",
                                "Enrolls this device in device management over the air."));
  Plist content = Plist::NewDict();
  RETURN_IF_ERROR(DictSetString(content.get(), "URL", url));
  Plist attributes = Plist::NewArray();
  for (std::string_view a : kDeviceAttributes) {
    plist_array_append_item(attributes.get(), plist_new_string(std::string(a).c_str()));
  }
  RETURN_IF_ERROR(DictSetNode(content.get(), "DeviceAttributes", std::move(attributes)));
  RETURN_IF_ERROR(DictSetString(content.get(), "Challenge", challenge));
  RETURN_IF_ERROR(DictSetNode(root.get(), "PayloadContent", std::move(content)));
  return root.ToXml();
}

StatusOr<std::string> BuildOtaIdentityProfile(std::string_view identifier,
                                              std::string_view organization,
                                              std::string_view scep_url,
                                              std::string_view challenge, std::string_view udid,
                                              std::string_view root_der, Random* random) {
  if (identifier.empty() || scep_url.empty() || challenge.empty() || udid.empty()) {
    return InvalidArgumentError("OTA identity profile needs an identifier, a SCEP URL, a challenge and a UDID");
  }
  const std::string id(identifier);
  Plist payloads = Plist::NewArray();

  Plist scep = Plist::NewDict();
  RETURN_IF_ERROR(SetPayloadHeader(scep.get(), "com.apple.security.scep", id + ".scep",
                                   NewUuid(random), "OTA enrollment identity (SCEP)", organization));
  Plist content = Plist::NewDict();
  RETURN_IF_ERROR(DictSetString(content.get(), "URL", scep_url));
  RETURN_IF_ERROR(DictSetString(content.get(), "Name", "custos"));
  RETURN_IF_ERROR(DictSetString(content.get(), "Challenge", challenge));
  RETURN_IF_ERROR(DictSetInteger(content.get(), "Keysize", 2048));
  RETURN_IF_ERROR(DictSetString(content.get(), "Key Type", "RSA"));
  RETURN_IF_ERROR(DictSetInteger(content.get(), "Key Usage", 5));  // signing | encryption
  // [ [ ["O", org] ], [ ["CN", udid] ] ]: the SCEP challenge is bound to the UDID, so the CSR must
  // name it, and phase 3 finds it in the identity.
  Plist subject = Plist::NewArray();
  auto add_rdn = [&](std::string_view field, std::string_view value) {
    plist_t pair = plist_new_array();
    plist_array_append_item(pair, plist_new_string(std::string(field).c_str()));
    plist_array_append_item(pair, plist_new_string(std::string(value).c_str()));
    plist_t rdn = plist_new_array();
    plist_array_append_item(rdn, pair);
    plist_array_append_item(subject.get(), rdn);
  };
  RETURN_IF_ERROR(CheckPlistText(udid, "UDID"));
  if (!organization.empty()) {
    RETURN_IF_ERROR(CheckPlistText(organization, "organization"));
    add_rdn("O", organization);
  }
  add_rdn("CN", udid);
  RETURN_IF_ERROR(DictSetNode(content.get(), "Subject", std::move(subject)));
  RETURN_IF_ERROR(DictSetNode(scep.get(), "PayloadContent", std::move(content)));
  plist_array_append_item(payloads.get(), scep.release());

  if (!root_der.empty()) {
    Plist ca = Plist::NewDict();
    RETURN_IF_ERROR(SetPayloadHeader(ca.get(), "com.apple.security.root", id + ".root",
                                     NewUuid(random), "custos root CA", organization));
    RETURN_IF_ERROR(DictSetString(ca.get(), "PayloadCertificateFileName", "custos-root.cer"));
    RETURN_IF_ERROR(DictSetData(ca.get(), "PayloadContent", root_der));
    plist_array_append_item(payloads.get(), ca.release());
  }

  Plist root = Plist::NewDict();
  RETURN_IF_ERROR(SetPayloadHeader(root.get(), "Configuration", id, NewUuid(random),
                                   "Device identity for enrollment", organization));
  RETURN_IF_ERROR(DictSetString(root.get(), "PayloadDescription",
                                "The identity this device enrolls in device management with."));
  RETURN_IF_ERROR(DictSetNode(root.get(), "PayloadContent", std::move(payloads)));
  return root.ToXml();
}

StatusOr<std::string> EncryptProfilePayloadContent(std::string_view plist, X509* recipient) {
  if (recipient == nullptr) return InvalidArgumentError("no recipient certificate");
  EvpPkeyPtr key = CertificatePublicKey(recipient);
  if (!key || EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) {
    return InvalidArgumentError("EncryptedPayloadContent needs an RSA recipient");
  }
  ASSIGN_OR_RETURN(Plist root, Plist::Parse(plist));
  ASSIGN_OR_RETURN(PlistDict d, PlistDict::Of(root.get(), "profile"));
  plist_t content = d.Get("PayloadContent");
  if (content == nullptr || plist_get_node_type(content) != PLIST_ARRAY) {
    return InvalidArgumentError("profile has no PayloadContent array");
  }
  ASSIGN_OR_RETURN(std::string content_xml, Plist(plist_copy(content)).ToXml());
  ASSIGN_OR_RETURN(std::string envelope, EncryptCms(content_xml, recipient, "AES-256-CBC"));
  plist_dict_remove_item(root.get(), "PayloadContent");
  RETURN_IF_ERROR(DictSetData(root.get(), kEncryptedPayloadContent, envelope));
  return root.ToXml();
}

OtaService::OtaService(Options options, Deps deps)
    : options_(std::move(options)), deps_(deps), url_(options_.public_url + std::string(kOtaPath)) {}

StatusOr<std::unique_ptr<OtaService>> OtaService::Create(Options options, Deps deps) {
  if (!deps.profiles || !deps.scep || !deps.ca || !deps.apple || !deps.storage || !deps.clock ||
      !deps.random) {
    return InvalidArgumentError("OtaService needs profiles, SCEP, CA, Apple device CA, storage, clock and random");
  }
  while (!options.public_url.empty() && options.public_url.back() == '/') options.public_url.pop_back();
  if (options.public_url.empty()) return InvalidArgumentError("OtaService needs the public URL");
  if (options.challenge_ttl.count() <= 0 || options.identity_ttl.count() <= 0) {
    return InvalidArgumentError("OTA lifetimes must be positive");
  }
  return std::unique_ptr<OtaService>(new OtaService(std::move(options), deps));
}

StatusOr<OtaService::Output> OtaService::Finish(std::string plist, Output out) {
  std::shared_ptr<const ProfileSigner> signer = deps_.profiles->signer();
  if (!signer) {
    out.body = std::move(plist);
    return out;
  }
  ASSIGN_OR_RETURN(out.body, SignProfile(plist, *signer));
  out.is_signed = true;
  return out;
}

StatusOr<OtaService::Output> OtaService::StartSession() {
  const std::string challenge = Base64UrlEncode(deps_.random->Bytes(24));
  OtaSessionRecord session;
  session.challenge_sha256 = ChallengeDigest(challenge);
  session.created_at = deps_.clock->Now();
  session.expires_at = session.created_at + options_.challenge_ttl;
  RETURN_IF_ERROR(deps_.storage->Transact([&](Stores& s) -> Status {
    RETURN_IF_ERROR(s.ota().DeleteExpiredSessions(session.created_at).status());
    return s.ota().InsertSession(session);
  }));
  const ProfileContent& c = deps_.profiles->content();
  ASSIGN_OR_RETURN(std::string plist,
                   BuildProfileServicePayload(c.identifier + ".ota", c.organization,
                                              c.display_name, url_, challenge, deps_.random));
  Output out;
  out.phase = 1;
  return Finish(std::move(plist), std::move(out));
}

bool OtaService::IssuedByCustos(X509* cert) const {
  const X509_NAME* issuer = X509_get_issuer_name(cert);
  for (const X509Ptr& ca : deps_.ca->TrustedIssuers()) {
    if (X509_NAME_cmp(issuer, X509_get_subject_name(ca.get())) == 0) return true;
  }
  return false;
}

StatusOr<OtaService::Output> OtaService::HandleDeviceRequest(
    std::string_view body, std::optional<EnrollIdentity> identity) {
  ASSIGN_OR_RETURN(dep::DeviceSignedContent request,
                   dep::VerifyDeviceSignedContent(body, "OTA request", kMaxOtaRequestBytes));
  ASSIGN_OR_RETURN(OtaDeviceAttributes attributes, ParseOtaAttributes(request.content));
  if (IssuedByCustos(request.signer.get())) return Phase3(request, attributes, identity);
  return Phase2(request, attributes);
}

StatusOr<OtaService::Output> OtaService::Phase2(const dep::DeviceSignedContent& request,
                                                const OtaDeviceAttributes& a) {
  // Every check before anything is spent or issued.
  // A signer that is not from custos' CA must be an Apple device certificate.
  if (Status apple = deps_.apple->VerifySigner(request, "OTA phase 2"); !apple.ok()) {
    return PermissionDeniedError(
        "the signer is neither an Apple device certificate nor an identity custos issued: " +
        apple.message());
  }
  const Time now = deps_.clock->Now();
  OtaSessionRecord device;
  device.udid = a.udid;
  device.serial = a.serial;
  device.product = a.product;
  device.os_version = a.version;
  device.imei = a.imei;
  device.meid = a.meid;
  device.device_cert_subject = SubjectString(request.signer.get());
  Status spent = deps_.storage->Transact([&](Stores& s) {
    return s.ota().CompletePhase2(ChallengeDigest(a.challenge), device, now,
                                  now + options_.identity_ttl);
  });
  if (!spent.ok()) return Refused(spent, "OTA phase 2");

  ASSIGN_OR_RETURN(std::string scep_challenge,
                   deps_.scep->NewChallenge(options_.identity_ttl, a.udid));
  const ProfileContent& c = deps_.profiles->content();
  ASSIGN_OR_RETURN(std::string plist,
                   BuildOtaIdentityProfile(c.identifier + ".ota-identity", c.organization,
                                           c.scep_url, scep_challenge, a.udid, c.root_der,
                                           deps_.random));
  Output out;
  out.phase = 2;
  out.udid = a.udid;
  out.detail = "Apple device certificate " + device.device_cert_subject;
  return Finish(std::move(plist), std::move(out));
}

StatusOr<OtaService::Output> OtaService::Phase3(const dep::DeviceSignedContent& request,
                                                const OtaDeviceAttributes& a,
                                                std::optional<EnrollIdentity> identity) {
  X509* cert = request.signer.get();
  auto record = deps_.ca->VerifyIssued(cert, deps_.clock->Now());
  if (!record.ok()) {
    return PermissionDeniedError("OTA phase 3: identity not accepted: " + record.status().message());
  }
  if (!CertificateNames(cert, a.udid)) {
    return PermissionDeniedError("OTA phase 3: the identity " + record->serial_hex +
                                 " does not name device " + a.udid);
  }
  // A profile needs a push topic: find out before the session is spent.
  RETURN_IF_ERROR(deps_.profiles->Topic().status());
  Status spent = deps_.storage->Transact([&](Stores& s) {
    return s.ota().CompletePhase3(ChallengeDigest(a.challenge), a.udid, record->serial_hex,
                                  deps_.clock->Now());
  });
  if (!spent.ok()) return Refused(spent, "OTA phase 3");

  ProfileService::Request req;
  req.identity = identity;
  req.sign = false;  // encrypted first, signed below
  EnrollingDevice device;
  device.udid = a.udid;
  device.serial = a.serial;
  device.product = a.product;  // the OS version is not among the OTA attributes (VERSION is the build)
  req.device = std::move(device);
  ASSIGN_OR_RETURN(ProfileService::Output profile, deps_.profiles->Generate(req));
  ASSIGN_OR_RETURN(std::string encrypted, EncryptProfilePayloadContent(profile.body, cert));
  Output out;
  out.phase = 3;
  out.udid = a.udid;
  out.detail = std::string(EnrollIdentityName(profile.identity)) + " profile encrypted to identity " +
               record->serial_hex;
  return Finish(std::move(encrypted), std::move(out));
}

}  // namespace custos::mdm
