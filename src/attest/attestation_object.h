// The ACME device-attest-01 attestation object (draft-acme-device-attest, Apple format) and the
// other encodings an attestation chain arrives in.
//
// The client answers the challenge with the JSON payload {"attObj": base64url(CBOR)}, where the
// CBOR (RFC 8949) is a map {"fmt": "apple", "attStmt": {"x5c": [leaf, intermediates...]}} whose
// x5c entries are DER certificates as CBOR byte strings (the WebAuthn attestation-object shape).
// Decoding uses nlohmann-json's CBOR reader behind a depth- and size-limited SAX pre-pass, so
// hostile input is an INVALID_ARGUMENT, never a crash or a deep recursion.
#ifndef CUSTOS_ATTEST_ATTESTATION_OBJECT_H_
#define CUSTOS_ATTEST_ATTESTATION_OBJECT_H_

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace custos::attest {

// Bounds on untrusted input.
inline constexpr size_t kMaxAttestationObjectBytes = 64 * 1024;  // CBOR
inline constexpr size_t kMaxAttestationPayloadBytes = 96 * 1024;  // JSON with base64url CBOR
inline constexpr size_t kMaxCborDepth = 8;

struct AttestationObject {
  std::string fmt;                  // "apple"
  std::vector<std::string> x5c;     // DER certificates, leaf first (non-empty)
};

// Decodes the CBOR attestation object. Errors (all INVALID_ARGUMENT, with a reason): larger than
// kMaxAttestationObjectBytes, not CBOR (or trailing bytes, tags, nesting deeper than
// kMaxCborDepth), not a map, fmt missing or not "apple", attStmt not a map, x5c missing, not an
// array, empty, longer than kMaxChainCertificates, or holding anything but non-empty byte strings
// of at most kMaxCertificateBytes. The certificates themselves are not parsed here.
StatusOr<AttestationObject> DecodeAttestationObject(std::string_view cbor);

// Decodes the device-attest-01 challenge response payload {"attObj": "<base64url CBOR>"}
// (other members are ignored). Errors: INVALID_ARGUMENT when the JSON is malformed or too large,
// attObj is missing, not a string or not base64url, and every error of DecodeAttestationObject.
StatusOr<AttestationObject> DecodeDeviceAttestPayload(std::string_view json_payload);

// Encodes an attestation object (the inverse of DecodeAttestationObject): for tests, fuzz seeds and
// the in-test ACME client.
std::string EncodeAttestationObject(const std::vector<std::string>& x5c_der,
                                    std::string_view fmt = "apple");
// {"attObj": base64url(EncodeAttestationObject(...))}.
std::string EncodeDeviceAttestPayload(const std::vector<std::string>& x5c_der);

// The attestation chain (DER, leaf first) from a file an operator hands to `custos inspect
// attestation`: PEM certificates (in file order), one or more concatenated DER certificates, a raw
// CBOR attestation object, the JSON payload, or the base64 / base64url text of a CBOR object or of
// DER certificates. Errors: INVALID_ARGUMENT naming the forms tried.
StatusOr<std::vector<std::string>> DecodeAttestationChainAnyForm(std::string_view data);

}  // namespace custos::attest

#endif  // CUSTOS_ATTEST_ATTESTATION_OBJECT_H_
