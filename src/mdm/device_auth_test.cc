#include "mdm/device_auth.h"

#include <gtest/gtest.h>
#include <openssl/asn1t.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>

#include "base/encoding.h"
#include "pki/cms.h"
#include "pki/key.h"
#include "pki/x509.h"
#include "storage/testing.h"

namespace custos::mdm {
namespace {

constexpr auto kDay = std::chrono::hours(24);

std::string ReadVector(const std::string& rel) {
  const char* src = std::getenv("CUSTOS_SOURCE_DIR");
  std::string path = std::string(src == nullptr ? "." : src) + "/../shared/vectors/" + rel;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A detached signature the way Apple devices make it (compare the nanomdm capture): BER with
// indefinite lengths on every constructed NDEF-capable field, no signed attributes, the given
// digest. OpenSSL's streaming encoder would embed the content, so the finished structure is
// encoded with ASN1_item_ndef_i2d instead.
std::string AppleStyleSignature(std::string_view body, X509* cert, EVP_PKEY* key,
                                const EVP_MD* md) {
  unsigned int flags = CMS_DETACHED | CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP;
  CmsPtr cms(CMS_sign(nullptr, nullptr, nullptr, nullptr, flags));
  EXPECT_NE(cms, nullptr);
  EXPECT_NE(CMS_add1_signer(cms.get(), cert, key, md, flags | CMS_NOATTR), nullptr);
  BioPtr in = MemBioFrom(body);
  EXPECT_EQ(CMS_final(cms.get(), in.get(), nullptr, flags), 1);
  unsigned char* der = nullptr;
  int len = ASN1_item_ndef_i2d(reinterpret_cast<ASN1_VALUE*>(cms.get()), &der,
                               ASN1_ITEM_rptr(CMS_ContentInfo));
  EXPECT_GT(len, 0);
  std::string out(reinterpret_cast<char*>(der), len > 0 ? static_cast<size_t>(len) : 0);
  OPENSSL_free(der);
  return out;
}

class DeviceAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto storage = OpenTestStorage("sqlite", &clock_);
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = std::move(storage).value();
    CaConfig config;
    config.common_name = "Device Auth Test CA";
    config.organization = "custos tests";
    config.root_key_type = "ec-p384";
    config.issuing_key_bits = 2048;
    config.cert_validity = std::chrono::duration_cast<Duration>(30 * kDay);
    config.crl_validity = std::chrono::duration_cast<Duration>(2 * kDay);
    auto ca = Authority::Init(config, storage_.get(), &clock_, &random_, "");
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = std::move(ca).value();
    auto key = GenerateKey(KeyAlgorithm::kRsa, 2048);
    ASSERT_TRUE(key.ok());
    device_key_ = std::move(key).value();
    IssueRequest req;
    req.public_key = device_key_.get();
    req.subject = {{"CN", "device-1"}};
    req.requester = "scep";
    auto issued = ca_->Issue(req);
    ASSERT_TRUE(issued.ok()) << issued.status();
    serial_ = issued->record.serial_hex;
    auto cert = issued->Certificate();
    ASSERT_TRUE(cert.ok());
    device_cert_ = std::move(cert).value();
  }

  DeviceAuthOptions Options(Duration ttl = Duration{0}) {
    DeviceAuthOptions o;
    o.verdict_cache_ttl = ttl;
    return o;
  }

  http::Request SignedRequest(std::string body, X509* cert = nullptr, EVP_PKEY* key = nullptr) {
    http::Request r;
    r.method = "PUT";
    r.path = "/mdm/connect";
    r.body = std::move(body);
    CmsSignOptions o;
    o.key = key != nullptr ? key : device_key_.get();
    o.cert = cert != nullptr ? cert : device_cert_.get();
    o.detached = true;
    auto sig = SignCms(r.body, o);
    EXPECT_TRUE(sig.ok()) << sig.status();
    r.headers.Add("Mdm-Signature", Base64Encode(sig.value_or("")));
    return r;
  }

  FakeClock clock_{FromUnixSeconds(1'800'000'000)};
  FakeRandom random_{7};
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<Authority> ca_;
  EvpPkeyPtr device_key_;
  X509Ptr device_cert_;
  std::string serial_;
};

// The one published real Mdm-Signature (nanomdm): BER, indefinite lengths, SHA-1, no signed
// attributes. Its body was never published, so the signature itself cannot verify here: it must
// parse, get as far as the signature check, and its (foreign) signer must be refused by custos.
TEST_F(DeviceAuthTest, RealDeviceHeaderParsesAndItsSignerIsForeign) {
  std::string header = ReadVector("nanomdm/cryptoutil-extracted/Mdm-Signature.1.header.b64.txt");
  ASSERT_FALSE(header.empty());
  auto der = Base64Decode(std::string(header.data(), header.find_last_not_of("\r\n ") + 1));
  ASSERT_TRUE(der.ok());
  ASSERT_GE(der->size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>((*der)[1]), 0x80) << "expected an indefinite length";
  auto parsed = ParseSignedData(*der);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_NE(parsed->signer, nullptr);
  EXPECT_EQ(IssuerString(parsed->signer.get()), "CN=MDM CA,DC=Gusto,DC=com");

  std::string digest;
  auto signer = VerifyMdmSignature(header, "<plist>not the signed body</plist>", &digest);
  ASSERT_FALSE(signer.ok());
  EXPECT_EQ(signer.status().code(), StatusCode::kPermissionDenied) << signer.status();
  EXPECT_NE(signer.status().message().find("does not verify"), std::string::npos);
  EXPECT_EQ(digest, "sha1");

  auto verdict = ca_->VerifyIssued(parsed->signer.get(), clock_.Now());
  EXPECT_EQ(verdict.status().code(), StatusCode::kPermissionDenied);

  DeviceAuthenticator auth(Options(), ca_.get(), &clock_);
  http::Request r;
  r.body = "<plist/>";
  r.headers.Add("Mdm-Signature", header);
  EXPECT_EQ(auth.Authenticate(r).status().code(), StatusCode::kPermissionDenied);
}

TEST_F(DeviceAuthTest, MdmSignatureSha256Verifies) {
  DeviceAuthenticator auth(Options(), ca_.get(), &clock_);
  auto id = auth.Authenticate(SignedRequest("<plist><dict/></plist>"));
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->source, IdentitySource::kMdmSignature);
  EXPECT_EQ(id->record.serial_hex, serial_);
  EXPECT_EQ(CertSerialHex(id->certificate.get()), serial_);
  EXPECT_EQ(IdentitySourceName(id->source), "mdm-signature");
}

TEST_F(DeviceAuthTest, BerIndefiniteSha1WithoutAttributesVerifies) {
  std::string body = "<?xml version=\"1.0\"?><plist><dict><key>Status</key><string>Idle</string>"
                     "</dict></plist>";
  std::string sig =
      AppleStyleSignature(body, device_cert_.get(), device_key_.get(), EVP_sha1());
  ASSERT_GE(sig.size(), 2u);
  ASSERT_EQ(static_cast<unsigned char>(sig[1]), 0x80) << "encoder did not produce BER";
  std::string digest;
  auto signer = VerifyMdmSignature(Base64Encode(sig), body, &digest);
  ASSERT_TRUE(signer.ok()) << signer.status();
  EXPECT_EQ(digest, "sha1");
  EXPECT_EQ(X509_cmp(signer->get(), device_cert_.get()), 0);

  DeviceAuthenticator auth(Options(), ca_.get(), &clock_);
  http::Request r;
  r.body = body;
  r.headers.Add("mdm-signature", Base64Encode(sig));  // header names are case-insensitive
  auto id = auth.Authenticate(r);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->record.serial_hex, serial_);
}

TEST_F(DeviceAuthTest, SignatureCarryingTheChainVerifies) {
  X509Ptr issuer = ca_->ActiveIssuer();
  X509Ptr root = ca_->Root();
  CmsSignOptions o;
  o.key = device_key_.get();
  o.cert = device_cert_.get();
  o.chain = {issuer.get(), root.get()};
  o.detached = true;
  o.digest = "sha512";
  auto sig = SignCms("<plist/>", o);
  ASSERT_TRUE(sig.ok());
  std::string digest;
  auto signer = VerifyMdmSignature(Base64Encode(*sig), "<plist/>", &digest);
  ASSERT_TRUE(signer.ok()) << signer.status();
  EXPECT_EQ(X509_cmp(signer->get(), device_cert_.get()), 0) << "the signer, not a chain element";
  EXPECT_EQ(digest, "sha512");
  DeviceAuthenticator auth(Options(Duration{5}), ca_.get(), &clock_);
  http::Request r;
  r.body = "<plist/>";
  r.headers.Add("Mdm-Signature", Base64Encode(*sig));
  for (int i = 0; i < 3; ++i) {  // later rounds come from the certificate cache
    auto id = auth.Authenticate(r);
    ASSERT_TRUE(id.ok()) << id.status();
    EXPECT_EQ(id->record.serial_hex, serial_);
  }
}

TEST_F(DeviceAuthTest, TamperedBodyIsRefused) {
  DeviceAuthenticator auth(Options(), ca_.get(), &clock_);
  http::Request r = SignedRequest("<plist>original</plist>");
  r.body = "<plist>changed!</plist>";
  auto id = auth.Authenticate(r);
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), StatusCode::kPermissionDenied);
}

TEST_F(DeviceAuthTest, MalformedSignaturesAreInvalidArgument) {
  EXPECT_EQ(VerifyMdmSignature("", "x").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyMdmSignature("!!!not base64!!!", "x").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyMdmSignature(Base64Encode("\x30\x03\x02\x01\x01"), "x").status().code(),
            StatusCode::kInvalidArgument);
  // An attached (non-detached) signature is not an Mdm-Signature.
  CmsSignOptions o;
  o.key = device_key_.get();
  o.cert = device_cert_.get();
  auto attached = SignCms("body", o);
  ASSERT_TRUE(attached.ok());
  EXPECT_EQ(VerifyMdmSignature(Base64Encode(*attached), "body").status().code(),
            StatusCode::kInvalidArgument);
  // Without the signer's certificate there is no identity.
  o.detached = true;
  o.include_signer_cert = false;
  auto nocert = SignCms("body", o);
  ASSERT_TRUE(nocert.ok());
  EXPECT_EQ(VerifyMdmSignature(Base64Encode(*nocert), "body").status().code(),
            StatusCode::kPermissionDenied);
}

TEST_F(DeviceAuthTest, ForeignCaIsRefused) {
  auto key = GenerateKey(KeyAlgorithm::kEcP256);
  ASSERT_TRUE(key.ok());
  CertificateTemplate tmpl;
  tmpl.serial_hex = "01";
  tmpl.subject = {{"CN", "impostor"}};
  tmpl.not_before = clock_.Now() - kDay;
  tmpl.not_after = clock_.Now() + kDay;
  auto self_signed = BuildCertificate(tmpl, key->get(), nullptr, key->get());
  ASSERT_TRUE(self_signed.ok()) << self_signed.status();
  DeviceAuthenticator auth(Options(Duration{5}), ca_.get(), &clock_);
  auto id = auth.Authenticate(SignedRequest("<plist/>", self_signed->get(), key->get()));
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(id.status().message().find("mdm-signature identity refused"), std::string::npos)
      << id.status();
}

TEST_F(DeviceAuthTest, TlsClientCertificate) {
  DeviceAuthenticator auth(Options(), ca_.get(), &clock_);
  http::Request r;
  r.tls = true;
  r.client_cert_chain = {CertificateDer(device_cert_.get())};
  auto id = auth.Authenticate(r);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->source, IdentitySource::kTlsClientCert);
  EXPECT_EQ(id->record.serial_hex, serial_);

  r.client_cert_chain = {"garbage"};
  EXPECT_EQ(auth.Authenticate(r).status().code(), StatusCode::kInvalidArgument);

  DeviceAuthOptions no_tls = Options();
  no_tls.allow_tls_client_cert = false;
  DeviceAuthenticator auth2(no_tls, ca_.get(), &clock_);
  r.client_cert_chain = {CertificateDer(device_cert_.get())};
  EXPECT_EQ(auth2.Authenticate(r).status().code(), StatusCode::kPermissionDenied);
}

TEST_F(DeviceAuthTest, ProxyHeadersOnlyFromTrustedProxy) {
  DeviceAuthenticator auth(Options(), ca_.get(), &clock_);
  http::Request r;
  r.headers.Add("Client-Cert", ":" + Base64Encode(CertificateDer(device_cert_.get())) + ":");
  EXPECT_EQ(auth.Authenticate(r).status().code(), StatusCode::kPermissionDenied)
      << "a client-certificate header from an untrusted peer must be ignored";
  r.from_trusted_proxy = true;
  auto id = auth.Authenticate(r);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->source, IdentitySource::kProxyHeader);
  EXPECT_EQ(id->record.serial_hex, serial_);

  // nginx: $ssl_client_escaped_cert in the configured header.
  std::string pem = CertificatePem(device_cert_.get());
  std::string escaped;
  for (char c : pem) {
    if (isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' || c == '~') {
      escaped += c;
    } else {
      char buf[4];
      snprintf(buf, sizeof(buf), "%%%02X", static_cast<unsigned char>(c));
      escaped += buf;
    }
  }
  auto parsed = ParseProxyCertificateHeader(escaped);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(X509_cmp(parsed->get(), device_cert_.get()), 0);

  DeviceAuthOptions custom = Options();
  custom.proxy_header = "SSL-Client-Cert";
  DeviceAuthenticator auth2(custom, ca_.get(), &clock_);
  http::Request n;
  n.from_trusted_proxy = true;
  n.headers.Add("ssl-client-cert", escaped);
  id = auth2.Authenticate(n);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->source, IdentitySource::kProxyHeader);

  EXPECT_EQ(ParseProxyCertificateHeader(":not base64!:").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseProxyCertificateHeader(":" + Base64Encode("junk") + ":").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseProxyCertificateHeader("hello").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseProxyCertificateHeader(":").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(DeviceAuthTest, NoIdentityAndDisabledSignature) {
  DeviceAuthenticator auth(Options(), ca_.get(), &clock_);
  http::Request empty;
  EXPECT_EQ(auth.Authenticate(empty).status().code(), StatusCode::kPermissionDenied);
  DeviceAuthOptions o = Options();
  o.allow_mdm_signature = false;
  DeviceAuthenticator auth2(o, ca_.get(), &clock_);
  EXPECT_EQ(auth2.Authenticate(SignedRequest("<plist/>")).status().code(),
            StatusCode::kPermissionDenied);
}

TEST_F(DeviceAuthTest, RevocationWithoutCacheIsImmediate) {
  DeviceAuthenticator auth(Options(Duration{0}), ca_.get(), &clock_);
  ASSERT_TRUE(auth.Authenticate(SignedRequest("a")).ok());
  ASSERT_TRUE(ca_->Revoke(serial_, 1).ok());
  auto id = auth.Authenticate(SignedRequest("a"));
  ASSERT_FALSE(id.ok());
  EXPECT_NE(id.status().message().find("revoked"), std::string::npos) << id.status();
}

TEST_F(DeviceAuthTest, CachedVerdictExpiresAfterTtl) {
  DeviceAuthenticator auth(Options(Duration{5}), ca_.get(), &clock_);
  ASSERT_TRUE(auth.Authenticate(SignedRequest("a")).ok());
  ASSERT_TRUE(ca_->Revoke(serial_, 1).ok());
  // Documented: a revocation takes effect within the cache TTL.
  EXPECT_TRUE(auth.Authenticate(SignedRequest("a")).ok());
  clock_.Advance(Duration{6});
  EXPECT_EQ(auth.Authenticate(SignedRequest("a")).status().code(),
            StatusCode::kPermissionDenied);
}

TEST_F(DeviceAuthTest, CachedVerdictNeverOutlivesTheCertificate) {
  DeviceAuthenticator auth(Options(Duration{3600}), ca_.get(), &clock_);
  ASSERT_TRUE(auth.Authenticate(SignedRequest("a")).ok());
  clock_.Advance(std::chrono::duration_cast<Duration>(31 * kDay));
  EXPECT_FALSE(auth.Authenticate(SignedRequest("a")).ok());
}

// Not a benchmark (bench/mdm is): checks the cached path stays correct under repetition and
// prints the single-thread rate for the record.
TEST_F(DeviceAuthTest, RepeatedSignedPollsWithCache) {
  DeviceAuthenticator auth(Options(Duration{5}), ca_.get(), &clock_);
  http::Request r = SignedRequest("<plist><dict><key>Status</key><string>Idle</string></dict>"
                                  "</plist>");
  constexpr int kN = 2000;
  auto start = std::chrono::steady_clock::now();
  int ok = 0;
  for (int i = 0; i < kN; ++i) ok += auth.Authenticate(r).ok() ? 1 : 0;
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(ok, kN);
  std::printf("signed Idle authentications (cached verdict, 1 thread): %.0f/s\n", kN / secs);
}

}  // namespace
}  // namespace custos::mdm
