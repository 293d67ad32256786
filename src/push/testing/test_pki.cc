#include "push/testing/test_pki.h"

#include <openssl/pem.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fcntl.h>
#include <unistd.h>

namespace custos::push::testing {
namespace {

std::string CertPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  return MemBioContents(bio.get());
}

std::string KeyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  return MemBioContents(bio.get());
}

Status AddExt(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (ext == nullptr || X509_add_ext(cert, ext.get(), -1) != 1) {
    return OpenSslError(std::string("adding extension ") + OBJ_nid2sn(nid));
  }
  return OkStatus();
}

struct Ext {
  int nid;
  const char* value;
};

// Builds and signs a certificate. `issuer` null means self-signed.
StatusOr<KeyAndCert> Issue(EvpPkeyPtr key, X509NamePtr subject, const KeyAndCert* issuer,
                           Time not_before, Time not_after, std::initializer_list<Ext> exts) {
  X509Ptr cert(X509_new());
  if (cert == nullptr) return OpenSslError("X509_new");
  X509_set_version(cert.get(), X509_VERSION_3);
  unsigned char serial_bytes[12];
  RAND_bytes(serial_bytes, sizeof(serial_bytes));
  serial_bytes[0] &= 0x7f;
  BigNumPtr serial(BN_bin2bn(serial_bytes, sizeof(serial_bytes), nullptr));
  BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get()));
  X509_set_subject_name(cert.get(), subject.get());
  X509_set_issuer_name(cert.get(),
                       issuer != nullptr ? X509_get_subject_name(issuer->cert.get()) : subject.get());
  ASN1_TIME_set(X509_getm_notBefore(cert.get()), std::chrono::system_clock::to_time_t(not_before));
  ASN1_TIME_set(X509_getm_notAfter(cert.get()), std::chrono::system_clock::to_time_t(not_after));
  X509_set_pubkey(cert.get(), key.get());
  X509* issuer_cert = issuer != nullptr ? issuer->cert.get() : cert.get();
  RETURN_IF_ERROR(AddExt(cert.get(), issuer_cert, NID_subject_key_identifier, "hash"));
  RETURN_IF_ERROR(AddExt(cert.get(), issuer_cert, NID_authority_key_identifier, "keyid:always"));
  for (const Ext& e : exts) RETURN_IF_ERROR(AddExt(cert.get(), issuer_cert, e.nid, e.value));
  EVP_PKEY* signer = issuer != nullptr ? issuer->key.get() : key.get();
  if (X509_sign(cert.get(), signer, EVP_sha256()) <= 0) return OpenSslError("signing certificate");
  KeyAndCert out;
  out.cert_pem = CertPem(cert.get());
  out.key_pem = KeyPem(key.get());
  out.cert = std::move(cert);
  out.key = std::move(key);
  return out;
}

StatusOr<X509NamePtr> Name(std::initializer_list<std::pair<const char*, std::string_view>> parts) {
  X509NamePtr name(X509_NAME_new());
  for (const auto& [field, value] : parts) {
    if (X509_NAME_add_entry_by_txt(name.get(), field, MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(value.data()),
                                   static_cast<int>(value.size()), -1, 0) != 1) {
      return OpenSslError(std::string("name attribute ") + field);
    }
  }
  return name;
}

}  // namespace

StatusOr<EvpPkeyPtr> NewKey(int rsa_bits) {
  EvpPkeyPtr key(rsa_bits > 0 ? EVP_RSA_gen(static_cast<unsigned int>(rsa_bits))
                              : EVP_EC_gen("P-256"));
  if (key == nullptr) return OpenSslError("generating key");
  return key;
}

StatusOr<KeyAndCert> MakeCa(std::string_view common_name) {
  ASSIGN_OR_RETURN(EvpPkeyPtr key, NewKey());
  ASSIGN_OR_RETURN(X509NamePtr name, Name({{"CN", common_name}, {"O", "custos tests"}}));
  Time now = std::chrono::system_clock::now();
  return Issue(std::move(key), std::move(name), nullptr, now - std::chrono::hours(1),
               now + std::chrono::hours(24),
               {{NID_basic_constraints, "critical,CA:TRUE"},
                {NID_key_usage, "critical,keyCertSign,cRLSign"}});
}

StatusOr<KeyAndCert> MakeServerCert(const KeyAndCert& ca) {
  ASSIGN_OR_RETURN(EvpPkeyPtr key, NewKey());
  ASSIGN_OR_RETURN(X509NamePtr name, Name({{"CN", "localhost"}}));
  Time now = std::chrono::system_clock::now();
  return Issue(std::move(key), std::move(name), &ca, now - std::chrono::hours(1),
               now + std::chrono::hours(24),
               {{NID_basic_constraints, "critical,CA:FALSE"},
                {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
                {NID_ext_key_usage, "serverAuth"},
                {NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost"}});
}

StatusOr<KeyAndCert> MakePushCert(const KeyAndCert& ca, std::string_view topic, Time not_before,
                                  Time not_after) {
  ASSIGN_OR_RETURN(EvpPkeyPtr key, NewKey(2048));
  // Apple's push certificates carry CN "APSP:<uuid>", the UUID being the topic's last part.
  std::string_view uuid = topic.substr(topic.rfind('.') == std::string_view::npos ? 0 : topic.rfind('.') + 1);
  std::string cn = "APSP:" + std::string(uuid.empty() ? "no-topic" : uuid.substr(0, 58));
  StatusOr<X509NamePtr> name = topic.empty()
                                   ? Name({{"CN", cn}, {"C", "US"}})
                                   : Name({{"UID", topic}, {"CN", cn}, {"C", "US"}});
  RETURN_IF_ERROR(name.status());
  return Issue(std::move(key), *std::move(name), &ca, not_before, not_after,
               {{NID_basic_constraints, "critical,CA:FALSE"},
                {NID_key_usage, "critical,digitalSignature"},
                {NID_ext_key_usage, "clientAuth"}});
}

StatusOr<std::string> MakePkcs12(const KeyAndCert& leaf, const KeyAndCert* ca,
                                 std::string_view password, bool legacy) {
  X509StackPtr extra(sk_X509_new_null());
  if (ca != nullptr) {
    X509_up_ref(ca->cert.get());
    sk_X509_push(extra.get(), ca->cert.get());
  }
  int key_nid = 0, cert_nid = 0;
  if (legacy) {
    RETURN_IF_ERROR(LoadLegacyProvider());
    key_nid = NID_pbe_WithSHA1And3_Key_TripleDES_CBC;
    cert_nid = NID_pbe_WithSHA1And40BitRC2_CBC;
  }
  std::string pw(password);
  Pkcs12Ptr p12(PKCS12_create(pw.c_str(), "push", leaf.key.get(), leaf.cert.get(), extra.get(),
                              key_nid, cert_nid, 2048, 1, 0));
  if (p12 == nullptr) return OpenSslError("PKCS12_create");
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (i2d_PKCS12_bio(bio.get(), p12.get()) != 1) return OpenSslError("i2d_PKCS12_bio");
  return MemBioContents(bio.get());
}

StatusOr<std::string> EncryptedKeyPem(EVP_PKEY* key, std::string_view password) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  std::string pw(password);
  if (PEM_write_bio_PKCS8PrivateKey(bio.get(), key, EVP_aes_256_cbc(), pw.data(),
                                    static_cast<int>(pw.size()), nullptr, nullptr) != 1) {
    return OpenSslError("encrypting key");
  }
  return MemBioContents(bio.get());
}

Status WriteFile(const std::string& path, std::string_view data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return InternalError("cannot create " + path);
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n <= 0) {
      ::close(fd);
      return InternalError("cannot write " + path);
    }
    off += static_cast<size_t>(n);
  }
  ::close(fd);
  return OkStatus();
}

StatusOr<std::string> MakeTempDir(std::string_view prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/" +
                      std::string(prefix) + "-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) return InternalError("mkdtemp " + templ);
  return templ;
}

}  // namespace custos::push::testing
