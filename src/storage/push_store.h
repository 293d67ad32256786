// The PushStore role of storage.h: APNs push certificates per topic (issue 4).
//
// One MDM push certificate per topic (the certificate subject's UID, see push/push_cert.h). The
// private key is stored as PKCS#8 PEM, encrypted at rest with the CA passphrase ([ca] passphrase
// or passphrase_file: AES-256-CBC, PBKDF2, exactly as CA keys are, see pki/key.h) when one is
// configured, and in the clear (`key_encrypted` false) otherwise; the store itself never sees
// plaintext keys when a passphrase is set: the push service encrypts before PutCert and decrypts
// after GetCert.
//
// Records and the interface live here; the portable-SQL implementation is sql_push_store.cc, its
// tables are migration 4 ("push") in migrations.cc, and its conformance tests (run on SQLite and
// PostgreSQL) are push_store_test.cc.
#ifndef CUSTOS_STORAGE_PUSH_STORE_H_
#define CUSTOS_STORAGE_PUSH_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/time.h"

namespace custos {

struct PushCertRecord {
  std::string topic;       // the MDM topic (subject UID); unique
  std::string cert_pem;    // the leaf certificate, then any chain certificates
  std::string key_pem;     // PKCS#8 PEM; "ENCRYPTED PRIVATE KEY" when key_encrypted
  bool key_encrypted = false;
  std::string subject;     // RFC 2253, for display
  std::string sha256_hex;  // lowercase hex SHA-256 of the leaf DER
  Time not_before;
  Time not_after;
  Time created_at;  // first install of this topic
  Time updated_at;  // last install (replacement) of this topic
};

class PushStore {
 public:
  virtual ~PushStore() = default;
  // Installs `cert` for cert.topic, replacing any certificate of that topic (created_at of the
  // existing row is kept). INVALID_ARGUMENT when the topic, certificate or key is empty.
  virtual Status PutCert(const PushCertRecord& cert) = 0;
  // The certificate of `topic`; NOT_FOUND when none is installed.
  virtual StatusOr<PushCertRecord> GetCert(std::string_view topic) = 0;
  // Every installed certificate, ordered by topic.
  virtual StatusOr<std::vector<PushCertRecord>> ListCerts() = 0;
  // Removes the certificate of `topic`; NOT_FOUND when none is installed.
  virtual Status DeleteCert(std::string_view topic) = 0;
};

}  // namespace custos

#endif  // CUSTOS_STORAGE_PUSH_STORE_H_
