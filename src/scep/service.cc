#include "scep/service.h"

#include <algorithm>
#include <sstream>
#include <utility>

#include "base/encoding.h"
#include "base/logging.h"
#include "pki/cms.h"
#include "pki/crl.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/x509.h"
#include "scep/ca_keys.h"

namespace custos::scep {

// What a request comes to: the CertRep status and, on SUCCESS, the degenerate PKCS#7 payload.
struct ScepService::Outcome {
  PkiStatus status = PkiStatus::kFailure;
  FailInfo fail_info = FailInfo::kBadRequest;
  std::string reason;   // for the log on failure
  std::string payload;  // SUCCESS only

  static Outcome Fail(FailInfo info, std::string reason) {
    Outcome o;
    o.fail_info = info;
    o.reason = std::move(reason);
    return o;
  }
  static Outcome Pending() {
    Outcome o;
    o.status = PkiStatus::kPending;
    return o;
  }
  static Outcome Success(std::string payload) {
    Outcome o;
    o.status = PkiStatus::kSuccess;
    o.payload = std::move(payload);
    return o;
  }
};

namespace {

std::vector<std::string> SplitList(std::string_view s) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in{std::string(s)};
  while (std::getline(in, item, ',')) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

bool Contains(const std::vector<std::string>& list, std::string_view v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

// A certs-only PKCS#7 with `der` (a certificate custos issued).
StatusOr<std::string> PayloadForCertDer(std::string_view der) {
  ASSIGN_OR_RETURN(X509Ptr cert, ParseCertificate(der));
  return BuildCertsOnly({cert.get()});
}

// True when `bound_to` appears as a value of the CSR's subject or one of its SANs.
bool CsrNamesDevice(const Csr& csr, std::string_view bound_to) {
  for (const auto& rdn : NameEntries(csr.subject_name.get())) {
    if (rdn.value == bound_to) return true;
  }
  for (const auto& san : csr.sans) {
    if (san.value == bound_to) return true;
  }
  return false;
}

}  // namespace

StatusOr<std::unique_ptr<ScepService>> ScepService::Create(const ScepConfig& config,
                                                           Authority* ca, Storage* storage,
                                                           Clock* clock, Random* random,
                                                           std::string ca_passphrase) {
  if (ca == nullptr || storage == nullptr || clock == nullptr || random == nullptr) {
    return InvalidArgumentError("SCEP service needs a CA, storage, clock and random source");
  }
  if (config.min_rsa_bits < 1024 || config.min_rsa_bits > 16384) {
    return InvalidArgumentError("scep.min_rsa_bits must be between 1024 and 16384");
  }
  if (config.validity.count() <= 0) return InvalidArgumentError("scep.validity must be positive");
  if (config.max_message_bytes <= 0) {
    return InvalidArgumentError("scep.max_message_bytes must be positive");
  }
  if (config.legacy_algorithms) RETURN_IF_ERROR(LoadLegacyProvider());
  std::unique_ptr<ScepService> s(
      new ScepService(config, ca, storage, clock, random, std::move(ca_passphrase)));
  RETURN_IF_ERROR(s->ReloadKeys());
  return s;
}

ScepService::ScepService(const ScepConfig& config, Authority* ca, Storage* storage, Clock* clock,
                         Random* random, std::string passphrase)
    : config_(config),
      ca_(ca),
      storage_(storage),
      clock_(clock),
      random_(random),
      passphrase_(std::move(passphrase)),
      allowed_subject_fields_(SplitList(config.allowed_subject_fields)),
      allowed_san_types_(SplitList(config.allowed_san_types)) {
  decode_options_.max_message_bytes = static_cast<size_t>(config.max_message_bytes);
  decode_options_.legacy_algorithms = config.legacy_algorithms;
}

std::shared_ptr<const std::vector<CaKeyPair>> ScepService::Keys() const {
  std::lock_guard<std::mutex> lock(mu_);
  return keys_;
}

Status ScepService::ReloadKeys() {
  ASSIGN_OR_RETURN(std::vector<CaKeyPair> keys, LoadIssuingKeyPairs(*storage_, passphrase_));
  auto shared = std::make_shared<const std::vector<CaKeyPair>>(std::move(keys));
  std::lock_guard<std::mutex> lock(mu_);
  keys_ = std::move(shared);
  return OkStatus();
}

std::string ScepService::GetCaCaps() const {
  std::string caps = "POSTPKIOperation\nSHA-256\nSHA-512\nAES\nSCEPStandard\nRenewal\n";
  if (config_.legacy_algorithms) caps += "SHA-1\nDES3\n";
  return caps;
}

StatusOr<CaCertReply> ScepService::GetCaCert() const {
  std::vector<X509Ptr> issuers = ca_->TrustedIssuers();
  X509Ptr root = ca_->Root();
  std::vector<X509*> certs;
  for (const auto& c : issuers) certs.push_back(c.get());
  if (certs.empty()) return FailedPreconditionError("the CA has no valid issuing certificate");
  // The active issuing certificate first (the one devices encrypt to), then the root, then older
  // issuing certificates still trusted after a rollover.
  certs.insert(certs.begin() + 1, root.get());
  ASSIGN_OR_RETURN(std::string p7, BuildCertsOnly(certs));
  return CaCertReply{"application/x-x509-ca-ra-cert", std::move(p7)};
}

StatusOr<std::string> ScepService::NewChallenge(std::optional<Duration> ttl,
                                                std::string_view bound_to) {
  Duration life = ttl.value_or(config_.challenge_ttl);
  if (life.count() <= 0) return InvalidArgumentError("challenge lifetime must be positive");
  std::string challenge = HexEncode(random_->Bytes(16));
  ScepChallengeRecord rec;
  rec.challenge_sha256 = Sha256Hex(challenge);
  rec.created_at = clock_->Now();
  rec.expires_at = rec.created_at + life;
  rec.bound_to = std::string(bound_to);
  RETURN_IF_ERROR(storage_->Transact([&](Stores& st) -> Status {
    RETURN_IF_ERROR(st.scep().DeleteExpiredChallenges(rec.created_at).status());
    return st.scep().InsertChallenge(rec);
  }));
  spdlog::info("scep: new one-time challenge, valid {}{}", FormatDuration(life),
               bound_to.empty() ? "" : ", bound to " + std::string(bound_to));
  return challenge;
}

bool ScepService::StaticChallengeMatches(const std::optional<std::string>& challenge) const {
  if (config_.challenge.empty() || !challenge.has_value()) return false;
  return ConstantTimeEquals(*challenge, config_.challenge);
}

Status ScepService::CheckPolicy(const Csr& csr) const {
  const EVP_PKEY* key = csr.public_key.get();
  int type = EVP_PKEY_get_base_id(key);
  if (type == EVP_PKEY_RSA) {
    if (EVP_PKEY_get_bits(key) < config_.min_rsa_bits) {
      return InvalidArgumentError("RSA key of " + std::to_string(EVP_PKEY_get_bits(key)) +
                                  " bits is below the minimum of " +
                                  std::to_string(config_.min_rsa_bits));
    }
  } else if (type != EVP_PKEY_EC) {
    return InvalidArgumentError("unsupported key type " + csr.key_type);
  }
  for (const auto& rdn : NameEntries(csr.subject_name.get())) {
    if (!Contains(allowed_subject_fields_, rdn.field)) {
      return InvalidArgumentError("subject attribute " + rdn.field + " is not allowed");
    }
  }
  for (const auto& san : csr.sans) {
    if (!Contains(allowed_san_types_, san.type)) {
      return InvalidArgumentError("SAN type " + san.type + " is not allowed");
    }
  }
  if (NameEntries(csr.subject_name.get()).empty() && csr.sans.empty()) {
    return InvalidArgumentError("the CSR names nobody (empty subject, no SAN)");
  }
  return OkStatus();
}

StatusOr<std::string> ScepService::CheckRenewalSigner(X509* signer, FailInfo* fail_info) {
  *fail_info = FailInfo::kBadCertId;
  if (signer == nullptr) return InvalidArgumentError("RenewalReq without signer certificate");
  Time now = clock_->Now();
  Time at = now;
  Time not_after = NotAfter(signer);
  if (now > not_after) {
    if (now - not_after > config_.renewal_grace) {
      *fail_info = FailInfo::kBadTime;
      return InvalidArgumentError("the identity being renewed expired at " +
                                  FormatRfc3339(not_after) + ", beyond the renewal grace period");
    }
    at = not_after - Duration(1);  // within the grace period: check it as of its last second
  }
  IssuedVerification details;
  auto record = ca_->VerifyIssued(signer, at, &details);
  if (!record.ok()) return record.status().WithContext("RenewalReq signer");
  return record->serial_hex;
}

StatusOr<std::string> ScepService::Reply(const DecodedRequest& req, const CaKeyPair& signer,
                                         const Outcome& outcome) {
  if (outcome.status == PkiStatus::kFailure) {
    spdlog::warn("scep: {} transaction {} refused ({}): {}", MessageTypeName(req.message_type),
                 req.transaction_id, FailInfoName(outcome.fail_info), outcome.reason);
  } else {
    spdlog::info("scep: {} transaction {}: {}", MessageTypeName(req.message_type),
                 req.transaction_id, PkiStatusName(outcome.status));
  }
  CertRepParams p;
  p.status = outcome.status;
  p.fail_info = outcome.fail_info;
  p.transaction_id = req.transaction_id;
  p.recipient_nonce = req.sender_nonce;
  p.sender_nonce = random_->Bytes(16);
  p.digest = ReplyDigestFor(req);
  p.payload = outcome.payload;
  p.recipient = req.signer.get();
  p.cipher = ReplyCipherFor(req);
  if (p.cipher == "DES-CBC" && !config_.legacy_algorithms) p.cipher = "AES-256-CBC";
  p.signer_key = signer.key.get();
  p.signer_cert = signer.cert.get();
  p.signing_time = clock_->Now();
  return EncodeCertRep(p);
}

StatusOr<std::string> ScepService::PkiOperation(std::string_view message) {
  DecodedRequest req = DecodePkiOperation(message, decode_options_);
  auto keys = Keys();
  if (!req.ok()) {
    if (!req.CanReply()) {
      spdlog::warn("scep: PKIOperation refused without CertRep: {}", req.error.message());
      return InvalidArgumentError(req.error.message());
    }
    return Reply(req, keys->front(), Outcome::Fail(req.fail_info, req.error.message()));
  }
  // The key pair the device encrypted to (after a rollover by another process: reload once).
  auto find = [&]() -> const CaKeyPair* {
    for (const auto& p : *keys) {
      if (EnvelopeAddressedTo(req, p.cert.get())) return &p;
    }
    return nullptr;
  };
  const CaKeyPair* pair = find();
  if (pair == nullptr && ReloadKeys().ok()) {
    keys = Keys();
    pair = find();
  }
  if (pair == nullptr) {
    return Reply(req, keys->front(),
                 Outcome::Fail(FailInfo::kBadMessageCheck,
                               "pkcsPKIEnvelope is not addressed to a custos CA certificate"));
  }
  FailInfo info = FailInfo::kBadRequest;
  auto content = OpenRequestEnvelope(req, pair->key.get(), pair->cert.get(), &info);
  if (!content.ok()) return Reply(req, *pair, Outcome::Fail(info, content.status().message()));

  Outcome outcome;
  switch (static_cast<MessageType>(req.message_type)) {
    case MessageType::kPkcsReq:
    case MessageType::kRenewalReq:
      outcome = Enroll(req, *content);
      break;
    case MessageType::kCertPoll:
      outcome = Poll(req);
      break;
    case MessageType::kGetCert:
      outcome = GetCert(*content);
      break;
    case MessageType::kGetCrl:
      outcome = GetCrl();
      break;
    default:
      outcome = Outcome::Fail(FailInfo::kBadRequest, "unsupported messageType");
  }
  return Reply(req, *pair, outcome);
}

ScepService::Outcome ScepService::Enroll(const DecodedRequest& req,
                                         const RequestContent& content) {
  const bool renewal = req.message_type == static_cast<int>(MessageType::kRenewalReq);
  const Csr& csr = *content.csr;
  if (Status s = CheckPolicy(csr); !s.ok()) return Outcome::Fail(FailInfo::kBadRequest, s.message());
  std::string renewal_of;
  if (renewal) {
    FailInfo info;
    auto serial = CheckRenewalSigner(req.signer.get(), &info);
    if (!serial.ok()) return Outcome::Fail(info, serial.status().message());
    renewal_of = *serial;
  }
  // Hash of the DER SubjectPublicKeyInfo as the CSR carries it (no re-encoding of the key).
  const std::string spki = Sha256Hex(csr.spki_der);
  const bool static_ok = !renewal && StaticChallengeMatches(csr.challenge_password);

  Outcome outcome;
  Status s = storage_->Transact([&](Stores& st) -> Status {
    Time now = clock_->Now();
    auto existing = st.scep().GetTransaction(req.transaction_id);
    if (existing.ok()) {
      if (!ConstantTimeEquals(existing->spki_sha256, spki)) {
        outcome = Outcome::Fail(FailInfo::kBadRequest,
                                "transactionID reused with a different public key");
      } else if (existing->status == "issued") {
        ASSIGN_OR_RETURN(CertificateRecord rec, st.certs().GetBySerial(existing->cert_serial));
        ASSIGN_OR_RETURN(std::string payload, PayloadForCertDer(rec.der));
        outcome = Outcome::Success(std::move(payload));
      } else if (existing->status == "pending") {
        outcome = Outcome::Pending();
      } else {
        outcome = Outcome::Fail(FailInfo::kBadRequest, "transaction was rejected");
      }
      return OkStatus();
    }
    if (existing.status().code() != StatusCode::kNotFound) return existing.status();

    if (!renewal && !static_ok) {
      if (!csr.challenge_password.has_value()) {
        outcome = Outcome::Fail(FailInfo::kBadRequest, "no challengePassword in the CSR");
        return OkStatus();
      }
      const std::string hash = Sha256Hex(*csr.challenge_password);
      auto challenge = st.scep().GetChallenge(hash);
      if (!challenge.ok()) {
        if (challenge.status().code() != StatusCode::kNotFound) return challenge.status();
        outcome = Outcome::Fail(FailInfo::kBadRequest, "wrong challengePassword");
        return OkStatus();
      }
      if (!challenge->bound_to.empty() && !CsrNamesDevice(csr, challenge->bound_to)) {
        outcome = Outcome::Fail(FailInfo::kBadRequest,
                                "challenge is bound to another device than the CSR names");
        return OkStatus();
      }
      Status spent = st.scep().SpendChallenge(hash, now, req.transaction_id);
      if (!spent.ok()) {
        if (spent.code() != StatusCode::kFailedPrecondition) return spent;
        outcome = Outcome::Fail(FailInfo::kBadRequest, spent.message());
        return OkStatus();
      }
    }

    ScepTransactionRecord tx;
    tx.transaction_id = req.transaction_id;
    tx.spki_sha256 = spki;
    tx.message_type = MessageTypeName(req.message_type);
    tx.subject = csr.subject;
    tx.renewal_of = renewal_of;
    tx.created_at = now;
    tx.updated_at = now;
    if (config_.manual_approval) {
      tx.status = "pending";
      tx.csr_der = csr.der;
      outcome = Outcome::Pending();
    } else {
      IssueRequest issue;
      // The CSR's SubjectPublicKeyInfo goes into the certificate as it is (CheckPolicy vetted
      // the key); only an RSA key under the CA's own 2048-bit floor goes the decoded-key way, so
      // that the CA refuses it exactly as before.
      const EVP_PKEY* key = csr.public_key.get();
      if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA && EVP_PKEY_get_bits(key) < 2048) {
        issue.public_key = csr.public_key.get();
      } else {
        issue.spki_der = csr.spki_der;
      }
      issue.subject_name = csr.subject_name.get();
      issue.sans = csr.sans;
      issue.validity = config_.validity;
      issue.requester = "scep";
      issue.requester_ref = req.transaction_id;
      issue.renewal_of = renewal_of;
      ASSIGN_OR_RETURN(IssuedCert issued, ca_->Issue(st, issue));
      tx.status = "issued";
      tx.cert_serial = issued.record.serial_hex;
      // From the certificate just signed: parsing record.der again would decode its key.
      ASSIGN_OR_RETURN(std::string payload,
                       issued.signed_cert != nullptr
                           ? BuildCertsOnly({issued.signed_cert.get()})
                           : PayloadForCertDer(issued.record.der));
      outcome = Outcome::Success(std::move(payload));
    }
    Status inserted = st.scep().InsertTransaction(tx);
    // A concurrent request with the same transactionID won: roll back and look again.
    if (inserted.code() == StatusCode::kAlreadyExists) return AbortedError(inserted.message());
    return inserted;
  });
  if (!s.ok()) {
    spdlog::error("scep: transaction {} failed in storage: {}", req.transaction_id, s.message());
    return Outcome::Fail(FailInfo::kBadRequest, "internal error: " + s.message());
  }
  return outcome;
}

ScepService::Outcome ScepService::Poll(const DecodedRequest& req) {
  Outcome outcome;
  Status s = storage_->Transact(
      [&](Stores& st) -> Status {
        auto tx = st.scep().GetTransaction(req.transaction_id);
        if (!tx.ok()) {
          if (tx.status().code() != StatusCode::kNotFound) return tx.status();
          outcome = Outcome::Fail(FailInfo::kBadCertId, "no such transaction");
          return OkStatus();
        }
        if (tx->status == "pending") {
          outcome = Outcome::Pending();
        } else if (tx->status == "issued") {
          ASSIGN_OR_RETURN(CertificateRecord rec, st.certs().GetBySerial(tx->cert_serial));
          ASSIGN_OR_RETURN(std::string payload, PayloadForCertDer(rec.der));
          outcome = Outcome::Success(std::move(payload));
        } else {
          outcome = Outcome::Fail(FailInfo::kBadRequest, "transaction was rejected");
        }
        return OkStatus();
      },
      TxMode::kReadOnly);
  if (!s.ok()) return Outcome::Fail(FailInfo::kBadRequest, "internal error: " + s.message());
  return outcome;
}

ScepService::Outcome ScepService::GetCert(const RequestContent& content) {
  Outcome outcome;
  Status s = storage_->Transact(
      [&](Stores& st) -> Status {
        auto rec = st.certs().GetBySerial(content.serial_hex);
        if (!rec.ok()) {
          if (rec.status().code() != StatusCode::kNotFound) return rec.status();
          outcome = Outcome::Fail(FailInfo::kBadCertId, "no certificate " + content.serial_hex);
          return OkStatus();
        }
        ASSIGN_OR_RETURN(std::string payload, PayloadForCertDer(rec->der));
        outcome = Outcome::Success(std::move(payload));
        return OkStatus();
      },
      TxMode::kReadOnly);
  if (!s.ok()) return Outcome::Fail(FailInfo::kBadRequest, "internal error: " + s.message());
  return outcome;
}

ScepService::Outcome ScepService::GetCrl() {
  auto der = ca_->CrlDer();
  if (!der.ok()) return Outcome::Fail(FailInfo::kBadRequest, der.status().message());
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der->data());
  X509CrlPtr crl(d2i_X509_CRL(nullptr, &p, static_cast<long>(der->size())));
  if (!crl) return Outcome::Fail(FailInfo::kBadRequest, "CRL cannot be read");
  auto payload = BuildCertsOnly({}, {crl.get()});
  if (!payload.ok()) return Outcome::Fail(FailInfo::kBadRequest, payload.status().message());
  return Outcome::Success(std::move(*payload));
}

StatusOr<std::string> ScepService::Approve(std::string_view transaction_id) {
  std::string serial;
  RETURN_IF_ERROR(storage_->Transact([&](Stores& st) -> Status {
    ASSIGN_OR_RETURN(ScepTransactionRecord tx, st.scep().GetTransaction(transaction_id));
    if (tx.status != "pending") {
      return FailedPreconditionError("SCEP transaction " + tx.transaction_id + " is " + tx.status +
                                     ", not pending");
    }
    ASSIGN_OR_RETURN(Csr csr, ParseAndVerifyCsr(tx.csr_der));
    IssueRequest issue;
    issue.public_key = csr.public_key.get();
    issue.subject_name = csr.subject_name.get();
    issue.sans = csr.sans;
    issue.validity = config_.validity;
    issue.requester = "scep";
    issue.requester_ref = tx.transaction_id;
    issue.renewal_of = tx.renewal_of;
    ASSIGN_OR_RETURN(IssuedCert issued, ca_->Issue(st, issue));
    serial = issued.record.serial_hex;
    return st.scep().UpdateTransaction(transaction_id, "issued", serial, clock_->Now());
  }));
  spdlog::info("scep: transaction {} approved, certificate {}", transaction_id, serial);
  return serial;
}

Status ScepService::Reject(std::string_view transaction_id) {
  RETURN_IF_ERROR(storage_->Transact([&](Stores& st) -> Status {
    ASSIGN_OR_RETURN(ScepTransactionRecord tx, st.scep().GetTransaction(transaction_id));
    if (tx.status != "pending") {
      return FailedPreconditionError("SCEP transaction " + tx.transaction_id + " is " + tx.status +
                                     ", not pending");
    }
    return st.scep().UpdateTransaction(transaction_id, "rejected", "", clock_->Now());
  }));
  spdlog::info("scep: transaction {} rejected", transaction_id);
  return OkStatus();
}

}  // namespace custos::scep
