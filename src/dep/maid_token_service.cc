#include "dep/maid_token_service.h"

#include "base/logging.h"
#include "dep/maid_jwt.h"

namespace custos::dep {

StatusOr<std::string> MaidTokenService::GetToken(const mdm::TokenRequest& request) {
  if (request.token_service_type != kMaidServiceType) {
    return InvalidArgumentError("not a MAID token request: " + request.token_service_type);
  }
  ASSIGN_OR_RETURN(std::string name, service_->MaidName());
  StatusOr<std::string> jwt = service_->MaidJwt(name);
  if (!jwt.ok()) {
    spdlog::warn("dep {}: MAID GetToken for {} failed: {}", name, request.enrollment_id,
                 jwt.status().ToString());
  }
  return jwt;
}

}  // namespace custos::dep
