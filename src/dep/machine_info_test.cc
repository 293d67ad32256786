// MachineInfo verification: a test PKI stands in for Apple's (no signed MachineInfo from a real
// device is published); the bundled Apple certificates are checked to chain as devices use them.
#include "dep/machine_info.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "base/random.h"
#include "mdm/plist_util.h"
#include "pki/cms.h"
#include "pki/key.h"
#include "pki/test_support.h"
#include "pki/verify.h"
#include "pki/x509.h"
#include "storage/testing.h"

namespace custos::dep {
namespace {

const Time kNow = FromUnixSeconds(1'800'000'000);

struct TestPki {
  EvpPkeyPtr root_key, ca_key, leaf_key;
  X509Ptr root, ca, leaf;
};

TestPki MakePki(bool expired_ca) {
  TestPki p;
  p.root_key = *GenerateKey(KeyAlgorithm::kEcP256);
  p.ca_key = *GenerateKey(KeyAlgorithm::kEcP256);
  p.leaf_key = *GenerateKey(KeyAlgorithm::kRsa, 2048);
  CertificateTemplate t;
  t.subject = {{"CN", "Test Root CA"}};
  t.basic_constraints_ca = true;
  t.key_usage = kKuKeyCertSign | kKuCrlSign;
  t.not_before = kNow - Duration(86400 * 3650);
  t.not_after = kNow + Duration(86400 * 3650);
  t.serial_hex = "01";
  p.root = *BuildCertificate(t, p.root_key.get(), nullptr, p.root_key.get());
  t.subject = {{"CN", "Test iPhone Device CA"}};
  t.serial_hex = "02";
  if (expired_ca) t.not_after = kNow - Duration(86400 * 365);  // like Apple iPhone Device CA
  p.ca = *BuildCertificate(t, p.ca_key.get(), p.root.get(), p.root_key.get());
  CertificateTemplate l;
  l.subject = {{"CN", "00008030-001A35E01E42802E"}};
  l.basic_constraints_ca = false;
  l.key_usage = kKuDigitalSignature | kKuKeyEncipherment;
  l.not_before = kNow - Duration(86400);
  l.not_after = kNow + Duration(86400 * 365);
  l.serial_hex = "03";
  p.leaf = *BuildCertificate(l, p.leaf_key.get(), p.ca.get(), p.ca_key.get());
  return p;
}

std::string MachineInfoPlist(const std::string& serial) {
  mdm::Plist d = mdm::Plist::NewDict();
  EXPECT_TRUE(mdm::DictSetString(d.get(), "UDID", "00008030-001A35E01E42802E").ok());
  EXPECT_TRUE(mdm::DictSetString(d.get(), "SERIAL", serial).ok());
  EXPECT_TRUE(mdm::DictSetString(d.get(), "PRODUCT", "iPhone12,1").ok());
  EXPECT_TRUE(mdm::DictSetString(d.get(), "VERSION", "21A329").ok());
  EXPECT_TRUE(mdm::DictSetString(d.get(), "OS_VERSION", "17.0").ok());
  EXPECT_TRUE(mdm::DictSetString(d.get(), "LANGUAGE", "en").ok());
  return *d.ToXml();
}

std::string Sign(const TestPki& p, const std::string& content, bool with_chain) {
  CmsSignOptions o;
  o.key = p.leaf_key.get();
  o.cert = p.leaf.get();
  o.digest = "sha1";  // devices still sign with SHA-1
  if (with_chain) o.chain = {p.ca.get()};
  return *SignCms(content, o);
}

class MachineInfoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_ = MakePki(/*expired_ca=*/true);
    config_.device_ca_file = dir_.File("roots.pem", CertificatePem(pki_.root.get()));
  }
  TestPki pki_;
  testing_support::TempDir dir_;
  DepConfig config_;
};

TEST_F(MachineInfoTest, VerifiesASignedMachineInfo) {
  auto v = MachineInfoVerifier::Create(config_, nullptr);
  ASSERT_TRUE(v.ok()) << v.status();
  auto info = (*v)->Verify(Sign(pki_, MachineInfoPlist("C02T0HL0GGC0"), true));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->serial, "C02T0HL0GGC0");
  EXPECT_EQ(info->udid, "00008030-001A35E01E42802E");
  EXPECT_EQ(info->product, "iPhone12,1");
  EXPECT_EQ(info->version, "21A329");
  EXPECT_EQ(info->os_version, "17.0");
  EXPECT_EQ(info->language, "en");
  EXPECT_TRUE(info->signed_by_device);
  EXPECT_NE(info->signer_subject.find("00008030"), std::string::npos);
}

TEST_F(MachineInfoTest, RefusesUnsignedUntrustedAndTampered) {
  auto v = MachineInfoVerifier::Create(config_, nullptr);
  ASSERT_TRUE(v.ok());
  // Unsigned plist.
  EXPECT_EQ((*v)->Verify(MachineInfoPlist("S1")).status().code(), StatusCode::kInvalidArgument);
  // Chain incomplete (the intermediate is not sent and not bundled).
  EXPECT_EQ((*v)->Verify(Sign(pki_, MachineInfoPlist("S1"), false)).status().code(),
            StatusCode::kPermissionDenied);
  // Another PKI.
  TestPki other = MakePki(false);
  EXPECT_EQ((*v)->Verify(Sign(other, MachineInfoPlist("S1"), true)).status().code(),
            StatusCode::kPermissionDenied);
  // Tampered content: flip a byte of the serial inside the signed message.
  std::string signed_body = Sign(pki_, MachineInfoPlist("SERIAL-AAAA"), true);
  size_t at = signed_body.find("SERIAL-AAAA");
  ASSERT_NE(at, std::string::npos);
  signed_body[at + 7] = 'B';
  EXPECT_EQ((*v)->Verify(signed_body).status().code(), StatusCode::kPermissionDenied);
  // Garbage and empty.
  EXPECT_FALSE((*v)->Verify("").ok());
  EXPECT_FALSE((*v)->Verify("\x30\x80garbage").ok());
  // Signed, but not a MachineInfo.
  EXPECT_EQ((*v)->Verify(Sign(pki_, "not a plist", true)).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(MachineInfoTest, RequiresAKnownSerial) {
  auto storage = OpenTestStorage("sqlite");
  ASSERT_TRUE(storage.ok());
  config_.require_known_serial = true;
  EXPECT_FALSE(MachineInfoVerifier::Create(config_, nullptr).ok());
  auto v = MachineInfoVerifier::Create(config_, storage->get());
  ASSERT_TRUE(v.ok());
  std::string body = Sign(pki_, MachineInfoPlist("KNOWN1"), true);
  EXPECT_EQ((*v)->Verify(body).status().code(), StatusCode::kPermissionDenied);
  ASSERT_TRUE((*storage)
                  ->Transact([](Stores& s) {
                    RETURN_IF_ERROR(s.dep().SetStaging("abm", "K", "C", kNow));
                    DepDeviceRecord d;
                    d.dep_name = "abm";
                    d.serial_number = "KNOWN1";
                    d.op_type = "added";
                    d.updated_at = kNow;
                    return s.dep().UpsertDevice(d).status();
                  })
                  .ok());
  auto info = (*v)->Verify(body);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->known_dep_name, "abm");
}

TEST(MachineInfoBundle, AppleCertificatesChainWithoutTimeChecks) {
  auto v = MachineInfoVerifier::Create(DepConfig{}, nullptr);
  ASSERT_TRUE(v.ok()) << v.status();  // the pinned fingerprints match
  auto root = ParseCertificate(AppleRootCaPem());
  auto inter = ParseCertificateChain(AppleDeviceIntermediatesPem());
  ASSERT_TRUE(root.ok() && inter.ok());
  ASSERT_EQ(inter->size(), 2u);
  VerifyOptions o;
  o.trusted = {root->get()};
  o.untrusted = {(*inter)[0].get()};
  o.check_time = false;
  auto r = VerifyCertificate((*inter)[1].get(), o);  // Apple iPhone Device CA
  EXPECT_TRUE(r.ok) << r.Summary();
  o.check_time = true;
  EXPECT_FALSE(VerifyCertificate((*inter)[1].get(), o).ok);  // expired in 2014
}

TEST_F(MachineInfoTest, RealDevicePlistSignedByTestPki) {
  // Beside this file (CMake compiles it by absolute path), else under $CUSTOS_SOURCE_DIR.
  std::string here(__FILE__);
  std::ifstream in(here.substr(0, here.rfind('/') + 1) + "testdata/machineinfo_ipad.xml");
  if (!in && std::getenv("CUSTOS_SOURCE_DIR") != nullptr) {
    in.open(std::string(std::getenv("CUSTOS_SOURCE_DIR")) + "/src/dep/testdata/machineinfo_ipad.xml");
  }
  std::stringstream ss;
  ss << in.rdbuf();
  ASSERT_FALSE(ss.str().empty());
  auto v = MachineInfoVerifier::Create(config_, nullptr);
  ASSERT_TRUE(v.ok());
  auto info = (*v)->Verify(Sign(pki_, ss.str(), true));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->serial, "BLXLN1111111");
  EXPECT_EQ(info->product, "iPad4,1");
  EXPECT_EQ(info->version, "15A5278f");
  EXPECT_EQ(info->language, "en-AU");
  EXPECT_EQ(info->os_version, "");  // before iOS 17
}

TEST(MachineInfoPlist, ParsesAndRejects) {
  auto m = ParseMachineInfoPlist(MachineInfoPlist("X1"));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->serial, "X1");
  EXPECT_FALSE(ParseMachineInfoPlist("<plist><array/></plist>").ok());
  EXPECT_FALSE(ParseMachineInfoPlist("").ok());
  mdm::Plist d = mdm::Plist::NewDict();
  ASSERT_TRUE(mdm::DictSetString(d.get(), "UDID", "u").ok());
  EXPECT_FALSE(ParseMachineInfoPlist(*d.ToXml()).ok());  // SERIAL missing
}

}  // namespace
}  // namespace custos::dep
