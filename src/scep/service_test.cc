#include "scep/service.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "base/encoding.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/x509.h"
#include "scep/client.h"
#include "scep/http_handler.h"
#include "scep/testing.h"
#include "storage/testing.h"

namespace custos::scep {
namespace {

// Runs on SQLite, and on PostgreSQL when scripts/with-postgres.sh provides a server.
class ScepServiceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres" && !PostgresAvailable()) {
      GTEST_SKIP() << "PostgreSQL not available (run under scripts/with-postgres.sh)";
    }
    auto storage = OpenTestStorage(GetParam(), &clock_);
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = std::move(*storage);
    CaConfig ca_config;
    ca_config.root_key_type = "ec-p384";
    ca_config.issuing_key_bits = 2048;
    auto ca = Authority::Init(ca_config, storage_.get(), &clock_, &random_, "");
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = std::move(*ca);
    MakeService();
  }

  void MakeService() {
    auto service = ScepService::Create(config_, ca_.get(), storage_.get(), &clock_, &random_, "");
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = std::move(*service);
    auto ca_cert = service_->GetCaCert();
    ASSERT_TRUE(ca_cert.ok()) << ca_cert.status();
    auto certs = ScepClient::ParseGetCaCert(ca_cert->body);
    ASSERT_TRUE(certs.ok()) << certs.status();
    ClientOptions o;
    o.clock = &clock_;
    o.random = &random_;
    auto client = ScepClient::Create(std::move(*certs), o);
    ASSERT_TRUE(client.ok());
    client_ = std::move(*client);
  }

  struct Device {
    EvpPkeyPtr key;
    std::string csr;
  };
  Device NewDevice(const std::string& cn, const std::string& challenge, int bits = 2048,
                   std::vector<San> sans = {}) {
    Device d;
    if (bits < 2048) {  // GenerateKey refuses weak keys; a device might still send one
      d.key.reset(EVP_RSA_gen(bits));
    } else {
      auto key = GenerateKey(KeyAlgorithm::kRsa, bits);
      EXPECT_TRUE(key.ok());
      d.key = std::move(*key);
    }
    CsrTemplate t;
    t.subject = {{"CN", cn}};
    t.sans = std::move(sans);
    t.challenge_password = challenge;
    auto csr = BuildCsrDer(t, d.key.get());
    EXPECT_TRUE(csr.ok()) << csr.status();
    d.csr = csr.value_or("");
    return d;
  }

  // Sends `tx` and decodes the reply.
  StatusOr<CertRep> Send(const ClientTransaction& tx) {
    ASSIGN_OR_RETURN(std::string body, service_->PkiOperation(tx.message));
    return client_->ReadReply(tx, body);
  }

  StatusOr<CertRep> Enroll(const Device& d) {
    ASSIGN_OR_RETURN(ClientTransaction tx, client_->PkcsReq(d.key.get(), d.csr));
    return Send(tx);
  }

  FakeClock clock_{Clock::Real()->Now()};
  FakeRandom random_{99};
  ScepConfig config_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<Authority> ca_;
  std::unique_ptr<ScepService> service_;
  std::unique_ptr<ScepClient> client_;
  std::vector<EvpPkeyPtr> keys_;  // keep keys of transactions in flight alive
};

TEST_P(ScepServiceTest, CapsAndCaCert) {
  std::string caps = service_->GetCaCaps();
  for (const char* c : {"POSTPKIOperation", "SHA-256", "SHA-512", "AES", "SCEPStandard", "Renewal"}) {
    EXPECT_NE(caps.find(c), std::string::npos) << c;
  }
  EXPECT_EQ(caps.find("DES3"), std::string::npos);
  EXPECT_EQ(caps.find("SHA-1"), std::string::npos);
  auto reply = service_->GetCaCert();
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->content_type, "application/x-x509-ca-ra-cert");
  auto certs = ScepClient::ParseGetCaCert(reply->body);
  ASSERT_TRUE(certs.ok());
  ASSERT_EQ(certs->size(), 2u);
  EXPECT_EQ(X509_cmp((*certs)[0].get(), ca_->ActiveIssuer().get()), 0);
  EXPECT_EQ(X509_cmp((*certs)[1].get(), ca_->Root().get()), 0);

  config_.legacy_algorithms = true;
  MakeService();
  caps = service_->GetCaCaps();
  EXPECT_NE(caps.find("DES3"), std::string::npos);
  EXPECT_NE(caps.find("SHA-1"), std::string::npos);
}

TEST_P(ScepServiceTest, RealCaptureGetsFailureCertRep) {
  std::string der = testing::ReadFileOrDie(testing::RealPkcsReqPath());
  auto body = service_->PkiOperation(der);
  ASSERT_TRUE(body.ok()) << body.status();
  auto parsed = ParseSignedData(*body);
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(VerifySignedData(*parsed, std::string_view()).ok());
  EXPECT_EQ(parsed->signature_algorithm, "rsaEncryption");
  EXPECT_EQ(parsed->digest_algorithm, "sha1");
  EXPECT_EQ(X509_cmp(parsed->signer.get(), ca_->ActiveIssuer().get()), 0);
  ASSERT_NE(parsed->FindAttribute(kOidTransactionId), nullptr);
  EXPECT_EQ(parsed->FindAttribute(kOidTransactionId)->value,
            "A13090761A30F66664F85D37433D2065E1112BA1");
  ASSERT_NE(parsed->FindAttribute(kOidPkiStatus), nullptr);
  EXPECT_EQ(parsed->FindAttribute(kOidPkiStatus)->value, "2");
  ASSERT_NE(parsed->FindAttribute(kOidFailInfo), nullptr);
  EXPECT_EQ(parsed->FindAttribute(kOidFailInfo)->value, "1");  // badMessageCheck
  ASSERT_NE(parsed->FindAttribute(kOidRecipientNonce), nullptr);
  EXPECT_EQ(HexEncode(parsed->FindAttribute(kOidRecipientNonce)->value), "ae7fe8816cc6bedd");
  auto issued = storage_->Transact([](Stores& st) -> Status {
    auto list = st.certs().List({});
    if (!list.ok()) return list.status();
    return list->empty() ? OkStatus() : InternalError("something was issued");
  });
  EXPECT_TRUE(issued.ok()) << issued;
}

TEST_P(ScepServiceTest, DynamicChallengeIsOneTime) {
  auto challenge = service_->NewChallenge();
  ASSERT_TRUE(challenge.ok()) << challenge.status();
  EXPECT_EQ(challenge->size(), 32u);
  Device a = NewDevice("device-a", *challenge);
  auto rep = Enroll(a);
  ASSERT_TRUE(rep.ok()) << rep.status();
  ASSERT_EQ(rep->status, PkiStatus::kSuccess);
  ASSERT_EQ(rep->certificates.size(), 1u);
  X509* cert = rep->certificates[0].get();
  EXPECT_EQ(SubjectString(cert), "CN=device-a");
  EXPECT_TRUE(PublicKeysEqual(CertificatePublicKey(cert).get(), a.key.get()));
  auto record = ca_->VerifyIssued(cert, clock_.Now());
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->requester, "scep");
  // Key usage and EKU as the policy says.
  EXPECT_TRUE(X509_get_key_usage(cert) & KU_DIGITAL_SIGNATURE);
  EXPECT_TRUE(X509_get_key_usage(cert) & KU_KEY_ENCIPHERMENT);
  EXPECT_TRUE(X509_get_extended_key_usage(cert) & XKU_SSL_CLIENT);

  // Spent: a second device with the same challenge fails.
  Device b = NewDevice("device-b", *challenge);
  rep = Enroll(b);
  ASSERT_TRUE(rep.ok()) << rep.status();
  EXPECT_EQ(rep->status, PkiStatus::kFailure);
  EXPECT_EQ(rep->fail_info, FailInfo::kBadRequest);
  // Wrong and missing challenges fail too.
  rep = Enroll(NewDevice("device-c", "wrong"));
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->status, PkiStatus::kFailure);
  rep = Enroll(NewDevice("device-d", ""));
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->status, PkiStatus::kFailure);
  // Expired.
  auto short_lived = service_->NewChallenge(Duration(60));
  ASSERT_TRUE(short_lived.ok());
  clock_.Advance(std::chrono::seconds(61));
  rep = Enroll(NewDevice("device-e", *short_lived));
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->status, PkiStatus::kFailure);
}

TEST_P(ScepServiceTest, StaticChallengeAndBoundChallenge) {
  config_.challenge = "static-secret";
  MakeService();
  for (int i = 0; i < 2; ++i) {
    auto rep = Enroll(NewDevice("static-" + std::to_string(i), "static-secret"));
    ASSERT_TRUE(rep.ok()) << rep.status();
    EXPECT_EQ(rep->status, PkiStatus::kSuccess);
  }
  auto bound = service_->NewChallenge(std::nullopt, "C02XYZ123");
  ASSERT_TRUE(bound.ok());
  auto rep = Enroll(NewDevice("some other device", *bound));
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->status, PkiStatus::kFailure);
  rep = Enroll(NewDevice("C02XYZ123", *bound));
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->status, PkiStatus::kSuccess);
}

TEST_P(ScepServiceTest, IdempotentRetransmission) {
  auto challenge = service_->NewChallenge();
  ASSERT_TRUE(challenge.ok());
  Device d = NewDevice("device-r", *challenge);
  auto tx = client_->PkcsReq(d.key.get(), d.csr);
  ASSERT_TRUE(tx.ok());
  auto first = Send(*tx);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->status, PkiStatus::kSuccess);
  // The same message again (the challenge is spent by now): the same certificate.
  auto again = Send(*tx);
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(again->status, PkiStatus::kSuccess);
  EXPECT_EQ(X509_cmp(first->certificates[0].get(), again->certificates[0].get()), 0);
  // The same transactionID with another key: refused.
  Device other = NewDevice("device-r", "static");
  RequestParams p;
  p.type = MessageType::kPkcsReq;
  p.transaction_id = tx->transaction_id;
  p.sender_nonce = "0123456789abcdef";
  p.message_data = other.csr;
  p.recipient = ca_->ActiveIssuer().get();
  p.signer_key = other.key.get();
  X509Ptr signer = testing::MakeSelfSignedSigner(other.key.get(), "other");
  p.signer_cert = signer.get();
  auto der = EncodePkiOperation(p);
  ASSERT_TRUE(der.ok());
  auto body = service_->PkiOperation(*der);
  ASSERT_TRUE(body.ok());
  auto rep = DecodeCertRep(*body, other.key.get(), signer.get(), {});
  ASSERT_TRUE(rep.ok()) << rep.status();
  EXPECT_EQ(rep->status, PkiStatus::kFailure);
  EXPECT_EQ(rep->fail_info, FailInfo::kBadRequest);
}

TEST_P(ScepServiceTest, ConcurrentRequestsWithOneChallengeIssueOnce) {
  auto challenge = service_->NewChallenge();
  ASSERT_TRUE(challenge.ok());
  constexpr int kClients = 6;
  std::vector<ClientTransaction> txs;
  for (int i = 0; i < kClients; ++i) {
    Device d = NewDevice("racer-" + std::to_string(i), *challenge);
    auto tx = client_->PkcsReq(d.key.get(), d.csr);
    ASSERT_TRUE(tx.ok());
    keys_.push_back(std::move(d.key));
    txs.push_back(std::move(*tx));
  }
  std::atomic<int> successes{0}, failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      auto rep = Send(txs[i]);
      if (rep.ok() && rep->status == PkiStatus::kSuccess) ++successes;
      if (rep.ok() && rep->status == PkiStatus::kFailure) ++failures;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(successes.load(), 1);
  EXPECT_EQ(failures.load(), kClients - 1);
}

TEST_P(ScepServiceTest, ConcurrentEnrollmentsGetDistinctSerials) {
  config_.challenge = "static-secret";
  MakeService();
  constexpr int kClients = 16;  // issue 3: 16 clients at once, 16 distinct serials
  std::vector<ClientTransaction> txs;
  for (int i = 0; i < kClients; ++i) {
    Device d = NewDevice("parallel-" + std::to_string(i), "static-secret");
    auto tx = client_->PkcsReq(d.key.get(), d.csr);
    ASSERT_TRUE(tx.ok());
    keys_.push_back(std::move(d.key));
    txs.push_back(std::move(*tx));
  }
  std::mutex mu;
  std::set<std::string> serials;
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      auto rep = Send(txs[i]);
      if (rep.ok() && rep->status == PkiStatus::kSuccess && !rep->certificates.empty()) {
        std::lock_guard<std::mutex> lock(mu);
        serials.insert(CertSerialHex(rep->certificates[0].get()));
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(serials.size(), static_cast<size_t>(kClients));
}

TEST_P(ScepServiceTest, ManualApprovalAndCertPoll) {
  config_.manual_approval = true;
  config_.challenge = "static-secret";
  MakeService();
  Device d = NewDevice("pending-device", "static-secret");
  auto tx = client_->PkcsReq(d.key.get(), d.csr);
  ASSERT_TRUE(tx.ok());
  auto rep = Send(*tx);
  ASSERT_TRUE(rep.ok()) << rep.status();
  EXPECT_EQ(rep->status, PkiStatus::kPending);
  auto subject = BuildName({{"CN", "pending-device"}});
  ASSERT_TRUE(subject.ok());
  auto poll = client_->CertPoll(*tx, subject->get());
  ASSERT_TRUE(poll.ok());
  rep = Send(*poll);
  ASSERT_TRUE(rep.ok()) << rep.status();
  EXPECT_EQ(rep->status, PkiStatus::kPending);

  auto serial = service_->Approve(tx->transaction_id);
  ASSERT_TRUE(serial.ok()) << serial.status();
  EXPECT_EQ(service_->Approve(tx->transaction_id).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(service_->Approve("nope").status().code(), StatusCode::kNotFound);
  poll = client_->CertPoll(*tx, subject->get());
  ASSERT_TRUE(poll.ok());
  rep = Send(*poll);
  ASSERT_TRUE(rep.ok()) << rep.status();
  ASSERT_EQ(rep->status, PkiStatus::kSuccess);
  EXPECT_EQ(CertSerialHex(rep->certificates[0].get()), *serial);

  // Rejected transactions fail at the next poll.
  Device r = NewDevice("rejected-device", "static-secret");
  auto rtx = client_->PkcsReq(r.key.get(), r.csr);
  ASSERT_TRUE(rtx.ok());
  ASSERT_TRUE(Send(*rtx).ok());
  ASSERT_TRUE(service_->Reject(rtx->transaction_id).ok());
  poll = client_->CertPoll(*rtx, subject->get());
  ASSERT_TRUE(poll.ok());
  rep = Send(*poll);
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->status, PkiStatus::kFailure);
}

TEST_P(ScepServiceTest, RenewalRules) {
  config_.challenge = "static-secret";
  config_.renewal_grace = Duration(86400);
  config_.validity = Duration(7 * 86400);
  MakeService();
  Device d = NewDevice("renew-me", "static-secret");
  auto rep = Enroll(d);
  ASSERT_TRUE(rep.ok());
  ASSERT_EQ(rep->status, PkiStatus::kSuccess);
  X509Ptr old_cert = std::move(rep->certificates[0]);
  std::string old_serial = CertSerialHex(old_cert.get());

  auto renew = [&](X509* signer_cert, EVP_PKEY* signer_key) -> StatusOr<CertRep> {
    Device fresh = NewDevice("renew-me", "");
    ASSIGN_OR_RETURN(ClientTransaction tx, client_->RenewalReq(fresh.csr, signer_key, signer_cert));
    keys_.push_back(std::move(fresh.key));
    return Send(tx);
  };
  rep = renew(old_cert.get(), d.key.get());
  ASSERT_TRUE(rep.ok()) << rep.status();
  ASSERT_EQ(rep->status, PkiStatus::kSuccess);
  auto record = ca_->VerifyIssued(rep->certificates[0].get(), clock_.Now());
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->renewal_of, old_serial);

  // Inside the grace period after expiry: accepted; beyond: badTime.
  clock_.Advance(std::chrono::hours(24 * 7 + 12));
  rep = renew(old_cert.get(), d.key.get());
  ASSERT_TRUE(rep.ok()) << rep.status();
  EXPECT_EQ(rep->status, PkiStatus::kSuccess);
  clock_.Advance(std::chrono::hours(24));
  rep = renew(old_cert.get(), d.key.get());
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->status, PkiStatus::kFailure);
  EXPECT_EQ(rep->fail_info, FailInfo::kBadTime);

  // Not issued by custos: badCertId. Revoked: badCertId.
  testing::Identity stranger = testing::MakeIdentity("stranger");
  rep = renew(stranger.cert.get(), stranger.key.get());
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->status, PkiStatus::kFailure);
  EXPECT_EQ(rep->fail_info, FailInfo::kBadCertId);
  Device e = NewDevice("to-revoke", "static-secret");
  rep = Enroll(e);
  ASSERT_TRUE(rep.ok());
  ASSERT_EQ(rep->status, PkiStatus::kSuccess);
  X509Ptr revoked = std::move(rep->certificates[0]);
  ASSERT_TRUE(ca_->Revoke(CertSerialHex(revoked.get()), 1).ok());
  rep = renew(revoked.get(), e.key.get());
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->status, PkiStatus::kFailure);
  EXPECT_EQ(rep->fail_info, FailInfo::kBadCertId);
}

TEST_P(ScepServiceTest, PolicyAndBadInput) {
  config_.challenge = "static-secret";
  MakeService();
  auto rep = Enroll(NewDevice("weak", "static-secret", 1024));
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->status, PkiStatus::kFailure);
  EXPECT_EQ(rep->fail_info, FailInfo::kBadRequest);
  rep = Enroll(NewDevice("uri", "static-secret", 2048, {{"permanent_identifier", "X", ""}}));
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->status, PkiStatus::kFailure);
  rep = Enroll(NewDevice("dns", "static-secret", 2048, {{"dns", "device.example", ""}}));
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->status, PkiStatus::kSuccess);

  EXPECT_EQ(service_->PkiOperation("garbage").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->PkiOperation(std::string(70000, '\x30')).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_P(ScepServiceTest, GetCertAndGetCrl) {
  config_.challenge = "static-secret";
  MakeService();
  Device d = NewDevice("fetch-me", "static-secret");
  auto rep = Enroll(d);
  ASSERT_TRUE(rep.ok());
  ASSERT_EQ(rep->status, PkiStatus::kSuccess);
  std::string serial = CertSerialHex(rep->certificates[0].get());
  auto get = client_->GetCert(serial, d.key.get(), rep->certificates[0].get());
  ASSERT_TRUE(get.ok());
  auto got = Send(*get);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->status, PkiStatus::kSuccess);
  EXPECT_EQ(CertSerialHex(got->certificates[0].get()), serial);
  get = client_->GetCert("abcdef", d.key.get(), rep->certificates[0].get());
  ASSERT_TRUE(get.ok());
  got = Send(*get);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->fail_info, FailInfo::kBadCertId);
  auto crl = client_->GetCrl(serial, d.key.get(), rep->certificates[0].get());
  ASSERT_TRUE(crl.ok());
  got = Send(*crl);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->status, PkiStatus::kSuccess);
  EXPECT_EQ(got->crls.size(), 1u);
}

TEST_P(ScepServiceTest, HttpBinding) {
  config_.challenge = "static-secret";
  MakeService();
  http::Router router;
  RegisterScepRoutes(router, service_.get(), "/scep");
  auto call = [&](std::string method, std::string path,
                  std::vector<std::pair<std::string, std::string>> query, std::string body) {
    http::Request r;
    r.method = std::move(method);
    r.path = std::move(path);
    r.query = std::move(query);
    r.body = std::move(body);
    std::string_view route;
    return router.Dispatch(r, &route);
  };
  auto caps = call("GET", "/scep", {{"operation", "GetCACaps"}}, "");
  EXPECT_EQ(caps.status, 200);
  EXPECT_NE(caps.body.find("SCEPStandard"), std::string::npos);
  auto ca = call("GET", "/scep/pkiclient.exe", {{"operation", "GetCACert"}}, "");
  EXPECT_EQ(ca.status, 200);
  EXPECT_EQ(ca.headers.Get("Content-Type").value_or(""), "application/x-x509-ca-ra-cert");
  EXPECT_TRUE(ScepClient::ParseGetCaCert(ca.body).ok());

  Device d = NewDevice("http-device", "static-secret");
  auto tx = client_->PkcsReq(d.key.get(), d.csr);
  ASSERT_TRUE(tx.ok());
  auto post = call("POST", "/scep", {{"operation", "PKIOperation"}}, tx->message);
  ASSERT_EQ(post.status, 200);
  EXPECT_EQ(post.headers.Get("Content-Type").value_or(""), "application/x-pki-message");
  auto rep = client_->ReadReply(*tx, post.body);
  ASSERT_TRUE(rep.ok()) << rep.status();
  EXPECT_EQ(rep->status, PkiStatus::kSuccess);

  // GET transport: base64 in `message`, with '+' arriving as ' ' when the client did not escape it.
  std::string b64 = Base64Encode(tx->message);
  for (char& c : b64) {
    if (c == '+') c = ' ';
  }
  auto get = call("GET", "/scep", {{"operation", "PKIOperation"}, {"message", b64}}, "");
  ASSERT_EQ(get.status, 200);
  rep = client_->ReadReply(*tx, get.body);
  ASSERT_TRUE(rep.ok()) << rep.status();
  EXPECT_EQ(rep->status, PkiStatus::kSuccess);  // idempotent: the same certificate again

  EXPECT_EQ(call("POST", "/scep", {{"operation", "PKIOperation"}}, "garbage").status, 400);
  EXPECT_EQ(call("GET", "/scep", {{"operation", "PKIOperation"}, {"message", "%%"}}, "").status,
            400);
  EXPECT_EQ(call("GET", "/scep", {{"operation", "Nope"}}, "").status, 400);
  EXPECT_EQ(call("GET", "/scep", {}, "").status, 400);
}

INSTANTIATE_TEST_SUITE_P(Drivers, ScepServiceTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace custos::scep
