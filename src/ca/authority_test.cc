#include "ca/authority.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "base/encoding.h"
#include "pki/crl.h"
#include "pki/key.h"
#include "pki/test_support.h"
#include "storage/testing.h"

namespace custos {
namespace {

using testing_support::RunCommand;
using testing_support::TempDir;

constexpr auto kDay = std::chrono::hours(24);

// Hands out scripted byte strings first (to force serial collisions), then a seeded stream.
class ScriptedRandom : public Random {
 public:
  std::string Bytes(size_t n) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!script_.empty()) {
      std::string s = script_.front();
      script_.pop_front();
      s.resize(n, '\x01');
      return s;
    }
    return fallback_.Bytes(n);
  }
  void Push(std::string bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    script_.push_back(std::move(bytes));
  }

 private:
  std::mutex mu_;
  std::deque<std::string> script_;
  FakeRandom fallback_{12345};
};

X509Ptr Cert(const IssuedCert& issued) {
  auto c = issued.Certificate();
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? std::move(c).value() : nullptr;
}


class AuthorityTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres" && !PostgresAvailable()) {
      GTEST_SKIP() << "PostgreSQL not available (run under scripts/with-postgres.sh)";
    }
    auto storage = OpenTestStorage(GetParam(), &clock_);
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = std::move(storage).value();
    config_.common_name = "Test CA";
    config_.organization = "custos tests";
    config_.root_key_type = "ec-p384";
    config_.issuing_key_bits = 2048;
    config_.cert_validity = std::chrono::duration_cast<Duration>(30 * kDay);
    config_.crl_validity = std::chrono::duration_cast<Duration>(2 * kDay);
  }

  std::unique_ptr<Authority> InitCa(std::string passphrase = "") {
    auto ca = Authority::Init(config_, storage_.get(), &clock_, &random_, passphrase);
    EXPECT_TRUE(ca.ok()) << ca.status();
    return ca.ok() ? std::move(ca).value() : nullptr;
  }

  IssueRequest Request(EVP_PKEY* key, std::string cn) {
    IssueRequest req;
    req.public_key = key;
    req.subject = {{"CN", std::move(cn)}, {"O", "devices"}};
    req.sans = {{"dns", "device.example", ""}};
    req.requester = "api";
    req.requester_ref = "test";
    return req;
  }

  // `openssl verify -CAfile root -untrusted chain cert`, optionally checking CRLs.
  bool OpensslVerify(Authority& ca, X509* cert, std::string* output,
                     const std::string& crls_pem = "") {
    TempDir dir;
    std::string root = dir.File("root.pem", CertificatePem(ca.Root().get()));
    std::string chain = dir.File("chain.pem", ca.ChainPem());
    std::string leaf = dir.File("leaf.pem", CertificatePem(cert));
    // At the test clock's time (which runs ahead of the real one).
    std::string cmd = "openssl verify -attime " + std::to_string(ToUnixSeconds(clock_.Now())) +
                      " -CAfile " + root + " -untrusted " + chain;
    // The leaf's revocation status (the root publishes no CRL for its issuing certificates).
    if (!crls_pem.empty()) cmd += " -crl_check -CRLfile " + dir.File("crls.pem", crls_pem);
    int rc = -1;
    *output = RunCommand(cmd + " " + leaf, &rc);
    return rc == 0;
  }

  FakeClock clock_{Clock::Real()->Now()};
  ScriptedRandom random_;
  CaConfig config_;
  std::unique_ptr<Storage> storage_;
};

TEST_P(AuthorityTest, InitCreatesRootAndIssuingOnceAndLoadsBack) {
  auto missing = Authority::Create(config_, storage_.get(), &clock_, &random_, "");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);

  auto ca = InitCa("pass phrase");
  ASSERT_NE(ca, nullptr);
  CaCertRecord root = ca->RootRecord();
  CaCertRecord issuing = ca->ActiveIssuerRecord();
  EXPECT_EQ(root.subject, "O=custos tests,CN=Test CA Root");
  EXPECT_EQ(issuing.subject, "O=custos tests,CN=Test CA");
  EXPECT_EQ(ca->KeyType(), "root ec-p384, issuing rsa-2048");
  X509Ptr issuing_cert = ca->ActiveIssuer();
  EXPECT_EQ(X509_check_ca(issuing_cert.get()), 1);
  EXPECT_EQ(X509_get_signature_nid(issuing_cert.get()), NID_ecdsa_with_SHA384);
  EXPECT_EQ(IssuerString(issuing_cert.get()), root.subject);

  // Never replaced.
  auto again = Authority::Init(config_, storage_.get(), &clock_, &random_, "pass phrase");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists);

  // Keys are stored encrypted.
  ASSERT_TRUE(storage_
                  ->Transact([&](Stores& s) -> Status {
                    ASSIGN_OR_RETURN(CaKeyRecord k, s.ca().GetKey(issuing.key_id));
                    EXPECT_TRUE(k.encrypted);
                    EXPECT_TRUE(IsEncryptedPrivateKeyPem(k.pkcs8_pem));
                    return OkStatus();
                  })
                  .ok());

  auto loaded = Authority::Create(config_, storage_.get(), &clock_, &random_, "pass phrase");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->RootRecord().sha256_hex, root.sha256_hex);
  EXPECT_EQ((*loaded)->ActiveIssuerRecord().sha256_hex, issuing.sha256_hex);

  auto wrong = Authority::Create(config_, storage_.get(), &clock_, &random_, "wrong");
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().message(), "CA key: wrong passphrase or corrupt key");
  EXPECT_EQ(wrong.status().code(), StatusCode::kPermissionDenied);
  EXPECT_FALSE(Authority::Create(config_, storage_.get(), &clock_, &random_, "").ok());
}

TEST_P(AuthorityTest, RsaRootAndBadConfig) {
  config_.root_key_type = "rsa";
  config_.root_key_bits = 2048;
  config_.issuing_key_bits = 1024;
  auto bad = Authority::Init(config_, storage_.get(), &clock_, &random_, "");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  config_.issuing_key_bits = 3072;
  auto ca = InitCa();
  ASSERT_NE(ca, nullptr);
  EXPECT_EQ(ca->KeyType(), "root rsa-2048, issuing rsa-3072");
  EXPECT_EQ(X509_get_signature_nid(ca->ActiveIssuer().get()), NID_sha256WithRSAEncryption);
}

TEST_P(AuthorityTest, IssueSignsAndRecords) {
  auto ca = InitCa();
  ASSERT_NE(ca, nullptr);
  auto key = GenerateKey(KeyAlgorithm::kEcP256);
  ASSERT_TRUE(key.ok());
  IssueRequest req = Request(key->get(), "device-1");
  req.sans.push_back({"permanent_identifier", "C02ABC", ""});
  req.requester = "scep";
  req.requester_ref = "tx-1";
  req.attributes_json = R"({"attested":true})";
  auto issued = ca->Issue(req);
  ASSERT_TRUE(issued.ok()) << issued.status();
  X509Ptr parsed = *issued->Certificate();
  X509* cert = parsed.get();
  const CertificateRecord& r = issued->record;
  EXPECT_EQ(r.serial_hex, CertSerialHex(cert));
  EXPECT_GE(r.serial_hex.size(), 20u);  // 127 random bits: short serials are vanishingly rare
  EXPECT_LE(r.serial_hex.size(), 32u);
  EXPECT_EQ(r.subject, "O=devices,CN=device-1");
  EXPECT_EQ(r.cert_sha256, CertSha256Hex(cert));
  EXPECT_EQ(r.spki_sha256, SpkiSha256Hex(key->get()));
  EXPECT_EQ(r.issuer_id, ca->ActiveIssuerRecord().id);
  EXPECT_EQ(r.not_after - r.not_before, config_.cert_validity + Authority::kBackdate);
  EXPECT_EQ(X509_get_key_usage(cert),
            static_cast<uint32_t>(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
  EXPECT_EQ(X509_get_extended_key_usage(cert), static_cast<uint32_t>(XKU_SSL_CLIENT));
  EXPECT_EQ(X509_check_ca(cert), 0);
  auto sans = CertificateSans(cert);
  ASSERT_TRUE(sans.ok());
  EXPECT_EQ(*sans, req.sans);

  ASSERT_TRUE(storage_
                  ->Transact([&](Stores& s) -> Status {
                    ASSIGN_OR_RETURN(CertificateRecord got, s.certs().GetBySerial(r.serial_hex));
                    EXPECT_EQ(got.der, CertificateDer(cert));
                    EXPECT_EQ(got.requester, "scep");
                    EXPECT_EQ(got.requester_ref, "tx-1");
                    EXPECT_EQ(got.status, "valid");
                    EXPECT_EQ(got.attributes_json, R"({"attested":true})");
                    auto got_sans = SansFromJson(got.sans_json);
                    EXPECT_TRUE(got_sans.ok() && *got_sans == req.sans);
                    return OkStatus();
                  })
                  .ok());

  auto verified = ca->VerifyIssued(cert, clock_.Now());
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(verified->serial_hex, r.serial_hex);

  // By SPKI DER as well.
  IssueRequest by_spki = Request(nullptr, "device-2");
  by_spki.spki_der = *PublicKeyToSpkiDer(key->get());
  auto second = ca->Issue(by_spki);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE(second->record.serial_hex, r.serial_hex);

  // Bad requests.
  IssueRequest no_key = Request(nullptr, "x");
  EXPECT_EQ(ca->Issue(no_key).status().code(), StatusCode::kInvalidArgument);
  IssueRequest bad_san = Request(key->get(), "x");
  bad_san.sans = {{"ip", "300.1.1.1", ""}};
  EXPECT_EQ(ca->Issue(bad_san).status().code(), StatusCode::kInvalidArgument);
  no_key.spki_der = "garbage";
  EXPECT_EQ(ca->Issue(no_key).status().code(), StatusCode::kInvalidArgument);

  // A certificate custos did not record, though signed by a key it trusts, is refused.
  IssuedVerification details;
  auto other_root = GenerateKey(KeyAlgorithm::kEcP256);
  CertificateTemplate t;
  t.subject = {{"CN", "stranger"}};
  t.not_before = clock_.Now() - kDay;
  t.not_after = clock_.Now() + kDay;
  t.serial_hex = "99";
  auto stranger = BuildCertificate(t, key->get(), nullptr, key->get());
  ASSERT_TRUE(stranger.ok());
  auto refused = ca->VerifyIssued(stranger->get(), clock_.Now(), &details);
  EXPECT_EQ(refused.status().code(), StatusCode::kPermissionDenied);
  EXPECT_FALSE(details.path.ok);
  EXPECT_FALSE(details.path.findings.empty());
}

TEST_P(AuthorityTest, SerialCollisionRetriesWithANewSerial) {
  auto ca = InitCa();
  ASSERT_NE(ca, nullptr);
  auto key = GenerateKey(KeyAlgorithm::kEcP256);
  ASSERT_TRUE(key.ok());
  std::string fixed(16, '\x42');
  random_.Push(fixed);
  auto first = ca->Issue(Request(key->get(), "a"));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->record.serial_hex, HexEncode(fixed));
  random_.Push(fixed);  // the next issuance first draws the same serial
  auto second = ca->Issue(Request(key->get(), "b"));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE(second->record.serial_hex, first->record.serial_hex);

  // Inside a caller's transaction, on SQLite the retry happens in place.
  if (GetParam() == "sqlite") {
    random_.Push(fixed);
    std::string serial;
    ASSERT_TRUE(storage_
                    ->Transact([&](Stores& s) -> Status {
                      ASSIGN_OR_RETURN(IssuedCert c, ca->Issue(s, Request(key->get(), "c")));
                      serial = c.record.serial_hex;
                      return OkStatus();
                    })
                    .ok());
    EXPECT_NE(serial, first->record.serial_hex);
  }
}

TEST_P(AuthorityTest, IssueInCallersTransactionRollsBackWithIt) {
  auto ca = InitCa();
  ASSERT_NE(ca, nullptr);
  auto key = GenerateKey(KeyAlgorithm::kEcP256);
  ASSERT_TRUE(key.ok());
  std::string serial;
  Status s = storage_->Transact([&](Stores& stores) -> Status {
    ASSIGN_OR_RETURN(IssuedCert c, ca->Issue(stores, Request(key->get(), "rolled-back")));
    serial = c.record.serial_hex;
    return FailedPreconditionError("the challenge was already spent");
  });
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  ASSERT_FALSE(serial.empty());
  Status lookup = storage_->Transact([&](Stores& stores) -> Status {
    return stores.certs().GetBySerial(serial).status();
  });
  EXPECT_EQ(lookup.code(), StatusCode::kNotFound);
}

TEST_P(AuthorityTest, ConcurrentIssuanceGivesDistinctRecordedSerials) {
  auto ca = InitCa();
  ASSERT_NE(ca, nullptr);
  auto key = GenerateKey(KeyAlgorithm::kEcP256);
  ASSERT_TRUE(key.ok());
  constexpr int kThreads = 4, kEach = 15;
  std::vector<std::vector<std::string>> serials(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto c = ca->Issue(Request(key->get(), "dev-" + std::to_string(t)));
        EXPECT_TRUE(c.ok()) << c.status();
        if (c.ok()) serials[t].push_back(c->record.serial_hex);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::string> all;
  for (const auto& v : serials) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kEach));
  CertificateFilter filter;
  filter.limit = 1000;
  size_t recorded = 0;
  ASSERT_TRUE(storage_
                  ->Transact([&](Stores& s) -> Status {
                    ASSIGN_OR_RETURN(auto list, s.certs().List(filter));
                    recorded = list.size();
                    return OkStatus();
                  })
                  .ok());
  EXPECT_EQ(recorded, all.size());
}

// The rollover test the Foundation issue asks for: certificates issued before a renew and before
// a re-key still verify against the chain custos serves afterwards (in-process and with the
// openssl CLI), while new ones come from the new issuing certificate.
TEST_P(AuthorityTest, CertificatesIssuedBeforeRolloverStillVerify) {
  auto ca = InitCa("secret");
  ASSERT_NE(ca, nullptr);
  auto key = GenerateKey(KeyAlgorithm::kEcP256);
  ASSERT_TRUE(key.ok());
  CaCertRecord first_issuer = ca->ActiveIssuerRecord();
  auto before_renew = ca->Issue(Request(key->get(), "before-renew"));
  ASSERT_TRUE(before_renew.ok()) << before_renew.status();

  clock_.Advance(std::chrono::duration_cast<Duration>(kDay));
  auto renewed = ca->Renew();
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  EXPECT_EQ(renewed->key_id, first_issuer.key_id);  // same key
  EXPECT_EQ(renewed->subject, first_issuer.subject);
  EXPECT_NE(renewed->sha256_hex, first_issuer.sha256_hex);
  EXPECT_EQ(ca->ActiveIssuerRecord().id, renewed->id);
  auto before_rekey = ca->Issue(Request(key->get(), "before-rekey"));
  ASSERT_TRUE(before_rekey.ok());
  EXPECT_EQ(before_rekey->record.issuer_id, renewed->id);

  clock_.Advance(std::chrono::duration_cast<Duration>(kDay));
  auto rekeyed = ca->Rekey();
  ASSERT_TRUE(rekeyed.ok()) << rekeyed.status();
  EXPECT_NE(rekeyed->key_id, first_issuer.key_id);  // new key
  EXPECT_EQ(rekeyed->subject, first_issuer.subject);
  auto after = ca->Issue(Request(key->get(), "after-rekey"));
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->record.issuer_id, rekeyed->id);
  EvpPkeyPtr active_key = CertificatePublicKey(ca->ActiveIssuer().get());
  EXPECT_TRUE(CertificateSignedBy(Cert(*after).get(), active_key.get()));
  EXPECT_FALSE(CertificateSignedBy(Cert(*before_rekey).get(), active_key.get()));

  // Served chain: active issuing, root, then the two older issuing certificates, newest first.
  auto chain = ParseCertificateChain(ca->ChainPem());
  ASSERT_TRUE(chain.ok());
  ASSERT_EQ(chain->size(), 4u);
  EXPECT_EQ(CertSha256Hex((*chain)[0].get()), rekeyed->sha256_hex);
  EXPECT_EQ(CertSha256Hex((*chain)[1].get()), ca->RootRecord().sha256_hex);
  EXPECT_EQ(CertSha256Hex((*chain)[2].get()), renewed->sha256_hex);
  EXPECT_EQ(CertSha256Hex((*chain)[3].get()), first_issuer.sha256_hex);
  EXPECT_EQ(ca->TrustedIssuers().size(), 3u);

  // A fresh process (loading from storage) serves and trusts the same.
  auto reloaded = Authority::Create(config_, storage_.get(), &clock_, &random_, "secret");
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ((*reloaded)->ChainPem(), ca->ChainPem());

  for (auto* issued : {&*before_renew, &*before_rekey, &*after}) {
    auto ok = (*reloaded)->VerifyIssued(Cert(*issued).get(), clock_.Now());
    EXPECT_TRUE(ok.ok()) << issued->record.subject << ": " << ok.status();
    std::string out;
    EXPECT_TRUE(OpensslVerify(**reloaded, Cert(*issued).get(), &out))
        << issued->record.subject << ": " << out;
  }

  // Once the old issuing certificates expire they are no longer served or trusted.
  clock_.Advance(config_.issuing_validity);
  EXPECT_EQ(ca->TrustedIssuers().size(), 1u);
}

TEST_P(AuthorityTest, RevocationAndCrls) {
  auto ca = InitCa();
  ASSERT_NE(ca, nullptr);
  auto key = GenerateKey(KeyAlgorithm::kEcP256);
  ASSERT_TRUE(key.ok());
  auto old_cert = ca->Issue(Request(key->get(), "old-key"));
  auto keep_old = ca->Issue(Request(key->get(), "old-key-kept"));
  ASSERT_TRUE(old_cert.ok() && keep_old.ok());

  // An initial CRL is empty, numbered 1, signed by the issuing CA.
  auto crl0 = ca->CrlDer();
  ASSERT_TRUE(crl0.ok()) << crl0.status();
  auto parsed0 = ParseCrl(*crl0);
  ASSERT_TRUE(parsed0.ok());
  EXPECT_TRUE(parsed0->entries.empty());
  EXPECT_EQ(parsed0->number, 1);
  EXPECT_TRUE(CrlSignedBy(parsed0->crl.get(), ca->ActiveIssuer().get()));
  EXPECT_EQ(parsed0->next_update - parsed0->this_update, config_.crl_validity);

  ASSERT_TRUE(ca->Rekey().ok());
  auto new_cert = ca->Issue(Request(key->get(), "new-key"));
  auto keep_new = ca->Issue(Request(key->get(), "new-key-kept"));
  ASSERT_TRUE(new_cert.ok() && keep_new.ok());

  ASSERT_TRUE(ca->Revoke(old_cert->record.serial_hex, kReasonKeyCompromise).ok());
  ASSERT_TRUE(ca->Revoke(new_cert->record.serial_hex, kReasonSuperseded).ok());
  EXPECT_EQ(ca->Revoke(new_cert->record.serial_hex, kReasonSuperseded).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(ca->Revoke("abcdef0123", kReasonUnspecified).code(), StatusCode::kNotFound);
  EXPECT_EQ(ca->Revoke("zz", kReasonUnspecified).code(), StatusCode::kInvalidArgument);

  // The served CRL (active key) lists the new-key revocation only.
  auto crl = ParseCrl(*ca->CrlDer());
  ASSERT_TRUE(crl.ok());
  ASSERT_EQ(crl->entries.size(), 1u);
  EXPECT_EQ(crl->entries[0].serial_hex, new_cert->record.serial_hex);
  EXPECT_EQ(crl->entries[0].reason, kReasonSuperseded);
  EXPECT_TRUE(CrlSignedBy(crl->crl.get(), ca->ActiveIssuer().get()));

  // Revoked certificates no longer verify; the others do.
  IssuedVerification details;
  auto refused = ca->VerifyIssued(Cert(*old_cert).get(), clock_.Now(), &details);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("revoked (keyCompromise)"), std::string::npos);
  EXPECT_TRUE(details.path.ok);  // the path is fine; the record says revoked
  EXPECT_TRUE(ca->VerifyIssued(Cert(*keep_old).get(), clock_.Now()).ok());

  // Every CRL together lets openssl check any certificate custos issued, across the re-key.
  auto all = ca->AllCrlsPem();
  ASSERT_TRUE(all.ok()) << all.status();
  std::string out;
  EXPECT_FALSE(OpensslVerify(*ca, Cert(*old_cert).get(), &out, *all)) << out;
  EXPECT_NE(out.find("revoked"), std::string::npos) << out;
  EXPECT_FALSE(OpensslVerify(*ca, Cert(*new_cert).get(), &out, *all)) << out;
  EXPECT_TRUE(OpensslVerify(*ca, Cert(*keep_old).get(), &out, *all)) << out;
  EXPECT_TRUE(OpensslVerify(*ca, Cert(*keep_new).get(), &out, *all)) << out;

  // Regenerated before it expires: past half of crl_validity the next read makes a new one.
  int64_t number = crl->number;
  clock_.Advance(config_.crl_validity / 2 - Duration(60));
  EXPECT_EQ(ParseCrl(*ca->CrlDer())->number, number);
  clock_.Advance(Duration(120));
  auto fresh = ParseCrl(*ca->CrlDer());
  ASSERT_TRUE(fresh.ok());
  EXPECT_GT(fresh->number, number);
  EXPECT_EQ(fresh->this_update, FromUnixSeconds(ToUnixSeconds(clock_.Now())));
  EXPECT_EQ(fresh->entries.size(), 1u);
}

TEST_P(AuthorityTest, ExpiredIssuerRefusesAndValidityIsCapped) {
  config_.issuing_validity = std::chrono::duration_cast<Duration>(10 * kDay);
  auto ca = InitCa();
  ASSERT_NE(ca, nullptr);
  auto key = GenerateKey(KeyAlgorithm::kEcP256);
  ASSERT_TRUE(key.ok());
  auto capped = ca->Issue(Request(key->get(), "capped"));  // asks 30 days, issuer has 10
  ASSERT_TRUE(capped.ok());
  EXPECT_EQ(capped->record.not_after, ca->ActiveIssuerRecord().not_after);
  clock_.Advance(std::chrono::duration_cast<Duration>(11 * kDay));
  auto refused = ca->Issue(Request(key->get(), "late"));
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  auto renewed = ca->Renew();
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  EXPECT_TRUE(ca->Issue(Request(key->get(), "after-renew")).ok());
  // The expired certificate's finding says so.
  IssuedVerification details;
  EXPECT_FALSE(ca->VerifyIssued(Cert(*capped).get(), clock_.Now(), &details).ok());
  ASSERT_FALSE(details.path.findings.empty());
  EXPECT_EQ(details.path.findings[0].code, X509_V_ERR_CERT_HAS_EXPIRED);
}

TEST_P(AuthorityTest, LoadOrInitCreatesOnceThenLoads) {
  Config config;
  config.ca = config_;
  config.ca.passphrase = "pp";
  auto first = LoadOrInitAuthority(config, storage_.get(), &clock_, &random_);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = LoadOrInitAuthority(config, storage_.get(), &clock_, &random_);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ((*first)->RootRecord().sha256_hex, (*second)->RootRecord().sha256_hex);
  config.ca.passphrase = "other";
  auto wrong = LoadOrInitAuthority(config, storage_.get(), &clock_, &random_);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().message(), "CA key: wrong passphrase or corrupt key");
}

TEST_P(AuthorityTest, ConcurrentInitsAgreeOnTheOldestRoot) {
  auto first = InitCa();
  ASSERT_NE(first, nullptr);
  // A second CA, as a racing process would have written it into the same database.
  auto other_storage = OpenTestStorage("sqlite", &clock_);
  ASSERT_TRUE(other_storage.ok());
  auto second = Authority::Init(config_, other_storage->get(), &clock_, &random_, "");
  ASSERT_TRUE(second.ok()) << second.status();
  std::vector<CaCertRecord> certs;
  std::map<int64_t, CaKeyRecord> keys;
  ASSERT_TRUE((*other_storage)
                  ->Transact([&](Stores& s) -> Status {
                    ASSIGN_OR_RETURN(certs, s.ca().ListCerts());
                    for (const auto& c : certs) {
                      ASSIGN_OR_RETURN(keys[c.key_id], s.ca().GetKey(c.key_id));
                    }
                    return OkStatus();
                  })
                  .ok());
  ASSERT_TRUE(storage_
                  ->Transact([&](Stores& s) -> Status {
                    for (auto c : certs) {  // root first: ListCerts is oldest first
                      ASSIGN_OR_RETURN(c.key_id, s.ca().InsertKey(keys[c.key_id]));
                      ASSIGN_OR_RETURN(int64_t id, s.ca().InsertCert(c));
                      RETURN_IF_ERROR(s.ca().SetActive(id));  // the later writer's are active
                    }
                    return OkStatus();
                  })
                  .ok());
  auto loaded = Authority::Create(config_, storage_.get(), &clock_, &random_, "");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->RootRecord().sha256_hex, first->RootRecord().sha256_hex);
  EXPECT_EQ((*loaded)->ActiveIssuerRecord().sha256_hex, first->ActiveIssuerRecord().sha256_hex);
  EXPECT_EQ((*loaded)->TrustedIssuers().size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Drivers, AuthorityTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace custos
