// Admin API for device posture (issue 5, "DeviceInformation attestation and device posture"),
// JSON under /v1/, every route behind the API key (api/auth.h). See posture/posture.h for the
// verdicts and trust levels.
//
//   POST /v1/devices/{id}/attest[?force=true]   body: optional {"force": bool, "no_push": bool}
//        Queues DeviceInformation with DevicePropertiesAttestation, OSVersion, SerialNumber, UDID
//        and a fresh random 32-byte DeviceAttestationNonce, records the request, pushes.
//        -> 201 {command_uuid, device_id, nonce (hex), trigger "api", forced, requested_at,
//                push_requested}
//           404 unknown enrollment; 400 a user channel; 409 an earlier request is younger than
//           the rate limit ([posture] rate_limit, 7 days) and force was not given.
//   GET  /v1/devices/{id}/posture
//        -> 200 {device_id, serial_number, reported_os_version, trust_level
//                (high|medium|low|untrusted), reasons [...], hardware_attested_identity,
//                identities [...], attested {properties} | null, attested_verdict, attested_at,
//                last_fresh_attestation_at, latest_verdict {...} | null, last_request,
//                pending_request, next_attestation_due_at, due_reason, rate_limit, history [...]}
//           404 unknown enrollment.
#ifndef CUSTOS_API_POSTURE_API_H_
#define CUSTOS_API_POSTURE_API_H_

#include <string>

#include <nlohmann/json.hpp>

#include "http/router.h"
#include "posture/posture.h"

namespace custos::api {

// Registers the routes above behind `api_key`. `posture` must outlive the router.
void AddPostureApiRoutes(http::Router& router, posture::PostureService* posture,
                         const std::string& api_key);

// The JSON form of POST /v1/devices/{id}/attest, shared with `custos device attest --json`.
nlohmann::json AttestationRequestToJson(const posture::AttestationRequestResult& r);

}  // namespace custos::api

#endif  // CUSTOS_API_POSTURE_API_H_
