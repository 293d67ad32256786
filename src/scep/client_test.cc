#include "scep/client.h"

#include <gtest/gtest.h>

#include "base/encoding.h"
#include "pki/key.h"
#include "pki/x509.h"
#include "scep/testing.h"

namespace custos::scep {
namespace {

using testing::Identity;
using testing::MakeCsr;
using testing::MakeIdentity;

// A minimal in-test responder: decodes with message.h, answers with `status`, issuing a
// certificate for the CSR's key on SUCCESS.
class FakeServer {
 public:
  explicit FakeServer(const Identity* ca) : ca_(ca) {}

  std::string Answer(std::string_view body, PkiStatus status) {
    DecodedRequest req = DecodePkiOperation(body, DecodeOptions{});
    EXPECT_TRUE(req.ok()) << req.error;
    last_type = req.message_type;
    CertRepParams p;
    p.status = status;
    p.fail_info = FailInfo::kBadRequest;
    p.transaction_id = req.transaction_id;
    p.recipient_nonce = req.sender_nonce;
    p.sender_nonce = random_.Bytes(16);
    p.digest = ReplyDigestFor(req);
    p.recipient = req.signer.get();
    p.cipher = ReplyCipherFor(req);
    p.signer_key = ca_->key.get();
    p.signer_cert = ca_->cert.get();
    if (status == PkiStatus::kSuccess) {
      auto content = OpenRequestEnvelope(req, ca_->key.get(), ca_->cert.get());
      EXPECT_TRUE(content.ok()) << content.status();
      if (content.ok() && content->csr.has_value()) {
        CertificateTemplate t;
        t.subject_name = content->csr->subject_name.get();
        t.not_before = FromUnixSeconds(1700000000);
        t.not_after = FromUnixSeconds(1800000000);
        t.serial_hex = "1234";
        t.key_usage = kKuDigitalSignature | kKuKeyEncipherment;
        auto cert = BuildCertificate(t, content->csr->public_key.get(), ca_->cert.get(),
                                     ca_->key.get());
        EXPECT_TRUE(cert.ok()) << cert.status();
        issued = std::move(*cert);
        p.payload = *BuildCertsOnly({issued.get(), ca_->cert.get()});
      }
    }
    auto der = EncodeCertRep(p);
    EXPECT_TRUE(der.ok()) << der.status();
    return der.value_or("");
  }

  X509Ptr issued;
  int last_type = 0;

 private:
  const Identity* ca_;
  FakeRandom random_{7};
};

class ScepClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<X509Ptr> certs;
    X509_up_ref(ca_.cert.get());
    certs.emplace_back(ca_.cert.get());
    ClientOptions o;
    o.clock = &clock_;
    o.random = &random_;
    auto c = ScepClient::Create(std::move(certs), o);
    ASSERT_TRUE(c.ok()) << c.status();
    client_ = std::move(*c);
  }

  static Identity ca_;
  FakeClock clock_{FromUnixSeconds(1750000000)};
  FakeRandom random_{11};
  std::unique_ptr<ScepClient> client_;
};
Identity ScepClientTest::ca_ = MakeIdentity("Client Test CA", nullptr, true);

TEST_F(ScepClientTest, PkcsReqSuccess) {
  Identity dev = MakeIdentity("dev");
  std::string csr = MakeCsr(dev.key.get(), "device-7", "pw");
  auto tx = client_->PkcsReq(dev.key.get(), csr);
  ASSERT_TRUE(tx.ok()) << tx.status();
  EXPECT_EQ(tx->transaction_id, CertSpkiSha256Hex(dev.cert.get()));
  EXPECT_EQ(tx->sender_nonce.size(), 16u);
  // The signer is a fresh self-signed certificate for the request key.
  EXPECT_EQ(SubjectString(tx->signer.get()), IssuerString(tx->signer.get()));
  EXPECT_TRUE(PublicKeysEqual(CertificatePublicKey(tx->signer.get()).get(), dev.key.get()));
  auto tx2 = client_->PkcsReq(dev.key.get(), csr);
  ASSERT_TRUE(tx2.ok());
  EXPECT_NE(SubjectString(tx->signer.get()), SubjectString(tx2->signer.get()));

  FakeServer server(&ca_);
  std::string body = server.Answer(tx->message, PkiStatus::kSuccess);
  EXPECT_EQ(server.last_type, 19);
  auto rep = client_->ReadReply(*tx, body);
  ASSERT_TRUE(rep.ok()) << rep.status();
  EXPECT_EQ(rep->status, PkiStatus::kSuccess);
  ASSERT_EQ(rep->certificates.size(), 2u);
  EXPECT_EQ(X509_cmp(rep->certificates[0].get(), server.issued.get()), 0);
  EXPECT_EQ(SubjectString(rep->certificates[0].get()), "CN=device-7");

  // A reply to another transaction is refused.
  EXPECT_EQ(client_->ReadReply(*tx2, body).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ScepClientTest, PendingThenCertPoll) {
  Identity dev = MakeIdentity("dev2");
  std::string csr = MakeCsr(dev.key.get(), "device-8", "pw");
  auto tx = client_->PkcsReq(dev.key.get(), csr);
  ASSERT_TRUE(tx.ok());
  FakeServer server(&ca_);
  auto rep = client_->ReadReply(*tx, server.Answer(tx->message, PkiStatus::kPending));
  ASSERT_TRUE(rep.ok()) << rep.status();
  EXPECT_EQ(rep->status, PkiStatus::kPending);
  auto subject = BuildName({{"CN", "device-8"}});
  ASSERT_TRUE(subject.ok());
  auto poll = client_->CertPoll(*tx, subject->get());
  ASSERT_TRUE(poll.ok()) << poll.status();
  EXPECT_EQ(poll->transaction_id, tx->transaction_id);
  EXPECT_NE(poll->sender_nonce, tx->sender_nonce);
  rep = client_->ReadReply(*poll, server.Answer(poll->message, PkiStatus::kFailure));
  ASSERT_TRUE(rep.ok()) << rep.status();
  EXPECT_EQ(server.last_type, 20);
  EXPECT_EQ(rep->status, PkiStatus::kFailure);
  EXPECT_EQ(rep->fail_info, FailInfo::kBadRequest);
}

TEST_F(ScepClientTest, RenewalGetCertGetCrl) {
  Identity old_id = MakeIdentity("old", &ca_);
  Identity fresh = MakeIdentity("fresh");
  std::string csr = MakeCsr(fresh.key.get(), "device-9", "");
  auto tx = client_->RenewalReq(csr, old_id.key.get(), old_id.cert.get());
  ASSERT_TRUE(tx.ok()) << tx.status();
  EXPECT_EQ(tx->transaction_id, CertSpkiSha256Hex(fresh.cert.get()));
  EXPECT_EQ(X509_cmp(tx->signer.get(), old_id.cert.get()), 0);
  FakeServer server(&ca_);
  auto rep = client_->ReadReply(*tx, server.Answer(tx->message, PkiStatus::kSuccess));
  ASSERT_TRUE(rep.ok()) << rep.status();
  EXPECT_EQ(server.last_type, 17);
  EXPECT_TRUE(PublicKeysEqual(CertificatePublicKey(rep->certificates[0].get()).get(),
                              fresh.key.get()));

  auto get = client_->GetCert("1234", old_id.key.get(), old_id.cert.get());
  ASSERT_TRUE(get.ok());
  server.Answer(get->message, PkiStatus::kPending);
  EXPECT_EQ(server.last_type, 21);
  auto crl = client_->GetCrl("1234", old_id.key.get(), old_id.cert.get());
  ASSERT_TRUE(crl.ok());
  server.Answer(crl->message, PkiStatus::kPending);
  EXPECT_EQ(server.last_type, 22);
  EXPECT_FALSE(client_->GetCert("xyz", old_id.key.get(), old_id.cert.get()).ok());
}

TEST_F(ScepClientTest, GetCaCertAndTransport) {
  auto one = ScepClient::ParseGetCaCert(CertificateDer(ca_.cert.get()));
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->size(), 1u);
  Identity issuing = MakeIdentity("issuing", &ca_, true);
  auto p7 = BuildCertsOnly({issuing.cert.get(), ca_.cert.get()});
  ASSERT_TRUE(p7.ok());
  auto two = ScepClient::ParseGetCaCert(*p7);
  ASSERT_TRUE(two.ok()) << two.status();
  ASSERT_EQ(two->size(), 2u);
  EXPECT_EQ(X509_cmp((*two)[0].get(), issuing.cert.get()), 0);
  EXPECT_FALSE(ScepClient::ParseGetCaCert("nonsense").ok());
  EXPECT_FALSE(ScepClient::Create({}).ok());

  std::string q = ScepClient::GetQuery(std::string("\xfb\xff\xfe", 3));
  EXPECT_EQ(q, "operation=PKIOperation&message=%2B%2F%2F%2B");
}

}  // namespace
}  // namespace custos::scep
