#include "attest/attestation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <openssl/core_names.h>
#include <openssl/sha.h>

#include <fstream>

#include <nlohmann/json.hpp>
#include <sstream>

#include "attest/attestation_object.h"
#include "attest/testdata/fake_attestation.h"
#include "base/encoding.h"

namespace custos::attest {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::FakeAttestationCa;
using testing::FakeLeaf;
using testing::FakeLeafSpec;
using testing::IssueFakeLeaf;
using testing::MakeFakeAttestationCa;

std::string ReadTestdata(const std::string& name) {
  std::ifstream in(std::string(CUSTOS_ATTEST_TESTDATA_DIR) + "/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Time At(std::string_view rfc3339) {
  StatusOr<Time> t = ParseRfc3339(rfc3339);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.value_or(Time{});
}

std::string Unhex(std::string_view hex) {
  StatusOr<std::string> bytes = HexDecode(hex);
  EXPECT_TRUE(bytes.ok());
  return bytes.value_or("");
}

// The real chain from a Mac on macOS 15.5 (../shared/vectors/apple-attestation/).
std::vector<std::string> RealChain() {
  StatusOr<std::vector<std::string>> leaf =
      DecodeAttestationChainAnyForm(ReadTestdata("real_leaf_macos15.pem"));
  StatusOr<std::vector<std::string>> sub =
      DecodeAttestationChainAnyForm(ReadTestdata("apple_enterprise_attestation_sub_ca_1.pem"));
  EXPECT_TRUE(leaf.ok() && sub.ok());
  if (!leaf.ok() || !sub.ok()) return {};
  return {leaf->at(0), sub->at(0)};
}

// Read with `openssl asn1parse` from real_leaf_macos15.pem: 1.2.840.113635.100.8.11.1.
constexpr std::string_view kRealFreshnessHex =
    "9ff219c2831313c8190b63e9dd8f80aa0a4a9737a58daa931da8abde2f2d5d62";
constexpr std::string_view kRealInside = "2025-08-01T12:00:00Z";

std::unique_ptr<AttestationVerifier> AppleVerifier() {
  StatusOr<std::unique_ptr<AttestationVerifier>> v = AttestationVerifier::Create({});
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? std::move(v).value() : nullptr;
}

// ---- The bundled root ---------------------------------------------------------------------

TEST(AppleRootTest, BundledRootIsTheVectorAndMatchesItsFingerprint) {
  EXPECT_EQ(AppleEnterpriseAttestationRootPem(),
            ReadTestdata("apple_enterprise_attestation_root_ca.pem"));
  // From ../shared/vectors/README.md: "SHA-256 fingerprint CC:F5:9E:F8:...:F0:5B".
  EXPECT_EQ(AppleEnterpriseAttestationRootSha256Hex().substr(0, 8), "ccf59ef8");
  EXPECT_EQ(AppleEnterpriseAttestationRootSha256Hex().substr(60), "f05b");
  StatusOr<std::vector<std::string>> root =
      DecodeAttestationChainAnyForm(AppleEnterpriseAttestationRootPem());
  ASSERT_TRUE(root.ok());
  unsigned char md[32];
  SHA256(reinterpret_cast<const unsigned char*>(root->at(0).data()), root->at(0).size(), md);
  EXPECT_EQ(HexEncode(std::string_view(reinterpret_cast<char*>(md), 32)),
            AppleEnterpriseAttestationRootSha256Hex());
}

TEST(AttestationVerifierTest, CreateRefusesBadRootsAndNoRoots) {
  AttestationVerifier::Options garbage;
  garbage.extra_roots_pem = {"not a certificate"};
  EXPECT_EQ(AttestationVerifier::Create(garbage).status().code(), StatusCode::kInvalidArgument);
  AttestationVerifier::Options none;
  none.trust_apple_root = false;
  EXPECT_EQ(AttestationVerifier::Create(none).status().code(), StatusCode::kInvalidArgument);
}

// ---- The real leaf ------------------------------------------------------------------------

TEST(RealLeafTest, VerifiesInsideValidityAndReadsBackExactly) {
  auto verifier = AppleVerifier();
  ASSERT_NE(verifier, nullptr);
  AttestationResult r = verifier->VerifyAt(RealChain(), {}, At(kRealInside));
  EXPECT_TRUE(r.valid) << r.reason;
  EXPECT_EQ(r.failed_check, AttestationCheck::kNone);
  EXPECT_EQ(r.reason, "");
  ASSERT_TRUE(r.properties.has_value());
  const AttestationProperties& p = *r.properties;
  // Values as printed by `openssl x509 -text` / `openssl asn1parse` of real_leaf_macos15.pem.
  EXPECT_EQ(p.serial_number, "TMWFWWWP67");
  EXPECT_EQ(p.udid, "00006030-000651690A84001C");
  EXPECT_EQ(p.software_update_device_id, "J514sAP");
  EXPECT_EQ(p.os_version, "15.5");
  EXPECT_EQ(p.sepos_version, "15.5");
  EXPECT_EQ(p.llb_version, "15.5");
  EXPECT_EQ(p.freshness_code, Unhex(kRealFreshnessHex));
  EXPECT_EQ(p.sip_status, 0);          // 020100
  EXPECT_EQ(p.third_party_kexts, 0);   // 020100
  EXPECT_EQ(p.secure_boot, "Full Security");
  EXPECT_TRUE(p.unknown_extensions.empty());
  EXPECT_TRUE(p.extended_key_usages.empty());  // ACME leaves have no EKU
  EXPECT_EQ(p.leaf_serial_hex, "198084c7ebc");  // pki's SerialHex: no leading zeros
  EXPECT_EQ(p.leaf_subject,
            "ST=California,O=Apple Inc.,OU=AAA Certification,"
            "CN=f3999096be4f8b05a3441129b42aa2198bba5c398116509166cbf2ca15b0b1aa");
  EXPECT_EQ(FormatRfc3339(p.leaf_not_before), "2025-07-13T09:38:07Z");
  EXPECT_EQ(FormatRfc3339(p.leaf_not_after), "2025-10-12T09:38:07Z");
  // openssl x509 -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum
  EXPECT_EQ(HexEncode(p.leaf_key_sha256),
            "8f879ebba151359d13f34e9056c80fd71c3724431917db2d547bd34dbee4f9b4");
  EXPECT_EQ(p.leaf_spki_der.size(), 120u);  // P-384 SPKI
  EXPECT_TRUE(r.findings.empty());
}

TEST(RealLeafTest, ExpectationsThatHoldPass) {
  auto verifier = AppleVerifier();
  ASSERT_NE(verifier, nullptr);
  AttestationExpectations expected;
  expected.freshness = {FreshnessKind::kDeviceInformationNonce, Unhex(kRealFreshnessHex)};
  expected.serial_number = "TMWFWWWP67";
  expected.udid = "00006030-000651690A84001C";
  AttestationResult r = verifier->VerifyAt(RealChain(), expected, At(kRealInside));
  EXPECT_TRUE(r.valid) << r.reason;
}

TEST(RealLeafTest, WrongFreshnessFails) {
  auto verifier = AppleVerifier();
  ASSERT_NE(verifier, nullptr);
  AttestationExpectations nonce;
  nonce.freshness = {FreshnessKind::kDeviceInformationNonce, std::string(32, '\x42')};
  AttestationResult r = verifier->VerifyAt(RealChain(), nonce, At(kRealInside));
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(r.failed_check, AttestationCheck::kFreshness);
  EXPECT_EQ(r.reason, "freshness code does not match the nonce");

  AttestationExpectations token;
  token.freshness = {FreshnessKind::kAcmeToken, "some-other-token"};
  r = verifier->VerifyAt(RealChain(), token, At(kRealInside));
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(r.failed_check, AttestationCheck::kFreshness);
  EXPECT_EQ(r.reason, "freshness code does not match SHA-256 of the challenge token");
  // The properties are still there for the operator.
  ASSERT_TRUE(r.properties.has_value());
  EXPECT_EQ(r.properties->serial_number, "TMWFWWWP67");
}

TEST(RealLeafTest, WrongSerialOrUdidFails) {
  auto verifier = AppleVerifier();
  ASSERT_NE(verifier, nullptr);
  AttestationExpectations serial;
  serial.serial_number = "C02XXXXXXXXX";
  AttestationResult r = verifier->VerifyAt(RealChain(), serial, At(kRealInside));
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(r.failed_check, AttestationCheck::kSerial);
  EXPECT_EQ(r.reason,
            "serial number mismatch: attested \"TMWFWWWP67\", expected \"C02XXXXXXXXX\"");

  AttestationExpectations udid;
  udid.udid = "00006030-000000000000001C";
  r = verifier->VerifyAt(RealChain(), udid, At(kRealInside));
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(r.failed_check, AttestationCheck::kUdid);
  EXPECT_THAT(r.reason, HasSubstr("UDID mismatch"));
}

TEST(RealLeafTest, OutsideValidityIsInvalid) {
  auto verifier = AppleVerifier();
  ASSERT_NE(verifier, nullptr);
  AttestationResult after = verifier->VerifyAt(RealChain(), {}, At("2025-10-12T09:38:08Z"));
  EXPECT_FALSE(after.valid);
  EXPECT_EQ(after.failed_check, AttestationCheck::kChain);
  EXPECT_EQ(after.reason, "chain does not verify: certificate has expired (depth 0)");

  AttestationResult before = verifier->VerifyAt(RealChain(), {}, At("2025-07-13T09:38:06Z"));
  EXPECT_FALSE(before.valid);
  EXPECT_EQ(before.failed_check, AttestationCheck::kChain);
  EXPECT_EQ(before.reason, "chain does not verify: certificate is not yet valid (depth 0)");

  // notBefore itself is inside; OpenSSL counts the notAfter second itself as expired.
  EXPECT_TRUE(verifier->VerifyAt(RealChain(), {}, At("2025-07-13T09:38:07Z")).valid);
  EXPECT_TRUE(verifier->VerifyAt(RealChain(), {}, At("2025-10-12T09:38:06Z")).valid);
}

TEST(RealLeafTest, VerifyReadsTheInjectedClock) {
  FakeClock clock(At(kRealInside));
  AttestationVerifier::Options options;
  options.clock = &clock;
  auto verifier = AttestationVerifier::Create(options);
  ASSERT_TRUE(verifier.ok());
  EXPECT_TRUE((*verifier)->Verify(RealChain(), {}).valid);
  clock.Set(At("2026-01-01T00:00:00Z"));
  AttestationResult r = (*verifier)->Verify(RealChain(), {});
  EXPECT_FALSE(r.valid);
  EXPECT_THAT(r.reason, HasSubstr("expired"));
  EXPECT_EQ(FormatRfc3339(r.verified_at), "2026-01-01T00:00:00Z");
}

TEST(RealLeafTest, TamperedSignatureFails) {
  auto verifier = AppleVerifier();
  ASSERT_NE(verifier, nullptr);
  std::vector<std::string> chain = RealChain();
  ASSERT_EQ(chain.size(), 2u);
  chain[0][chain[0].size() - 5] ^= 0x01;  // inside the ECDSA signature's s
  AttestationResult r = verifier->VerifyAt(chain, {}, At(kRealInside));
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(r.failed_check, AttestationCheck::kChain);
  EXPECT_EQ(r.reason, "chain does not verify: certificate signature failure (depth 0)");
}

TEST(RealLeafTest, TamperedExtensionsFail) {
  auto verifier = AppleVerifier();
  ASSERT_NE(verifier, nullptr);
  const std::vector<std::string> good = RealChain();
  ASSERT_EQ(good.size(), 2u);
  // Offsets from `openssl asn1parse`: serial number value at 621.., freshness code at 688.., SIP
  // INTEGER value byte at 585.
  for (size_t offset : {622u, 688u, 585u}) {
    std::vector<std::string> chain = good;
    chain[0][offset] ^= 0x01;
    AttestationResult r = verifier->VerifyAt(chain, {}, At(kRealInside));
    EXPECT_FALSE(r.valid) << offset;
    EXPECT_EQ(r.failed_check, AttestationCheck::kChain) << offset;
    EXPECT_THAT(r.reason, HasSubstr("signature failure")) << offset;
  }
  // The serial tampering is visible in what was read, and would fail the serial check too.
  std::vector<std::string> chain = good;
  chain[0][622] ^= 0x01;  // 'M' -> 'L'
  AttestationExpectations serial;
  serial.serial_number = "TMWFWWWP67";
  AttestationResult r = verifier->VerifyAt(chain, serial, At(kRealInside));
  ASSERT_TRUE(r.properties.has_value());
  EXPECT_EQ(r.properties->serial_number, "TLWFWWWP67");
  EXPECT_EQ(r.failed_check, AttestationCheck::kChain);
  EXPECT_EQ(r.findings.size(), 2u);  // chain, then serial
}

TEST(RealLeafTest, TamperedIntermediateFails) {
  auto verifier = AppleVerifier();
  ASSERT_NE(verifier, nullptr);
  std::vector<std::string> chain = RealChain();
  chain[1][chain[1].size() - 5] ^= 0x01;
  AttestationResult r = verifier->VerifyAt(chain, {}, At(kRealInside));
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(r.failed_check, AttestationCheck::kChain);
  EXPECT_EQ(r.reason, "chain does not verify: certificate signature failure (depth 1)");
}

TEST(RealLeafTest, MissingIntermediateFails) {
  auto verifier = AppleVerifier();
  ASSERT_NE(verifier, nullptr);
  std::vector<std::string> chain = RealChain();
  chain.resize(1);
  AttestationResult r = verifier->VerifyAt(chain, {}, At(kRealInside));
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(r.failed_check, AttestationCheck::kChain);
  EXPECT_THAT(r.reason, HasSubstr("unable to get local issuer certificate"));
}

TEST(RealLeafTest, TrailingRootIsTolerated) {
  auto verifier = AppleVerifier();
  ASSERT_NE(verifier, nullptr);
  std::vector<std::string> chain = RealChain();
  StatusOr<std::vector<std::string>> root =
      DecodeAttestationChainAnyForm(AppleEnterpriseAttestationRootPem());
  ASSERT_TRUE(root.ok());
  chain.push_back(root->at(0));
  EXPECT_TRUE(verifier->VerifyAt(chain, {}, At(kRealInside)).valid);
}

TEST(RealLeafTest, ChainToAnotherRootFails) {
  // A verifier that trusts only a fake root refuses the real chain...
  StatusOr<FakeAttestationCa> ca =
      MakeFakeAttestationCa(At("2025-01-01T00:00:00Z"), At("2030-01-01T00:00:00Z"));
  ASSERT_TRUE(ca.ok()) << ca.status();
  AttestationVerifier::Options options;
  options.trust_apple_root = false;
  options.extra_roots_pem = {ca->RootPem()};
  auto fake_only = AttestationVerifier::Create(options);
  ASSERT_TRUE(fake_only.ok()) << fake_only.status();
  AttestationResult r = (*fake_only)->VerifyAt(RealChain(), {}, At(kRealInside));
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(r.failed_check, AttestationCheck::kChain);

  // ... and the Apple verifier refuses a fake chain, even one that brings its own root.
  FakeLeafSpec spec;
  spec.not_before = At("2025-01-01T00:00:00Z");
  spec.not_after = At("2030-01-01T00:00:00Z");
  StatusOr<FakeLeaf> leaf = IssueFakeLeaf(*ca, spec);
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  std::vector<std::string> chain = leaf->chain;
  chain.push_back(ca->RootDer());
  auto verifier = AppleVerifier();
  ASSERT_NE(verifier, nullptr);
  r = verifier->VerifyAt(chain, {}, At(kRealInside));
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(r.failed_check, AttestationCheck::kChain);
  EXPECT_THAT(r.reason, HasSubstr("self-signed certificate in certificate chain"));
}

// ---- Generated leaves ---------------------------------------------------------------------

class GeneratedLeafTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StatusOr<FakeAttestationCa> ca = MakeFakeAttestationCa(from_, to_);
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = std::move(ca).value();
    AttestationVerifier::Options options;
    options.clock = &clock_;
    options.extra_roots_pem = {ca_.RootPem()};
    auto v = AttestationVerifier::Create(options);
    ASSERT_TRUE(v.ok()) << v.status();
    verifier_ = std::move(v).value();
  }

  FakeLeafSpec Spec() {
    FakeLeafSpec spec;
    spec.not_before = from_;
    spec.not_after = to_;
    return spec;
  }

  FakeLeaf Issue(const FakeLeafSpec& spec) {
    StatusOr<FakeLeaf> leaf = IssueFakeLeaf(ca_, spec);
    EXPECT_TRUE(leaf.ok()) << leaf.status();
    return leaf.ok() ? std::move(leaf).value() : FakeLeaf{};
  }

  Time from_ = At("2026-01-01T00:00:00Z");
  Time to_ = At("2026-04-01T00:00:00Z");
  FakeClock clock_{At("2026-02-01T00:00:00Z")};
  FakeAttestationCa ca_;
  std::unique_ptr<AttestationVerifier> verifier_;
};

TEST_F(GeneratedLeafTest, EveryPropertyRoundTrips) {
  FakeLeafSpec spec = Spec();
  spec.serial_number = "C02ABCDEF123";
  spec.udid = "00008103-000A1B2C3D4E5F60";
  spec.software_update_device_id = "J413AP";
  spec.os_version = "26.1";
  spec.sepos_version = "26.1.1";
  spec.llb_version = "13822.41.1";
  spec.freshness_code = AcmeFreshnessCode("token-123");
  spec.sip_status = 0x77;
  spec.secure_boot = "Reduced Security";
  spec.third_party_kexts = 1;
  spec.extra_extensions = {{"1.2.840.113635.100.8.99.7", std::string("\x00\xff\x10", 3)}};
  FakeLeaf leaf = Issue(spec);

  AttestationExpectations expected;
  expected.freshness = {FreshnessKind::kAcmeToken, "token-123"};
  expected.serial_number = "C02ABCDEF123";
  expected.udid = "00008103-000A1B2C3D4E5F60";
  AttestationResult r = verifier_->Verify(leaf.chain, expected);
  ASSERT_TRUE(r.valid) << r.reason;
  const AttestationProperties& p = *r.properties;
  EXPECT_EQ(p.serial_number, spec.serial_number);
  EXPECT_EQ(p.udid, spec.udid);
  EXPECT_EQ(p.software_update_device_id, spec.software_update_device_id);
  EXPECT_EQ(p.os_version, spec.os_version);
  EXPECT_EQ(p.sepos_version, spec.sepos_version);
  EXPECT_EQ(p.llb_version, spec.llb_version);
  EXPECT_EQ(p.freshness_code, spec.freshness_code);
  EXPECT_EQ(p.sip_status, 0x77);
  EXPECT_EQ(p.secure_boot, "Reduced Security");
  EXPECT_EQ(p.third_party_kexts, 1);
  ASSERT_EQ(p.unknown_extensions.size(), 1u);
  EXPECT_EQ(p.unknown_extensions[0].oid, "1.2.840.113635.100.8.99.7");
  EXPECT_EQ(p.unknown_extensions[0].value_hex, "00ff10");
  EXPECT_FALSE(p.unknown_extensions[0].critical);
  EXPECT_THAT(r.findings,
              ElementsAre("note: unknown extension 1.2.840.113635.100.8.99.7 kept"));
  EXPECT_EQ(FormatRfc3339(p.leaf_not_before), "2026-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(p.leaf_not_after), "2026-04-01T00:00:00Z");

  // The exposed key is the leaf's key.
  int len = i2d_PUBKEY(leaf.key.get(), nullptr);
  ASSERT_GT(len, 0);
  std::string spki(static_cast<size_t>(len), '\0');
  unsigned char* out = reinterpret_cast<unsigned char*>(spki.data());
  i2d_PUBKEY(leaf.key.get(), &out);
  EXPECT_EQ(p.leaf_spki_der, spki);
  EXPECT_EQ(SamePublicKey(p.leaf_spki_der, spki).value_or(false), true);
}

TEST_F(GeneratedLeafTest, AcmeFreshnessMissingFails) {
  FakeLeafSpec spec = Spec();
  spec.freshness_code.reset();
  FakeLeaf leaf = Issue(spec);
  AttestationExpectations expected;
  expected.freshness = {FreshnessKind::kAcmeToken, "token-123"};
  AttestationResult r = verifier_->Verify(leaf.chain, expected);
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(r.failed_check, AttestationCheck::kFreshness);
  EXPECT_EQ(r.reason, "freshness extension missing");
  // Without an expectation the same leaf is fine (inspection).
  EXPECT_TRUE(verifier_->Verify(leaf.chain, {}).valid);
}

TEST_F(GeneratedLeafTest, DeviceInformationNonceIsComparedVerbatim) {
  FakeLeafSpec spec = Spec();
  spec.freshness_code = std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8);
  spec.device_information_eku = true;
  FakeLeaf leaf = Issue(spec);

  AttestationExpectations expected;
  expected.freshness = {FreshnessKind::kDeviceInformationNonce, *spec.freshness_code};
  AttestationResult r = verifier_->Verify(leaf.chain, expected);
  EXPECT_TRUE(r.valid) << r.reason;
  // DeviceInformation leaves carry the attestation EKU and still verify (no X.509 purpose).
  EXPECT_THAT(r.properties->extended_key_usages, ElementsAre(std::string(kOidDeviceAttestationEku)));

  // The SHA-256 form is not accepted for a nonce, nor the nonce for a token.
  expected.freshness = {FreshnessKind::kDeviceInformationNonce,
                        AcmeFreshnessCode(*spec.freshness_code)};
  EXPECT_EQ(verifier_->Verify(leaf.chain, expected).failed_check, AttestationCheck::kFreshness);
  expected.freshness = {FreshnessKind::kAcmeToken, *spec.freshness_code};
  EXPECT_EQ(verifier_->Verify(leaf.chain, expected).failed_check, AttestationCheck::kFreshness);

  // A nonce longer than 32 bytes (or empty) is refused as such.
  expected.freshness = {FreshnessKind::kDeviceInformationNonce, std::string(33, 'x')};
  r = verifier_->Verify(leaf.chain, expected);
  EXPECT_EQ(r.failed_check, AttestationCheck::kFreshness);
  EXPECT_THAT(r.reason, HasSubstr("1 to 32 bytes"));
  expected.freshness = {FreshnessKind::kDeviceInformationNonce, ""};
  EXPECT_EQ(verifier_->Verify(leaf.chain, expected).failed_check, AttestationCheck::kFreshness);

  // Missing extension with a nonce expectation.
  spec.freshness_code.reset();
  FakeLeaf stale = Issue(spec);
  expected.freshness = {FreshnessKind::kDeviceInformationNonce, "12345678"};
  r = verifier_->Verify(stale.chain, expected);
  EXPECT_EQ(r.reason, "freshness extension missing");
}

TEST_F(GeneratedLeafTest, MissingIdentifiersFailWhenExpected) {
  FakeLeafSpec spec = Spec();
  spec.serial_number.reset();
  spec.udid.reset();
  FakeLeaf leaf = Issue(spec);
  AttestationExpectations serial;
  serial.serial_number = "C02FAKE0001";
  AttestationResult r = verifier_->Verify(leaf.chain, serial);
  EXPECT_EQ(r.failed_check, AttestationCheck::kSerial);
  EXPECT_EQ(r.reason, "serial number extension missing");
  AttestationExpectations udid;
  udid.udid = "00008030-001A2B3C4D5E6F70";
  r = verifier_->Verify(leaf.chain, udid);
  EXPECT_EQ(r.failed_check, AttestationCheck::kUdid);
  EXPECT_EQ(r.reason, "UDID extension missing");
}

TEST_F(GeneratedLeafTest, ChecksRunInOrderAndAllAreReported) {
  FakeLeafSpec spec = Spec();
  spec.freshness_code.reset();
  FakeLeaf leaf = Issue(spec);
  clock_.Set(At("2027-01-01T00:00:00Z"));  // expired
  AttestationExpectations expected;
  expected.freshness = {FreshnessKind::kAcmeToken, "t"};
  expected.serial_number = "other";
  expected.udid = "other";
  AttestationResult r = verifier_->Verify(leaf.chain, expected);
  EXPECT_EQ(r.failed_check, AttestationCheck::kChain);
  EXPECT_EQ(r.reason, "chain does not verify: certificate has expired (depth 0)");
  // Every expired certificate of the path, then the other checks in order.
  EXPECT_THAT(r.findings,
              ElementsAre("chain does not verify: certificate has expired (depth 0)",
                          "chain does not verify: certificate has expired (depth 1)",
                          "chain does not verify: certificate has expired (depth 2)",
                          "freshness extension missing", HasSubstr("serial number mismatch"),
                          HasSubstr("UDID mismatch")));
}

TEST_F(GeneratedLeafTest, MalformedKnownValuesAreFindingsNotFatal) {
  FakeLeafSpec spec = Spec();
  spec.sip_status.reset();
  spec.third_party_kexts.reset();
  spec.os_version = std::string("15\x01", 3);
  spec.extra_extensions = {{std::string(kOidSipStatus), "abc"},
                           {std::string(kOidThirdPartyKexts), std::string("\x02\x01\x00\x00", 4)}};
  FakeLeaf leaf = Issue(spec);
  AttestationResult r = verifier_->Verify(leaf.chain, {});
  EXPECT_TRUE(r.valid) << r.reason;
  EXPECT_FALSE(r.properties->sip_status.has_value());
  EXPECT_FALSE(r.properties->third_party_kexts.has_value());
  EXPECT_EQ(r.properties->os_version, std::string("15\x01", 3));
  EXPECT_THAT(r.findings,
              ElementsAre("note: OS version (1.2.840.113635.100.8.10.1) is not printable ASCII",
                          "note: SIP status (1.2.840.113635.100.8.13.1) is not a DER INTEGER: "
                          "616263",
                          "note: third-party kexts (1.2.840.113635.100.8.13.3) is not a DER "
                          "INTEGER: 02010000"));
}

TEST_F(GeneratedLeafTest, DuplicateKnownExtensionKeepsTheFirst) {
  FakeLeafSpec spec = Spec();
  spec.extra_extensions = {{std::string(kOidSerialNumber), "SECOND"}};
  FakeLeaf leaf = Issue(spec);
  AttestationResult r = verifier_->Verify(leaf.chain, {});
  EXPECT_EQ(r.properties->serial_number, "C02FAKE0001");
  EXPECT_THAT(r.findings, ElementsAre(HasSubstr("duplicate serial number extension")));
}

TEST_F(GeneratedLeafTest, CaLeafIsRefused) {
  FakeLeafSpec spec = Spec();
  spec.is_ca = true;
  FakeLeaf leaf = Issue(spec);
  AttestationResult r = verifier_->Verify(leaf.chain, {});
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(r.reason, "chain does not verify: the leaf is a CA certificate");
  // The trust anchor itself is not an attestation either.
  r = verifier_->Verify({ca_.RootDer()}, {});
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(r.failed_check, AttestationCheck::kChain);
}

TEST_F(GeneratedLeafTest, BadInputIsRefusedAsInput) {
  AttestationResult r = verifier_->Verify({}, {});
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(r.failed_check, AttestationCheck::kInput);
  EXPECT_EQ(r.reason, "input: empty certificate chain");
  EXPECT_FALSE(r.properties.has_value());

  r = verifier_->Verify({"\x30\x03\x02\x01\x00"}, {});
  EXPECT_EQ(r.failed_check, AttestationCheck::kInput);
  EXPECT_THAT(r.reason, HasSubstr("input: certificate #0"));

  FakeLeaf leaf = Issue(Spec());
  r = verifier_->Verify({leaf.der + "x"}, {});
  EXPECT_EQ(r.reason, "input: certificate #0: trailing bytes after DER certificate");

  r = verifier_->Verify(std::vector<std::string>(kMaxChainCertificates + 1, leaf.der), {});
  EXPECT_EQ(r.failed_check, AttestationCheck::kInput);
  EXPECT_THAT(r.reason, HasSubstr("at most 8"));

  r = verifier_->Verify({std::string(kMaxCertificateBytes + 1, '\x30')}, {});
  EXPECT_EQ(r.failed_check, AttestationCheck::kInput);
  EXPECT_THAT(r.reason, HasSubstr("larger than"));
}

TEST_F(GeneratedLeafTest, SamePublicKeyComparesKeysNotEncodings) {
  FakeLeaf leaf = Issue(Spec());
  FakeLeaf other = Issue(Spec());
  AttestationResult r = verifier_->Verify(leaf.chain, {});
  AttestationResult o = verifier_->Verify(other.chain, {});
  ASSERT_TRUE(r.valid && o.valid);
  EXPECT_EQ(SamePublicKey(r.properties->leaf_spki_der, o.properties->leaf_spki_der).value_or(true),
            false);

  // The same key with a compressed EC point is the same key.
  EvpPkeyPtr copy(EVP_PKEY_dup(leaf.key.get()));
  ASSERT_NE(copy, nullptr);
  ASSERT_EQ(EVP_PKEY_set_utf8_string_param(copy.get(), OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                           "compressed"),
            1);
  int len = i2d_PUBKEY(copy.get(), nullptr);
  ASSERT_GT(len, 0);
  std::string compressed(static_cast<size_t>(len), '\0');
  unsigned char* out = reinterpret_cast<unsigned char*>(compressed.data());
  i2d_PUBKEY(copy.get(), &out);
  EXPECT_NE(compressed, r.properties->leaf_spki_der);
  EXPECT_EQ(SamePublicKey(compressed, r.properties->leaf_spki_der).value_or(false), true);

  EXPECT_EQ(SamePublicKey("junk", r.properties->leaf_spki_der).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(ExtractTest, ExtractWithoutVerification) {
  std::vector<std::string> chain = RealChain();
  ASSERT_EQ(chain.size(), 2u);
  std::vector<std::string> findings;
  StatusOr<AttestationProperties> p = ExtractAttestationProperties(chain[0], &findings);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->udid, "00006030-000651690A84001C");
  // The intermediate has no attestation properties.
  p = ExtractAttestationProperties(chain[1], nullptr);
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->serial_number.has_value());
  EXPECT_FALSE(p->freshness_code.has_value());
  EXPECT_EQ(ExtractAttestationProperties(std::string_view("junk"), nullptr).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(EscapeTest, EscapesAndCuts) {
  EXPECT_EQ(EscapeNonPrintable("ab\x01\\c"), "ab\\x01\\x5cc");
  EXPECT_EQ(EscapeNonPrintable("abcdef", 3), "abc...");
  EXPECT_EQ(AttestationCheckName(AttestationCheck::kFreshness), "freshness");
}

TEST(PutAttestedPropertiesTest, SetsPresentPropertiesWithTextEscaped) {
  AttestationProperties p;
  p.serial_number = "C02FAKE0001";
  p.os_version = std::string("17.1\xff", 5);  // not UTF-8: escaped, so the JSON stays valid
  p.sip_status = 0;
  p.third_party_kexts = 1;
  nlohmann::json out = {{"kept", true}};
  PutAttestedProperties(p, out);
  EXPECT_EQ(out, (nlohmann::json{{"kept", true},
                                 {"serial_number", "C02FAKE0001"},
                                 {"os_version", "17.1\\xff"},
                                 {"sip_status", 0},
                                 {"third_party_kexts", 1}}));
  EXPECT_NO_THROW((void)out.dump());
}

}  // namespace
}  // namespace custos::attest
