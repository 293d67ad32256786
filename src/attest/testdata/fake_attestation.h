// Test-only generator of Apple-like attestation PKI: a fake "Enterprise Attestation" root, an
// intermediate, and leaves that carry the attestation extensions with Apple's real encodings
// (raw ASCII values without an inner DER tag, raw freshness bytes, DER INTEGER SIP and kext
// flags; see ../shared/vectors/README.md, "Managed Device Attestation"). Built with OpenSSL at test
// time so no generated fixture goes stale. Used by the attest tests, by the ACME tests (a full
// device-attest-01 flow with a fake root configured) and by attest_make_testdata (fuzz seeds).
//
// Never link this into the server: its keys are throw-away and its certificates are fakes.
#ifndef CUSTOS_ATTEST_TESTDATA_FAKE_ATTESTATION_H_
#define CUSTOS_ATTEST_TESTDATA_FAKE_ATTESTATION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/openssl_util.h"
#include "base/status.h"
#include "base/time.h"

namespace custos::attest::testing {

// A fake root and intermediate, P-384 / ECDSA-SHA384 like Apple's.
struct FakeAttestationCa {
  EvpPkeyPtr root_key;
  X509Ptr root;
  EvpPkeyPtr intermediate_key;
  X509Ptr intermediate;

  std::string RootPem() const;
  std::string RootDer() const;
  std::string IntermediateDer() const;
};

// Root and intermediate valid from `not_before` to `not_after`. `root_name` lets a test make a
// second, unrelated root with the same shape.
StatusOr<FakeAttestationCa> MakeFakeAttestationCa(
    Time not_before, Time not_after,
    const std::string& root_name = "Fake Enterprise Attestation Root CA");

// What a fake leaf carries. Unset optionals are left out of the certificate.
struct FakeLeafSpec {
  Time not_before{};
  Time not_after{};
  std::optional<std::string> serial_number = "C02FAKE0001";
  std::optional<std::string> udid = "00008030-001A2B3C4D5E6F70";
  std::optional<std::string> software_update_device_id = "J314sAP";
  std::optional<std::string> os_version = "15.5";
  std::optional<std::string> sepos_version = "15.5";
  std::optional<std::string> llb_version = "11881.121.1";
  std::optional<std::string> freshness_code;  // raw bytes
  std::optional<int64_t> sip_status = 0;
  std::optional<std::string> secure_boot = "Full Security";
  std::optional<int64_t> third_party_kexts = 0;
  // Extra extensions as (dotted OID, raw extnValue contents).
  std::vector<std::pair<std::string, std::string>> extra_extensions;
  // Adds EKU 1.2.840.113635.100.4.24, as DeviceInformation leaves have.
  bool device_information_eku = false;
  // Makes the leaf a CA (basicConstraints CA:TRUE) instead of an end entity.
  bool is_ca = false;
  // The leaf's key; a fresh P-384 key when null (the spec does not own it).
  EVP_PKEY* key = nullptr;
};

struct FakeLeaf {
  EvpPkeyPtr key;  // set only when the generator made the key
  X509Ptr cert;
  std::string der;
  // {leaf, intermediate} as DER: what a device sends in x5c.
  std::vector<std::string> chain;
};

StatusOr<FakeLeaf> IssueFakeLeaf(const FakeAttestationCa& ca, const FakeLeafSpec& spec);

// PEM of a DER certificate.
std::string DerToPem(const std::string& der);

}  // namespace custos::attest::testing

#endif  // CUSTOS_ATTEST_TESTDATA_FAKE_ATTESTATION_H_
