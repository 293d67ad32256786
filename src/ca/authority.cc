#include "ca/authority.h"

#include <algorithm>
#include <map>
#include <set>

#include "base/encoding.h"
#include "base/logging.h"
#include "pki/crl.h"
#include "pki/key.h"

namespace custos {

namespace {

constexpr int kMaxSerialAttempts = 5;

X509Ptr Ref(X509* cert) {
  X509_up_ref(cert);
  return X509Ptr(cert);
}

// The profile of an issuing CA certificate. Besides keyCertSign/cRLSign it has digitalSignature
// and keyEncipherment: in SCEP the CA itself signs CertRep messages and requesters encrypt their
// PKIOperation envelope to it (RFC 8894 section 2.1 allows the CA to act without a separate RA).
CertificateTemplate IssuingTemplate(const X509_NAME* subject, std::string serial_hex, Time nb,
                                    Time na) {
  CertificateTemplate t;
  t.subject_name = subject;
  t.basic_constraints_ca = true;
  t.path_length = 0;
  t.key_usage = kKuKeyCertSign | kKuCrlSign | kKuDigitalSignature | kKuKeyEncipherment;
  t.not_before = nb;
  t.not_after = na;
  t.serial_hex = std::move(serial_hex);
  return t;
}

CaCertRecord CertRecordFor(const X509* cert, std::string role, int64_t key_id, bool active,
                           Time now) {
  CaCertRecord r;
  r.role = std::move(role);
  r.key_id = key_id;
  r.der = CertificateDer(cert);
  r.subject = SubjectString(cert);
  r.serial_hex = CertSerialHex(cert);
  r.sha256_hex = CertSha256Hex(cert);
  r.not_before = NotBefore(cert);
  r.not_after = NotAfter(cert);
  r.active = active;
  r.created_at = now;
  return r;
}

std::shared_ptr<EVP_PKEY> Share(EvpPkeyPtr key) {
  return std::shared_ptr<EVP_PKEY>(key.release(), EVP_PKEY_free);
}

Status ValidateIssuingBits(int64_t bits) {
  if (bits != 2048 && bits != 3072 && bits != 4096) {
    return InvalidArgumentError("ca.issuing_key_bits must be 2048, 3072 or 4096 (got " +
                                std::to_string(bits) + ")");
  }
  return OkStatus();
}

}  // namespace

Authority::Authority(const CaConfig& config, Storage* storage, Clock* clock, Random* random,
                     std::string passphrase)
    : config_(config),
      storage_(storage),
      clock_(clock),
      random_(random),
      passphrase_(std::move(passphrase)),
      committer_(storage) {}

std::shared_ptr<const Authority::State> Authority::state() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

StatusOr<std::unique_ptr<Authority>> Authority::Create(const CaConfig& config, Storage* storage,
                                                       Clock* clock, Random* random,
                                                       std::string passphrase) {
  if (storage == nullptr || clock == nullptr || random == nullptr) {
    return InvalidArgumentError("Authority::Create: storage, clock and random are required");
  }
  std::unique_ptr<Authority> ca(
      new Authority(config, storage, clock, random, std::move(passphrase)));
  RETURN_IF_ERROR(ca->Reload());
  return ca;
}

Status Authority::Reload() {
  ASSIGN_OR_RETURN(std::shared_ptr<const State> st, LoadState());
  std::lock_guard<std::mutex> lock(mu_);
  state_ = std::move(st);
  return OkStatus();
}

StatusOr<std::shared_ptr<const Authority::State>> Authority::LoadState() {
  std::vector<CaCertRecord> certs;
  std::map<int64_t, CaKeyRecord> keys;
  RETURN_IF_ERROR(storage_->Transact(
      [&](Stores& s) -> Status {
        keys.clear();
        ASSIGN_OR_RETURN(certs, s.ca().ListCerts());
        for (const CaCertRecord& c : certs) {
          if (keys.count(c.key_id) != 0) continue;
          ASSIGN_OR_RETURN(CaKeyRecord k, s.ca().GetKey(c.key_id));
          keys[c.key_id] = std::move(k);
        }
        return OkStatus();
      },
      TxMode::kReadOnly));
  if (certs.empty()) return NotFoundError("no CA in storage: run `custos ca init`");

  auto st = std::make_shared<State>();
  std::map<int64_t, std::shared_ptr<EVP_PKEY>> loaded;
  auto key_for = [&](int64_t key_id) -> StatusOr<std::shared_ptr<EVP_PKEY>> {
    auto it = loaded.find(key_id);
    if (it != loaded.end()) return it->second;
    auto rec = keys.find(key_id);
    if (rec == keys.end()) return DataLossError("CA key " + std::to_string(key_id) + " missing");
    auto key = PrivateKeyFromPem(rec->second.pkcs8_pem, passphrase_);
    if (!key.ok()) return key.status().WithContext("CA key");
    std::shared_ptr<EVP_PKEY> shared = Share(std::move(key).value());
    loaded[key_id] = shared;
    return shared;
  };

  // The oldest root is THE root. (Two processes initialising one empty PostgreSQL database at the
  // same moment can both store a CA; choosing the oldest root and only the issuing certificates
  // it signed makes every process agree on one of them.)
  std::optional<size_t> active;
  std::vector<std::pair<const CaCertRecord*, X509Ptr>> issuing;
  for (const CaCertRecord& rec : certs) {
    auto cert = ParseCertificate(rec.der);
    if (!cert.ok()) {
      return DataLossError("stored CA certificate " + std::to_string(rec.id) +
                           " is corrupt: " + cert.status().message());
    }
    if (rec.role == "root" && st->root == nullptr) {
      ASSIGN_OR_RETURN(st->root_key, key_for(rec.key_id));
      EvpPkeyPtr pub = CertificatePublicKey(cert->get());
      if (!PublicKeysEqual(pub.get(), st->root_key.get())) {
        return DataLossError("stored root certificate does not match its key");
      }
      st->root_record = rec;
      st->root = std::move(cert).value();
    } else if (rec.role == "issuing") {
      issuing.emplace_back(&rec, std::move(cert).value());
    }
  }
  if (st->root == nullptr) return DataLossError("CA storage has no root certificate");
  for (auto& [rec, cert] : issuing) {
    if (X509_check_issued(st->root.get(), cert.get()) != X509_V_OK ||
        !CertificateSignedBy(cert.get(), st->root_key.get())) {
      spdlog::warn("ignoring stored issuing certificate {}: not issued by the root", rec->id);
      continue;
    }
    ASSIGN_OR_RETURN(std::shared_ptr<EVP_PKEY> key, key_for(rec->key_id));
    EvpPkeyPtr pub = CertificatePublicKey(cert.get());
    if (!PublicKeysEqual(pub.get(), key.get())) {
      return DataLossError("stored CA certificate " + std::to_string(rec->id) +
                           " does not match its key");
    }
    if (rec->active) active = st->issuers.size();
    st->issuers.push_back(IssuerEntry{*rec, std::move(cert), key});
  }
  if (st->issuers.empty()) return DataLossError("CA storage has no issuing certificate");
  st->active = active.value_or(st->issuers.size() - 1);
  return std::shared_ptr<const State>(std::move(st));
}

StatusOr<std::unique_ptr<Authority>> Authority::Init(const CaConfig& config, Storage* storage,
                                                     Clock* clock, Random* random,
                                                     std::string passphrase) {
  if (storage == nullptr || clock == nullptr || random == nullptr) {
    return InvalidArgumentError("Authority::Init: storage, clock and random are required");
  }
  RETURN_IF_ERROR(ValidateIssuingBits(config.issuing_key_bits));
  ASSIGN_OR_RETURN(KeyAlgorithm root_alg, ParseKeyAlgorithm(config.root_key_type));
  if (root_alg == KeyAlgorithm::kEcP256) {
    return InvalidArgumentError("ca.root_key_type must be rsa or ec-p384");
  }
  auto exists = [&](Stores& s) -> Status {
    ASSIGN_OR_RETURN(std::vector<CaCertRecord> certs, s.ca().ListCerts());
    if (!certs.empty()) {
      return AlreadyExistsError("a CA already exists in storage; it is never replaced");
    }
    return OkStatus();
  };
  // Fail fast, before spending seconds on key generation.
  RETURN_IF_ERROR(storage->Transact(exists, TxMode::kReadOnly));

  std::unique_ptr<Authority> ca(
      new Authority(config, storage, clock, random, std::move(passphrase)));
  ASSIGN_OR_RETURN(EvpPkeyPtr root_key,
                   GenerateKey(root_alg, static_cast<int>(config.root_key_bits)));
  ASSIGN_OR_RETURN(EvpPkeyPtr issuing_key,
                   GenerateKey(KeyAlgorithm::kRsa, static_cast<int>(config.issuing_key_bits)));
  Time now = clock->Now();
  Time nb = now - kBackdate;

  CertificateTemplate rt;
  rt.subject = {{"CN", config.common_name + " Root"}, {"O", config.organization}};
  rt.basic_constraints_ca = true;
  rt.key_usage = kKuKeyCertSign | kKuCrlSign;
  rt.not_before = nb;
  rt.not_after = now + config.root_validity;
  rt.serial_hex = ca->RandomSerialHex();
  ASSIGN_OR_RETURN(X509Ptr root, BuildCertificate(rt, root_key.get(), nullptr, root_key.get()));

  ASSIGN_OR_RETURN(X509NamePtr issuing_name,
                   BuildName({{"CN", config.common_name}, {"O", config.organization}}));
  CertificateTemplate it =
      IssuingTemplate(issuing_name.get(), ca->RandomSerialHex(), nb,
                      std::min(now + config.issuing_validity, NotAfter(root.get())));
  ASSIGN_OR_RETURN(X509Ptr issuing,
                   BuildCertificate(it, issuing_key.get(), root.get(), root_key.get()));

  ASSIGN_OR_RETURN(std::string root_pem, PrivateKeyToPkcs8Pem(root_key.get(), ca->passphrase_));
  ASSIGN_OR_RETURN(std::string issuing_pem,
                   PrivateKeyToPkcs8Pem(issuing_key.get(), ca->passphrase_));
  bool encrypted = !ca->passphrase_.empty();
  RETURN_IF_ERROR(storage->Transact([&](Stores& s) -> Status {
    RETURN_IF_ERROR(exists(s));
    ASSIGN_OR_RETURN(int64_t root_key_id, s.ca().InsertKey({0, root_pem, encrypted, now}));
    ASSIGN_OR_RETURN(int64_t issuing_key_id, s.ca().InsertKey({0, issuing_pem, encrypted, now}));
    ASSIGN_OR_RETURN(int64_t root_id,
                     s.ca().InsertCert(CertRecordFor(root.get(), "root", root_key_id, true, now)));
    ASSIGN_OR_RETURN(int64_t issuing_id, s.ca().InsertCert(CertRecordFor(
                                             issuing.get(), "issuing", issuing_key_id, true, now)));
    RETURN_IF_ERROR(s.ca().SetActive(root_id));
    return s.ca().SetActive(issuing_id);
  }));
  RETURN_IF_ERROR(ca->Reload());
  return ca;
}

StatusOr<X509Ptr> IssuedCert::Certificate() const { return ParseCertificate(record.der); }

std::string Authority::RandomSerialHex() {
  // 128 random bits with the top bit cleared: a positive INTEGER of at most 16 octets
  // (RFC 5280 section 4.1.2.2 allows 20), unguessable (CA/B Forum asks for 64 bits of entropy).
  std::string bytes = random_->Bytes(16);
  bytes[0] = static_cast<char>(static_cast<unsigned char>(bytes[0]) & 0x7f);
  if (bytes.find_first_not_of('\0') == std::string::npos) bytes[15] = 1;
  std::string hex = HexEncode(bytes);
  size_t nz = hex.find_first_not_of('0');
  return hex.substr(nz);
}

StatusOr<IssuedCert> Authority::SignFor(const State& st, const IssueRequest& req,
                                        std::string_view spki_der) {
  const IssuerEntry& issuer = st.issuers[st.active];
  Time now = clock_->Now();
  Duration validity = req.validity.value_or(config_.cert_validity);
  if (validity.count() <= 0) return InvalidArgumentError("validity must be positive");
  CertificateTemplate t;
  t.subject = req.subject;
  t.subject_name = req.subject_name;
  t.sans = req.sans;
  t.key_usage = req.key_usage;
  t.extended_key_usages = req.extended_key_usages;
  t.basic_constraints_ca = false;
  t.extra_extensions = req.extra_extensions;
  t.not_before = now - kBackdate;
  t.not_after = std::min(now + validity, issuer.record.not_after);
  if (t.not_after <= now) {
    return FailedPreconditionError("the active issuing certificate has expired: run `custos ca "
                                   "renew` or `custos ca rekey`");
  }
  t.serial_hex = RandomSerialHex();
  ASSIGN_OR_RETURN(X509Ptr cert,
                   BuildCertificateForSpki(t, spki_der, issuer.cert.get(), issuer.key.get()));
  IssuedCert out;
  CertificateRecord& r = out.record;
  r.serial_hex = CertSerialHex(cert.get());
  r.subject = SubjectString(cert.get());
  r.sans_json = SansToJson(t.sans);
  r.spki_sha256 = CertSpkiSha256Hex(cert.get());
  r.der = CertificateDer(cert.get());
  r.cert_sha256 = Sha256Hex(r.der);
  r.not_before = t.not_before;
  r.not_after = t.not_after;
  r.issuer_id = issuer.record.id;
  r.requester = req.requester;
  r.requester_ref = req.requester_ref;
  r.status = "valid";
  r.renewal_of = req.renewal_of;
  r.attributes_json = req.attributes_json.empty() ? "{}" : req.attributes_json;
  r.created_at = now;
  out.pem = CertificatePemFromDer(r.der);  // from the DER at hand: no second encoding
  out.signed_cert = std::shared_ptr<X509>(cert.release(), X509_free);
  return out;
}

namespace {

// The requester's key as DER SubjectPublicKeyInfo, which is what the certificate carries.
StatusOr<std::string> RequestSpki(const IssueRequest& req) {
  if (req.requester.empty()) return InvalidArgumentError("issuance request names no requester");
  if (req.public_key == nullptr) {
    if (req.spki_der.empty()) return InvalidArgumentError("issuance request has no public key");
    return req.spki_der;
  }
  int id = EVP_PKEY_get_base_id(req.public_key);
  if ((id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS) && EVP_PKEY_get_bits(req.public_key) < 2048) {
    return InvalidArgumentError("RSA keys under 2048 bits are not certified (got " +
                                KeyDescription(req.public_key) + ")");
  }
  return PublicKeyToSpkiDer(req.public_key);
}

void LogIssued(const CertificateRecord& r) {
  spdlog::info("issued certificate serial={} subject=\"{}\" requester={} ref={}", r.serial_hex,
               r.subject, r.requester, r.requester_ref);
}

}  // namespace

StatusOr<IssuedCert> Authority::Issue(const IssueRequest& req) {
  ASSIGN_OR_RETURN(std::string spki, RequestSpki(req));
  std::shared_ptr<const State> st = state();
  // Sign outside the transaction (the slow part), so concurrent issuers only serialise on the
  // insert; a serial conflict (practically impossible with 127 random bits) signs again.
  for (int attempt = 0; attempt < kMaxSerialAttempts; ++attempt) {
    ASSIGN_OR_RETURN(IssuedCert issued, SignFor(*st, req, spki));
    Status s = committer_.Commit(issued.record);
    if (s.ok()) {
      LogIssued(issued.record);
      return issued;
    }
    if (s.code() != StatusCode::kAlreadyExists) return s.WithContext("recording certificate");
    spdlog::warn("serial {} already taken, signing again", issued.record.serial_hex);
  }
  return InternalError("could not allocate a unique serial");
}

StatusOr<IssuedCert> Authority::Issue(Stores& stores, const IssueRequest& req) {
  ASSIGN_OR_RETURN(std::string spki, RequestSpki(req));
  std::shared_ptr<const State> st = state();
  for (int attempt = 0; attempt < kMaxSerialAttempts; ++attempt) {
    ASSIGN_OR_RETURN(IssuedCert issued, SignFor(*st, req, spki));
    Status s = stores.certs().Insert(issued.record);
    if (s.ok()) {
      LogIssued(issued.record);
      return issued;
    }
    if (s.code() != StatusCode::kAlreadyExists) return s.WithContext("recording certificate");
  }
  return AbortedError("could not allocate a unique serial");
}

StatusOr<CaCertRecord> Authority::Renew() { return RollOver(/*new_key=*/false); }
StatusOr<CaCertRecord> Authority::Rekey() { return RollOver(/*new_key=*/true); }

StatusOr<CaCertRecord> Authority::RollOver(bool new_key) {
  RETURN_IF_ERROR(Reload());  // roll over from what storage has now, not from a stale view
  std::shared_ptr<const State> st = state();
  const IssuerEntry& active = st->issuers[st->active];
  std::shared_ptr<EVP_PKEY> key = active.key;
  std::string key_pem;
  if (new_key) {
    int64_t bits = config_.issuing_key_bits;
    RETURN_IF_ERROR(ValidateIssuingBits(bits));
    ASSIGN_OR_RETURN(EvpPkeyPtr k, GenerateKey(KeyAlgorithm::kRsa, static_cast<int>(bits)));
    ASSIGN_OR_RETURN(key_pem, PrivateKeyToPkcs8Pem(k.get(), passphrase_));
    key = Share(std::move(k));
  }
  Time now = clock_->Now();
  Time root_end = st->root_record.not_after;
  if (root_end <= now) return FailedPreconditionError("the root CA certificate has expired");
  CertificateTemplate t =
      IssuingTemplate(X509_get_subject_name(active.cert.get()), RandomSerialHex(),
                      now - kBackdate, std::min(now + config_.issuing_validity, root_end));
  ASSIGN_OR_RETURN(X509Ptr cert,
                   BuildCertificate(t, key.get(), st->root.get(), st->root_key.get()));
  CaCertRecord rec = CertRecordFor(cert.get(), "issuing", active.record.key_id, true, now);
  RETURN_IF_ERROR(storage_->Transact([&](Stores& s) -> Status {
    if (new_key) {
      ASSIGN_OR_RETURN(rec.key_id,
                       s.ca().InsertKey({0, key_pem, !passphrase_.empty(), now}));
    }
    ASSIGN_OR_RETURN(rec.id, s.ca().InsertCert(rec));
    return s.ca().SetActive(rec.id);
  }));
  spdlog::info("CA {}: new issuing certificate serial={} sha256={} valid until {}",
               new_key ? "re-keyed" : "renewed", rec.serial_hex, rec.sha256_hex,
               FormatRfc3339(rec.not_after));
  RETURN_IF_ERROR(Reload());
  return rec;
}

Status Authority::Revoke(std::string_view serial_text, int reason) {
  ASSIGN_OR_RETURN(std::string serial, NormalizeSerialHex(serial_text));
  if (reason < 0 || reason > 10 || reason == 7) {
    return InvalidArgumentError("invalid revocation reason " + std::to_string(reason));
  }
  std::shared_ptr<const State> st = state();
  Time now = clock_->Now();
  RETURN_IF_ERROR(storage_->Transact([&](Stores& s) -> Status {
    RETURN_IF_ERROR(s.certs().Revoke(serial, now, reason));
    ASSIGN_OR_RETURN(CertificateRecord rec, s.certs().GetBySerial(serial));
    for (size_t i = 0; i < st->issuers.size(); ++i) {
      if (st->issuers[i].record.id == rec.issuer_id) {
        return RegenerateCrl(s, *st, i).status();
      }
    }
    return OkStatus();  // issued under a certificate this process has not loaded: CRL on read
  }));
  spdlog::info("revoked certificate serial={} reason={}", serial, CrlReasonName(reason));
  return OkStatus();
}

size_t Authority::CrlSignerIndex(const State& st, size_t index) {
  // The newest issuing certificate with the key of issuers[index] signs that key's CRL.
  size_t signer = index;
  for (size_t i = 0; i < st.issuers.size(); ++i) {
    if (st.issuers[i].record.key_id == st.issuers[index].record.key_id) signer = i;
  }
  return signer;
}

StatusOr<CrlRecord> Authority::RegenerateCrl(Stores& s, const State& st, size_t index) {
  int64_t key_id = st.issuers[index].record.key_id;
  size_t signer = CrlSignerIndex(st, index);
  const IssuerEntry& sig = st.issuers[signer];
  Time now = clock_->Now();
  CrlTemplate t;
  for (const IssuerEntry& e : st.issuers) {
    if (e.record.key_id != key_id) continue;
    ASSIGN_OR_RETURN(std::vector<CertificateRecord> revoked,
                     s.certs().ListRevoked(e.record.id, now));
    for (const CertificateRecord& r : revoked) {
      t.entries.push_back(
          {r.serial_hex, r.revoked_at.value_or(now), static_cast<int>(r.revocation_reason)});
    }
  }
  ASSIGN_OR_RETURN(t.number, s.ca().NextCrlNumber(sig.record.id));
  t.this_update = now;
  t.next_update = now + config_.crl_validity;
  ASSIGN_OR_RETURN(X509CrlPtr crl, BuildCrl(t, sig.cert.get(), sig.key.get()));
  CrlRecord rec{sig.record.id, t.number, ::custos::CrlDer(crl.get()), t.this_update, t.next_update};
  RETURN_IF_ERROR(s.ca().PutCrl(rec));
  return rec;
}

StatusOr<CrlRecord> Authority::CurrentCrl(const State& st, size_t index) {
  const IssuerEntry& signer = st.issuers[CrlSignerIndex(st, index)];
  Time now = clock_->Now();
  auto fresh = [&](const CrlRecord& crl) {
    return now < crl.this_update + config_.crl_validity / 2 && now < crl.next_update;
  };
  std::optional<CrlRecord> stored;
  RETURN_IF_ERROR(storage_->Transact(
      [&](Stores& s) -> Status {
        auto crl = s.ca().GetCrl(signer.record.id);
        if (crl.ok()) {
          stored = std::move(crl).value();
          return OkStatus();
        }
        stored.reset();
        return crl.status().code() == StatusCode::kNotFound ? OkStatus() : crl.status();
      },
      TxMode::kReadOnly));
  if (stored.has_value() && fresh(*stored)) return *stored;
  CrlRecord out;
  RETURN_IF_ERROR(storage_->Transact([&](Stores& s) -> Status {
    // Another process may have regenerated it meanwhile.
    auto crl = s.ca().GetCrl(signer.record.id);
    if (crl.ok() && fresh(*crl)) {
      out = std::move(crl).value();
      return OkStatus();
    }
    ASSIGN_OR_RETURN(out, RegenerateCrl(s, st, index));
    return OkStatus();
  }));
  return out;
}

StatusOr<std::string> Authority::CrlDer() {
  std::shared_ptr<const State> st = state();
  ASSIGN_OR_RETURN(CrlRecord crl, CurrentCrl(*st, st->active));
  return crl.der;
}

StatusOr<std::string> Authority::AllCrlsPem() {
  std::shared_ptr<const State> st = state();
  Time now = clock_->Now();
  std::string out;
  std::set<int64_t> done;
  std::vector<size_t> order = {st->active};
  for (size_t i = st->issuers.size(); i-- > 0;) order.push_back(i);
  for (size_t i : order) {
    const IssuerEntry& e = st->issuers[i];
    if (done.count(e.record.key_id) != 0) continue;
    if (i != st->active && e.record.not_after <= now) continue;
    done.insert(e.record.key_id);
    ASSIGN_OR_RETURN(CrlRecord crl, CurrentCrl(*st, i));
    ASSIGN_OR_RETURN(ParsedCrl parsed, ParseCrl(crl.der));
    out += CrlPem(parsed.crl.get());
  }
  return out;
}

X509Ptr Authority::ActiveIssuer() const {
  auto st = state();
  return Ref(st->issuers[st->active].cert.get());
}

X509Ptr Authority::Root() const { return Ref(state()->root.get()); }

CaCertRecord Authority::ActiveIssuerRecord() const {
  auto st = state();
  return st->issuers[st->active].record;
}

CaCertRecord Authority::RootRecord() const { return state()->root_record; }

std::vector<X509Ptr> Authority::TrustedIssuers() const {
  auto st = state();
  Time now = clock_->Now();
  std::vector<X509Ptr> out;
  out.push_back(Ref(st->issuers[st->active].cert.get()));
  for (size_t i = st->issuers.size(); i-- > 0;) {
    if (i == st->active || st->issuers[i].record.not_after <= now) continue;
    out.push_back(Ref(st->issuers[i].cert.get()));
  }
  return out;
}

std::string Authority::ChainPem() const {
  std::vector<X509Ptr> issuers = TrustedIssuers();
  std::string out = CertificatePem(issuers[0].get());
  out += CertificatePem(state()->root.get());
  for (size_t i = 1; i < issuers.size(); ++i) out += CertificatePem(issuers[i].get());
  return out;
}

std::string Authority::KeyType() const {
  auto st = state();
  return "root " + KeyDescription(st->root_key.get()) + ", issuing " +
         KeyDescription(st->issuers[st->active].key.get());
}

StatusOr<CertificateRecord> Authority::VerifyIssued(X509* cert, Time at,
                                                    IssuedVerification* details) {
  if (cert == nullptr) return InvalidArgumentError("no certificate");
  auto st = state();
  VerifyOptions opts;
  opts.trusted = {st->root.get()};
  for (const IssuerEntry& e : st->issuers) opts.untrusted.push_back(e.cert.get());
  opts.at = at;
  VerifyResult path = VerifyCertificate(cert, opts);
  std::optional<CertificateRecord> record;
  Status status = path.ToStatus();
  if (status.ok()) {
    std::string sha = CertSha256Hex(cert);
    RETURN_IF_ERROR(storage_->Transact(
        [&](Stores& s) -> Status {
          auto rec = s.certs().GetBySha256(sha);
          if (rec.ok()) {
            record = std::move(rec).value();
            return OkStatus();
          }
          record.reset();
          return rec.status().code() == StatusCode::kNotFound ? OkStatus() : rec.status();
        },
        TxMode::kReadOnly));
    if (!record.has_value()) {
      status = PermissionDeniedError("certificate " + CertSerialHex(cert) +
                                     " chains to custos' CA but custos has no record of it");
    } else if (record->status == "revoked") {
      status = PermissionDeniedError("certificate " + record->serial_hex + " was revoked (" +
                                     CrlReasonName(static_cast<int>(record->revocation_reason)) +
                                     ")");
    }
  }
  if (details != nullptr) {
    details->path = std::move(path);
    details->record = record;
  }
  if (!status.ok()) return status;
  return std::move(record).value();
}

StatusOr<std::unique_ptr<Authority>> LoadOrInitAuthority(const Config& config, Storage* storage,
                                                         Clock* clock, Random* random) {
  ASSIGN_OR_RETURN(std::string passphrase, config.CaPassphrase());
  auto ca = Authority::Create(config.ca, storage, clock, random, passphrase);
  if (ca.ok() || ca.status().code() != StatusCode::kNotFound) return ca;
  auto created = Authority::Init(config.ca, storage, clock, random, passphrase);
  if (created.ok()) {
    CaCertRecord root = (*created)->RootRecord();
    CaCertRecord issuing = (*created)->ActiveIssuerRecord();
    spdlog::info("created a new CA: root \"{}\" sha256={}, issuing \"{}\" sha256={} ({}{})",
                 root.subject, root.sha256_hex, issuing.subject, issuing.sha256_hex,
                 (*created)->KeyType(), passphrase.empty() ? ", keys NOT encrypted" : "");
    return created;
  }
  // Another process created it meanwhile: load that one.
  if (created.status().code() == StatusCode::kAlreadyExists) {
    return Authority::Create(config.ca, storage, clock, random, passphrase);
  }
  return created;
}

}  // namespace custos
