#include "scep/message.h"

#include <gtest/gtest.h>

#include "base/random.h"
#include "pki/crl.h"
#include "pki/x509.h"
#include "scep/testing.h"

namespace custos::scep {
namespace {

using testing::Identity;
using testing::MakeCsr;
using testing::MakeIdentity;
using testing::MakeSelfSignedSigner;

class ScepMessageTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(LoadLegacyProvider().ok());
    ca_ = new Identity(MakeIdentity("Test SCEP CA", nullptr, true));
    device_ = new Identity;
    auto key = GenerateKeyForTest();
    device_->key = std::move(key);
    device_->cert = MakeSelfSignedSigner(device_->key.get(), "device signer");
  }
  static void TearDownTestSuite() {
    delete ca_;
    delete device_;
  }
  static EvpPkeyPtr GenerateKeyForTest() {
    Identity tmp = MakeIdentity("tmp");
    return std::move(tmp.key);
  }

  RequestParams Params(MessageType type, std::string data) {
    RequestParams p;
    p.type = type;
    p.transaction_id = "TX-" + random_.Token(8);
    p.sender_nonce = random_.Bytes(16);
    p.message_data = std::move(data);
    p.recipient = ca_->cert.get();
    p.signer_key = device_->key.get();
    p.signer_cert = device_->cert.get();
    return p;
  }

  std::string Csr(const std::string& challenge = "secret") {
    return MakeCsr(device_->key.get(), "device-1", challenge);
  }

  StatusOr<CertRep> Reply(const DecodedRequest& req, PkiStatus status, FailInfo info,
                          std::string payload = "") {
    CertRepParams p;
    p.status = status;
    p.fail_info = info;
    p.transaction_id = req.transaction_id;
    p.recipient_nonce = req.sender_nonce;
    p.sender_nonce = random_.Bytes(16);
    p.digest = ReplyDigestFor(req);
    p.payload = std::move(payload);
    p.recipient = req.signer.get();
    p.cipher = ReplyCipherFor(req);
    p.signer_key = ca_->key.get();
    p.signer_cert = ca_->cert.get();
    auto der = EncodeCertRep(p);
    if (!der.ok()) return der.status();
    auto parsed = ParseSignedData(*der);
    EXPECT_TRUE(parsed.ok());
    if (parsed.ok()) {
      EXPECT_EQ(parsed->signature_algorithm, "rsaEncryption");
    }
    return DecodeCertRep(*der, device_->key.get(), device_->cert.get(), {ca_->cert.get()});
  }

  static Identity* ca_;
  static Identity* device_;
  FakeRandom random_{42};
  DecodeOptions options_;
};
Identity* ScepMessageTest::ca_ = nullptr;
Identity* ScepMessageTest::device_ = nullptr;

TEST_F(ScepMessageTest, RealCapturedPkcsReq) {
  std::string der = testing::ReadFileOrDie(testing::RealPkcsReqPath());
  DecodedRequest req = DecodePkiOperation(der, options_);
  EXPECT_TRUE(req.ok()) << req.error;
  EXPECT_EQ(req.message_type, static_cast<int>(MessageType::kPkcsReq));
  EXPECT_EQ(req.transaction_id, "A13090761A30F66664F85D37433D2065E1112BA1");
  EXPECT_EQ(req.sender_nonce.size(), 8u);
  EXPECT_TRUE(req.signature_valid);
  EXPECT_EQ(req.digest_algorithm, "sha1");
  EXPECT_EQ(req.signature_algorithm, "rsaEncryption");
  ASSERT_NE(req.signer, nullptr);
  EXPECT_EQ(SubjectString(req.signer.get()), "C=US,CN=MDM SCEP SIGNER");
  ASSERT_TRUE(req.envelope_info.has_value());
  EXPECT_EQ(req.envelope_info->content_encryption, "DES-EDE3-CBC");
  EXPECT_FALSE(EnvelopeAddressedTo(req, ca_->cert.get()));
  ASSERT_TRUE(req.signing_time.has_value());

  // Encrypted to a CA whose key nobody has: badMessageCheck, answered with a FAILURE CertRep.
  FailInfo info = FailInfo::kBadRequest;
  auto content = OpenRequestEnvelope(req, ca_->key.get(), ca_->cert.get(), &info);
  EXPECT_FALSE(content.ok());
  EXPECT_EQ(info, FailInfo::kBadMessageCheck);
  ASSERT_TRUE(req.CanReply());
  CertRepParams p;
  p.status = PkiStatus::kFailure;
  p.fail_info = info;
  p.transaction_id = req.transaction_id;
  p.recipient_nonce = req.sender_nonce;
  p.sender_nonce = random_.Bytes(16);
  p.digest = ReplyDigestFor(req);
  p.signer_key = ca_->key.get();
  p.signer_cert = ca_->cert.get();
  auto rep_der = EncodeCertRep(p);
  ASSERT_TRUE(rep_der.ok()) << rep_der.status();
  // The requester's key is unknown, but a FAILURE has no envelope: any key decodes it.
  auto rep = DecodeCertRep(*rep_der, device_->key.get(), device_->cert.get(), {ca_->cert.get()});
  ASSERT_TRUE(rep.ok()) << rep.status();
  EXPECT_EQ(rep->status, PkiStatus::kFailure);
  EXPECT_EQ(rep->fail_info, FailInfo::kBadMessageCheck);
  EXPECT_EQ(rep->transaction_id, "A13090761A30F66664F85D37433D2065E1112BA1");
  EXPECT_EQ(rep->recipient_nonce, req.sender_nonce);
  EXPECT_EQ(rep->digest_algorithm, "sha1");
  EXPECT_EQ(rep->signature_algorithm, "rsaEncryption");
}

TEST_F(ScepMessageTest, PkcsReqRoundTripEveryCipherAndDigest) {
  options_.legacy_algorithms = true;
  for (const char* cipher : {"AES-128-CBC", "AES-256-CBC", "DES-EDE3-CBC", "DES-CBC"}) {
    for (const char* digest : {"sha1", "sha256", "sha512"}) {
      SCOPED_TRACE(std::string(cipher) + " " + digest);
      RequestParams p = Params(MessageType::kPkcsReq, Csr());
      p.cipher = cipher;
      p.digest = digest;
      auto der = EncodePkiOperation(p);
      ASSERT_TRUE(der.ok()) << der.status();
      DecodedRequest req = DecodePkiOperation(*der, options_);
      ASSERT_TRUE(req.ok()) << req.error;
      EXPECT_EQ(req.transaction_id, p.transaction_id);
      EXPECT_EQ(req.sender_nonce, p.sender_nonce);
      EXPECT_EQ(req.digest_algorithm, digest);
      EXPECT_EQ(req.envelope_info->content_encryption, cipher);
      EXPECT_TRUE(EnvelopeAddressedTo(req, ca_->cert.get()));
      auto content = OpenRequestEnvelope(req, ca_->key.get(), ca_->cert.get());
      ASSERT_TRUE(content.ok()) << content.status();
      ASSERT_TRUE(content->csr.has_value());
      EXPECT_EQ(content->csr->subject, "CN=device-1");
      EXPECT_EQ(content->csr->challenge_password, "secret");

      // SUCCESS: the issued certificate and the chain come back, encrypted to the signer.
      Identity issued = MakeIdentity("issued", ca_);
      auto payload = BuildCertsOnly({issued.cert.get(), ca_->cert.get()});
      ASSERT_TRUE(payload.ok());
      auto rep = Reply(req, PkiStatus::kSuccess, FailInfo::kBadRequest, *payload);
      ASSERT_TRUE(rep.ok()) << rep.status();
      EXPECT_EQ(rep->status, PkiStatus::kSuccess);
      EXPECT_FALSE(rep->fail_info.has_value());
      EXPECT_EQ(rep->transaction_id, p.transaction_id);
      EXPECT_EQ(rep->recipient_nonce, p.sender_nonce);
      EXPECT_EQ(rep->sender_nonce.size(), 16u);
      EXPECT_NE(rep->sender_nonce, p.sender_nonce);
      EXPECT_EQ(rep->digest_algorithm, digest);
      ASSERT_EQ(rep->certificates.size(), 2u);
      EXPECT_EQ(X509_cmp(rep->certificates[0].get(), issued.cert.get()), 0);
      if (std::string(cipher) != "AES-256-CBC") break;  // one digest per cipher is enough
    }
  }
}

TEST_F(ScepMessageTest, EveryRequestType) {
  // RenewalReq: signed by an existing identity.
  Identity old_identity = MakeIdentity("old device", ca_);
  RequestParams p = Params(MessageType::kRenewalReq, Csr(""));
  p.signer_key = old_identity.key.get();
  p.signer_cert = old_identity.cert.get();
  auto der = EncodePkiOperation(p);
  ASSERT_TRUE(der.ok());
  DecodedRequest req = DecodePkiOperation(*der, options_);
  ASSERT_TRUE(req.ok()) << req.error;
  EXPECT_EQ(req.message_type, 17);
  EXPECT_EQ(X509_cmp(req.signer.get(), old_identity.cert.get()), 0);
  auto content = OpenRequestEnvelope(req, ca_->key.get(), ca_->cert.get());
  ASSERT_TRUE(content.ok()) << content.status();
  EXPECT_FALSE(content->csr->challenge_password.has_value());

  // CertPoll: IssuerAndSubject.
  auto subject = BuildName({{"CN", "device-1"}});
  ASSERT_TRUE(subject.ok());
  auto ias = EncodeIssuerAndSubject(X509_get_subject_name(ca_->cert.get()), subject->get());
  ASSERT_TRUE(ias.ok());
  der = EncodePkiOperation(Params(MessageType::kCertPoll, *ias));
  ASSERT_TRUE(der.ok());
  req = DecodePkiOperation(*der, options_);
  ASSERT_TRUE(req.ok()) << req.error;
  EXPECT_EQ(req.message_type, 20);
  content = OpenRequestEnvelope(req, ca_->key.get(), ca_->cert.get());
  ASSERT_TRUE(content.ok()) << content.status();
  EXPECT_EQ(NameToString(content->issuer.get()), "CN=Test SCEP CA");
  EXPECT_EQ(NameToString(content->subject.get()), "CN=device-1");
  auto pending = Reply(req, PkiStatus::kPending, FailInfo::kBadRequest);
  ASSERT_TRUE(pending.ok()) << pending.status();
  EXPECT_EQ(pending->status, PkiStatus::kPending);

  // GetCert and GetCRL: IssuerAndSerialNumber.
  for (MessageType t : {MessageType::kGetCert, MessageType::kGetCrl}) {
    auto isn = EncodeIssuerAndSerial(X509_get_subject_name(ca_->cert.get()), "0a1b2c");
    ASSERT_TRUE(isn.ok());
    der = EncodePkiOperation(Params(t, *isn));
    ASSERT_TRUE(der.ok());
    req = DecodePkiOperation(*der, options_);
    ASSERT_TRUE(req.ok()) << req.error;
    EXPECT_EQ(req.message_type, static_cast<int>(t));
    content = OpenRequestEnvelope(req, ca_->key.get(), ca_->cert.get());
    ASSERT_TRUE(content.ok()) << content.status();
    EXPECT_EQ(content->serial_hex, "a1b2c");
    EXPECT_EQ(NameToString(content->issuer.get()), "CN=Test SCEP CA");
  }

  // A GetCRL answer carries the CRL.
  CrlTemplate ct;
  ct.this_update = FromUnixSeconds(1800000000);
  ct.next_update = FromUnixSeconds(1800600000);
  ct.entries = {{"a1b2c", FromUnixSeconds(1799999999), kReasonKeyCompromise}};
  auto crl = BuildCrl(ct, ca_->cert.get(), ca_->key.get());
  ASSERT_TRUE(crl.ok()) << crl.status();
  auto payload = BuildCertsOnly({}, {crl->get()});
  ASSERT_TRUE(payload.ok());
  auto rep = Reply(req, PkiStatus::kSuccess, FailInfo::kBadRequest, *payload);
  ASSERT_TRUE(rep.ok()) << rep.status();
  ASSERT_EQ(rep->crls.size(), 1u);
  EXPECT_TRUE(rep->certificates.empty());
}

TEST_F(ScepMessageTest, GarbageTruncatedAndOversized) {
  DecodedRequest req = DecodePkiOperation("", options_);
  EXPECT_FALSE(req.ok());
  EXPECT_FALSE(req.CanReply());
  req = DecodePkiOperation("not DER at all", options_);
  EXPECT_FALSE(req.ok());
  EXPECT_EQ(req.fail_info, FailInfo::kBadRequest);
  EXPECT_FALSE(req.CanReply());

  auto der = EncodePkiOperation(Params(MessageType::kPkcsReq, Csr()));
  ASSERT_TRUE(der.ok());
  for (size_t n = 0; n < der->size(); n += 97) {
    DecodedRequest t = DecodePkiOperation(der->substr(0, n), options_);
    EXPECT_FALSE(t.ok()) << n;
    EXPECT_FALSE(t.CanReply()) << n;
  }
  options_.max_message_bytes = der->size() - 1;
  req = DecodePkiOperation(*der, options_);
  EXPECT_FALSE(req.ok());
  EXPECT_FALSE(req.CanReply());
  EXPECT_NE(req.error.message().find("exceeds"), std::string::npos);
}

TEST_F(ScepMessageTest, WrongContentTypes) {
  // An EnvelopedData where the SignedData belongs.
  auto env = EncryptCms(Csr(), ca_->cert.get(), "AES-128-CBC");
  ASSERT_TRUE(env.ok());
  DecodedRequest req = DecodePkiOperation(*env, options_);
  EXPECT_FALSE(req.ok());
  EXPECT_EQ(req.fail_info, FailInfo::kBadRequest);

  // A SignedData whose content is a bare CSR instead of an EnvelopedData.
  CmsSignOptions o;
  o.key = device_->key.get();
  o.cert = device_->cert.get();
  o.attributes = {{kOidMessageType, V_ASN1_PRINTABLESTRING, "19"},
                  {kOidTransactionId, V_ASN1_PRINTABLESTRING, "T1"},
                  {kOidSenderNonce, V_ASN1_OCTET_STRING, "0123456789abcdef"}};
  auto der = SignCms(Csr(), o);
  ASSERT_TRUE(der.ok());
  req = DecodePkiOperation(*der, options_);
  EXPECT_FALSE(req.ok());
  EXPECT_TRUE(req.CanReply());
  EXPECT_TRUE(req.signature_valid);
  EXPECT_EQ(req.fail_info, FailInfo::kBadRequest);
  EXPECT_NE(req.error.message().find("pkcsPKIEnvelope"), std::string::npos);

  // Non-data eContentType.
  o.content_type = "1.2.840.113549.1.7.3";
  der = SignCms(*env, o);
  ASSERT_TRUE(der.ok());
  req = DecodePkiOperation(*der, options_);
  EXPECT_EQ(req.fail_info, FailInfo::kBadRequest);
  EXPECT_NE(req.error.message().find("content type"), std::string::npos);
}

TEST_F(ScepMessageTest, MissingOrBadAttributes) {
  auto env = EncryptCms(Csr(), ca_->cert.get(), "AES-128-CBC");
  ASSERT_TRUE(env.ok());
  CmsSignOptions o;
  o.key = device_->key.get();
  o.cert = device_->cert.get();
  struct Case {
    std::vector<CmsAttribute> attrs;
    bool can_reply;
  };
  std::vector<Case> cases = {
      {{{kOidMessageType, V_ASN1_PRINTABLESTRING, "19"},
        {kOidSenderNonce, V_ASN1_OCTET_STRING, "n"}}, false},  // no transactionID
      {{{kOidTransactionId, V_ASN1_PRINTABLESTRING, "T"},
        {kOidSenderNonce, V_ASN1_OCTET_STRING, "n"}}, true},  // no messageType
      {{{kOidMessageType, V_ASN1_PRINTABLESTRING, "99"},
        {kOidTransactionId, V_ASN1_PRINTABLESTRING, "T"},
        {kOidSenderNonce, V_ASN1_OCTET_STRING, "n"}}, true},  // unknown messageType
      {{{kOidMessageType, V_ASN1_PRINTABLESTRING, "3"},
        {kOidTransactionId, V_ASN1_PRINTABLESTRING, "T"},
        {kOidSenderNonce, V_ASN1_OCTET_STRING, "n"}}, true},  // a CertRep is no request
      {{{kOidMessageType, V_ASN1_PRINTABLESTRING, "PKCSReq"},
        {kOidTransactionId, V_ASN1_PRINTABLESTRING, "T"},
        {kOidSenderNonce, V_ASN1_OCTET_STRING, "n"}}, true},  // not a number
      {{{kOidMessageType, V_ASN1_PRINTABLESTRING, "19"},
        {kOidTransactionId, V_ASN1_PRINTABLESTRING, "T"}}, true},  // no senderNonce
      {{{kOidMessageType, V_ASN1_PRINTABLESTRING, "19"},
        {kOidTransactionId, V_ASN1_PRINTABLESTRING, "T"},
        {kOidSenderNonce, V_ASN1_PRINTABLESTRING, "n"}}, true},  // nonce of the wrong type
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(i);
    o.attributes = cases[i].attrs;
    auto der = SignCms(*env, o);
    ASSERT_TRUE(der.ok());
    DecodedRequest req = DecodePkiOperation(*der, options_);
    EXPECT_FALSE(req.ok());
    EXPECT_EQ(req.fail_info, FailInfo::kBadRequest);
    EXPECT_EQ(req.CanReply(), cases[i].can_reply);
    EXPECT_TRUE(req.signature_valid);  // decoding carries on for diagnostics
  }
}

TEST_F(ScepMessageTest, BadSignature) {
  auto der = EncodePkiOperation(Params(MessageType::kPkcsReq, Csr()));
  ASSERT_TRUE(der.ok());
  auto parsed = ParseSignedData(*der);
  ASSERT_TRUE(parsed.ok());
  size_t pos = der->find(*parsed->content);
  ASSERT_NE(pos, std::string::npos);
  std::string tampered = *der;
  tampered[pos + parsed->content->size() - 5] ^= 0x01;  // inside the encrypted content
  DecodedRequest req = DecodePkiOperation(tampered, options_);
  EXPECT_FALSE(req.ok());
  EXPECT_FALSE(req.signature_valid);
  EXPECT_EQ(req.fail_info, FailInfo::kBadMessageCheck);
  EXPECT_TRUE(req.CanReply());
  auto rep = Reply(req, PkiStatus::kFailure, req.fail_info);
  ASSERT_TRUE(rep.ok()) << rep.status();
  EXPECT_EQ(rep->fail_info, FailInfo::kBadMessageCheck);

  // Signed by a key whose certificate is not the embedded one.
  Identity other = MakeIdentity("other");
  CmsSignOptions o;
  o.key = device_->key.get();
  o.cert = device_->cert.get();
  o.include_signer_cert = false;
  o.chain = {other.cert.get()};
  o.attributes = {{kOidMessageType, V_ASN1_PRINTABLESTRING, "19"},
                  {kOidTransactionId, V_ASN1_PRINTABLESTRING, "T"},
                  {kOidSenderNonce, V_ASN1_OCTET_STRING, "n"}};
  auto signed_der = SignCms(*parsed->content, o);
  ASSERT_TRUE(signed_der.ok());
  req = DecodePkiOperation(*signed_der, options_);
  EXPECT_EQ(req.fail_info, FailInfo::kBadMessageCheck);
  EXPECT_EQ(req.signer, nullptr);
}

TEST_F(ScepMessageTest, CsrSignatureFails) {
  std::string csr = Csr();
  csr[csr.size() - 3] ^= 0x01;  // inside the CSR's signature
  auto der = EncodePkiOperation(Params(MessageType::kPkcsReq, csr));
  ASSERT_TRUE(der.ok());
  DecodedRequest req = DecodePkiOperation(*der, options_);
  ASSERT_TRUE(req.ok()) << req.error;
  FailInfo info = FailInfo::kBadAlg;
  auto content = OpenRequestEnvelope(req, ca_->key.get(), ca_->cert.get(), &info);
  EXPECT_FALSE(content.ok());
  EXPECT_EQ(info, FailInfo::kBadMessageCheck);

  // Not a CSR at all.
  der = EncodePkiOperation(Params(MessageType::kPkcsReq, "\x30\x03\x02\x01\x01"));
  ASSERT_TRUE(der.ok());
  req = DecodePkiOperation(*der, options_);
  content = OpenRequestEnvelope(req, ca_->key.get(), ca_->cert.get(), &info);
  EXPECT_FALSE(content.ok());
  EXPECT_EQ(info, FailInfo::kBadRequest);
  // A CertPoll whose content is a CSR.
  der = EncodePkiOperation(Params(MessageType::kCertPoll, Csr()));
  ASSERT_TRUE(der.ok());
  req = DecodePkiOperation(*der, options_);
  content = OpenRequestEnvelope(req, ca_->key.get(), ca_->cert.get(), &info);
  EXPECT_FALSE(content.ok());
  EXPECT_EQ(info, FailInfo::kBadRequest);
}

TEST_F(ScepMessageTest, UnsupportedAlgorithms) {
  RequestParams p = Params(MessageType::kPkcsReq, Csr());
  p.cipher = "DES-CBC";
  auto der = EncodePkiOperation(p);
  ASSERT_TRUE(der.ok());
  DecodedRequest req = DecodePkiOperation(*der, options_);
  EXPECT_FALSE(req.ok());
  EXPECT_EQ(req.fail_info, FailInfo::kBadAlg);
  EXPECT_TRUE(req.CanReply());
  options_.legacy_algorithms = true;
  EXPECT_TRUE(DecodePkiOperation(*der, options_).ok());

  // An MD5 SignerInfo, built with OpenSSL directly (custos never signs with MD5).
  auto env = EncryptCms(Csr(), ca_->cert.get(), "AES-128-CBC");
  ASSERT_TRUE(env.ok());
  BioPtr in = MemBioFrom(*env);
  CmsPtr cms(CMS_sign(nullptr, nullptr, nullptr, nullptr, CMS_PARTIAL | CMS_BINARY));
  ASSERT_NE(cms, nullptr);
  CMS_SignerInfo* si =
      CMS_add1_signer(cms.get(), device_->cert.get(), device_->key.get(), EVP_md5(), CMS_BINARY);
  ASSERT_NE(si, nullptr);
  CMS_signed_add1_attr_by_txt(si, kOidMessageType, V_ASN1_PRINTABLESTRING, "19", 2);
  CMS_signed_add1_attr_by_txt(si, kOidTransactionId, V_ASN1_PRINTABLESTRING, "T", 1);
  CMS_signed_add1_attr_by_txt(si, kOidSenderNonce, V_ASN1_OCTET_STRING, "n", 1);
  ASSERT_EQ(CMS_final(cms.get(), in.get(), nullptr, CMS_BINARY), 1);
  BioPtr out(BIO_new(BIO_s_mem()));
  ASSERT_EQ(i2d_CMS_bio(out.get(), cms.get()), 1);
  req = DecodePkiOperation(MemBioContents(out.get()), options_);
  EXPECT_FALSE(req.ok());
  EXPECT_EQ(req.digest_algorithm, "md5");
  EXPECT_EQ(req.fail_info, FailInfo::kBadAlg);
}

TEST_F(ScepMessageTest, SigningTimeSkewIsBadTime) {
  FakeClock clock(FromUnixSeconds(1800000000));
  options_.clock = &clock;
  options_.max_clock_skew = Duration(3600);
  RequestParams p = Params(MessageType::kPkcsReq, Csr());
  // EncodePkiOperation lets OpenSSL stamp the real current time; build one at a pinned time.
  auto env = EncryptCms(p.message_data, ca_->cert.get(), "AES-128-CBC");
  ASSERT_TRUE(env.ok());
  CmsSignOptions o;
  o.key = device_->key.get();
  o.cert = device_->cert.get();
  o.attributes = {{kOidMessageType, V_ASN1_PRINTABLESTRING, "19"},
                  {kOidTransactionId, V_ASN1_PRINTABLESTRING, "T"},
                  {kOidSenderNonce, V_ASN1_OCTET_STRING, "n"}};
  o.signing_time = FromUnixSeconds(1800000000 + 60);
  auto der = SignCms(*env, o);
  ASSERT_TRUE(der.ok());
  EXPECT_TRUE(DecodePkiOperation(*der, options_).ok());
  clock.Advance(std::chrono::hours(5));
  DecodedRequest req = DecodePkiOperation(*der, options_);
  EXPECT_FALSE(req.ok());
  EXPECT_EQ(req.fail_info, FailInfo::kBadTime);
}

TEST_F(ScepMessageTest, CertRepFromUnexpectedSignerIsRefused) {
  auto der = EncodePkiOperation(Params(MessageType::kPkcsReq, Csr()));
  ASSERT_TRUE(der.ok());
  DecodedRequest req = DecodePkiOperation(*der, options_);
  ASSERT_TRUE(req.ok());
  Identity rogue = MakeIdentity("rogue CA", nullptr, true);
  CertRepParams p;
  p.status = PkiStatus::kPending;
  p.transaction_id = req.transaction_id;
  p.recipient_nonce = req.sender_nonce;
  p.sender_nonce = "0123456789abcdef";
  p.signer_key = rogue.key.get();
  p.signer_cert = rogue.cert.get();
  auto rep_der = EncodeCertRep(p);
  ASSERT_TRUE(rep_der.ok());
  auto rep = DecodeCertRep(*rep_der, device_->key.get(), device_->cert.get(), {ca_->cert.get()});
  EXPECT_EQ(rep.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(DecodeCertRep("junk", device_->key.get(), device_->cert.get(), {}).status().code(),
            StatusCode::kInvalidArgument);
  // EncodeCertRep refuses incomplete parameters.
  p.transaction_id.clear();
  EXPECT_FALSE(EncodeCertRep(p).ok());
}

}  // namespace
}  // namespace custos::scep
