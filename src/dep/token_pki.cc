#include "dep/token_pki.h"

#include <openssl/cms.h>
#include <openssl/pem.h>

#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "pki/cms.h"
#include "pki/key.h"
#include "pki/x509.h"

namespace custos::dep {

StatusOr<TokenPkiPair> GenerateTokenPki(std::string_view name, Time now, Random* random) {
  TokenPkiPair pair;
  ASSIGN_OR_RETURN(pair.key, GenerateKey(KeyAlgorithm::kRsa, 2048));
  CertificateTemplate tmpl;
  tmpl.subject = {{"CN", "custos DEP " + std::string(name)}, {"O", "custos"}};
  tmpl.key_usage = kKuDigitalSignature | kKuKeyEncipherment;
  tmpl.extended_key_usages = {kEkuEmailProtection};
  tmpl.basic_constraints_ca = false;
  tmpl.not_before = now - Duration(300);
  tmpl.not_after = now + Duration(365 * 86400);
  std::string serial = random->Bytes(16);
  serial[0] = static_cast<char>(serial[0] & 0x7f);  // positive
  if (serial[0] == 0) serial[0] = 1;
  tmpl.serial_hex = HexEncode(serial);
  ASSIGN_OR_RETURN(pair.cert, BuildCertificate(tmpl, pair.key.get(), nullptr, pair.key.get()));
  return pair;
}

StatusOr<std::string> TokenFileEnvelope(std::string_view file) {
  if (file.size() > kMaxTokenFileBytes) {
    return InvalidArgumentError("token file larger than " + std::to_string(kMaxTokenFileBytes) +
                                " bytes");
  }
  if (file.empty()) return InvalidArgumentError("token file is empty");
  CmsPtr cms;
  BioPtr bio = MemBioFrom(file);
  if (file.find("-----BEGIN ") != std::string_view::npos) {
    char* pem_name = nullptr;
    char* pem_header = nullptr;
    unsigned char* der = nullptr;
    long der_len = 0;
    if (PEM_read_bio(bio.get(), &pem_name, &pem_header, &der, &der_len) == 1) {
      const unsigned char* p = der;
      cms.reset(d2i_CMS_ContentInfo(nullptr, &p, der_len));
    }
    OPENSSL_free(pem_name);
    OPENSSL_free(pem_header);
    OPENSSL_free(der);
  } else if (static_cast<unsigned char>(file[0]) == 0x30) {
    cms.reset(d2i_CMS_bio(bio.get(), nullptr));
  } else {
    cms.reset(SMIME_read_CMS(bio.get(), nullptr));
  }
  if (!cms) return OpenSslError("token file is not an S/MIME or CMS message", StatusCode::kInvalidArgument);
  if (OBJ_obj2nid(CMS_get0_type(cms.get())) != NID_pkcs7_enveloped) {
    return InvalidArgumentError("token file does not hold CMS EnvelopedData");
  }
  return EncodeDer(cms.get(), i2d_CMS_ContentInfo, "encoding the token envelope");
}

StatusOr<DepTokens> ParseTokenMessage(std::string_view mime) {
  constexpr std::string_view kBegin = "-----BEGIN MESSAGE-----";
  constexpr std::string_view kEnd = "-----END MESSAGE-----";
  size_t b = mime.find(kBegin);
  if (b == std::string_view::npos) return InvalidArgumentError("token message: no BEGIN MESSAGE line");
  b += kBegin.size();
  size_t e = mime.find(kEnd, b);
  if (e == std::string_view::npos) return InvalidArgumentError("token message: no END MESSAGE line");
  nlohmann::json j = nlohmann::json::parse(mime.substr(b, e - b), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return InvalidArgumentError("token message: the body is not a JSON object");
  }
  DepTokens t;
  auto field = [&](const char* key, std::string* out, bool required) -> Status {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
      if (required) return InvalidArgumentError(std::string("token message: missing ") + key);
      return OkStatus();
    }
    if (!it->is_string()) return InvalidArgumentError(std::string("token message: ") + key + " is not a string");
    *out = it->get<std::string>();
    if (required && out->empty()) return InvalidArgumentError(std::string("token message: empty ") + key);
    return OkStatus();
  };
  RETURN_IF_ERROR(field("consumer_key", &t.consumer_key, true));
  RETURN_IF_ERROR(field("consumer_secret", &t.consumer_secret, true));
  RETURN_IF_ERROR(field("access_token", &t.access_token, true));
  RETURN_IF_ERROR(field("access_secret", &t.access_secret, true));
  std::string expiry;
  RETURN_IF_ERROR(field("access_token_expiry", &expiry, false));
  if (!expiry.empty()) {
    StatusOr<Time> when = ParseRfc3339(expiry);
    if (!when.ok()) return InvalidArgumentError("token message: bad access_token_expiry: " + when.status().message());
    t.access_token_expiry = *when;
  }
  return t;
}

StatusOr<DepTokens> DecryptTokenFile(std::string_view file, EVP_PKEY* key, X509* cert) {
  ASSIGN_OR_RETURN(std::string envelope, TokenFileEnvelope(file));
  ASSIGN_OR_RETURN(std::string mime, DecryptCms(envelope, key, cert));
  return ParseTokenMessage(mime);
}

}  // namespace custos::dep
