// Apple Managed Device Attestation: the one verifier custos uses for the attestation chain of an
// ACME device-attest-01 challenge and for the DevicePropertiesAttestation of a DeviceInformation
// answer.
//
// Follows Apple's "Managed Device Attestation" (WWDC22 / Apple Platform Deployment) and the
// device-attest-01 ACME draft (draft-acme-device-attest): the chain (leaf first) must verify to
// the Apple Enterprise Attestation Root CA, with no X.509 purpose (ACME leaves carry no EKU,
// DeviceInformation leaves carry EKU 1.2.840.113635.100.4.24). The leaf's Apple extensions
// (1.2.840.113635.100.8.*) carry the attested facts with these real encodings (see
// ../shared/vectors/README.md): serial (9.1), UDID (9.2), SoftwareUpdateDeviceID (9.4), OS / sepOS
// / LLB versions (10.1 / 10.2 / 10.3) and Secure Boot (13.2) as raw ASCII, without an inner DER
// tag; the freshness code (11.1) as raw bytes; SIP (13.1) and third-party kexts (13.3) as DER
// INTEGERs. For ACME the freshness code is SHA-256(challenge token) and must be present; for
// DeviceInformation it is the nonce itself (at most 32 bytes).
//
// A verdict is data, not an error: Verify() always returns an AttestationResult whose `reason`
// names the first check that failed, and whose `findings` list every failed check and every
// oddity (unknown extensions, malformed values) so an operator sees why a device was refused.
#ifndef CUSTOS_ATTEST_ATTESTATION_H_
#define CUSTOS_ATTEST_ATTESTATION_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "base/openssl_util.h"
#include "base/status.h"
#include "base/time.h"

namespace custos::attest {

// Object identifiers of the attestation extensions, dotted.
inline constexpr std::string_view kOidSerialNumber = "1.2.840.113635.100.8.9.1";
inline constexpr std::string_view kOidUdid = "1.2.840.113635.100.8.9.2";
inline constexpr std::string_view kOidSoftwareUpdateDeviceId = "1.2.840.113635.100.8.9.4";
inline constexpr std::string_view kOidOsVersion = "1.2.840.113635.100.8.10.1";
inline constexpr std::string_view kOidSepOsVersion = "1.2.840.113635.100.8.10.2";
inline constexpr std::string_view kOidLlbVersion = "1.2.840.113635.100.8.10.3";
inline constexpr std::string_view kOidFreshnessCode = "1.2.840.113635.100.8.11.1";
inline constexpr std::string_view kOidSipStatus = "1.2.840.113635.100.8.13.1";
inline constexpr std::string_view kOidSecureBoot = "1.2.840.113635.100.8.13.2";
inline constexpr std::string_view kOidThirdPartyKexts = "1.2.840.113635.100.8.13.3";
// EKU of leaves that answer DeviceInformation DevicePropertiesAttestation.
inline constexpr std::string_view kOidDeviceAttestationEku = "1.2.840.113635.100.4.24";
// Prefix of every Apple OID; unknown extensions under it are kept, not fatal.
inline constexpr std::string_view kOidAppleArc = "1.2.840.113635.";

// Input bounds: a real chain is 2 certificates of about 1 KiB each.
inline constexpr size_t kMaxChainCertificates = 8;
inline constexpr size_t kMaxCertificateBytes = 16 * 1024;
// DeviceInformation's DeviceAttestationNonce is at most 32 bytes (Apple MDM spec).
inline constexpr size_t kMaxDeviceInformationNonceBytes = 32;

// The bundled Apple Enterprise Attestation Root CA (PEM), and its pinned SHA-256 fingerprint
// (lowercase hex of the DER).
std::string_view AppleEnterpriseAttestationRootPem();
std::string_view AppleEnterpriseAttestationRootSha256Hex();

// An attestation extension custos does not decode, kept for the record.
struct UnknownExtension {
  std::string oid;        // dotted
  std::string value_hex;  // the extnValue contents, lowercase hex
  bool critical = false;
};

// Everything read from the leaf. Absent extensions are nullopt; values are exactly the bytes the
// certificate holds (the ASCII ones are checked to be printable; see `findings`).
struct AttestationProperties {
  std::optional<std::string> serial_number;              // 8.9.1
  std::optional<std::string> udid;                       // 8.9.2
  std::optional<std::string> software_update_device_id;  // 8.9.4
  std::optional<std::string> os_version;                 // 8.10.1
  std::optional<std::string> sepos_version;              // 8.10.2
  std::optional<std::string> llb_version;                // 8.10.3
  std::optional<std::string> freshness_code;             // 8.11.1, raw bytes
  std::optional<int64_t> sip_status;                     // 8.13.1, DER INTEGER
  std::optional<std::string> secure_boot;                // 8.13.2
  std::optional<int64_t> third_party_kexts;              // 8.13.3, DER INTEGER
  std::vector<UnknownExtension> unknown_extensions;
  std::vector<std::string> extended_key_usages;  // dotted OIDs; empty when the leaf has no EKU

  // The leaf itself.
  std::string leaf_subject;     // RFC 2253 one-line form
  std::string leaf_serial_hex;  // certificate serial, lowercase hex
  Time leaf_not_before{};
  Time leaf_not_after{};
  std::string leaf_spki_der;     // SubjectPublicKeyInfo, DER: the attested key
  std::string leaf_key_sha256;   // SHA-256 of leaf_spki_der, raw 32 bytes
};

// Which freshness the caller expects the leaf's freshness code (8.11.1) to prove.
enum class FreshnessKind {
  kNone,                     // not checked (inspection only)
  kAcmeToken,                // ACME device-attest-01: code == SHA-256(token); must be present
  kDeviceInformationNonce,   // DeviceInformation: code == the nonce bytes (<= 32); must be present
};

struct ExpectedFreshness {
  FreshnessKind kind = FreshnessKind::kNone;
  // kAcmeToken: the challenge token exactly as sent to the client (its ASCII text).
  // kDeviceInformationNonce: the raw nonce bytes sent in DeviceAttestationNonce.
  std::string value;
};

struct AttestationExpectations {
  ExpectedFreshness freshness;
  std::optional<std::string> serial_number;  // when set, 8.9.1 must be present and equal
  std::optional<std::string> udid;           // when set, 8.9.2 must be present and equal
};

// The checks, in the order they run; the first one that fails is the verdict's reason.
enum class AttestationCheck {
  kNone,       // all passed
  kInput,      // the chain is empty, too long, or a certificate does not parse
  kChain,      // the chain does not verify to a trusted root at the verification time
  kFreshness,  // freshness code missing or not equal to what was expected
  kSerial,     // attested serial missing or not the expected one
  kUdid,       // attested UDID missing or not the expected one
};

// "input", "chain", "freshness", "serial", "udid" ("none" for kNone).
std::string_view AttestationCheckName(AttestationCheck check);

struct AttestationResult {
  bool valid = false;
  AttestationCheck failed_check = AttestationCheck::kInput;
  // Names the failed check, e.g. "chain: certificate has expired (depth 0)", "freshness extension
  // missing". Empty when valid.
  std::string reason;
  // Set whenever the leaf parsed, even when the verdict is invalid (an operator wants to see what
  // a refused device claims). Do not trust these values unless `valid`.
  std::optional<AttestationProperties> properties;
  // Every failed check and every oddity, in order; informational entries start with "note: ".
  std::vector<std::string> findings;
  Time verified_at{};
};

// Verifies attestation chains. Immutable after Create(); Verify() is thread-safe.
class AttestationVerifier {
 public:
  struct Options {
    // The clock Verify() reads. nullptr means Clock::Real().
    Clock* clock = nullptr;
    // Trust the bundled Apple Enterprise Attestation Root CA. Only tests turn this off.
    bool trust_apple_root = true;
    // Extra trust anchors, PEM (one or more certificates each). Only from explicit configuration
    // ([acme] extra_attestation_roots) or the CLI's --root, for tests.
    std::vector<std::string> extra_roots_pem;
  };

  // Errors: INVALID_ARGUMENT when an extra root does not parse or no root at all is trusted;
  // INTERNAL when the bundled root does not match its pinned fingerprint.
  static StatusOr<std::unique_ptr<AttestationVerifier>> Create(Options options);

  ~AttestationVerifier();
  AttestationVerifier(const AttestationVerifier&) = delete;
  AttestationVerifier& operator=(const AttestationVerifier&) = delete;

  // Verifies `chain_der` (leaf first, then intermediates; a trailing root is tolerated) at the
  // clock's current time, then checks `expected`. Never fails: refusals are in the result.
  AttestationResult Verify(const std::vector<std::string>& chain_der,
                           const AttestationExpectations& expected) const;
  // The same at an explicit time (the CLI's --at, tests).
  AttestationResult VerifyAt(const std::vector<std::string>& chain_der,
                             const AttestationExpectations& expected, Time at) const;

 private:
  AttestationVerifier(Clock* clock, std::vector<X509Ptr> roots);

  Clock* clock_;
  const std::vector<X509Ptr> roots_;  // trust anchors; read-only after Create()
};

// Parses one DER certificate (the whole input must be one certificate). INVALID_ARGUMENT otherwise.
StatusOr<X509Ptr> ParseDerCertificate(std::string_view der);

// Reads every known property of an attestation leaf without verifying anything. Malformed values
// of known extensions are not errors: they are left unset and described in `findings` (may be
// nullptr). Errors: INVALID_ARGUMENT for no leaf or a public key OpenSSL cannot re-encode.
StatusOr<AttestationProperties> ExtractAttestationProperties(X509* leaf,
                                                             std::vector<std::string>* findings);
StatusOr<AttestationProperties> ExtractAttestationProperties(std::string_view leaf_der,
                                                             std::vector<std::string>* findings);

// `s` for messages, logs and the CLI: printable ASCII as-is, every other byte and '\' as \xNN;
// cut after `max_chars` output characters with "..." (0: no limit).
std::string EscapeNonPrintable(std::string_view s, size_t max_chars = 0);

// Sets in `out` each attested device property `p` has: serial_number, udid,
// software_update_device_id, os_version, sepos_version, llb_version, sip_status, secure_boot,
// third_party_kexts (what ACME records on an authorization and posture shows). Strings are
// device-controlled bytes: they go in escaped (EscapeNonPrintable, at most 256 characters), so
// the JSON is always valid UTF-8.
void PutAttestedProperties(const AttestationProperties& p, nlohmann::json& out);

// SHA-256 of an ACME challenge token's text: the freshness code Apple puts in the leaf.
std::string AcmeFreshnessCode(std::string_view token);

// True when two SubjectPublicKeyInfo DER blobs hold the same public key (pki's PublicKeysEqual, so
// an EC point in compressed and uncompressed form compares equal). ACME uses it at finalize: the CSR's
// key must be the attested leaf key. INVALID_ARGUMENT when either does not parse.
StatusOr<bool> SamePublicKey(std::string_view spki_der_a, std::string_view spki_der_b);

}  // namespace custos::attest

#endif  // CUSTOS_ATTEST_ATTESTATION_H_
