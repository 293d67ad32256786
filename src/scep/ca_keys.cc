#include "scep/ca_keys.h"

#include <algorithm>

#include "pki/key.h"
#include "pki/x509.h"

namespace custos::scep {

StatusOr<std::vector<CaKeyPair>> LoadIssuingKeyPairs(Storage& storage,
                                                     std::string_view passphrase) {
  std::vector<CaKeyPair> out;
  RETURN_IF_ERROR(storage.Transact(
      [&](Stores& stores) -> Status {
        out.clear();
        ASSIGN_OR_RETURN(std::vector<CaCertRecord> certs, stores.ca().ListCerts());
        // Active first, then newest first.
        std::stable_sort(certs.begin(), certs.end(), [](const auto& a, const auto& b) {
          if (a.active != b.active) return a.active;
          return a.id > b.id;
        });
        for (const auto& rec : certs) {
          if (rec.role != "issuing") continue;
          ASSIGN_OR_RETURN(CaKeyRecord key, stores.ca().GetKey(rec.key_id));
          CaKeyPair pair;
          ASSIGN_OR_RETURN(pair.cert, ParseCertificate(rec.der));
          ASSIGN_OR_RETURN(pair.key, PrivateKeyFromPem(key.pkcs8_pem, passphrase));
          out.push_back(std::move(pair));
        }
        return OkStatus();
      },
      TxMode::kReadOnly));
  if (out.empty()) return NotFoundError("no CA in storage: run `custos ca init`");
  return out;
}

}  // namespace custos::scep
