#include "scep/inspect.h"

#include "base/encoding.h"
#include "base/time.h"
#include "pki/key.h"
#include "pki/x509.h"
#include "scep/message.h"

namespace custos::scep {

Inspection InspectPkiOperation(std::string_view message, const std::vector<CaKeyPair>& ca_keys,
                              bool legacy_algorithms) {
  Inspection out;
  auto add = [&](std::string k, std::string v) { out.fields.emplace_back(std::move(k), std::move(v)); };
  DecodeOptions options;
  options.legacy_algorithms = legacy_algorithms;
  options.max_message_bytes = 1024 * 1024;
  DecodedRequest req = DecodePkiOperation(message, options);

  add("message_type", req.message_type == 0
                          ? "(absent)"
                          : MessageTypeName(req.message_type) + " (" +
                                std::to_string(req.message_type) + ")");
  add("transaction_id", req.transaction_id.empty() ? "(absent)" : req.transaction_id);
  add("sender_nonce", req.sender_nonce.empty() ? "(absent)" : HexEncode(req.sender_nonce));
  add("digest", req.digest_algorithm.empty() ? "(unknown)" : req.digest_algorithm);
  add("signature_algorithm",
      req.signature_algorithm.empty() ? "(unknown)" : req.signature_algorithm);
  std::string encryption = "(no envelope)";
  std::string recipient;
  if (req.envelope_info.has_value()) {
    encryption = req.envelope_info->content_encryption.empty()
                     ? "(unreadable)"
                     : req.envelope_info->content_encryption;
    for (const auto& r : req.envelope_info->recipients) {
      if (!recipient.empty()) recipient += "; ";
      recipient += (r.issuer.empty() ? std::string("(key identifier)") : r.issuer) +
                   " serial " + r.serial_hex;
    }
  }
  add("encryption", encryption);
  add("recipient", recipient.empty() ? "(none)" : recipient);
  if (req.signer) {
    add("signer", SubjectString(req.signer.get()));
    add("signer_issuer", IssuerString(req.signer.get()));
    // Self-signed as RFC 8894 section 2.3 means it: issuer = subject, signed by its own key (such
    // certificates usually lack keyCertSign, so X509_check_issued would say no).
    EvpPkeyPtr own = CertificatePublicKey(req.signer.get());
    bool self_signed = X509_NAME_cmp(X509_get_subject_name(req.signer.get()),
                                     X509_get_issuer_name(req.signer.get())) == 0 &&
                       own && CertificateSignedBy(req.signer.get(), own.get());
    add("signer_self_signed", self_signed ? "yes" : "no");
    add("signer_not_before", FormatRfc3339(NotBefore(req.signer.get())));
    add("signer_not_after", FormatRfc3339(NotAfter(req.signer.get())));
    add("signer_key", KeyDescription(CertificatePublicKey(req.signer.get()).get()));
  } else {
    add("signer", "(not in the message)");
  }
  add("signing_time", req.signing_time.value_or("(absent)"));
  add("signature", req.signature_valid ? "valid" : "invalid");
  out.signature_valid = req.signature_valid;
  out.decoded_ok = req.ok();
  if (req.ok()) {
    add("status", "ok");
  } else {
    add("status", "refused: " + req.error.message());
    add("fail_info", req.CanReply() ? FailInfoName(req.fail_info)
                                    : FailInfoName(req.fail_info) + " (no CertRep possible: HTTP 400)");
  }

  if (req.envelope.empty()) return out;
  if (ca_keys.empty()) {
    add("envelope", "not opened (no CA key available: give --config or --data-dir)");
    return out;
  }
  const CaKeyPair* pair = nullptr;
  for (const auto& p : ca_keys) {
    if (EnvelopeAddressedTo(req, p.cert.get())) {
      pair = &p;
      break;
    }
  }
  if (pair == nullptr) {
    add("envelope", "not addressed to custos' CA");
    return out;
  }
  FailInfo info = FailInfo::kBadRequest;
  if (req.message_type == 0) {
    add("envelope", "not opened (unknown messageType)");
    return out;
  }
  // Opening reports a CSR whose signature fails as an error; describe that CSR anyway.
  auto content = OpenRequestEnvelope(req, pair->key.get(), pair->cert.get(), &info);
  if (!content.ok()) {
    auto plain = DecryptCms(req.envelope, pair->key.get(), pair->cert.get());
    if (!plain.ok()) {
      add("envelope", "cannot be opened: " + content.status().message());
      return out;
    }
    add("envelope", "opened with " + SubjectString(pair->cert.get()));
    add("content_error", content.status().message() + " (" + FailInfoName(info) + ")");
    auto csr = ParseCsr(*plain);
    if (!csr.ok()) return out;
    content = RequestContent{};
    content->csr = std::move(*csr);
  } else {
    add("envelope", "opened with " + SubjectString(pair->cert.get()));
  }
  if (content->csr.has_value()) {
    const Csr& csr = *content->csr;
    add("csr_subject", csr.subject.empty() ? "(empty)" : csr.subject);
    add("csr_sans", csr.sans.empty() ? "(none)" : SansToText(csr.sans));
    add("csr_key", csr.key_type);
    add("csr_key_sha256", SpkiSha256Hex(csr.public_key.get()));
    add("csr_signature", csr.signature_valid ? "valid" : "invalid");
    add("challenge_present", csr.challenge_password.has_value() ? "yes" : "no");
  }
  if (content->subject) add("poll_subject", NameToString(content->subject.get()));
  if (content->issuer) add("poll_issuer", NameToString(content->issuer.get()));
  if (!content->serial_hex.empty()) add("serial", content->serial_hex);
  return out;
}

}  // namespace custos::scep
