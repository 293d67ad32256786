// The certificate authority of custos: a root CA and an issuing CA under it, kept in storage
// (CaStore), issuing every certificate custos hands out (SCEP, ACME, API, CLI) through ONE
// interface, recording each issued certificate (CertStore) in the same transaction as its serial.
//
// Follows RFC 5280 (profile), RFC 3647 section 4.7/4.8 (rollover: "renewal" = new certificate for
// the same key and subject, "re-key" = new key, same subject) and RFC 5280 section 5 (CRLs).
//
// Keys: the issuing key is RSA (SCEP clients encrypt to it; 2048/3072/4096 bits by configuration);
// the root is RSA (root_key_bits) or ECDSA P-384. Both are stored as PKCS#8 PEM, encrypted with
// the configured passphrase (AES-256-CBC, PBKDF2) when there is one.
//
// Rollover: after Renew() or Rekey() new certificates come from the new issuing certificate; the
// older issuing certificates stay trusted (TrustedIssuers, ChainPem, VerifyIssued) until they
// expire. The root never changes.
//
// CRLs: one CRL per issuing KEY, signed by the newest issuing certificate of that key and listing
// the revoked, unexpired certificates issued under any certificate of that key (a renewal keeps
// the key, so one CRL covers both; a re-key starts a new CRL, because a CRL must be signed by the
// key that signed the certificates it covers). The CRL of the active key is served at
// GET /ca/crl (CrlDer); AllCrlsPem() has every still-relevant CRL (for `openssl verify
// -crl_check` across a re-key). A CRL is regenerated on every revocation and whenever it is read
// past half of its validity (crl_validity), so a served CRL is never stale.
//
// Thread-safety: every method may be called concurrently. Several custos processes may share one
// PostgreSQL database: serials are random 128-bit values, unique by a database constraint (retried
// on conflict). A rollover made by another process is picked up by Reload(). If two processes
// initialise one empty database at the same moment both may store a CA; every process then uses
// the oldest root and only the issuing certificates it signed, so all agree on one CA.
#ifndef CUSTOS_CA_AUTHORITY_H_
#define CUSTOS_CA_AUTHORITY_H_

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/config.h"
#include "base/openssl_util.h"
#include "base/random.h"
#include "base/status.h"
#include "base/time.h"
#include "ca/record_committer.h"
#include "pki/verify.h"
#include "pki/x509.h"
#include "storage/storage.h"

namespace custos {

// What a protocol asks the CA to certify. The CA decides the serial, the issuer, the signature,
// SKI/AKI and basicConstraints (CA:FALSE); everything else comes from here.
struct IssueRequest {
  // The requester's public key: `public_key` when set (not owned; RSA under 2048 bits is refused),
  // else `spki_der` (e.g. Csr::spki_der), copied into the certificate after a structural check
  // only: the protocol decoded the key and applied its key policy when it parsed the request.
  // spki_der is the cheaper path (no key re-encoding).
  EVP_PKEY* public_key = nullptr;
  std::string spki_der;
  // Subject: `subject_name` (not owned, copied) when set, else the RDNs.
  std::vector<RdnEntry> subject;
  const X509_NAME* subject_name = nullptr;
  std::vector<San> sans;
  uint32_t key_usage = kKuDigitalSignature | kKuKeyEncipherment;
  std::vector<std::string> extended_key_usages = {kEkuClientAuth};
  // Validity from now (backdated by kBackdate for clock skew); default config.cert_validity.
  // notAfter is capped at the issuing certificate's notAfter.
  std::optional<Duration> validity;
  std::string requester;      // "scep" | "acme" | "api" | "cli"
  std::string requester_ref;  // SCEP transactionID, ACME order id, ...
  std::string renewal_of;     // serial_hex of the certificate this one renews, or ""
  std::string attributes_json = "{}";
  std::vector<RawExtension> extra_extensions;
};

struct IssuedCert {
  CertificateRecord record;  // as stored; record.der is the certificate
  std::string pem;
  // The certificate object that was signed, for ENCODING only (e.g. into a PKCS#7 certs-only
  // reply) without parsing record.der again. Its public key is not decoded, so
  // X509_get0_pubkey() returns null on it: use Certificate() for anything but encoding.
  std::shared_ptr<X509> signed_cert;

  // The certificate parsed from record.der. (Issue does not hand out the X509 it signed: on
  // OpenSSL 3.0 decoding the subject key into it would cost half an RSA signature, and most
  // callers only need the DER or PEM.)
  StatusOr<X509Ptr> Certificate() const;
};

// Verification of a certificate custos issued, with what an administrator needs to see.
struct IssuedVerification {
  VerifyResult path;         // the path validation findings
  std::optional<CertificateRecord> record;  // when custos has it
};

class Authority {
 public:
  // Issued certificates start this long before the moment of issuance (devices with a slightly
  // slow clock would otherwise refuse a brand-new identity).
  static constexpr Duration kBackdate{300};

  // Loads the CA from storage. NOT_FOUND "no CA in storage: run `custos ca init`" when there is
  // none; PERMISSION_DENIED "CA key: wrong passphrase or corrupt key" when a key cannot be read.
  static StatusOr<std::unique_ptr<Authority>> Create(const CaConfig& config, Storage* storage,
                                                     Clock* clock, Random* random,
                                                     std::string passphrase);

  // Creates the root and the first issuing CA, stores them, and returns the loaded Authority.
  // ALREADY_EXISTS when a CA is already stored (it is never replaced); INVALID_ARGUMENT for a
  // bad key configuration.
  static StatusOr<std::unique_ptr<Authority>> Init(const CaConfig& config, Storage* storage,
                                                   Clock* clock, Random* random,
                                                   std::string passphrase);

  // Signs and records a certificate. Retries with a fresh serial when the serial is taken.
  // INVALID_ARGUMENT for a bad request (no key, bad subject/SAN/EKU). The record is committed by
  // the CertRecordCommitter (ca/record_committer.h): concurrent issuances share one transaction
  // (group commit); each call still returns only once its own record is durably committed.
  StatusOr<IssuedCert> Issue(const IssueRequest& request);
  // The same inside the caller's transaction (e.g. SCEP spends a one-time challenge and issues
  // atomically). On a serial conflict it tries new serials a few times; if the driver aborted the
  // transaction the error comes back and Storage::Transact retries the caller's whole unit.
  StatusOr<IssuedCert> Issue(Stores& stores, const IssueRequest& request);

  // RFC 3647 renewal: a new issuing certificate for the current issuing key and subject, signed by
  // the root, made active. Returns its record.
  StatusOr<CaCertRecord> Renew();
  // RFC 3647 re-key: a new issuing key (issuing_key_bits) and a certificate with the same subject,
  // made active. Returns its record.
  StatusOr<CaCertRecord> Rekey();

  // Marks `serial_hex` revoked with an RFC 5280 reason and regenerates the affected CRL.
  // NOT_FOUND for an unknown serial; FAILED_PRECONDITION when already revoked.
  Status Revoke(std::string_view serial_hex, int reason);

  // The DER CRL of the active issuing key, regenerated first when missing or past half-life.
  StatusOr<std::string> CrlDer();
  // PEM CRLs of every issuing key that still has an unexpired certificate, active first.
  StatusOr<std::string> AllCrlsPem();

  // The active issuing certificate and the root (new references).
  X509Ptr ActiveIssuer() const;
  X509Ptr Root() const;
  // Every issuing certificate that has not expired now: the active one first, then the others
  // newest first.
  std::vector<X509Ptr> TrustedIssuers() const;
  // PEM, in this order: the active issuing certificate, the root, then the older issuing
  // certificates that are still valid, newest first. The first two form a proper chain for
  // clients that read it in order; a verifier given the whole bundle finds any issuer by AKI.
  std::string ChainPem() const;
  CaCertRecord ActiveIssuerRecord() const;
  CaCertRecord RootRecord() const;
  std::string KeyType() const;  // e.g. "root rsa-4096, issuing rsa-2048"

  // Verifies `cert` against the root and every trusted issuing certificate at `at`, then checks
  // custos recorded it and it is not revoked. Returns the record; otherwise PERMISSION_DENIED with
  // the findings (and `details`, when given, gets them structured).
  StatusOr<CertificateRecord> VerifyIssued(X509* cert, Time at,
                                           IssuedVerification* details = nullptr);

  // Re-reads the CA certificates and keys from storage (after a rollover by another process).
  Status Reload();

 private:
  struct IssuerEntry {
    CaCertRecord record;
    X509Ptr cert;
    std::shared_ptr<EVP_PKEY> key;  // shared by the certificates of one key
  };
  struct State {
    CaCertRecord root_record;
    X509Ptr root;
    std::shared_ptr<EVP_PKEY> root_key;
    std::vector<IssuerEntry> issuers;  // oldest first
    size_t active = 0;
  };

  Authority(const CaConfig& config, Storage* storage, Clock* clock, Random* random,
            std::string passphrase);
  StatusOr<std::shared_ptr<const State>> LoadState();
  std::shared_ptr<const State> state() const;
  StatusOr<CaCertRecord> RollOver(bool new_key);
  StatusOr<IssuedCert> SignFor(const State& state, const IssueRequest& request,
                               std::string_view spki_der);
  // Regenerates and stores the CRL of the key behind issuing certificate `index`.
  StatusOr<CrlRecord> RegenerateCrl(Stores& stores, const State& state, size_t index);
  StatusOr<CrlRecord> CurrentCrl(const State& state, size_t index);
  static size_t CrlSignerIndex(const State& state, size_t index);
  std::string RandomSerialHex();

  CaConfig config_;
  Storage* storage_;
  Clock* clock_;
  Random* random_;
  std::string passphrase_;
  CertRecordCommitter committer_;
  mutable std::mutex mu_;
  std::shared_ptr<const State> state_;  // guarded by mu_ (the State itself is immutable)
};

// On first start of the server: loads the CA, or creates one (logging "created a new CA") when
// the store has none. Passphrase from config.CaPassphrase().
StatusOr<std::unique_ptr<Authority>> LoadOrInitAuthority(const Config& config, Storage* storage,
                                                         Clock* clock, Random* random);

}  // namespace custos

#endif  // CUSTOS_CA_AUTHORITY_H_
