#include "scep/inspect.h"

#include <gtest/gtest.h>

#include <map>

#include "base/random.h"
#include "scep/message.h"
#include "scep/testing.h"

namespace custos::scep {
namespace {

std::map<std::string, std::string> AsMap(const Inspection& i) {
  std::map<std::string, std::string> m;
  for (const auto& [k, v] : i.fields) m.emplace(k, v);
  return m;
}

TEST(InspectScepTest, RealCaptureWithoutKeys) {
  std::string der = testing::ReadFileOrDie(testing::RealPkcsReqPath());
  Inspection i = InspectPkiOperation(der, {}, false);
  auto m = AsMap(i);
  EXPECT_TRUE(i.decoded_ok);
  EXPECT_TRUE(i.signature_valid);
  EXPECT_EQ(m["message_type"], "PKCSReq (19)");
  EXPECT_EQ(m["transaction_id"], "A13090761A30F66664F85D37433D2065E1112BA1");
  EXPECT_EQ(m["sender_nonce"], "ae7fe8816cc6bedd");
  EXPECT_EQ(m["digest"], "sha1");
  EXPECT_EQ(m["encryption"], "DES-EDE3-CBC");
  EXPECT_EQ(m["signer"], "C=US,CN=MDM SCEP SIGNER");
  EXPECT_EQ(m["signer_self_signed"], "yes");
  EXPECT_EQ(m["signer_not_before"], "2016-05-31T11:30:13Z");
  EXPECT_EQ(m["signer_not_after"], "2017-05-31T11:30:13Z");
  EXPECT_EQ(m["signature"], "valid");
  EXPECT_EQ(m["status"], "ok");
  EXPECT_NE(m["envelope"].find("not opened"), std::string::npos);
}

TEST(InspectScepTest, OpensOwnEnvelopeNeverShowsChallenge) {
  testing::Identity ca = testing::MakeIdentity("Inspect CA", nullptr, true);
  testing::Identity dev = testing::MakeIdentity("dev");
  const std::string challenge = "very-secret-challenge-4711";
  FakeRandom random(3);
  RequestParams p;
  p.transaction_id = "TX1";
  p.sender_nonce = random.Bytes(16);
  p.message_data = testing::MakeCsr(dev.key.get(), "device-42", challenge);
  p.recipient = ca.cert.get();
  p.signer_key = dev.key.get();
  p.signer_cert = dev.cert.get();
  auto der = EncodePkiOperation(p);
  ASSERT_TRUE(der.ok());

  std::vector<CaKeyPair> keys;
  CaKeyPair pair;
  X509_up_ref(ca.cert.get());
  pair.cert.reset(ca.cert.get());
  EVP_PKEY_up_ref(ca.key.get());
  pair.key.reset(ca.key.get());
  keys.push_back(std::move(pair));
  Inspection i = InspectPkiOperation(*der, keys, false);
  auto m = AsMap(i);
  EXPECT_EQ(m["envelope"], "opened with CN=Inspect CA");
  EXPECT_EQ(m["csr_subject"], "CN=device-42");
  EXPECT_EQ(m["csr_key"], "rsa-2048");
  EXPECT_EQ(m["challenge_present"], "yes");
  EXPECT_EQ(m["csr_signature"], "valid");
  EXPECT_EQ(m["encryption"], "AES-256-CBC");
  for (const auto& [k, v] : i.fields) {
    EXPECT_EQ(v.find(challenge), std::string::npos) << k;
  }

  // Garbage: still a full description, marked refused.
  Inspection bad = InspectPkiOperation("garbage", keys, false);
  auto bm = AsMap(bad);
  EXPECT_FALSE(bad.decoded_ok);
  EXPECT_EQ(bm["signature"], "invalid");
  EXPECT_NE(bm["status"].find("refused"), std::string::npos);
  EXPECT_NE(bm["fail_info"].find("HTTP 400"), std::string::npos);
}

}  // namespace
}  // namespace custos::scep
