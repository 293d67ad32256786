#include "attest/attestation_object.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "attest/attestation.h"
#include "attest/testdata/fake_attestation.h"
#include "base/encoding.h"

namespace custos::attest {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

std::string Cbor(const json& j) {
  std::vector<uint8_t> v = json::to_cbor(j);
  return std::string(v.begin(), v.end());
}

json Bytes(std::string_view s) { return json::binary(std::vector<uint8_t>(s.begin(), s.end())); }

class AttestationObjectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    from_ = FromUnixSeconds(1767225600);  // 2026-01-01
    to_ = FromUnixSeconds(1782864000);    // 2026-07-01
    StatusOr<testing::FakeAttestationCa> ca = testing::MakeFakeAttestationCa(from_, to_);
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = std::move(ca).value();
    testing::FakeLeafSpec spec;
    spec.not_before = from_;
    spec.not_after = to_;
    spec.freshness_code = AcmeFreshnessCode("tok");
    StatusOr<testing::FakeLeaf> leaf = testing::IssueFakeLeaf(ca_, spec);
    ASSERT_TRUE(leaf.ok()) << leaf.status();
    chain_ = leaf->chain;
  }

  static Status Decode(std::string_view cbor) { return DecodeAttestationObject(cbor).status(); }

  Time from_, to_;
  testing::FakeAttestationCa ca_;
  std::vector<std::string> chain_;
};

TEST_F(AttestationObjectTest, RoundTripAndVerify) {
  std::string cbor = EncodeAttestationObject(chain_);
  StatusOr<AttestationObject> obj = DecodeAttestationObject(cbor);
  ASSERT_TRUE(obj.ok()) << obj.status();
  EXPECT_EQ(obj->fmt, "apple");
  EXPECT_EQ(obj->x5c, chain_);

  StatusOr<AttestationObject> from_payload =
      DecodeDeviceAttestPayload(EncodeDeviceAttestPayload(chain_));
  ASSERT_TRUE(from_payload.ok()) << from_payload.status();
  EXPECT_EQ(from_payload->x5c, chain_);

  AttestationVerifier::Options options;
  options.trust_apple_root = false;
  options.extra_roots_pem = {ca_.RootPem()};
  auto verifier = AttestationVerifier::Create(options);
  ASSERT_TRUE(verifier.ok());
  AttestationExpectations expected;
  expected.freshness = {FreshnessKind::kAcmeToken, "tok"};
  AttestationResult r =
      (*verifier)->VerifyAt(from_payload->x5c, expected, FromUnixSeconds(1770000000));
  EXPECT_TRUE(r.valid) << r.reason;
}

TEST(RealAttestationObjectTest, IndependentlyEncodedRealObjectDecodesAndVerifies) {
  std::ifstream in(std::string(CUSTOS_ATTEST_TESTDATA_DIR) + "/real_attobj.cbor", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  StatusOr<AttestationObject> obj = DecodeAttestationObject(ss.str());
  ASSERT_TRUE(obj.ok()) << obj.status();
  ASSERT_EQ(obj->x5c.size(), 2u);
  // Our encoder produces the same bytes as the independent one (both definite-length).
  EXPECT_EQ(EncodeAttestationObject(obj->x5c), ss.str());

  auto verifier = AttestationVerifier::Create({});
  ASSERT_TRUE(verifier.ok());
  AttestationExpectations expected;
  expected.serial_number = "TMWFWWWP67";
  AttestationResult r = (*verifier)->VerifyAt(obj->x5c, expected, FromUnixSeconds(1754049600));
  EXPECT_TRUE(r.valid) << r.reason;
  // An ACME token that is not the one the device saw fails on freshness.
  expected.freshness = {FreshnessKind::kAcmeToken, "not-the-token"};
  r = (*verifier)->VerifyAt(obj->x5c, expected, FromUnixSeconds(1754049600));
  EXPECT_EQ(r.failed_check, AttestationCheck::kFreshness);
}

TEST_F(AttestationObjectTest, ExtraMembersAreIgnored) {
  json obj = {{"fmt", "apple"},
              {"attStmt", {{"x5c", {Bytes(chain_[0])}}, {"alg", -7}}},
              {"authData", Bytes("xyz")}};
  StatusOr<AttestationObject> decoded = DecodeAttestationObject(Cbor(obj));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->x5c.size(), 1u);
}

TEST_F(AttestationObjectTest, MalformedObjectsAreInvalidArgument) {
  const json good_stmt = {{"x5c", {Bytes(chain_[0])}}};
  struct Case {
    std::string name;
    std::string cbor;
    std::string reason;
  };
  std::vector<Case> cases = {
      {"empty", "", "empty"},
      {"garbage", "\xff\xfe\xfd", "not valid CBOR"},
      {"truncated", EncodeAttestationObject(chain_).substr(0, 100), "not valid CBOR"},
      {"trailing", EncodeAttestationObject(chain_) + "x", "not valid CBOR"},
      {"array", Cbor(json::array({1, 2})), "not a CBOR map"},
      {"text", Cbor("apple"), "not a CBOR map"},
      {"no fmt", Cbor({{"attStmt", good_stmt}}), "\"fmt\" missing"},
      {"fmt int", Cbor({{"fmt", 1}, {"attStmt", good_stmt}}), "\"fmt\" is not a text string"},
      {"fmt packed", Cbor({{"fmt", "packed"}, {"attStmt", good_stmt}}), "unsupported \"fmt\""},
      {"no attStmt", Cbor({{"fmt", "apple"}}), "\"attStmt\" missing"},
      {"attStmt array", Cbor({{"fmt", "apple"}, {"attStmt", json::array()}}),
       "\"attStmt\" is not a map"},
      {"no x5c", Cbor({{"fmt", "apple"}, {"attStmt", json::object()}}),
       "\"attStmt.x5c\" missing"},
      {"x5c map", Cbor({{"fmt", "apple"}, {"attStmt", {{"x5c", json::object()}}}}),
       "\"attStmt.x5c\" is not an array"},
      {"x5c empty", Cbor({{"fmt", "apple"}, {"attStmt", {{"x5c", json::array()}}}}),
       "\"attStmt.x5c\" is empty"},
      {"x5c text", Cbor({{"fmt", "apple"}, {"attStmt", {{"x5c", {"MIIB..."}}}}}),
       "\"attStmt.x5c[0]\" is not a byte string"},
      {"x5c empty bytes",
       Cbor({{"fmt", "apple"}, {"attStmt", {{"x5c", {Bytes(chain_[0]), Bytes("")}}}}}),
       "\"attStmt.x5c[1]\" is empty"},
      {"x5c too long", EncodeAttestationObject(std::vector<std::string>(9, chain_[0])),
       "at most 8"},
      {"x5c huge cert",
       EncodeAttestationObject({std::string(kMaxCertificateBytes + 1, '\x30')}), "too large"},
      {"deep nesting", std::string(1000, '\x81') + std::string(1, '\x00'), "nested deeper"},
      {"deep maps", [] {
         std::string s;
         for (int i = 0; i < 20; ++i) s += "\xa1\x61k";
         return s + std::string(1, '\x00');
       }(), "nested deeper"},
      {"tag", std::string("\xc0\x61x"), "not valid CBOR"},
      {"huge declared array", std::string("\x9b\x7f\xff\xff\xff\xff\xff\xff\xff\x00", 10),
       "not valid CBOR"},
      {"huge declared bytes", std::string("\x5b\x7f\xff\xff\xff\xff\xff\xff\xff\x00", 10),
       "not valid CBOR"},
      {"too large", std::string(kMaxAttestationObjectBytes + 1, '\xa0'), "larger than"},
  };
  for (const Case& c : cases) {
    Status s = Decode(c.cbor);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.name;
    EXPECT_THAT(s.message(), HasSubstr(c.reason)) << c.name << ": " << s;
  }
}

TEST_F(AttestationObjectTest, MalformedPayloadsAreInvalidArgument) {
  std::string b64 = Base64UrlEncode(EncodeAttestationObject(chain_));
  struct Case {
    std::string payload;
    std::string reason;
  };
  std::vector<Case> cases = {
      {"", "not JSON"},
      {"{", "not JSON"},
      {"[]", "not a JSON object"},
      {"{}", "no \"attObj\""},
      {"{\"attObj\": 5}", "not a string"},
      {"{\"attObj\": \"ab+/\"}", "not base64url"},
      {"{\"attObj\": \"\"}", "empty"},
      {"{\"attObj\": \"" + Base64UrlEncode("\xa0") + "\"}", "\"fmt\" missing"},
      {std::string(kMaxAttestationPayloadBytes + 1, ' '), "too large"},
  };
  for (const Case& c : cases) {
    Status s = DecodeDeviceAttestPayload(c.payload).status();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.payload.substr(0, 40);
    EXPECT_THAT(s.message(), HasSubstr(c.reason)) << c.payload.substr(0, 40) << ": " << s;
  }
  // Padding is tolerated, and other members are ignored.
  EXPECT_TRUE(DecodeDeviceAttestPayload("{\"attObj\":\"" + b64 + "\",\"x\":1}").ok());
}

TEST_F(AttestationObjectTest, AnyFormFindsTheChain) {
  std::string cbor = EncodeAttestationObject(chain_);
  std::string pem = testing::DerToPem(chain_[0]) + testing::DerToPem(chain_[1]);
  std::vector<std::pair<std::string, std::string>> forms = {
      {"pem", pem},
      {"pem with text around", "chain:\n" + pem + "\n-- end\n"},
      {"der", chain_[0] + chain_[1]},
      {"cbor", cbor},
      {"base64url cbor", Base64UrlEncode(cbor) + "\n"},
      {"base64 cbor", Base64Encode(cbor)},
      {"base64 der", Base64Encode(chain_[0] + chain_[1])},
      {"payload", " " + EncodeDeviceAttestPayload(chain_) + "\n"},
  };
  for (const auto& [name, data] : forms) {
    StatusOr<std::vector<std::string>> chain = DecodeAttestationChainAnyForm(data);
    ASSERT_TRUE(chain.ok()) << name << ": " << chain.status();
    EXPECT_EQ(*chain, chain_) << name;
  }
  for (std::string bad : {std::string(""), std::string("hello world"),
                          std::string("-----BEGIN CERTIFICATE-----\nAAAA\n"),
                          std::string("\x30\x82\x01"), chain_[0] + "junk",
                          Base64Encode("plain text")}) {
    EXPECT_EQ(DecodeAttestationChainAnyForm(bad).status().code(), StatusCode::kInvalidArgument)
        << bad.substr(0, 20);
  }
}

}  // namespace
}  // namespace custos::attest
