// AcmeService end to end, in process: http-01 with an injected fetcher, a full device-attest-01
// flow with the fake attestation CA configured as an extra root, and every bad input of issue 5
// getting its ACME problem type with nothing issued.
#include "acme/service.h"

#include <gtest/gtest.h>

#include <map>

#include "acme/problem.h"
#include "acme/testing/acme_client.h"
#include "attest/attestation_object.h"
#include "attest/testdata/fake_attestation.h"
#include "base/encoding.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/x509.h"
#include "storage/testing.h"

namespace custos::acme {
namespace {

using Json = nlohmann::json;
using testing::InProcessAcmeClient;

constexpr char kBase[] = "https://ca.test:8443";
constexpr char kMalformed[] = "urn:ietf:params:acme:error:malformed";
constexpr char kUnauthorized[] = "urn:ietf:params:acme:error:unauthorized";

// Serves key authorizations from a map (name/token -> body).
class MapFetcher : public Http01Fetcher {
 public:
  explicit MapFetcher(std::map<std::string, std::string>* bodies) : bodies_(bodies) {}
  StatusOr<std::string> Fetch(std::string_view name, std::string_view token) override {
    auto it = bodies_->find(std::string(name) + "/" + std::string(token));
    if (it == bodies_->end()) return UnavailableError("connection refused");
    return it->second;
  }

 private:
  std::map<std::string, std::string>* bodies_;
};

class AcmeServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto storage = OpenTestStorage("sqlite", &clock_);
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = *std::move(storage);
    CaConfig ca_config;
    ca_config.root_key_type = "ec-p384";
    ca_config.issuing_key_bits = 2048;
    auto ca = Authority::Init(ca_config, storage_.get(), &clock_, Random::Secure(), "");
    ASSERT_TRUE(ca.ok()) << ca.status();
    authority_ = *std::move(ca);
    auto fake = attest::testing::MakeFakeAttestationCa(clock_.Now() - std::chrono::hours(24 * 30),
                                                       clock_.Now() + std::chrono::hours(24 * 365));
    ASSERT_TRUE(fake.ok()) << fake.status();
    fake_ca_ = std::make_unique<attest::testing::FakeAttestationCa>(*std::move(fake));

    options_.base_url = kBase;
    options_.trust_apple_root = false;
    options_.extra_attestation_roots_pem = {fake_ca_->RootPem()};
    options_.nonce_lifetime = std::chrono::seconds(600);
    auto service = AcmeService::Create(options_, authority_.get(), storage_.get(), &clock_,
                                       Random::Secure(), std::make_unique<MapFetcher>(&served_));
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = *std::move(service);
    account_key_ = NewKey("P-256");
    client_ = std::make_unique<InProcessAcmeClient>(service_.get(), account_key_.get());
    auto acc = client_->NewAccount();
    ASSERT_EQ(acc.status, 201) << acc.body;
  }

  static EvpPkeyPtr NewKey(const char* curve) {
    return EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve));
  }

  int64_t IssuedCount() {
    int64_t n = 0;
    Status st = storage_->Transact([&](Stores& s) -> Status {
      CertificateFilter f;
      f.requester = "acme";
      ASSIGN_OR_RETURN(auto list, s.certs().List(f));
      n = static_cast<int64_t>(list.size());
      return OkStatus();
    });
    EXPECT_TRUE(st.ok()) << st;
    return n;
  }

  // A fake Apple leaf for `device_key` whose freshness code is SHA-256(token).
  StatusOr<std::vector<std::string>> Chain(EVP_PKEY* device_key, const std::string& token,
                                           const std::string& serial = "C02FAKE0001",
                                           bool with_freshness = true) {
    attest::testing::FakeLeafSpec spec;
    spec.not_before = clock_.Now() - std::chrono::hours(1);
    spec.not_after = clock_.Now() + std::chrono::hours(24);
    spec.serial_number = serial;
    if (with_freshness) spec.freshness_code = attest::AcmeFreshnessCode(token);
    spec.key = device_key;
    ASSIGN_OR_RETURN(auto leaf, attest::testing::IssueFakeLeaf(*fake_ca_, spec));
    return leaf.chain;
  }

  struct DeviceOrder {
    std::string order_path;
    std::string chall_path;
    std::string token;
  };
  DeviceOrder NewDeviceOrder(const std::string& client_identifier) {
    Json req{{"identifiers", {{{"type", "permanent-identifier"}, {"value", client_identifier}}}}};
    auto order = client_->Post("/acme/new-order", req.dump());
    EXPECT_EQ(order.status, 201) << order.body;
    DeviceOrder d;
    if (order.status != 201) return d;
    d.order_path = client_->PathOf(order.location);
    auto authz = client_->Post(client_->PathOf(order.json["authorizations"][0].get<std::string>()), "");
    EXPECT_EQ(authz.status, 200);
    const Json& ch = authz.json["challenges"][0];
    EXPECT_EQ(ch["type"], "device-attest-01");
    d.chall_path = client_->PathOf(ch["url"].get<std::string>());
    d.token = ch["token"];
    return d;
  }

  int64_t OrderCount() {
    int64_t n = 0;
    std::string account_id = client_->kid().substr(client_->kid().rfind('/') + 1);
    Status st = storage_->Transact([&](Stores& s) -> Status {
      ASSIGN_OR_RETURN(auto orders, s.acme().ListOrders(account_id, 1000));
      n = static_cast<int64_t>(orders.size());
      return OkStatus();
    });
    EXPECT_TRUE(st.ok()) << st;
    return n;
  }

  FakeClock clock_{Clock::Real()->Now()};
  AcmeService::Options options_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<Authority> authority_;
  std::unique_ptr<attest::testing::FakeAttestationCa> fake_ca_;
  std::map<std::string, std::string> served_;
  std::unique_ptr<AcmeService> service_;
  EvpPkeyPtr account_key_;
  std::unique_ptr<InProcessAcmeClient> client_;
};

TEST_F(AcmeServiceTest, Directory) {
  AcmeReply dir = service_->Directory();
  auto j = Json::parse(dir.body);
  EXPECT_EQ(j["newNonce"], std::string(kBase) + "/acme/new-nonce");
  EXPECT_EQ(j["newAccount"], std::string(kBase) + "/acme/new-account");
  EXPECT_EQ(j["newOrder"], std::string(kBase) + "/acme/new-order");
  EXPECT_EQ(j["revokeCert"], std::string(kBase) + "/acme/revoke-cert");
  EXPECT_EQ(j["keyChange"], std::string(kBase) + "/acme/key-change");
}

TEST_F(AcmeServiceTest, AccountsOnlyReturnExistingUpdateDeactivate) {
  auto again = client_->NewAccount();
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.location, client_->kid());
  EXPECT_EQ(client_->NewAccount(/*only_return_existing=*/true).status, 200);

  auto other_key = NewKey("P-384");
  InProcessAcmeClient other(service_.get(), other_key.get());
  auto none = other.NewAccount(/*only_return_existing=*/true);
  EXPECT_EQ(none.problem_type(), "urn:ietf:params:acme:error:accountDoesNotExist");

  std::string path = client_->PathOf(client_->kid());
  auto updated = client_->Post(path, R"({"contact":["mailto:new@example.com"]})");
  EXPECT_EQ(updated.status, 200);
  EXPECT_EQ(updated.json["contact"][0], "mailto:new@example.com");
  EXPECT_EQ(client_->Post(path, R"({"contact":["tel:+1555"]})").problem_type(),
            "urn:ietf:params:acme:error:unsupportedContact");

  auto deactivated = client_->Post(path, R"({"status":"deactivated"})");
  EXPECT_EQ(deactivated.json["status"], "deactivated");
  EXPECT_EQ(client_->Post("/acme/new-order", R"({"identifiers":[{"type":"dns","value":"a.test"}]})")
                .problem_type(),
            "urn:ietf:params:acme:error:unauthorized");
}

TEST_F(AcmeServiceTest, BadRequestsGetTheirProblemTypes) {
  const std::string order = R"({"identifiers":[{"type":"dns","value":"a.test"}]})";
  // Bad signature: the payload of one JWS under another's signature.
  Json a = Json::parse(client_->Sign("/acme/new-order", order));
  Json b = Json::parse(client_->Sign("/acme/new-order", R"({"identifiers":[{"type":"dns","value":"b.test"}]})"));
  a["payload"] = b["payload"];
  EXPECT_EQ(client_->PostBody("/acme/new-order", a.dump()).problem_type(), kMalformed);
  // Reused nonce.
  std::string nonce = service_->NewNonce();
  EXPECT_EQ(client_->PostBody("/acme/new-order", client_->Sign("/acme/new-order", order, false, nonce)).status, 201);
  EXPECT_EQ(client_->PostBody("/acme/new-order", client_->Sign("/acme/new-order", order, false, nonce))
                .problem_type(),
            "urn:ietf:params:acme:error:badNonce");
  // Unknown and missing nonce.
  EXPECT_EQ(client_->PostBody("/acme/new-order", client_->Sign("/acme/new-order", order, false, "bogus"))
                .problem_type(),
            "urn:ietf:params:acme:error:badNonce");
  // Wrong url.
  EXPECT_EQ(client_->PostBody("/acme/new-order",
                              client_->Sign("/acme/new-order", order, false, std::nullopt,
                                            std::string(kBase) + "/acme/new-account"))
                .problem_type(),
            "urn:ietf:params:acme:error:unauthorized");
  // Unknown kid.
  InProcessAcmeClient stranger(service_.get(), account_key_.get());
  stranger.set_kid(std::string(kBase) + "/acme/account/nobody");
  EXPECT_EQ(stranger.Post("/acme/new-order", order).problem_type(),
            "urn:ietf:params:acme:error:accountDoesNotExist");
  // jwk where kid is required.
  EXPECT_EQ(client_->Post("/acme/new-order", order, /*use_jwk=*/true).problem_type(), kMalformed);
  // Wrong Content-Type.
  AcmeReply ct = service_->Post(Endpoint::kNewOrder, "", "/acme/new-order", "application/json",
                                client_->Sign("/acme/new-order", order));
  EXPECT_EQ(Json::parse(ct.body)["type"], kMalformed);
  // Unsupported and rejected identifiers.
  EXPECT_EQ(client_->Post("/acme/new-order", R"({"identifiers":[{"type":"ip","value":"127.0.0.1"}]})")
                .problem_type(),
            "urn:ietf:params:acme:error:unsupportedIdentifier");
  EXPECT_EQ(client_->Post("/acme/new-order", R"({"identifiers":[{"type":"dns","value":"*.a.test"}]})")
                .problem_type(),
            "urn:ietf:params:acme:error:rejectedIdentifier");
  EXPECT_EQ(client_->Post("/acme/new-order", R"({"identifiers":[{"type":"dns","value":"bad_name"}]})")
                .problem_type(),
            "urn:ietf:params:acme:error:rejectedIdentifier");
  EXPECT_EQ(IssuedCount(), 0);
}

TEST_F(AcmeServiceTest, Http01OrderRevokeAndOrdersList) {
  Json req{{"identifiers", {{{"type", "dns"}, {"value", "www.a.test"}}, {{"type", "dns"}, {"value", "a.test"}}}}};
  auto order = client_->Post("/acme/new-order", req.dump());
  ASSERT_EQ(order.status, 201) << order.body;
  EXPECT_EQ(order.json["status"], "pending");
  std::string order_path = client_->PathOf(order.location);
  auto jwk = JwkFromKey(account_key_.get());
  std::string thumbprint = *JwkThumbprint(*jwk);
  for (const auto& authz_url : order.json["authorizations"]) {
    auto authz = client_->Post(client_->PathOf(authz_url.get<std::string>()), "");
    ASSERT_EQ(authz.status, 200);
    const Json& ch = authz.json["challenges"][0];
    ASSERT_EQ(ch["type"], "http-01");
    std::string token = ch["token"];
    served_[authz.json["identifier"]["value"].get<std::string>() + "/" + token] =
        token + "." + thumbprint + "\n";
    std::string chall_path = client_->PathOf(ch["url"].get<std::string>());
    if (authz_url == order.json["authorizations"][0]) {
      // Refused answers change nothing: another account's, and one whose payload is not {}.
      auto stranger_key = NewKey("P-256");
      InProcessAcmeClient stranger(service_.get(), stranger_key.get());
      ASSERT_EQ(stranger.NewAccount().status, 201);
      EXPECT_EQ(stranger.Post(chall_path, "{}").problem_type(),
                "urn:ietf:params:acme:error:unauthorized");
      EXPECT_EQ(client_->Post(chall_path, "[]").problem_type(), kMalformed);
      EXPECT_EQ(client_->Post(chall_path, "").json["status"], "pending");
    }
    auto answered = client_->Post(chall_path, "{}");
    EXPECT_EQ(answered.status, 200) << answered.body;
    EXPECT_EQ(answered.json["status"], "processing");
    EXPECT_EQ(answered.json["token"], token);
    // Answering again is no error: the reply reports the challenge as it is.
    auto again = client_->Post(chall_path, "{}");
    EXPECT_EQ(again.status, 200) << again.body;
    EXPECT_NE(again.json["status"], "pending");
  }
  service_->WaitForValidations();
  auto ready = client_->Post(order_path, "");
  ASSERT_EQ(ready.json["status"], "ready") << ready.body;

  // Finalize: a CSR with other names is refused, then the right one is issued.
  auto cert_key = NewKey("P-256");
  auto bad_csr = BuildCsrDer(CsrTemplate{{{"CN", "a.test"}}, {{"dns", "evil.test", ""}}, ""}, cert_key.get());
  EXPECT_EQ(client_->Post(order_path + "/finalize", Json{{"csr", Base64UrlEncode(*bad_csr)}}.dump())
                .problem_type(),
            "urn:ietf:params:acme:error:badCSR");
  auto account_key_csr = BuildCsrDer(CsrTemplate{{{"CN", "a.test"}}, {{"dns", "www.a.test", ""}}, ""},
                                     account_key_.get());
  EXPECT_EQ(client_->Post(order_path + "/finalize",
                          Json{{"csr", Base64UrlEncode(*account_key_csr)}}.dump())
                .problem_type(),
            "urn:ietf:params:acme:error:badCSR");
  EXPECT_EQ(IssuedCount(), 0);
  auto csr = BuildCsrDer(CsrTemplate{{{"CN", "a.test"}}, {{"dns", "www.a.test", ""}}, ""}, cert_key.get());
  auto fin = client_->Post(order_path + "/finalize", Json{{"csr", Base64UrlEncode(*csr)}}.dump());
  ASSERT_EQ(fin.status, 200) << fin.body;
  EXPECT_EQ(fin.json["status"], "valid");
  auto cert = client_->Post(client_->PathOf(fin.json["certificate"].get<std::string>()), "");
  ASSERT_EQ(cert.status, 200);
  EXPECT_EQ(cert.content_type, "application/pem-certificate-chain");
  auto chain = ParseCertificateChain(cert.body);
  ASSERT_TRUE(chain.ok()) << chain.status();
  ASSERT_EQ(chain->size(), 2u);
  EvpPkeyPtr issuer_key = CertificatePublicKey((*chain)[1].get());
  EXPECT_EQ(X509_verify((*chain)[0].get(), issuer_key.get()), 1);
  auto sans = CertificateSans((*chain)[0].get());
  ASSERT_TRUE(sans.ok());
  EXPECT_EQ(sans->size(), 2u);
  EXPECT_EQ(IssuedCount(), 1);
  // A finalized order cannot be finalized again.
  EXPECT_EQ(client_->Post(order_path + "/finalize", Json{{"csr", Base64UrlEncode(*csr)}}.dump())
                .problem_type(),
            "urn:ietf:params:acme:error:orderNotReady");

  auto list = client_->Post(client_->PathOf(client_->kid()) + "/orders", "");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.json["orders"].size(), 1u);

  // Another account may not revoke; the owner may, once.
  std::string der_b64 = Base64UrlEncode(CertificateDer((*chain)[0].get()));
  auto other_key = NewKey("P-256");
  InProcessAcmeClient other(service_.get(), other_key.get());
  ASSERT_EQ(other.NewAccount().status, 201);
  EXPECT_EQ(other.Post("/acme/revoke-cert", Json{{"certificate", der_b64}}.dump()).problem_type(),
            "urn:ietf:params:acme:error:unauthorized");
  EXPECT_EQ(client_->Post("/acme/revoke-cert", Json{{"certificate", der_b64}, {"reason", 7}}.dump())
                .problem_type(),
            "urn:ietf:params:acme:error:badRevocationReason");
  EXPECT_EQ(client_->Post("/acme/revoke-cert", Json{{"certificate", der_b64}, {"reason", 4}}.dump()).status,
            200);
  EXPECT_EQ(client_->Post("/acme/revoke-cert", Json{{"certificate", der_b64}}.dump()).problem_type(),
            "urn:ietf:params:acme:error:alreadyRevoked");
}

TEST_F(AcmeServiceTest, Http01WrongKeyAuthorizationInvalidatesOrder) {
  auto order = client_->Post("/acme/new-order", R"({"identifiers":[{"type":"dns","value":"b.test"}]})");
  ASSERT_EQ(order.status, 201);
  auto authz = client_->Post(client_->PathOf(order.json["authorizations"][0].get<std::string>()), "");
  const Json& ch = authz.json["challenges"][0];
  served_["b.test/" + ch["token"].get<std::string>()] = ch["token"].get<std::string>() + ".wrong";
  client_->Post(client_->PathOf(ch["url"].get<std::string>()), "{}");
  service_->WaitForValidations();
  auto after = client_->Post(client_->PathOf(ch["url"].get<std::string>()), "");
  EXPECT_EQ(after.json["status"], "invalid");
  EXPECT_EQ(after.json["error"]["type"], "urn:ietf:params:acme:error:incorrectResponse");
  auto o = client_->Post(client_->PathOf(order.location), "");
  EXPECT_EQ(o.json["status"], "invalid");
  auto key = NewKey("P-256");
  auto csr = BuildCsrDer(CsrTemplate{{{"CN", "b.test"}}, {}, ""}, key.get());
  EXPECT_EQ(client_->Post(client_->PathOf(order.location) + "/finalize",
                          Json{{"csr", Base64UrlEncode(*csr)}}.dump())
                .problem_type(),
            "urn:ietf:params:acme:error:orderNotReady");
  EXPECT_EQ(IssuedCount(), 0);
}

TEST_F(AcmeServiceTest, KeyChange) {
  auto new_key = NewKey("P-256");
  Json inner_payload{{"account", client_->kid()}, {"oldKey", *JwkFromKey(account_key_.get())}};
  Json inner_header{{"url", std::string(kBase) + "/acme/key-change"}, {"jwk", *JwkFromKey(new_key.get())}};
  auto inner = SignFlattenedJws(new_key.get(), inner_header, inner_payload.dump());
  ASSERT_TRUE(inner.ok());
  auto changed = client_->Post("/acme/key-change", *inner);
  ASSERT_EQ(changed.status, 200) << changed.body;
  // The old key no longer signs for the account; the new one does.
  EXPECT_EQ(client_->Post("/acme/new-order", R"({"identifiers":[{"type":"dns","value":"a.test"}]})")
                .problem_type(),
            kMalformed);
  client_->set_key(new_key.get());
  EXPECT_EQ(client_->Post("/acme/new-order", R"({"identifiers":[{"type":"dns","value":"a.test"}]})").status,
            201);
}

TEST_F(AcmeServiceTest, AccountChangesByAnotherServerAreSeen) {
  // This server remembers the account's key once it has verified a request with it.
  const std::string kNewOrder = R"({"identifiers":[{"type":"dns","value":"a.test"}]})";
  auto first = client_->Post("/acme/new-order", kNewOrder);
  ASSERT_EQ(first.status, 201) << first.body;
  std::string order_path = client_->PathOf(first.location);

  // A second server on the same database, as another custos process would be, rolls the
  // account's key over.
  auto there = AcmeService::Create(options_, authority_.get(), storage_.get(), &clock_,
                                   Random::Secure(), std::make_unique<MapFetcher>(&served_));
  ASSERT_TRUE(there.ok()) << there.status();
  InProcessAcmeClient elsewhere(there->get(), account_key_.get());
  elsewhere.set_kid(client_->kid());
  auto new_key = NewKey("P-256");
  Json inner_payload{{"account", client_->kid()}, {"oldKey", *JwkFromKey(account_key_.get())}};
  Json inner_header{{"url", std::string(kBase) + "/acme/key-change"},
                    {"jwk", *JwkFromKey(new_key.get())}};
  auto inner = SignFlattenedJws(new_key.get(), inner_header, inner_payload.dump());
  ASSERT_TRUE(inner.ok());
  ASSERT_EQ(elsewhere.Post("/acme/key-change", *inner).status, 200);

  // Here the old key, which this server still remembers, no longer signs for the account, and
  // nothing is created; the new key does.
  int64_t orders = OrderCount();
  EXPECT_EQ(client_->Post("/acme/new-order", kNewOrder).problem_type(), kMalformed);
  EXPECT_EQ(client_->Post(order_path, "").problem_type(), kMalformed);
  EXPECT_EQ(OrderCount(), orders);
  client_->set_key(new_key.get());
  EXPECT_EQ(client_->Post(order_path, "").status, 200);
  EXPECT_EQ(client_->Post("/acme/new-order", kNewOrder).status, 201);
  EXPECT_EQ(OrderCount(), orders + 1);

  // The other server deactivates the account: here every request of it is refused from then on,
  // though the key is still the one remembered.
  elsewhere.set_key(new_key.get());
  auto gone = elsewhere.Post(client_->PathOf(client_->kid()), R"({"status":"deactivated"})");
  ASSERT_EQ(gone.status, 200) << gone.body;
  EXPECT_EQ(client_->Post("/acme/new-order", kNewOrder).problem_type(), kUnauthorized);
  EXPECT_EQ(client_->Post(order_path, "").problem_type(), kUnauthorized);
  EXPECT_EQ(OrderCount(), orders + 1);
}

TEST_F(AcmeServiceTest, ValidationsLeftInProcessingResumeAtStart) {
  auto order = client_->Post("/acme/new-order", R"({"identifiers":[{"type":"dns","value":"a.test"}]})");
  ASSERT_EQ(order.status, 201) << order.body;
  std::string order_path = client_->PathOf(order.location);
  auto authz = client_->Post(client_->PathOf(order.json["authorizations"][0].get<std::string>()), "");
  ASSERT_EQ(authz.status, 200);
  const Json& ch = authz.json["challenges"][0];
  std::string url = ch["url"];
  std::string challenge_id = url.substr(url.rfind('/') + 1);
  std::string token = ch["token"];
  served_["a.test/" + token] = token + "." + *JwkThumbprint(*JwkFromKey(account_key_.get()));
  // A process accepted the answer and stopped before validating: its queue was in memory.
  ASSERT_TRUE(storage_->Transact([&](Stores& s) {
                        return s.acme().UpdateChallenge(challenge_id, "processing", std::nullopt, "");
                      }).ok());
  EXPECT_EQ(client_->Post(order_path, "").json["status"], "pending");

  // The next process to start validates it.
  auto next = AcmeService::Create(options_, authority_.get(), storage_.get(), &clock_,
                                  Random::Secure(), std::make_unique<MapFetcher>(&served_));
  ASSERT_TRUE(next.ok()) << next.status();
  (*next)->WaitForValidations();
  auto challenge = client_->Post(client_->PathOf(url), "");
  EXPECT_EQ(challenge.json["status"], "valid") << challenge.body;
  EXPECT_EQ(client_->Post(order_path, "").json["status"], "ready");
}

TEST_F(AcmeServiceTest, DeviceAttestFullFlow) {
  auto client_identifier = service_->NewClientIdentifier("C02FAKE0001");
  ASSERT_TRUE(client_identifier.ok()) << client_identifier.status();
  auto device_key = NewKey("P-384");
  auto pem = testing::DeviceAttestOrder(*client_, *client_identifier, device_key.get(),
                                        [&](const std::string& token) {
                                          return Chain(device_key.get(), token);
                                        });
  ASSERT_TRUE(pem.ok()) << pem.status();
  auto chain = ParseCertificateChain(*pem);
  ASSERT_TRUE(chain.ok());
  X509* leaf = (*chain)[0].get();
  auto sans = CertificateSans(leaf);
  ASSERT_TRUE(sans.ok());
  ASSERT_EQ(sans->size(), 1u);
  EXPECT_EQ((*sans)[0].type, "permanent_identifier");
  EXPECT_EQ((*sans)[0].value, "C02FAKE0001");
  EvpPkeyPtr leaf_key = CertificatePublicKey(leaf);
  EXPECT_TRUE(PublicKeysEqual(leaf_key.get(), device_key.get()));
  Status st = storage_->Transact([&](Stores& s) -> Status {
    ASSIGN_OR_RETURN(auto rec, s.certs().GetBySerial(CertSerialHex(leaf)));
    auto attrs = Json::parse(rec.attributes_json);
    EXPECT_EQ(attrs["attested"]["serial_number"], "C02FAKE0001");
    EXPECT_EQ(attrs["attested"]["udid"], "00008030-001A2B3C4D5E6F70");
    EXPECT_EQ(attrs["attested"]["os_version"], "15.5");
    EXPECT_EQ(attrs["hardware_bound"], true);
    EXPECT_EQ(rec.requester, "acme");
    return OkStatus();
  });
  EXPECT_TRUE(st.ok()) << st;
  // The ClientIdentifier was spent.
  Json again{{"identifiers", {{{"type", "permanent-identifier"}, {"value", *client_identifier}}}}};
  EXPECT_EQ(client_->Post("/acme/new-order", again.dump()).problem_type(),
            "urn:ietf:params:acme:error:rejectedIdentifier");
}

TEST_F(AcmeServiceTest, DeviceAttestBadInputs) {
  const std::string bad_attestation = "urn:ietf:params:acme:error:badAttestationStatement";
  auto device_key = NewKey("P-384");
  // Unknown ClientIdentifier.
  Json unknown{{"identifiers", {{{"type", "permanent-identifier"}, {"value", "made-up"}}}}};
  EXPECT_EQ(client_->Post("/acme/new-order", unknown.dump()).problem_type(),
            "urn:ietf:params:acme:error:rejectedIdentifier");

  auto attempt = [&](const std::string& bound_to,
                     const std::function<std::string(const DeviceOrder&)>& payload) {
    auto id = service_->NewClientIdentifier(bound_to);
    EXPECT_TRUE(id.ok());
    DeviceOrder d = NewDeviceOrder(*id);
    auto reply = client_->Post(d.chall_path, payload(d));
    auto order = client_->Post(d.order_path, "");
    EXPECT_EQ(order.json["status"], "invalid") << order.body;
    return reply.problem_type();
  };
  // Malformed CBOR.
  EXPECT_EQ(attempt("", [](const DeviceOrder&) {
              return Json{{"attObj", Base64UrlEncode("\xa1\x63" "fmt")}}.dump();
            }),
            bad_attestation);
  // A chain to another root.
  auto other_ca = attest::testing::MakeFakeAttestationCa(clock_.Now() - std::chrono::hours(24),
                                                         clock_.Now() + std::chrono::hours(24),
                                                         "Other Root");
  ASSERT_TRUE(other_ca.ok());
  EXPECT_EQ(attempt("", [&](const DeviceOrder& d) {
              attest::testing::FakeLeafSpec spec;
              spec.not_before = clock_.Now() - std::chrono::hours(1);
              spec.not_after = clock_.Now() + std::chrono::hours(1);
              spec.freshness_code = attest::AcmeFreshnessCode(d.token);
              spec.key = device_key.get();
              auto leaf = attest::testing::IssueFakeLeaf(*other_ca, spec);
              return attest::EncodeDeviceAttestPayload(leaf->chain);
            }),
            bad_attestation);
  // Missing and wrong freshness code.
  EXPECT_EQ(attempt("", [&](const DeviceOrder& d) {
              return attest::EncodeDeviceAttestPayload(*Chain(device_key.get(), d.token, "C02FAKE0001", false));
            }),
            bad_attestation);
  EXPECT_EQ(attempt("", [&](const DeviceOrder&) {
              return attest::EncodeDeviceAttestPayload(*Chain(device_key.get(), "another token"));
            }),
            bad_attestation);
  // A serial that does not match the device the ClientIdentifier was made for.
  EXPECT_EQ(attempt("C02OTHER", [&](const DeviceOrder& d) {
              return attest::EncodeDeviceAttestPayload(*Chain(device_key.get(), d.token));
            }),
            "urn:ietf:params:acme:error:rejectedIdentifier");
  EXPECT_EQ(IssuedCount(), 0);

  // A CSR with another key than the attested one.
  auto id = service_->NewClientIdentifier("");
  DeviceOrder d = NewDeviceOrder(*id);
  auto ok = client_->Post(d.chall_path, attest::EncodeDeviceAttestPayload(*Chain(device_key.get(), d.token)));
  ASSERT_EQ(ok.json["status"], "valid") << ok.body;
  auto other_key = NewKey("P-384");
  auto csr = BuildCsrDer(CsrTemplate{{{"CN", "device"}}, {}, ""}, other_key.get());
  EXPECT_EQ(client_->Post(d.order_path + "/finalize", Json{{"csr", Base64UrlEncode(*csr)}}.dump())
                .problem_type(),
            "urn:ietf:params:acme:error:badCSR");
  EXPECT_EQ(IssuedCount(), 0);
}

}  // namespace
}  // namespace custos::acme
