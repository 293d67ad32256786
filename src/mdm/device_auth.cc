// Device authentication (device_auth.h).
//
// Why this file does not simply call d2i_CMS + CMS_verify on the header: OpenSSL 3.0 decodes the
// public key of every certificate it parses through the provider decoder machinery
// (OSSL_DECODER_CTX_new_for_pkey), ~150 us per certificate, several times the RSA verification
// itself. A device sends the same certificate on every request, so the certificates carried in
// an Mdm-Signature are split off with an OpenSSL ASN.1 template in which they are opaque, decoded
// once per distinct certificate (cache keyed by the SHA-256 of their DER, which is also
// custos' cert_sha256), and handed to CMS_verify beside the certificate-less SignedData. All
// cryptography (digest, signed attributes, signature) stays in CMS_verify.
#include "mdm/device_auth.h"

#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <array>
#include <cctype>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/encoding.h"
#include "pki/key.h"

// RFC 5652 ContentInfo / SignedData with every field but the certificates kept as opaque
// (raw BER) values, for splitting the certificates off without decoding them.
extern "C" {
typedef struct custos_mdm_signed_data_st {
  ASN1_TYPE* version;
  ASN1_TYPE* digest_algorithms;
  ASN1_TYPE* encap_content_info;
  STACK_OF(ASN1_TYPE) * certificates;
  STACK_OF(ASN1_TYPE) * crls;
  ASN1_TYPE* signer_infos;
} CUSTOS_MDM_SIGNED_DATA;

typedef struct custos_mdm_content_info_st {
  ASN1_OBJECT* content_type;
  CUSTOS_MDM_SIGNED_DATA* signed_data;
} CUSTOS_MDM_CONTENT_INFO;

ASN1_SEQUENCE(CUSTOS_MDM_SIGNED_DATA) = {
    ASN1_SIMPLE(CUSTOS_MDM_SIGNED_DATA, version, ASN1_ANY),
    ASN1_SIMPLE(CUSTOS_MDM_SIGNED_DATA, digest_algorithms, ASN1_ANY),
    ASN1_SIMPLE(CUSTOS_MDM_SIGNED_DATA, encap_content_info, ASN1_ANY),
    ASN1_IMP_SET_OF_OPT(CUSTOS_MDM_SIGNED_DATA, certificates, ASN1_ANY, 0),
    ASN1_IMP_SET_OF_OPT(CUSTOS_MDM_SIGNED_DATA, crls, ASN1_ANY, 1),
    ASN1_SIMPLE(CUSTOS_MDM_SIGNED_DATA, signer_infos, ASN1_ANY),
} ASN1_SEQUENCE_END(CUSTOS_MDM_SIGNED_DATA)

ASN1_SEQUENCE(CUSTOS_MDM_CONTENT_INFO) = {
    ASN1_SIMPLE(CUSTOS_MDM_CONTENT_INFO, content_type, ASN1_OBJECT),
    ASN1_EXP(CUSTOS_MDM_CONTENT_INFO, signed_data, CUSTOS_MDM_SIGNED_DATA, 0),
} ASN1_SEQUENCE_END(CUSTOS_MDM_CONTENT_INFO)

DECLARE_ASN1_FUNCTIONS(CUSTOS_MDM_CONTENT_INFO)
IMPLEMENT_ASN1_FUNCTIONS(CUSTOS_MDM_CONTENT_INFO)
}  // extern "C"

namespace custos::mdm {
namespace {

// Devices send a header of ~2-4 KB; anything far larger is not an identity.
constexpr size_t kMaxHeaderBytes = 64 * 1024;
// An Mdm-Signature carries the identity and perhaps its chain; more is not a device.
constexpr int kMaxCertificates = 8;
constexpr std::string_view kRfc9440Header = "Client-Cert";
constexpr std::string_view kMdmSignatureHeader = "Mdm-Signature";

using LiteContentInfoPtr = OpenSslPtr<CUSTOS_MDM_CONTENT_INFO, CUSTOS_MDM_CONTENT_INFO_free>;

std::string_view TrimOws(std::string_view s) {
  auto ows = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && ows(s.back())) s.remove_suffix(1);
  return s;
}

// One DER certificate, every byte consumed.
StatusOr<X509Ptr> ParseDerCertificate(std::string_view der, std::string_view what) {
  if (der.empty()) return InvalidArgumentError(std::string(what) + ": empty certificate");
  ERR_clear_error();
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert) {
    return OpenSslError(std::string(what) + ": not a DER certificate", StatusCode::kInvalidArgument);
  }
  if (p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    return InvalidArgumentError(std::string(what) + ": trailing bytes after the certificate");
  }
  // Fill OpenSSL's lazily computed extension cache now, so a shared certificate is only read.
  X509_check_purpose(cert.get(), -1, 0);
  return cert;
}

X509Ptr Ref(X509* cert) {
  X509_up_ref(cert);
  return X509Ptr(cert);
}

using CertKey = std::array<unsigned char, 32>;

bool DigestDer(std::string_view der, CertKey* key) {
  unsigned int len = 0;
  if (Sha256Md() == nullptr ||
      EVP_Digest(der.data(), der.size(), key->data(), &len, Sha256Md(), nullptr) != 1 ||
      len != key->size()) {
    ERR_clear_error();
    return false;
  }
  return true;
}

struct CertKeyHash {
  size_t operator()(const CertKey& k) const {
    size_t h;
    std::memcpy(&h, k.data(), sizeof(h));  // already a uniform hash
    return h;
  }
};

// Turns the DER of a carried certificate into an X509 (new reference).
using CertResolver = std::function<StatusOr<X509Ptr>(std::string_view der)>;

std::string DigestName(CMS_SignerInfo* si) {
  X509_ALGOR* dig = nullptr;
  CMS_SignerInfo_get0_algs(si, nullptr, nullptr, &dig, nullptr);
  if (dig == nullptr) return "unknown";
  const ASN1_OBJECT* obj = nullptr;
  X509_ALGOR_get0(&obj, nullptr, nullptr, dig);
  int nid = OBJ_obj2nid(obj);
  char buf[80];
  if (nid != NID_undef) {
    std::string name = OBJ_nid2sn(nid);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return name;
  }
  OBJ_obj2txt(buf, sizeof(buf), obj, 1);
  return buf;
}

StatusOr<X509Ptr> VerifyMdmSignatureWith(std::string_view header, std::string_view body,
                                         std::string* digest, const CertResolver& resolve) {
  header = TrimOws(header);
  if (header.empty()) return InvalidArgumentError("Mdm-Signature: empty header");
  if (header.size() > kMaxHeaderBytes) {
    return InvalidArgumentError("Mdm-Signature: header too large");
  }
  auto der = Base64Decode(header);
  if (!der.ok()) return InvalidArgumentError("Mdm-Signature: not base64: " + der.status().message());

  // 1. Split the certificates off (OpenSSL's BER decoder, certificates left opaque).
  ERR_clear_error();
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der->data());
  LiteContentInfoPtr lite(
      d2i_CUSTOS_MDM_CONTENT_INFO(nullptr, &p, static_cast<long>(der->size())));
  if (!lite || lite->signed_data == nullptr) {
    return OpenSslError("Mdm-Signature: not a CMS SignedData", StatusCode::kInvalidArgument);
  }
  if (OBJ_obj2nid(lite->content_type) != NID_pkcs7_signed) {
    return InvalidArgumentError("Mdm-Signature: the ContentInfo is not SignedData");
  }
  X509StackPtr certs(sk_X509_new_null());
  if (!certs) return InternalError("allocating certificate stack");
  if (STACK_OF(ASN1_TYPE)* carried = lite->signed_data->certificates; carried != nullptr) {
    if (sk_ASN1_TYPE_num(carried) > kMaxCertificates) {
      return InvalidArgumentError("Mdm-Signature: too many certificates");
    }
    for (int i = 0; i < sk_ASN1_TYPE_num(carried); ++i) {
      ASN1_TYPE* t = sk_ASN1_TYPE_value(carried, i);
      // Only plain X.509 certificates (a SEQUENCE); other CertificateChoices are not identities.
      if (t == nullptr || t->type != V_ASN1_SEQUENCE || t->value.sequence == nullptr) continue;
      std::string_view cert_der(reinterpret_cast<const char*>(t->value.sequence->data),
                                static_cast<size_t>(t->value.sequence->length));
      auto cert = resolve(cert_der);
      if (!cert.ok()) {
        return InvalidArgumentError("Mdm-Signature: carried certificate: " +
                                    cert.status().message());
      }
      if (sk_X509_push(certs.get(), cert->get()) <= 0) return InternalError("certificate stack");
      cert->release();  // owned by the stack now
    }
    sk_ASN1_TYPE_pop_free(carried, ASN1_TYPE_free);
    lite->signed_data->certificates = nullptr;
  }
  if (sk_X509_num(certs.get()) == 0) {
    return PermissionDeniedError("Mdm-Signature: the signer's certificate is not included");
  }
  unsigned char* stripped = nullptr;
  int stripped_len = i2d_CUSTOS_MDM_CONTENT_INFO(lite.get(), &stripped);
  if (stripped_len <= 0) {
    return OpenSslError("Mdm-Signature: re-encoding", StatusCode::kInvalidArgument);
  }
  const unsigned char* q = stripped;
  CmsPtr cms(d2i_CMS_ContentInfo(nullptr, &q, stripped_len));
  OPENSSL_free(stripped);
  if (!cms) return OpenSslError("Mdm-Signature: not a CMS SignedData", StatusCode::kInvalidArgument);

  // 2. Shape: detached, one signer.
  if (ASN1_OCTET_STRING** content = CMS_get0_content(cms.get());
      content != nullptr && *content != nullptr && ASN1_STRING_length(*content) > 0) {
    return InvalidArgumentError("Mdm-Signature: the signature carries content; expected detached");
  }
  STACK_OF(CMS_SignerInfo)* sis = CMS_get0_SignerInfos(cms.get());
  int signers = sis == nullptr ? 0 : sk_CMS_SignerInfo_num(sis);
  if (signers != 1) {
    return InvalidArgumentError("Mdm-Signature: expected one signer, found " +
                                std::to_string(signers));
  }
  if (digest != nullptr) *digest = DigestName(sk_CMS_SignerInfo_value(sis, 0));

  // 3. The signature over the body (messageDigest and signed attributes when present).
  ERR_clear_error();
  BioPtr content = MemBioFrom(body);
  if (!content) return InternalError("allocating BIO");
  if (CMS_verify(cms.get(), certs.get(), nullptr, content.get(), nullptr,
                 CMS_DETACHED | CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY) != 1) {
    return PermissionDeniedError("Mdm-Signature does not verify over the body (" +
                                 std::to_string(body.size()) +
                                 " bytes): " + DrainOpenSslErrors());
  }
  X509* signer = nullptr;
  CMS_SignerInfo_get0_algs(sk_CMS_SignerInfo_value(sis, 0), nullptr, &signer, nullptr, nullptr);
  if (signer == nullptr) {
    return PermissionDeniedError("Mdm-Signature: the signer's certificate is not included");
  }
  return Ref(signer);
}

}  // namespace

std::string_view IdentitySourceName(IdentitySource source) {
  switch (source) {
    case IdentitySource::kTlsClientCert:
      return "tls";
    case IdentitySource::kProxyHeader:
      return "proxy-header";
    case IdentitySource::kMdmSignature:
      return "mdm-signature";
  }
  return "unknown";
}

StatusOr<X509Ptr> VerifyMdmSignature(std::string_view header, std::string_view body,
                                     std::string* digest) {
  return VerifyMdmSignatureWith(header, body, digest, [](std::string_view der) {
    return ParseDerCertificate(der, "certificate");
  });
}

namespace {

// The DER of a proxy-header certificate (RFC 9440 or nginx's URL-escaped PEM).
StatusOr<std::string> ProxyCertificateDer(std::string_view value) {
  value = TrimOws(value);
  if (value.empty()) return InvalidArgumentError("client certificate header: empty");
  if (value.size() > kMaxHeaderBytes) {
    return InvalidArgumentError("client certificate header: too large");
  }
  // RFC 9440 section 2.2: a Structured Field Byte Sequence, ":" base64(DER) ":".
  if (value.front() == ':') {
    if (value.size() < 3 || value.back() != ':') {
      return InvalidArgumentError("Client-Cert: not an RFC 9440 byte sequence (:base64:)");
    }
    auto der = Base64Decode(value.substr(1, value.size() - 2));
    if (!der.ok()) return InvalidArgumentError("Client-Cert: " + der.status().message());
    return der;
  }
  // nginx $ssl_client_escaped_cert: the PEM certificate, URL-encoded.
  std::string pem = http::PercentDecode(value, /*plus_is_space=*/false);
  if (pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return InvalidArgumentError(
        "client certificate header: neither RFC 9440 (:base64:) nor a URL-escaped PEM certificate");
  }
  ERR_clear_error();
  BioPtr bio = MemBioFrom(pem);
  if (!bio) return InternalError("allocating BIO");
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* data = nullptr;
  long len = 0;
  if (PEM_read_bio(bio.get(), &name, &header, &data, &len) != 1) {
    return OpenSslError("client certificate header: unreadable PEM", StatusCode::kInvalidArgument);
  }
  bool is_cert = std::strcmp(name, "CERTIFICATE") == 0;
  std::string der(reinterpret_cast<char*>(data), static_cast<size_t>(len));
  OPENSSL_free(name);
  OPENSSL_free(header);
  OPENSSL_free(data);
  if (!is_cert) return InvalidArgumentError("client certificate header: PEM is not a CERTIFICATE");
  return der;
}

}  // namespace

StatusOr<X509Ptr> ParseProxyCertificateHeader(std::string_view value) {
  ASSIGN_OR_RETURN(std::string der, ProxyCertificateDer(value));
  return ParseDerCertificate(der, "client certificate header");
}

// Decoded certificates and positive VerifyIssued verdicts by certificate SHA-256, sharded to keep
// lock hold times short under many concurrent sessions. A decoded certificate is immutable and
// stays while it is used (kParsedTtl after its last use); a verdict lasts verdict_cache_ttl.
struct DeviceAuthenticator::VerdictCache {
  static constexpr size_t kShards = 16;
  static constexpr size_t kMaxPerShard = 4096;  // ~65k devices in the polling window
  static constexpr Duration kParsedTtl{600};
  struct Entry {
    X509Ptr cert;
    Time last_used;
    std::optional<CertificateRecord> record;
    Time verdict_expires;
  };
  struct Shard {
    std::mutex mu;
    std::unordered_map<CertKey, Entry, CertKeyHash> map;
  };
  std::array<Shard, kShards> shards;

  Shard& ShardFor(const CertKey& key) { return shards[key[31] % kShards]; }

  // Makes room in a full shard: drops entries unused for kParsedTtl, else everything.
  static void Trim(Shard& s, Time now) {
    if (s.map.size() < kMaxPerShard) return;
    std::erase_if(s.map, [now](const auto& kv) { return now >= kv.second.last_used + kParsedTtl; });
    if (s.map.size() >= kMaxPerShard) s.map.clear();
  }

  // The decoded certificate of `der`; its SHA-256 goes to `key_out` (when given and computed).
  StatusOr<X509Ptr> Certificate(std::string_view der, Time now, std::string* key_out = nullptr) {
    CertKey key;
    if (!DigestDer(der, &key)) return ParseDerCertificate(der, "certificate");
    if (key_out != nullptr) key_out->assign(reinterpret_cast<const char*>(key.data()), key.size());
    Shard& s = ShardFor(key);
    {
      std::lock_guard<std::mutex> lock(s.mu);
      if (auto it = s.map.find(key); it != s.map.end()) {
        it->second.last_used = now;
        return Ref(it->second.cert.get());
      }
    }
    // Decode outside the lock (slow on OpenSSL 3.0; see the file comment).
    ASSIGN_OR_RETURN(X509Ptr cert, ParseDerCertificate(der, "certificate"));
    std::lock_guard<std::mutex> lock(s.mu);
    Trim(s, now);
    auto [it, inserted] = s.map.try_emplace(key);
    if (inserted) {
      it->second.cert = Ref(cert.get());
      it->second.last_used = now;
    }
    return cert;
  }

  std::optional<CertificateRecord> Verdict(const CertKey& key, Time now) {
    Shard& s = ShardFor(key);
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.map.find(key);
    if (it == s.map.end() || !it->second.record.has_value()) return std::nullopt;
    const Entry& e = it->second;
    // The certificate's own validity still counts: a cached verdict never outlives it.
    if (now >= e.verdict_expires || now >= e.record->not_after || now < e.record->not_before) {
      it->second.record.reset();
      return std::nullopt;
    }
    return e.record;
  }

  void PutVerdict(const CertKey& key, X509* cert, const CertificateRecord& record, Time expires,
                  Time now) {
    Shard& s = ShardFor(key);
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.map.find(key);
    if (it == s.map.end()) {
      Trim(s, now);
      it = s.map.try_emplace(key).first;
      it->second.cert = Ref(cert);
    }
    it->second.last_used = now;
    it->second.record = record;
    it->second.verdict_expires = expires;
  }
};

DeviceAuthenticator::DeviceAuthenticator(DeviceAuthOptions options, Authority* authority,
                                         Clock* clock)
    : options_(std::move(options)),
      authority_(authority),
      clock_(clock),
      cache_(std::make_unique<VerdictCache>()) {}

DeviceAuthenticator::~DeviceAuthenticator() = default;

StatusOr<CertificateRecord> DeviceAuthenticator::VerifyCached(X509* cert,
                                                              std::string_view der_sha256) const {
  Time now = clock_->Now();
  bool use_cache = options_.verdict_cache_ttl.count() > 0;
  CertKey key{};
  if (use_cache && der_sha256.size() == key.size()) {
    std::memcpy(key.data(), der_sha256.data(), key.size());  // hashed already by the resolver
    if (auto hit = cache_->Verdict(key, now); hit.has_value()) return std::move(*hit);
  } else if (use_cache) {
    unsigned int len = 0;
    // X509_digest hashes the certificate's retained encoding: no re-encoding.
    if (Sha256Md() == nullptr || X509_digest(cert, Sha256Md(), key.data(), &len) != 1 ||
        len != key.size()) {
      ERR_clear_error();
      use_cache = false;
    } else if (auto hit = cache_->Verdict(key, now); hit.has_value()) {
      return std::move(*hit);
    }
  }
  ASSIGN_OR_RETURN(CertificateRecord record, authority_->VerifyIssued(cert, now));
  if (use_cache) cache_->PutVerdict(key, cert, record, now + options_.verdict_cache_ttl, now);
  return record;
}

StatusOr<DeviceIdentity> DeviceAuthenticator::Authenticate(const http::Request& request) const {
  Time now = clock_->Now();
  // The SHA-256 of every resolved certificate, so the verdict lookup does not hash it again.
  std::vector<std::pair<X509*, std::string>> digests;
  auto resolve = [this, now, &digests](std::string_view der) -> StatusOr<X509Ptr> {
    std::string key;
    ASSIGN_OR_RETURN(X509Ptr cert, cache_->Certificate(der, now, &key));
    if (!key.empty()) digests.emplace_back(cert.get(), std::move(key));
    return cert;
  };
  DeviceIdentity identity;
  if (options_.allow_tls_client_cert && !request.client_cert_chain.empty()) {
    auto cert = resolve(request.client_cert_chain.front());
    if (!cert.ok()) {
      return InvalidArgumentError("TLS client certificate: " + cert.status().message());
    }
    identity.certificate = std::move(cert).value();
    identity.source = IdentitySource::kTlsClientCert;
  } else {
    std::optional<std::string_view> proxy_value;
    if (options_.allow_proxy_header && request.from_trusted_proxy) {
      proxy_value = request.Header(kRfc9440Header);
      if (!proxy_value.has_value() && !options_.proxy_header.empty()) {
        proxy_value = request.Header(options_.proxy_header);
      }
    }
    if (proxy_value.has_value()) {
      ASSIGN_OR_RETURN(std::string der, ProxyCertificateDer(*proxy_value));
      auto cert = resolve(der);
      if (!cert.ok()) {
        return InvalidArgumentError("client certificate header: " + cert.status().message());
      }
      identity.certificate = std::move(cert).value();
      identity.source = IdentitySource::kProxyHeader;
    } else if (auto signature = request.Header(kMdmSignatureHeader);
               options_.allow_mdm_signature && signature.has_value()) {
      ASSIGN_OR_RETURN(identity.certificate,
                       VerifyMdmSignatureWith(*signature, request.body, nullptr, resolve));
      identity.source = IdentitySource::kMdmSignature;
    } else {
      return PermissionDeniedError(
          "no device identity: no TLS client certificate, no client-certificate header from a "
          "trusted proxy and no Mdm-Signature");
    }
  }
  std::string_view der_sha256;
  for (const auto& [cert, key] : digests) {
    if (cert == identity.certificate.get()) der_sha256 = key;
  }
  auto record = VerifyCached(identity.certificate.get(), der_sha256);
  if (!record.ok()) {
    return Status(record.status().code(), std::string(IdentitySourceName(identity.source)) +
                                              " identity refused: " + record.status().message());
  }
  identity.record = std::move(record).value();
  return identity;
}

}  // namespace custos::mdm
