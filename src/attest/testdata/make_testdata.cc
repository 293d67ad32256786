// attest_make_testdata OUTDIR [TOKEN]: writes a fake Apple-like attestation PKI and chains to
// OUTDIR, for fuzz seed corpora and for trying `custos inspect attestation` by hand (see
// README.md in this folder). The certificates are valid from 2025-01-01 to 2045-01-01; the
// ACME leaf's freshness code is SHA-256(TOKEN) (TOKEN defaults to "test-token").
#include <fstream>
#include <iostream>
#include <string>

#include "attest/attestation.h"
#include "attest/attestation_object.h"
#include "attest/testdata/fake_attestation.h"
#include "base/encoding.h"

namespace {

bool Write(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  out << data;
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace custos;
  using namespace custos::attest;
  using namespace custos::attest::testing;
  if (argc < 2 || argc > 3) {
    std::cerr << "usage: attest_make_testdata OUTDIR [TOKEN]\n";
    return 2;
  }
  std::string dir = argv[1];
  std::string token = argc == 3 ? argv[2] : "test-token";
  Time from = FromUnixSeconds(1735689600);  // 2025-01-01T00:00:00Z
  Time to = FromUnixSeconds(2366841600);    // 2045-01-01T00:00:00Z
  StatusOr<FakeAttestationCa> ca = MakeFakeAttestationCa(from, to);
  if (!ca.ok()) {
    std::cerr << ca.status() << "\n";
    return 1;
  }
  FakeLeafSpec acme;
  acme.not_before = from;
  acme.not_after = to;
  acme.freshness_code = AcmeFreshnessCode(token);
  FakeLeafSpec devinfo = acme;
  devinfo.freshness_code = std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8);
  devinfo.device_information_eku = true;
  devinfo.extra_extensions = {{"1.2.840.113635.100.8.99.1", "unknown-value"}};
  StatusOr<FakeLeaf> acme_leaf = IssueFakeLeaf(*ca, acme);
  StatusOr<FakeLeaf> devinfo_leaf = IssueFakeLeaf(*ca, devinfo);
  if (!acme_leaf.ok() || !devinfo_leaf.ok()) {
    std::cerr << (acme_leaf.ok() ? devinfo_leaf.status() : acme_leaf.status()) << "\n";
    return 1;
  }
  std::string chain_der = acme_leaf->chain[0] + acme_leaf->chain[1];
  std::string attobj = EncodeAttestationObject(acme_leaf->chain);
  bool ok = Write(dir + "/fake_root.pem", ca->RootPem()) &&
            Write(dir + "/fake_acme_chain.pem",
                  DerToPem(acme_leaf->chain[0]) + DerToPem(acme_leaf->chain[1])) &&
            Write(dir + "/fake_acme_chain.der", chain_der) &&
            Write(dir + "/fake_acme_attobj.cbor", attobj) &&
            Write(dir + "/fake_acme_attobj.b64url", Base64UrlEncode(attobj) + "\n") &&
            Write(dir + "/fake_acme_payload.json", EncodeDeviceAttestPayload(acme_leaf->chain)) &&
            Write(dir + "/fake_devinfo_chain.pem",
                  DerToPem(devinfo_leaf->chain[0]) + DerToPem(devinfo_leaf->chain[1])) &&
            Write(dir + "/fake_devinfo_leaf.der", devinfo_leaf->der);
  if (!ok) {
    std::cerr << "cannot write to " << dir << "\n";
    return 1;
  }
  std::cout << "wrote fake attestation test data to " << dir << " (ACME token \"" << token
            << "\", DeviceInformation nonce 0102030405060708)\n";
  return 0;
}
