// The GetToken service for TokenServiceType "com.apple.maid" (Managed Apple ID access
// management): answers the device with a MAID JWT signed by the current key of the DEP name
// DepService::MaidName() picks (see maid_jwt.h). Registered on the MDM service in server/.
#ifndef CUSTOS_DEP_MAID_TOKEN_SERVICE_H_
#define CUSTOS_DEP_MAID_TOKEN_SERVICE_H_

#include "dep/service.h"
#include "mdm/service.h"

namespace custos::dep {

class MaidTokenService : public mdm::TokenService {
 public:
  explicit MaidTokenService(DepService* service) : service_(service) {}
  // The JWT bytes. FAILED_PRECONDITION when no (single) DEP name with a current key exists;
  // INVALID_ARGUMENT when asked for another service type.
  StatusOr<std::string> GetToken(const mdm::TokenRequest& request) override;

 private:
  DepService* service_;
};

}  // namespace custos::dep

#endif  // CUSTOS_DEP_MAID_TOKEN_SERVICE_H_
