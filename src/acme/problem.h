// ACME error documents: RFC 7807 problem details with the ACME error types of RFC 8555 section 6.7
// (urn:ietf:params:acme:error:*) and badAttestationStatement of draft-acme-device-attest.
//
// Inside the ACME component failures travel as ordinary Status values (so RETURN_IF_ERROR and
// ASSIGN_OR_RETURN work); AcmeError() tags a Status with its ACME type, and ProblemFromStatus()
// turns any Status back into the problem document the client sees. Untagged statuses map by code
// (INVALID_ARGUMENT -> malformed, NOT_FOUND -> malformed 404, everything internal -> serverInternal
// with a generic detail, so internals never reach the client).
#ifndef CUSTOS_ACME_PROBLEM_H_
#define CUSTOS_ACME_PROBLEM_H_

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace custos::acme {

enum class ProblemType {
  kAccountDoesNotExist,
  kAlreadyRevoked,
  kBadCsr,
  kBadNonce,
  kBadPublicKey,
  kBadRevocationReason,
  kBadSignatureAlgorithm,
  kConnection,
  kIncorrectResponse,
  kInvalidContact,
  kMalformed,
  kOrderNotReady,
  kRejectedIdentifier,
  kServerInternal,
  kUnauthorized,
  kUnsupportedContact,
  kUnsupportedIdentifier,
  kBadAttestationStatement,  // draft-acme-device-attest
  kConflict,                 // not an ACME type: 409 for keyChange onto a used key (malformed)
};

// "urn:ietf:params:acme:error:badNonce" etc.
std::string ProblemTypeUrn(ProblemType type);
// The HTTP status RFC 8555 and common servers use for the type (400, 401, 403, 404, 409, 500).
int ProblemHttpStatus(ProblemType type);

struct Problem {
  ProblemType type = ProblemType::kServerInternal;
  std::string detail;
  int status = 500;

  // {"type": URN, "detail": ..., "status": N}
  nlohmann::json ToJson() const;
};

// A Status carrying `type`; its code follows the type (so non-ACME callers still see a sensible
// code). `detail` is shown to the client: never put secrets in it.
Status AcmeError(ProblemType type, std::string_view detail);

// The problem for `status` (OK gives serverInternal). Tagged statuses keep their type and detail.
Problem ProblemFromStatus(const Status& status);

}  // namespace custos::acme

#endif  // CUSTOS_ACME_PROBLEM_H_
