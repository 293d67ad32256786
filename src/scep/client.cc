#include "scep/client.h"

#include <utility>

#include "base/encoding.h"
#include "pki/cms.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/x509.h"

namespace custos::scep {
namespace {

std::string UrlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

X509Ptr Ref(const X509* cert) {
  X509* c = const_cast<X509*>(cert);
  X509_up_ref(c);
  return X509Ptr(c);
}

}  // namespace

StatusOr<std::unique_ptr<ScepClient>> ScepClient::Create(std::vector<X509Ptr> ca_certs,
                                                         ClientOptions options) {
  if (ca_certs.empty() || !ca_certs.front()) {
    return InvalidArgumentError("SCEP client needs the CA certificate");
  }
  if (options.clock == nullptr || options.random == nullptr) {
    return InvalidArgumentError("SCEP client needs a clock and a random source");
  }
  return std::unique_ptr<ScepClient>(new ScepClient(std::move(ca_certs), std::move(options)));
}

StatusOr<std::vector<X509Ptr>> ScepClient::ParseGetCaCert(std::string_view body) {
  if (auto certs = ParseCertsOnly(body); certs.ok()) {
    if (certs->empty()) return InvalidArgumentError("GetCACert PKCS#7 holds no certificate");
    return certs;
  }
  ASSIGN_OR_RETURN(X509Ptr cert, ParseCertificate(body));
  std::vector<X509Ptr> out;
  out.push_back(std::move(cert));
  return out;
}

std::string ScepClient::GetQuery(std::string_view message) {
  return "operation=PKIOperation&message=" + UrlEncode(Base64Encode(message));
}

StatusOr<ClientTransaction> ScepClient::Build(MessageType type, std::string transaction_id,
                                              std::string message_data, EVP_PKEY* key,
                                              const X509* signer) const {
  ClientTransaction tx;
  tx.type = type;
  tx.transaction_id = std::move(transaction_id);
  tx.sender_nonce = options_.random->Bytes(16);
  tx.key = key;
  tx.signer = Ref(signer);
  RequestParams p;
  p.type = type;
  p.transaction_id = tx.transaction_id;
  p.sender_nonce = tx.sender_nonce;
  p.message_data = std::move(message_data);
  p.recipient = recipient();
  p.cipher = options_.cipher;
  p.digest = options_.digest;
  p.signer_key = key;
  p.signer_cert = tx.signer.get();
  ASSIGN_OR_RETURN(tx.message, EncodePkiOperation(p));
  return tx;
}

StatusOr<ClientTransaction> ScepClient::PkcsReq(EVP_PKEY* key, std::string_view csr_der) const {
  if (key == nullptr) return InvalidArgumentError("PKCSReq needs the request key");
  // The throw-away signer (RFC 8894 section 2.3): a new subject for every request, as devices do.
  CertificateTemplate t;
  t.subject = {{"CN", "SCEP SIGNER " + HexEncode(options_.random->Bytes(8))}};
  Time now = options_.clock->Now();
  t.not_before = now - std::chrono::hours(1);
  t.not_after = now + std::chrono::hours(24);
  t.serial_hex = "01";
  t.key_usage = kKuDigitalSignature | kKuKeyEncipherment;
  ASSIGN_OR_RETURN(X509Ptr signer, BuildCertificate(t, key, nullptr, key));
  ASSIGN_OR_RETURN(std::string spki, PublicKeyToSpkiDer(key));
  return Build(MessageType::kPkcsReq, Sha256Hex(spki), std::string(csr_der), key, signer.get());
}

StatusOr<ClientTransaction> ScepClient::RenewalReq(std::string_view csr_der, EVP_PKEY* old_key,
                                                   const X509* old_cert) const {
  if (old_key == nullptr || old_cert == nullptr) {
    return InvalidArgumentError("RenewalReq needs the identity being renewed");
  }
  ASSIGN_OR_RETURN(Csr csr, ParseCsr(csr_der));
  ASSIGN_OR_RETURN(std::string spki, PublicKeyToSpkiDer(csr.public_key.get()));
  return Build(MessageType::kRenewalReq, Sha256Hex(spki), std::string(csr_der), old_key,
               old_cert);
}

StatusOr<ClientTransaction> ScepClient::CertPoll(const ClientTransaction& previous,
                                                 const X509_NAME* subject) const {
  if (previous.key == nullptr || !previous.signer) {
    return InvalidArgumentError("CertPoll needs the pending transaction");
  }
  ASSIGN_OR_RETURN(std::string ias,
                   EncodeIssuerAndSubject(X509_get_subject_name(recipient()), subject));
  return Build(MessageType::kCertPoll, previous.transaction_id, std::move(ias), previous.key,
               previous.signer.get());
}

StatusOr<ClientTransaction> ScepClient::GetCert(std::string_view serial_hex, EVP_PKEY* key,
                                                const X509* cert) const {
  if (key == nullptr || cert == nullptr) return InvalidArgumentError("GetCert needs a signer");
  ASSIGN_OR_RETURN(std::string isn,
                   EncodeIssuerAndSerial(X509_get_subject_name(recipient()), serial_hex));
  return Build(MessageType::kGetCert, HexEncode(options_.random->Bytes(16)), std::move(isn), key,
               cert);
}

StatusOr<ClientTransaction> ScepClient::GetCrl(std::string_view serial_hex, EVP_PKEY* key,
                                               const X509* cert) const {
  if (key == nullptr || cert == nullptr) return InvalidArgumentError("GetCRL needs a signer");
  ASSIGN_OR_RETURN(std::string isn,
                   EncodeIssuerAndSerial(X509_get_subject_name(recipient()), serial_hex));
  return Build(MessageType::kGetCrl, HexEncode(options_.random->Bytes(16)), std::move(isn), key,
               cert);
}

StatusOr<CertRep> ScepClient::ReadReply(const ClientTransaction& tx, std::string_view body) const {
  std::vector<X509*> signers;
  for (const auto& c : ca_certs_) signers.push_back(c.get());
  ASSIGN_OR_RETURN(CertRep rep, DecodeCertRep(body, tx.key, tx.signer.get(), signers));
  if (rep.transaction_id != tx.transaction_id) {
    return InvalidArgumentError("CertRep transactionID does not match the request");
  }
  if (rep.recipient_nonce != tx.sender_nonce) {
    return InvalidArgumentError("CertRep recipientNonce does not match our senderNonce");
  }
  return rep;
}

}  // namespace custos::scep
