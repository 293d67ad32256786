// THE one mapping from custos' Status codes to HTTP status codes and JSON error bodies
// (RFC 9110 section 15). Every handler that fails answers through ErrorResponse() so that the same
// error always gets the same reply.
//
// Device-facing endpoints (MDM check-in/connect, SCEP, ACME for devices): an authentication
// failure must NOT answer 401 there, because a 401 can make an Apple device unenroll; those
// handlers answer 400 instead. The MDM code chooses that per endpoint (e.g. by mapping
// UNAUTHENTICATED/PERMISSION_DENIED to INVALID_ARGUMENT before calling ErrorResponse); this
// mapping stays the general one used by the admin API.
#ifndef CUSTOS_HTTP_STATUS_HTTP_H_
#define CUSTOS_HTTP_STATUS_HTTP_H_

#include "base/status.h"
#include "http/response.h"

namespace custos::http {

// INVALID_ARGUMENT/OUT_OF_RANGE 400, UNAUTHENTICATED 401, PERMISSION_DENIED 403, NOT_FOUND 404,
// ALREADY_EXISTS/ABORTED/FAILED_PRECONDITION 409 (the resource's state conflicts with the request;
// 412 is kept for HTTP conditional requests), RESOURCE_EXHAUSTED 429, CANCELLED 499 is not an
// HTTP code so 500, UNIMPLEMENTED 501, UNAVAILABLE 503, DEADLINE_EXCEEDED 504, everything else
// (INTERNAL, UNKNOWN, DATA_LOSS, OK misused as an error) 500.
int HttpStatusFor(StatusCode code);

// {"error": "NOT_FOUND", "message": "..."} with the mapped status. For server-side failures
// (INTERNAL, UNKNOWN, DATA_LOSS and OK misused) the message is replaced by a generic one naming the
// request ID and the real message is logged (warn), so internals never reach the client.
Response ErrorResponse(const Status& status);

}  // namespace custos::http

#endif  // CUSTOS_HTTP_STATUS_HTTP_H_
