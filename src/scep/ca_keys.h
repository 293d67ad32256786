// The issuing CA certificates and private keys SCEP needs to open pkcsPKIEnvelopes (devices
// encrypt to whichever issuing certificate GetCACert gave them, so after a rollover every
// still-valid issuing key may be needed), read from storage (CaStore).
//
// TODO(scep): ca/authority.h does not expose its issuing keys yet; once it does, use that
// instead of reading the CaStore here.
#ifndef CUSTOS_SCEP_CA_KEYS_H_
#define CUSTOS_SCEP_CA_KEYS_H_

#include <string_view>
#include <vector>

#include "base/status.h"
#include "scep/inspect.h"
#include "storage/storage.h"

namespace custos::scep {

// Every issuing certificate with its key, the active one first. NOT_FOUND when the store has no
// CA; PERMISSION_DENIED when a key cannot be decrypted with `passphrase`.
StatusOr<std::vector<CaKeyPair>> LoadIssuingKeyPairs(Storage& storage, std::string_view passphrase);

}  // namespace custos::scep

#endif  // CUSTOS_SCEP_CA_KEYS_H_
