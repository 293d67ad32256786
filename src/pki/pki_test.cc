#include <gtest/gtest.h>
#include <openssl/core_names.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "pki/test_support.h"
#include "base/encoding.h"
#include "pki/crl.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/verify.h"
#include "pki/x509.h"

namespace custos {
namespace {

using testing_support::RunCommand;
using testing_support::TempDir;

// 2027-01-15T08:00:00Z.
const Time kT0 = FromUnixSeconds(1800000000);
constexpr auto kDay = std::chrono::hours(24);

struct Ca {
  EvpPkeyPtr key;
  X509Ptr cert;
};

EvpPkeyPtr Key(KeyAlgorithm alg = KeyAlgorithm::kEcP256, int bits = 2048) {
  auto k = GenerateKey(alg, bits);
  EXPECT_TRUE(k.ok()) << k.status();
  return std::move(k).value();
}

Ca MakeRoot(std::string cn, KeyAlgorithm alg = KeyAlgorithm::kEcP256, Time nb = kT0 - 10 * kDay,
            Time na = kT0 + 3650 * kDay) {
  Ca ca;
  ca.key = Key(alg);
  CertificateTemplate t;
  t.subject = {{"CN", cn}, {"O", "custos test"}};
  t.basic_constraints_ca = true;
  t.key_usage = kKuKeyCertSign | kKuCrlSign;
  t.not_before = nb;
  t.not_after = na;
  t.serial_hex = "01";
  auto cert = BuildCertificate(t, ca.key.get(), nullptr, ca.key.get());
  EXPECT_TRUE(cert.ok()) << cert.status();
  ca.cert = std::move(cert).value();
  return ca;
}

Ca MakeSub(const Ca& parent, std::string cn, Time nb = kT0 - 5 * kDay,
           Time na = kT0 + 1000 * kDay) {
  Ca ca;
  ca.key = Key();
  CertificateTemplate t;
  t.subject = {{"CN", cn}};
  t.basic_constraints_ca = true;
  t.path_length = 0;
  t.key_usage = kKuKeyCertSign | kKuCrlSign;
  t.not_before = nb;
  t.not_after = na;
  t.serial_hex = "02";
  auto cert = BuildCertificate(t, ca.key.get(), parent.cert.get(), parent.key.get());
  EXPECT_TRUE(cert.ok()) << cert.status();
  ca.cert = std::move(cert).value();
  return ca;
}

X509Ptr MakeLeaf(const Ca& issuer, EVP_PKEY* key, Time nb, Time na, std::vector<San> sans = {}) {
  CertificateTemplate t;
  t.subject = {{"CN", "device"}};
  t.sans = std::move(sans);
  t.key_usage = kKuDigitalSignature;
  t.extended_key_usages = {kEkuClientAuth};
  t.not_before = nb;
  t.not_after = na;
  t.serial_hex = "7f00aa";
  auto cert = BuildCertificate(t, key, issuer.cert.get(), issuer.key.get());
  EXPECT_TRUE(cert.ok()) << cert.status();
  return std::move(cert).value();
}


// ---- Keys --------------------------------------------------------------------------------------

TEST(KeyTest, Pkcs8RoundTripPlainAndEncrypted) {
  EvpPkeyPtr key = Key(KeyAlgorithm::kRsa, 2048);
  EXPECT_EQ(KeyDescription(key.get()), "rsa-2048");

  auto plain = PrivateKeyToPkcs8Pem(key.get(), "");
  ASSERT_TRUE(plain.ok());
  EXPECT_NE(plain->find("BEGIN PRIVATE KEY"), std::string::npos);
  EXPECT_FALSE(IsEncryptedPrivateKeyPem(*plain));
  auto back = PrivateKeyFromPem(*plain, "");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(PublicKeysEqual(key.get(), back->get()));

  auto enc = PrivateKeyToPkcs8Pem(key.get(), "correct horse");
  ASSERT_TRUE(enc.ok());
  EXPECT_NE(enc->find("BEGIN ENCRYPTED PRIVATE KEY"), std::string::npos);
  EXPECT_TRUE(IsEncryptedPrivateKeyPem(*enc));
  auto dec = PrivateKeyFromPem(*enc, "correct horse");
  ASSERT_TRUE(dec.ok()) << dec.status();
  EXPECT_TRUE(PublicKeysEqual(key.get(), dec->get()));

  // The encryption is PBES2 with AES-256-CBC, as the openssl CLI reports it.
  TempDir dir;
  std::string path = dir.File("k.pem", *enc);
  std::string info = RunCommand("openssl asn1parse -in " + path);
  EXPECT_NE(info.find("PBES2"), std::string::npos) << info;
  EXPECT_NE(info.find("aes-256-cbc"), std::string::npos) << info;
}

TEST(KeyTest, WrongPassphraseIsAClearError) {
  EvpPkeyPtr key = Key(KeyAlgorithm::kEcP384);
  auto enc = PrivateKeyToPkcs8Pem(key.get(), "right");
  ASSERT_TRUE(enc.ok());
  auto wrong = PrivateKeyFromPem(*enc, "wrong");
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(wrong.status().message(), "wrong passphrase or corrupt key");
  auto none = PrivateKeyFromPem(*enc, "");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("no passphrase"), std::string::npos);
  auto garbage = PrivateKeyFromPem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                                   "");
  EXPECT_FALSE(garbage.ok());
  // A corrupted ciphertext: flip a character in the middle of the base64 body.
  std::string damaged = *enc;
  damaged[damaged.size() / 2] = damaged[damaged.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(PrivateKeyFromPem(damaged, "right").ok());
}

// PublicKeyFromSpkiDer builds EC (named curve) and RSA keys from their parameters and leaves every
// other key type to OpenSSL's decoder; both give the same key, and bad input fails either way.
TEST(KeyTest, SpkiFastPathAndDecoderAgree) {
  std::vector<EvpPkeyPtr> keys;
  keys.push_back(Key(KeyAlgorithm::kEcP256));
  keys.push_back(Key(KeyAlgorithm::kEcP384));
  keys.push_back(Key(KeyAlgorithm::kRsa, 2048));
  keys.push_back(EvpPkeyPtr(EVP_EC_gen("P-521")));
  keys.push_back(EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")));
  for (const EvpPkeyPtr& key : keys) {
    ASSERT_TRUE(key);
    SCOPED_TRACE(KeyDescription(key.get()));
    auto der = PublicKeyToSpkiDer(key.get());
    ASSERT_TRUE(der.ok());
    auto parsed = PublicKeyFromSpkiDer(*der);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_TRUE(PublicKeysEqual(key.get(), parsed->get()));
    EXPECT_EQ(KeyDescription(parsed->get()), KeyDescription(key.get()));
    EXPECT_EQ(*PublicKeyToSpkiDer(parsed->get()), *der);
    EXPECT_FALSE(PublicKeyFromSpkiDer(der->substr(0, der->size() - 1)).ok());
    EXPECT_FALSE(PublicKeyFromSpkiDer(*der + std::string(1, '\0')).ok());
  }
  // An EC point off the curve: refused (the fast path declines, the decoder refuses).
  auto der = PublicKeyToSpkiDer(keys[0].get());
  std::string off = *der;
  off.back() = static_cast<char>(off.back() ^ 1);
  EXPECT_FALSE(PublicKeyFromSpkiDer(off).ok());
}

TEST(KeyTest, PublicKeysFromParameters) {
  for (auto [alg, group] : {std::pair{KeyAlgorithm::kEcP256, "prime256v1"},
                            std::pair{KeyAlgorithm::kEcP384, "secp384r1"}}) {
    EvpPkeyPtr key = Key(alg);
    unsigned char point[1 + 2 * 48];
    size_t len = 0;
    ASSERT_EQ(EVP_PKEY_get_octet_string_param(key.get(), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
                                              sizeof(point), &len),
              1);
    std::string octets(reinterpret_cast<char*>(point), len);
    EvpPkeyPtr rebuilt = EcPublicKeyFromPoint(group, octets);
    ASSERT_TRUE(rebuilt) << group;
    EXPECT_TRUE(PublicKeysEqual(key.get(), rebuilt.get()));
    // Compressed: same key.
    std::string compressed = octets.substr(0, 1 + (len - 1) / 2);
    compressed[0] = static_cast<char>(0x02 | (static_cast<unsigned char>(octets.back()) & 1));
    EvpPkeyPtr from_compressed = EcPublicKeyFromPoint(group, compressed);
    ASSERT_TRUE(from_compressed) << group;
    EXPECT_TRUE(PublicKeysEqual(key.get(), from_compressed.get()));
    // Off the curve, the wrong group, the wrong length: refused.
    std::string off = octets;
    off.back() = static_cast<char>(off.back() ^ 1);
    EXPECT_FALSE(EcPublicKeyFromPoint(group, off)) << group;
    EXPECT_FALSE(EcPublicKeyFromPoint(group == std::string("prime256v1") ? "secp384r1" : "prime256v1",
                                      octets));
    EXPECT_FALSE(EcPublicKeyFromPoint(group, octets.substr(0, len - 1)));
    EXPECT_FALSE(EcPublicKeyFromPoint("no-such-group", octets));
  }
  EvpPkeyPtr rsa = Key(KeyAlgorithm::kRsa, 2048);
  BIGNUM* n = nullptr;
  BIGNUM* e = nullptr;
  ASSERT_EQ(EVP_PKEY_get_bn_param(rsa.get(), OSSL_PKEY_PARAM_RSA_N, &n), 1);
  ASSERT_EQ(EVP_PKEY_get_bn_param(rsa.get(), OSSL_PKEY_PARAM_RSA_E, &e), 1);
  BigNumPtr owned_n(n), owned_e(e);
  EvpPkeyPtr rebuilt = RsaPublicKeyFromModulus(n, e);
  ASSERT_TRUE(rebuilt);
  EXPECT_TRUE(PublicKeysEqual(rsa.get(), rebuilt.get()));
  EXPECT_EQ(KeyDescription(rebuilt.get()), "rsa-2048");
}

TEST(KeyTest, Sha256WithTheFetchedDigest) {
  // FIPS 180-2 examples (one block and two blocks), and the empty input.
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256("abc").size(), 32u);
  ASSERT_NE(Sha256Md(), nullptr);
  ASSERT_NE(Sha384Md(), nullptr);
  EXPECT_EQ(EVP_MD_get_size(Sha256Md()), 32);
  EXPECT_EQ(EVP_MD_get_size(Sha384Md()), 48);
}

TEST(KeyTest, SpkiRoundTripAndDigests) {
  EvpPkeyPtr key = Key(KeyAlgorithm::kEcP384);
  EXPECT_EQ(KeyDescription(key.get()), "ec-p384");
  EXPECT_EQ(SigningDigestFor(key.get()), EVP_sha384());
  EvpPkeyPtr p256 = Key(KeyAlgorithm::kEcP256);
  EXPECT_EQ(KeyDescription(p256.get()), "ec-p256");
  EXPECT_EQ(SigningDigestFor(p256.get()), EVP_sha256());
  auto der = PublicKeyToSpkiDer(key.get());
  ASSERT_TRUE(der.ok());
  auto back = PublicKeyFromSpkiDer(*der);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(PublicKeysEqual(key.get(), back->get()));
  EXPECT_FALSE(PublicKeysEqual(key.get(), p256.get()));
  EXPECT_EQ(SpkiSha256Hex(key.get()), Sha256Hex(*der));
  EXPECT_FALSE(PublicKeyFromSpkiDer(der->substr(0, der->size() - 3)).ok());
  EXPECT_FALSE(PublicKeyFromSpkiDer(*der + "x").ok());
  EXPECT_FALSE(GenerateKey(KeyAlgorithm::kRsa, 1024).ok());
  EXPECT_FALSE(ParseKeyAlgorithm("dsa").ok());
}

// ---- Certificates ------------------------------------------------------------------------------

TEST(CertificateTest, BuildParseRoundTrip) {
  Ca root = MakeRoot("Root", KeyAlgorithm::kEcP384);
  EvpPkeyPtr leaf_key = Key();
  std::vector<San> sans = {{"dns", "device.example", ""},
                           {"email", "it@example.com", ""},
                           {"uri", "urn:uuid:1234", ""},
                           {"ip", "192.0.2.7", ""},
                           {"ip", "2001:db8::1", ""},
                           {"permanent_identifier", "C02XYZ123", "1.2.840.113635.100.6.1"},
                           {"permanent_identifier", "00008030-001A", ""}};
  X509Ptr leaf = MakeLeaf(root, leaf_key.get(), kT0, kT0 + 30 * kDay, sans);

  // The leaf of a P-384 issuer is signed with ecdsa-with-SHA384.
  EXPECT_EQ(X509_get_signature_nid(leaf.get()), NID_ecdsa_with_SHA384);

  std::string der = CertificateDer(leaf.get());
  std::string pem = CertificatePem(leaf.get());
  // The PEM made straight from the DER is OpenSSL's PEM, byte for byte.
  EXPECT_EQ(CertificatePemFromDer(der), pem);
  for (const std::string& input : {der, pem}) {
    auto parsed = ParseCertificate(input);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    auto info = DescribeCertificate(parsed->get());
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_EQ(info->serial_hex, "7f00aa");
    EXPECT_EQ(info->subject, "CN=device");
    EXPECT_EQ(info->issuer, "O=custos test,CN=Root");
    EXPECT_EQ(info->sans, sans);
    EXPECT_EQ(info->not_before, kT0);
    EXPECT_EQ(info->not_after, kT0 + 30 * kDay);
    EXPECT_EQ(info->sha256_hex, Sha256Hex(der));
    EXPECT_EQ(info->spki_sha256_hex, SpkiSha256Hex(leaf_key.get()));
    EXPECT_EQ(info->key_type, "ec-p256");
    EXPECT_FALSE(info->is_ca);
  }
  EXPECT_TRUE(CertificateSignedBy(leaf.get(), root.key.get()));

  // SANs survive the JSON form storage records.
  auto json_back = SansFromJson(SansToJson(sans));
  ASSERT_TRUE(json_back.ok());
  EXPECT_EQ(*json_back, sans);

  // The fingerprint agrees with the openssl CLI's.
  TempDir dir;
  std::string fp = RunCommand("openssl x509 -noout -fingerprint -sha256 -in " +
                              dir.File("leaf.pem", pem));
  std::string ours = CertSha256Hex(leaf.get());
  std::string colon;
  for (size_t i = 0; i < ours.size(); i += 2) {
    if (!colon.empty()) colon += ":";
    colon += static_cast<char>(std::toupper(ours[i]));
    colon += static_cast<char>(std::toupper(ours[i + 1]));
  }
  EXPECT_NE(fp.find(colon), std::string::npos) << fp;
  // And openssl reads the PermanentIdentifier as an otherName.
  std::string text = RunCommand("openssl x509 -noout -text -in " + dir.path() + "/leaf.pem");
  EXPECT_NE(text.find("Permanent Identifier"), std::string::npos) << text;
}

TEST(CertificateTest, ChainsSerialsAndGarbage) {
  Ca root = MakeRoot("Root");
  Ca sub = MakeSub(root, "Sub");
  std::string bundle = CertificatePem(sub.cert.get()) + CertificatePem(root.cert.get());
  auto chain = ParseCertificateChain(bundle);
  ASSERT_TRUE(chain.ok()) << chain.status();
  ASSERT_EQ(chain->size(), 2u);
  EXPECT_EQ(SubjectString((*chain)[0].get()), "CN=Sub");
  auto der_chain = ParseCertificateChain(CertificateDer(sub.cert.get()) +
                                         CertificateDer(root.cert.get()));
  ASSERT_TRUE(der_chain.ok());
  EXPECT_EQ(der_chain->size(), 2u);

  EXPECT_FALSE(ParseCertificate("").ok());
  EXPECT_FALSE(ParseCertificate("not a certificate").ok());
  std::string der = CertificateDer(sub.cert.get());
  EXPECT_FALSE(ParseCertificate(der.substr(0, der.size() / 2)).ok());
  EXPECT_FALSE(ParseCertificate(der + "junk").ok());
  EXPECT_FALSE(ParseCertificateChain("-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n")
                   .ok());

  EXPECT_EQ(*NormalizeSerialHex("00:0A:1b"), "a1b");
  EXPECT_EQ(*NormalizeSerialHex("0x00ff"), "ff");
  EXPECT_FALSE(NormalizeSerialHex("xyz").ok());

  // Serials are positive and at most 20 octets.
  CertificateTemplate t;
  t.subject = {{"CN", "x"}};
  t.not_before = kT0;
  t.not_after = kT0 + kDay;
  t.serial_hex = std::string(42, 'f');
  EXPECT_FALSE(BuildCertificate(t, sub.key.get(), root.cert.get(), root.key.get()).ok());
  t.serial_hex = "0";
  EXPECT_FALSE(BuildCertificate(t, sub.key.get(), root.cert.get(), root.key.get()).ok());
  t.serial_hex = "ff" + std::string(30, '1');  // 16 octets, high bit set: still positive
  auto big = BuildCertificate(t, sub.key.get(), root.cert.get(), root.key.get());
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_EQ(CertSerialHex(big->get()), t.serial_hex);
  t.subject = {{"NoSuchField", "x"}};
  EXPECT_FALSE(BuildCertificate(t, sub.key.get(), root.cert.get(), root.key.get()).ok());
  t.subject = {{"CN", "x"}};
  t.sans = {{"ip", "not-an-ip", ""}};
  EXPECT_FALSE(BuildCertificate(t, sub.key.get(), root.cert.get(), root.key.get()).ok());
}

TEST(CertificateTest, ExtensionsAreWhatWasAsked) {
  Ca root = MakeRoot("Root");
  EvpPkeyPtr key = Key();
  CertificateTemplate t;
  t.subject = {{"CN", "ünïcode device"}, {"O", "Org"}, {"OU", "Unit"}};
  t.key_usage = kKuDigitalSignature | kKuKeyEncipherment;
  t.extended_key_usages = {kEkuClientAuth, kEkuServerAuth};
  t.not_before = kT0;
  t.not_after = kT0 + kDay;
  t.serial_hex = "1234";
  // An extra extension: an Apple-like OID with a raw OCTET STRING payload.
  t.extra_extensions = {{"1.2.840.113635.100.8.9.1", false, std::string("\x04\x03" "ABC", 5)}};
  auto cert = BuildCertificate(t, key.get(), root.cert.get(), root.key.get());
  ASSERT_TRUE(cert.ok()) << cert.status();
  X509* c = cert->get();
  EXPECT_EQ(X509_get_key_usage(c),
            static_cast<uint32_t>(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
  EXPECT_EQ(X509_get_extended_key_usage(c), static_cast<uint32_t>(XKU_SSL_CLIENT | XKU_SSL_SERVER));
  EXPECT_EQ(SubjectString(c), "OU=Unit,O=Org,CN=ünïcode device");
  auto entries = NameEntries(X509_get_subject_name(c));
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].field, "CN");
  EXPECT_EQ(entries[0].value, "ünïcode device");
  // AKI of the leaf = SKI of the root.
  const ASN1_OCTET_STRING* aki = X509_get0_authority_key_id(c);
  const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(root.cert.get());
  ASSERT_NE(aki, nullptr);
  ASSERT_NE(ski, nullptr);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(aki, ski), 0);
  Asn1ObjectPtr obj(OBJ_txt2obj("1.2.840.113635.100.8.9.1", 1));
  int idx = X509_get_ext_by_OBJ(c, obj.get(), -1);
  ASSERT_GE(idx, 0);
  ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(X509_get_ext(c, idx));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                        ASN1_STRING_length(data)),
            std::string("\x04\x03" "ABC", 5));
}

TEST(CertificateTest, BuildFromSpkiCarriesTheSameKey) {
  Ca root = MakeRoot("Root");
  for (KeyAlgorithm alg : {KeyAlgorithm::kEcP256, KeyAlgorithm::kEcP384, KeyAlgorithm::kRsa}) {
    EvpPkeyPtr key = Key(alg);
    std::string spki = *PublicKeyToSpkiDer(key.get());
    CertificateTemplate t;
    t.subject = {{"CN", "spki"}};
    t.not_before = kT0;
    t.not_after = kT0 + kDay;
    t.serial_hex = "77";
    auto cert = BuildCertificateForSpki(t, spki, root.cert.get(), root.key.get());
    ASSERT_TRUE(cert.ok()) << cert.status();
    // Reparse from DER so nothing cached from the build is looked at.
    auto parsed = ParseCertificate(CertificateDer(cert->get()));
    ASSERT_TRUE(parsed.ok());
    EvpPkeyPtr pub = CertificatePublicKey(parsed->get());
    EXPECT_TRUE(PublicKeysEqual(pub.get(), key.get())) << KeyDescription(key.get());
    EXPECT_EQ(CertSpkiSha256Hex(parsed->get()), Sha256Hex(spki));
    EXPECT_TRUE(CertificateSignedBy(parsed->get(), root.key.get()));
    // The SKI is SHA-1 of the key bits, as for BuildCertificate.
    auto via_key = BuildCertificate(t, key.get(), root.cert.get(), root.key.get());
    ASSERT_TRUE(via_key.ok());
    EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_subject_key_id(parsed->get()),
                                    X509_get0_subject_key_id(via_key->get())),
              0);
  }
  CertificateTemplate t;
  t.subject = {{"CN", "x"}};
  t.not_before = kT0;
  t.not_after = kT0 + kDay;
  t.serial_hex = "78";
  EXPECT_FALSE(BuildCertificateForSpki(t, "garbage", root.cert.get(), root.key.get()).ok());
  EXPECT_FALSE(BuildCertificateForSpki(t, "", root.cert.get(), root.key.get()).ok());
  std::string spki = *PublicKeyToSpkiDer(root.key.get());
  EXPECT_FALSE(BuildCertificateForSpki(t, spki.substr(0, spki.size() - 1), root.cert.get(),
                                       root.key.get())
                   .ok());
}

// ---- Verification ------------------------------------------------------------------------------

TEST(VerifyTest, ChainVerifiesAtTimeWithIntermediate) {
  Ca root = MakeRoot("Root");
  Ca sub = MakeSub(root, "Sub");
  EvpPkeyPtr key = Key();
  X509Ptr leaf = MakeLeaf(sub, key.get(), kT0 - kDay, kT0 + 30 * kDay);

  VerifyOptions opts;
  opts.trusted = {root.cert.get()};
  opts.untrusted = {sub.cert.get()};
  opts.at = kT0;
  VerifyResult ok = VerifyCertificate(leaf.get(), opts);
  EXPECT_TRUE(ok.ok) << ok.Summary();
  EXPECT_EQ(ok.chain.size(), 3u);
  EXPECT_TRUE(ok.ToStatus().ok());

  // Missing intermediate.
  opts.untrusted.clear();
  VerifyResult missing = VerifyCertificate(leaf.get(), opts);
  EXPECT_FALSE(missing.ok);
  ASSERT_FALSE(missing.findings.empty());
  EXPECT_EQ(missing.findings[0].depth, 0);
  EXPECT_EQ(missing.findings[0].code, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  EXPECT_EQ(missing.ToStatus().code(), StatusCode::kPermissionDenied);

  // Another root.
  Ca other = MakeRoot("Other");
  opts.trusted = {other.cert.get()};
  opts.untrusted = {sub.cert.get()};
  EXPECT_FALSE(VerifyCertificate(leaf.get(), opts).ok);

  // A purpose the leaf does not have.
  opts.trusted = {root.cert.get()};
  opts.purpose = "sslserver";
  VerifyResult purpose = VerifyCertificate(leaf.get(), opts);
  EXPECT_FALSE(purpose.ok);
  opts.purpose = "sslclient";
  EXPECT_TRUE(VerifyCertificate(leaf.get(), opts).ok);
}

TEST(VerifyTest, ExpiredAtTimeSaysExpiredAndNoTimeCheckIgnoresIt) {
  Ca root = MakeRoot("Root");
  Ca sub = MakeSub(root, "Sub");
  EvpPkeyPtr key = Key();
  X509Ptr leaf = MakeLeaf(sub, key.get(), kT0 - 30 * kDay, kT0 - kDay);

  VerifyOptions opts;
  opts.trusted = {root.cert.get()};
  opts.untrusted = {sub.cert.get()};
  opts.at = kT0;
  VerifyResult r = VerifyCertificate(leaf.get(), opts);
  EXPECT_FALSE(r.ok);
  ASSERT_EQ(r.findings.size(), 1u) << r.Summary();
  EXPECT_EQ(r.findings[0].depth, 0);
  EXPECT_EQ(r.findings[0].code, X509_V_ERR_CERT_HAS_EXPIRED);
  EXPECT_NE(r.findings[0].reason.find("expired"), std::string::npos);
  EXPECT_NE(r.Summary().find("CN=device"), std::string::npos);

  opts.at = kT0 - 2 * kDay;
  EXPECT_TRUE(VerifyCertificate(leaf.get(), opts).ok);
  opts.at = kT0 - 40 * kDay;
  VerifyResult early = VerifyCertificate(leaf.get(), opts);
  EXPECT_FALSE(early.ok);
  // Root, intermediate and leaf are all not yet valid then: one finding per depth.
  ASSERT_EQ(early.findings.size(), 3u) << early.Summary();
  std::set<int> depths;
  for (const CertFinding& f : early.findings) {
    EXPECT_EQ(f.code, X509_V_ERR_CERT_NOT_YET_VALID);
    depths.insert(f.depth);
  }
  EXPECT_EQ(depths, (std::set<int>{0, 1, 2}));

  opts.at = kT0;
  opts.check_time = false;
  VerifyResult no_time = VerifyCertificate(leaf.get(), opts);
  EXPECT_TRUE(no_time.ok) << no_time.Summary();
}

TEST(VerifyTest, TamperedSignatureFails) {
  Ca root = MakeRoot("Root");
  EvpPkeyPtr key = Key();
  X509Ptr leaf = MakeLeaf(root, key.get(), kT0 - kDay, kT0 + kDay);
  std::string der = CertificateDer(leaf.get());
  der[der.size() - 5] ^= 0x01;  // inside the signature value
  auto tampered = ParseCertificate(der);
  ASSERT_TRUE(tampered.ok());
  VerifyOptions opts;
  opts.trusted = {root.cert.get()};
  opts.at = kT0;
  VerifyResult r = VerifyCertificate(tampered->get(), opts);
  EXPECT_FALSE(r.ok);
  ASSERT_FALSE(r.findings.empty());
  EXPECT_EQ(r.findings[0].code, X509_V_ERR_CERT_SIGNATURE_FAILURE) << r.Summary();
  EXPECT_FALSE(CertificateSignedBy(tampered->get(), root.key.get()));

  // The same leaf with a changed body byte (the subject) also fails.
  std::string der2 = CertificateDer(leaf.get());
  size_t pos = der2.find("device");
  ASSERT_NE(pos, std::string::npos);
  der2[pos] = 'D';
  auto altered = ParseCertificate(der2);
  ASSERT_TRUE(altered.ok());
  EXPECT_FALSE(VerifyCertificate(altered->get(), opts).ok);

  EXPECT_FALSE(VerifyCertificate(nullptr, opts).ok);
  opts.trusted.clear();
  EXPECT_FALSE(VerifyCertificate(leaf.get(), opts).ok);
}

// ---- CSR ---------------------------------------------------------------------------------------

TEST(CsrTest, OpensslCliRequestParsesAndVerifies) {
  TempDir dir;
  std::string conf = dir.File("req.cnf",
                              "[req]\nprompt = no\ndistinguished_name = dn\nattributes = attrs\n"
                              "req_extensions = ext\n"
                              "[dn]\nCN = device-1\nO = custos test\n"
                              "[attrs]\nchallengePassword = s3cret-challenge\n"
                              "[ext]\nsubjectAltName = DNS:device.example, IP:127.0.0.1, "
                              "email:a@b.example\n");
  int rc = -1;
  std::string out = RunCommand("openssl req -new -newkey rsa:2048 -nodes -keyout " + dir.path() +
                                   "/k.pem -out " + dir.path() + "/csr.pem -config " + conf,
                               &rc);
  ASSERT_EQ(rc, 0) << out;
  std::ifstream in(dir.path() + "/csr.pem", std::ios::binary);
  std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

  auto csr = ParseAndVerifyCsr(pem);
  ASSERT_TRUE(csr.ok()) << csr.status();
  EXPECT_TRUE(csr->signature_valid);
  EXPECT_EQ(csr->subject, "O=custos test,CN=device-1");
  EXPECT_EQ(csr->key_type, "rsa-2048");
  ASSERT_TRUE(csr->challenge_password.has_value());
  EXPECT_EQ(*csr->challenge_password, "s3cret-challenge");
  std::vector<San> want = {{"dns", "device.example", ""}, {"ip", "127.0.0.1", ""},
                           {"email", "a@b.example", ""}};
  EXPECT_EQ(csr->sans, want);

  // Its key is the key openssl wrote.
  std::ifstream kin(dir.path() + "/k.pem", std::ios::binary);
  std::string key_pem((std::istreambuf_iterator<char>(kin)), std::istreambuf_iterator<char>());
  auto key = PrivateKeyFromPem(key_pem, "");
  ASSERT_TRUE(key.ok());
  EXPECT_TRUE(PublicKeysEqual(key->get(), csr->public_key.get()));

  // DER form too, and a tampered DER fails verification but still parses.
  auto der = ParseCsr(csr->der);
  ASSERT_TRUE(der.ok());
  std::string bad = csr->der;
  size_t pos = bad.find("device-1");
  ASSERT_NE(pos, std::string::npos);
  bad[pos] = 'D';
  auto tampered = ParseCsr(bad);
  ASSERT_TRUE(tampered.ok()) << tampered.status();
  EXPECT_FALSE(tampered->signature_valid);
  EXPECT_FALSE(ParseAndVerifyCsr(bad).ok());
}

TEST(CsrTest, BuiltRequestRoundTripsAndGarbageFails) {
  EvpPkeyPtr key = Key(KeyAlgorithm::kEcP384);
  CsrTemplate t;
  t.subject = {{"CN", "Mac"}, {"O", "custos"}};
  t.sans = {{"permanent_identifier", "C02ABC", ""}};
  t.challenge_password = "pw";
  auto der = BuildCsrDer(t, key.get());
  ASSERT_TRUE(der.ok()) << der.status();
  auto csr = ParseAndVerifyCsr(*der);
  ASSERT_TRUE(csr.ok()) << csr.status();
  EXPECT_EQ(csr->subject, "O=custos,CN=Mac");
  EXPECT_EQ(csr->sans, t.sans);
  EXPECT_EQ(csr->challenge_password.value_or(""), "pw");
  EXPECT_TRUE(PublicKeysEqual(key.get(), csr->public_key.get()));
  EXPECT_EQ(csr->spki_der, *PublicKeyToSpkiDer(key.get()));

  t.challenge_password.clear();
  auto no_pw = ParseCsr(*BuildCsrDer(t, key.get()));
  ASSERT_TRUE(no_pw.ok());
  EXPECT_FALSE(no_pw->challenge_password.has_value());

  EXPECT_FALSE(ParseCsr("").ok());
  EXPECT_FALSE(ParseCsr("\x30\x03\x02\x01\x01").ok());
  EXPECT_FALSE(ParseCsr(der->substr(0, der->size() - 10)).ok());
  EXPECT_FALSE(ParseCsr(*der + "x").ok());
}

// Every field both CSR paths fill must agree.
void ExpectSameCsr(const Csr& fast, const Csr& general) {
  EXPECT_EQ(fast.subject, general.subject);
  EXPECT_EQ(X509_NAME_cmp(fast.subject_name.get(), general.subject_name.get()), 0);
  EXPECT_EQ(fast.sans, general.sans);
  EXPECT_TRUE(PublicKeysEqual(fast.public_key.get(), general.public_key.get()));
  EXPECT_EQ(fast.spki_der, general.spki_der);
  EXPECT_EQ(fast.key_type, general.key_type);
  EXPECT_EQ(fast.challenge_password, general.challenge_password);
  EXPECT_EQ(fast.signature_valid, general.signature_valid);
  EXPECT_EQ(fast.der, general.der);
}

TEST(CsrTest, FastPathAgreesWithOpenSslForEcAndRsa) {
  for (KeyAlgorithm alg : {KeyAlgorithm::kRsa, KeyAlgorithm::kEcP256, KeyAlgorithm::kEcP384}) {
    EvpPkeyPtr key = Key(alg);
    for (bool extras : {false, true}) {
      SCOPED_TRACE(KeyDescription(key.get()) + (extras ? " with SANs and challenge" : ""));
      CsrTemplate t;
      t.subject = {{"CN", "device-\xc3\xa9"}, {"O", "custos"}};
      if (extras) {
        t.sans = {{"permanent_identifier", "C02ABC", ""}, {"dns", "a.example", ""}};
        t.challenge_password = "pw";
      }
      auto der = BuildCsrDer(t, key.get());
      ASSERT_TRUE(der.ok()) << der.status();
      auto fast = csr_internal::ParseCsrFast(*der);
      auto general = csr_internal::ParseCsrWithOpenSsl(*der);
      ASSERT_TRUE(fast.has_value());
      ASSERT_TRUE(general.ok()) << general.status();
      EXPECT_TRUE(fast->signature_valid);
      EXPECT_EQ(fast->sans, t.sans);
      ExpectSameCsr(*fast, *general);

      // A changed subject byte: still parses, the signature no longer verifies, on both paths.
      std::string bad = *der;
      size_t pos = bad.find("custos");
      ASSERT_NE(pos, std::string::npos);
      bad[pos] = 'C';
      auto bad_fast = csr_internal::ParseCsrFast(bad);
      auto bad_general = csr_internal::ParseCsrWithOpenSsl(bad);
      ASSERT_TRUE(bad_fast.has_value());
      ASSERT_TRUE(bad_general.ok());
      EXPECT_FALSE(bad_fast->signature_valid);
      ExpectSameCsr(*bad_fast, *bad_general);

      // Malformed input is declined, never half-read: the general path gives the error.
      EXPECT_FALSE(csr_internal::ParseCsrFast(der->substr(0, der->size() - 1)).has_value());
      EXPECT_FALSE(csr_internal::ParseCsrFast(*der + "x").has_value());
      EXPECT_FALSE(csr_internal::ParseCsrFast("").has_value());
    }
  }
}

TEST(CsrTest, FastPathDeclinesOtherShapesAndParseCsrStillTakesThem) {
  TempDir dir;
  struct Case {
    std::string what, newkey, sigopts;
    bool fast;
  };
  std::vector<Case> cases = {
      {"P-521 with SHA-512", "-newkey ec -pkeyopt ec_paramgen_curve:P-521 -sha512", "", true},
      {"RSA with SHA-384", "-newkey rsa:2048 -sha384", "", true},
      {"Ed25519", "-newkey ed25519", "", false},
      {"RSA-PSS signature", "-newkey rsa:2048 -sha256",
       "-sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32", false},
      {"RSA with SHA-1", "-newkey rsa:2048 -sha1", "", false},
      {"explicit EC parameters", "-newkey ec:" + dir.path() + "/explicit.pem", "", false},
  };
  int rc = -1;
  std::string out = RunCommand("openssl ecparam -name prime256v1 -param_enc explicit -out " +
                                   dir.path() + "/explicit.pem",
                               &rc);
  ASSERT_EQ(rc, 0) << out;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    std::string path = dir.path() + "/req.der";
    out = RunCommand("openssl req -new -nodes -subj /CN=shape " + c.newkey + " " + c.sigopts +
                         " -keyout " + dir.path() + "/k.pem -outform DER -out " + path,
                     &rc);
    ASSERT_EQ(rc, 0) << out;
    std::ifstream in(path, std::ios::binary);
    std::string der((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto fast = csr_internal::ParseCsrFast(der);
    EXPECT_EQ(fast.has_value(), c.fast);
    auto csr = ParseCsr(der);
    ASSERT_TRUE(csr.ok()) << csr.status();
    EXPECT_TRUE(csr->signature_valid);
    EXPECT_EQ(csr->subject, "CN=shape");
    if (fast) ExpectSameCsr(*fast, *csr_internal::ParseCsrWithOpenSsl(der));
  }
}

// ---- CRL ---------------------------------------------------------------------------------------

TEST(CrlTest, BuildParseVerify) {
  Ca root = MakeRoot("Root");
  Ca sub = MakeSub(root, "Sub");
  CrlTemplate t;
  t.number = 42;
  t.this_update = kT0;
  t.next_update = kT0 + 7 * kDay;
  t.entries = {{"0a1b", kT0 - kDay, kReasonKeyCompromise},
               {"ff00ff00ff00ff00ff00ff00ff00ff00", kT0 - 2 * kDay, kReasonUnspecified},
               {"03", kT0 - 3 * kDay, kReasonSuperseded}};
  auto crl = BuildCrl(t, sub.cert.get(), sub.key.get());
  ASSERT_TRUE(crl.ok()) << crl.status();
  EXPECT_TRUE(CrlSignedBy(crl->get(), sub.cert.get()));
  EXPECT_FALSE(CrlSignedBy(crl->get(), root.cert.get()));

  for (const std::string& input : {CrlDer(crl->get()), CrlPem(crl->get())}) {
    auto parsed = ParseCrl(input);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->issuer, "CN=Sub");
    EXPECT_EQ(parsed->number, 42);
    EXPECT_EQ(parsed->this_update, kT0);
    EXPECT_EQ(parsed->next_update, kT0 + 7 * kDay);
    ASSERT_EQ(parsed->entries.size(), 3u);
    std::map<std::string, CrlEntry> by_serial;
    for (const CrlEntry& e : parsed->entries) by_serial[e.serial_hex] = e;
    EXPECT_EQ(by_serial["a1b"].reason, kReasonKeyCompromise);
    EXPECT_EQ(by_serial["a1b"].revoked_at, kT0 - kDay);
    EXPECT_EQ(by_serial["ff00ff00ff00ff00ff00ff00ff00ff00"].reason, kReasonUnspecified);
    EXPECT_EQ(by_serial["3"].reason, kReasonSuperseded);
  }
  std::string der = CrlDer(crl->get());
  der[der.size() - 3] ^= 0x40;
  auto tampered = ParseCrl(der);
  ASSERT_TRUE(tampered.ok());
  EXPECT_FALSE(CrlSignedBy(tampered->crl.get(), sub.cert.get()));
  EXPECT_FALSE(ParseCrl("garbage").ok());

  // The openssl CLI agrees on the signature.
  TempDir dir;
  std::string out = RunCommand("openssl crl -noout -inform DER -in " +
                               dir.File("c.der", CrlDer(crl->get())) + " -CAfile " +
                               dir.File("sub.pem", CertificatePem(sub.cert.get())));
  EXPECT_NE(out.find("verify OK"), std::string::npos) << out;
}

TEST(CrlTest, ReasonNames) {
  EXPECT_EQ(*ParseCrlReason("keyCompromise"), 1);
  EXPECT_EQ(*ParseCrlReason("KEYCOMPROMISE"), 1);
  EXPECT_EQ(*ParseCrlReason("cessationOfOperation"), 5);
  EXPECT_EQ(*ParseCrlReason("caCompromise"), 2);
  EXPECT_EQ(*ParseCrlReason("superseded"), 4);
  EXPECT_EQ(*ParseCrlReason("4"), 4);
  EXPECT_FALSE(ParseCrlReason("because").ok());
  EXPECT_FALSE(ParseCrlReason("7").ok());
  EXPECT_EQ(CrlReasonName(5), "cessationOfOperation");
  EXPECT_EQ(CrlReasonName(7), "unknown(7)");
}

}  // namespace
}  // namespace custos
