// Diagnostics for SCEP messages (`custos inspect scep FILE`): decodes a PKIOperation the way the
// SCEP service does (message.h) and describes every field an MDM developer debugging an
// enrollment needs, as ordered `key: value` pairs. Never prints the challenge itself (only
// whether one is present), nor any key material.
#ifndef CUSTOS_SCEP_INSPECT_H_
#define CUSTOS_SCEP_INSPECT_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/openssl_util.h"
#include "base/status.h"

namespace custos::scep {

// An issuing CA certificate and its private key (for opening envelopes).
struct CaKeyPair {
  X509Ptr cert;
  EvpPkeyPtr key;
};

struct Inspection {
  std::vector<std::pair<std::string, std::string>> fields;
  bool decoded_ok = false;       // the message passed every check before the envelope
  bool signature_valid = false;
};

// Describes a PKIOperation message. With `legacy_algorithms` (the caller has loaded OpenSSL's
// legacy provider) single-DES envelopes are read too; the output names the algorithm either way.
// `ca_keys` may be empty (envelope: "not opened (no CA key given)");
// otherwise the pair the envelope is addressed to opens it and the CSR (or IssuerAndSubject /
// IssuerAndSerialNumber) is described.
// Fields: message_type, transaction_id, sender_nonce, digest, signature_algorithm, encryption,
// recipient, signer, signer_issuer, signer_self_signed, signer_not_before, signer_not_after,
// signing_time, signature, status[, fail_info], envelope, and after opening csr_subject, csr_sans,
// csr_key, csr_signature, challenge_present (or poll_issuer/poll_subject, serial).
Inspection InspectPkiOperation(std::string_view message, const std::vector<CaKeyPair>& ca_keys,
                              bool legacy_algorithms);

}  // namespace custos::scep

#endif  // CUSTOS_SCEP_INSPECT_H_
