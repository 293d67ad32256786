#include "scep/testing.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "pki/key.h"
#include "pki/x509.h"

namespace custos::scep::testing {
namespace {

template <typename T>
T OrDie(StatusOr<T> v, const char* what) {
  if (!v.ok()) {
    std::fprintf(stderr, "scep testing: %s: %s\n", what, v.status().ToString().c_str());
    std::abort();
  }
  return std::move(v).value();
}

}  // namespace

Identity MakeIdentity(const std::string& cn, const Identity* issuer, bool ca, int bits) {
  Identity id;
  id.key = OrDie(GenerateKey(KeyAlgorithm::kRsa, bits), "generating key");
  CertificateTemplate t;
  t.subject = {{"CN", cn}};
  t.not_before = FromUnixSeconds(1700000000);
  t.not_after = FromUnixSeconds(1900000000);
  t.serial_hex = Sha256Hex(cn).substr(0, 16);
  if (ca) {
    t.basic_constraints_ca = true;
    t.key_usage = kKuKeyCertSign | kKuCrlSign | kKuDigitalSignature | kKuKeyEncipherment;
  } else {
    t.key_usage = kKuDigitalSignature | kKuKeyEncipherment;
    t.extended_key_usages = {kEkuClientAuth};
  }
  id.cert = OrDie(BuildCertificate(t, id.key.get(), issuer != nullptr ? issuer->cert.get() : nullptr,
                                   issuer != nullptr ? issuer->key.get() : id.key.get()),
                  "building certificate");
  return id;
}

X509Ptr MakeSelfSignedSigner(EVP_PKEY* key, const std::string& cn) {
  CertificateTemplate t;
  t.subject = {{"CN", cn}};
  t.not_before = FromUnixSeconds(1700000000);
  t.not_after = FromUnixSeconds(1900000000);
  t.serial_hex = "01";
  t.key_usage = kKuDigitalSignature;
  return OrDie(BuildCertificate(t, key, nullptr, key), "building signer");
}

std::string MakeCsr(EVP_PKEY* key, const std::string& cn, const std::string& challenge) {
  CsrTemplate t;
  t.subject = {{"CN", cn}};
  t.challenge_password = challenge;
  return OrDie(BuildCsrDer(t, key), "building CSR");
}

std::string RealPkcsReqPath() {
  const char* src = std::getenv("CUSTOS_SOURCE_DIR");
  return std::string(src != nullptr ? src : "/work/main") +
         "/../shared/vectors/scep/testdata/PKCSReq.der";
}

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "scep testing: cannot read %s\n", path.c_str());
    std::abort();
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace custos::scep::testing
