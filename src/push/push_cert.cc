#include "push/push_cert.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <cstring>
#include <ctime>

#include "base/encoding.h"

namespace custos::push {
namespace {

// A password callback that never prompts on a terminal (OpenSSL's default does): an empty
// password makes the read fail, which we turn into a clear error.
int PasswordCallback(char* buf, int size, int /*rwflag*/, void* userdata) {
  const auto* password = static_cast<const std::string_view*>(userdata);
  if (password == nullptr || password->empty() || size <= 0) return 0;
  int n = static_cast<int>(std::min<size_t>(password->size(), static_cast<size_t>(size)));
  std::memcpy(buf, password->data(), static_cast<size_t>(n));
  return n;
}

StatusOr<Time> Asn1TimeToTime(const ASN1_TIME* t) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    return OpenSslError("certificate validity time", StatusCode::kInvalidArgument);
  }
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

bool LooksEncrypted(std::string_view pem) {
  return pem.find("-----BEGIN ENCRYPTED PRIVATE KEY-----") != std::string_view::npos ||
         pem.find("Proc-Type: 4,ENCRYPTED") != std::string_view::npos;
}

bool HasPrivateKeyBlock(std::string_view pem) {
  return pem.find("PRIVATE KEY-----") != std::string_view::npos;
}

StatusOr<X509StackPtr> ReadPemCertificates(std::string_view pem) {
  X509StackPtr certs(sk_X509_new_null());
  if (certs == nullptr) return OpenSslError("allocating certificate stack");
  BioPtr bio = MemBioFrom(pem);
  if (bio == nullptr) return OpenSslError("creating memory BIO");
  while (true) {
    X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
    if (cert == nullptr) break;
    if (sk_X509_push(certs.get(), cert) == 0) {
      X509_free(cert);
      return OpenSslError("collecting certificates");
    }
  }
  // Reaching the end of the input leaves a "no start line" error on the queue.
  ERR_clear_error();
  if (sk_X509_num(certs.get()) == 0) {
    return InvalidArgumentError("push certificate: no PEM certificate found");
  }
  return certs;
}

StatusOr<EvpPkeyPtr> ReadPemKey(std::string_view pem, std::string_view password) {
  if (!HasPrivateKeyBlock(pem)) {
    return InvalidArgumentError("push certificate: no PEM private key found");
  }
  BioPtr bio = MemBioFrom(pem);
  if (bio == nullptr) return OpenSslError("creating memory BIO");
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, PasswordCallback, &password));
  if (key != nullptr) {
    ERR_clear_error();
    return key;
  }
  if (LooksEncrypted(pem)) {
    ERR_clear_error();
    if (password.empty()) {
      return InvalidArgumentError("push certificate: the private key is encrypted and no password was given");
    }
    return InvalidArgumentError("push certificate: wrong password for the encrypted private key");
  }
  return OpenSslError("push certificate: cannot parse the PEM private key",
                      StatusCode::kInvalidArgument);
}

}  // namespace

PushCertificate::~PushCertificate() {
  if (!key_pem_.empty()) OPENSSL_cleanse(key_pem_.data(), key_pem_.size());
}

StatusOr<std::unique_ptr<PushCertificate>> PushCertificate::FromPem(std::string_view cert_pem,
                                                                   std::string_view key_pem,
                                                                   std::string_view password) {
  ASSIGN_OR_RETURN(X509StackPtr certs, ReadPemCertificates(cert_pem));
  ASSIGN_OR_RETURN(EvpPkeyPtr key, ReadPemKey(key_pem.empty() ? cert_pem : key_pem, password));
  return Build(std::move(certs), std::move(key));
}

StatusOr<std::unique_ptr<PushCertificate>> PushCertificate::FromPkcs12(std::string_view der,
                                                                      std::string_view password) {
  BioPtr bio = MemBioFrom(der);
  if (bio == nullptr) return OpenSslError("creating memory BIO");
  Pkcs12Ptr p12(d2i_PKCS12_bio(bio.get(), nullptr));
  if (p12 == nullptr) {
    return OpenSslError("push certificate: not a PKCS#12 archive", StatusCode::kInvalidArgument);
  }
  // PKCS#12 distinguishes an absent password from an empty one; exporters use either.
  std::string pw(password);
  const char* pass = pw.c_str();
  if (PKCS12_mac_present(p12.get())) {
    if (PKCS12_verify_mac(p12.get(), pw.c_str(), static_cast<int>(pw.size())) != 1) {
      if (password.empty() && PKCS12_verify_mac(p12.get(), nullptr, 0) == 1) {
        pass = nullptr;
      } else {
        ERR_clear_error();
        return InvalidArgumentError(
            "push certificate: wrong password for the PKCS#12 archive (MAC verification failed)");
      }
    }
  }

  EVP_PKEY* raw_key = nullptr;
  X509* raw_cert = nullptr;
  STACK_OF(X509)* raw_ca = nullptr;
  if (PKCS12_parse(p12.get(), pass, &raw_key, &raw_cert, &raw_ca) != 1) {
    // Keychain Access and older OpenSSL export with RC2-40 / 3DES, which OpenSSL 3 keeps in its
    // legacy provider. Load it and try once more.
    std::string first_error = DrainOpenSslErrors();
    Status legacy = LoadLegacyProvider();
    if (!legacy.ok() || PKCS12_parse(p12.get(), pass, &raw_key, &raw_cert, &raw_ca) != 1) {
      ERR_clear_error();
      return InvalidArgumentError("push certificate: cannot decrypt the PKCS#12 archive: " +
                                  first_error);
    }
  }
  EvpPkeyPtr key(raw_key);
  X509Ptr cert(raw_cert);
  X509StackPtr certs(raw_ca != nullptr ? raw_ca : sk_X509_new_null());
  if (certs == nullptr) return OpenSslError("allocating certificate stack");
  if (key == nullptr) return InvalidArgumentError("push certificate: the PKCS#12 archive holds no private key");
  if (cert != nullptr) {
    if (sk_X509_insert(certs.get(), cert.get(), 0) == 0) return OpenSslError("collecting certificates");
    cert.release();
  }
  if (sk_X509_num(certs.get()) == 0) {
    return InvalidArgumentError("push certificate: the PKCS#12 archive holds no certificate");
  }
  return Build(std::move(certs), std::move(key));
}

StatusOr<std::unique_ptr<PushCertificate>> PushCertificate::Load(std::string_view data,
                                                                std::string_view password,
                                                                std::string_view key_pem) {
  if (data.find("-----BEGIN") != std::string_view::npos) return FromPem(data, key_pem, password);
  return FromPkcs12(data, password);
}

StatusOr<std::unique_ptr<PushCertificate>> PushCertificate::Build(X509StackPtr certs,
                                                                  EvpPkeyPtr key) {
  // The leaf is the certificate whose public key matches the private key.
  int leaf_index = -1;
  for (int i = 0; i < sk_X509_num(certs.get()); ++i) {
    if (X509_check_private_key(sk_X509_value(certs.get(), i), key.get()) == 1) {
      leaf_index = i;
      break;
    }
  }
  ERR_clear_error();
  if (leaf_index < 0) {
    return InvalidArgumentError("push certificate: the private key does not match the certificate");
  }
  auto pc = std::unique_ptr<PushCertificate>(new PushCertificate());
  pc->cert_.reset(sk_X509_delete(certs.get(), leaf_index));
  pc->chain_ = std::move(certs);
  pc->key_ = std::move(key);
  X509* cert = pc->cert_.get();

  const X509_NAME* subject = X509_get_subject_name(cert);
  {
    BioPtr out(BIO_new(BIO_s_mem()));
    if (out == nullptr || X509_NAME_print_ex(out.get(), subject, 0, XN_FLAG_RFC2253) < 0) {
      return OpenSslError("printing the certificate subject");
    }
    pc->subject_ = MemBioContents(out.get());
  }
  int uid = X509_NAME_get_index_by_NID(subject, NID_userId, -1);
  if (uid < 0) {
    return InvalidArgumentError(
        "push certificate: the subject (" + pc->subject_ +
        ") has no UID attribute (0.9.2342.19200300.100.1.1): not an MDM push certificate");
  }
  const ASN1_STRING* uid_value =
      X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, uid));
  unsigned char* utf8 = nullptr;
  int utf8_len = ASN1_STRING_to_UTF8(&utf8, uid_value);
  if (utf8_len < 0) {
    return OpenSslError("push certificate: decoding the UID attribute", StatusCode::kInvalidArgument);
  }
  pc->topic_.assign(reinterpret_cast<const char*>(utf8), static_cast<size_t>(utf8_len));
  OPENSSL_free(utf8);
  if (pc->topic_.empty()) return InvalidArgumentError("push certificate: the UID attribute is empty");

  ASSIGN_OR_RETURN(pc->not_before_, Asn1TimeToTime(X509_get0_notBefore(cert)));
  ASSIGN_OR_RETURN(pc->not_after_, Asn1TimeToTime(X509_get0_notAfter(cert)));

  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &md_len) != 1) {
    return OpenSslError("hashing the push certificate");
  }
  pc->sha256_ = HexEncode(std::string_view(reinterpret_cast<const char*>(md), md_len));

  {
    BioPtr out(BIO_new(BIO_s_mem()));
    if (out == nullptr || PEM_write_bio_X509(out.get(), cert) != 1) {
      return OpenSslError("encoding the push certificate");
    }
    for (int i = 0; i < sk_X509_num(pc->chain_.get()); ++i) {
      if (PEM_write_bio_X509(out.get(), sk_X509_value(pc->chain_.get(), i)) != 1) {
        return OpenSslError("encoding the push certificate chain");
      }
    }
    pc->certificate_pem_ = MemBioContents(out.get());
  }
  {
    // A secure-heap BIO wipes its buffer when freed.
    BioPtr out(BIO_new(BIO_s_secmem()));
    if (out == nullptr ||
        PEM_write_bio_PrivateKey(out.get(), pc->key_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
      return OpenSslError("encoding the push certificate key");
    }
    pc->key_pem_ = MemBioContents(out.get());
  }
  return pc;
}

}  // namespace custos::push
