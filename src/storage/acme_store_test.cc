// Conformance tests of AcmeStore (acme_store.h), on SQLite and PostgreSQL (the latter needs
// scripts/with-postgres.sh, as `make test` does).
#include <gtest/gtest.h>

#include "storage/storage.h"
#include "storage/testing.h"

namespace custos {
namespace {

class AcmeStoreTest : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres" && !PostgresAvailable()) GTEST_SKIP() << "no PostgreSQL";
    auto s = OpenTestStorage(GetParam());
    ASSERT_TRUE(s.ok()) << s.status();
    storage_ = std::move(*s);
  }

  Status Run(const std::function<Status(AcmeStore&)>& fn) {
    return storage_->Transact([&](Stores& s) { return fn(s.acme()); });
  }

  static AcmeAccountRecord Account(std::string id, std::string thumbprint) {
    AcmeAccountRecord a;
    a.id = std::move(id);
    a.key_thumbprint = std::move(thumbprint);
    a.jwk_json = R"({"kty":"EC"})";
    a.contact_json = R"(["mailto:a@example.com"])";
    a.created_at = FromUnixSeconds(1700000000);
    return a;
  }

  std::unique_ptr<Storage> storage_;
};

TEST_P(AcmeStoreTest, MigrationApplied) {
  auto v = storage_->SchemaVersion();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_GE(*v, 5);
}

TEST_P(AcmeStoreTest, AccountsByIdAndThumbprint) {
  ASSERT_TRUE(Run([](AcmeStore& s) { return s.InsertAccount(Account("acc1", "tp1")); }).ok());
  EXPECT_EQ(Run([](AcmeStore& s) { return s.InsertAccount(Account("acc2", "tp1")); }).code(),
            StatusCode::kAlreadyExists);
  ASSERT_TRUE(Run([](AcmeStore& s) { return s.InsertAccount(Account("acc2", "tp2")); }).ok());
  ASSERT_TRUE(Run([](AcmeStore& s) -> Status {
                ASSIGN_OR_RETURN(auto a, s.GetAccountByThumbprint("tp1"));
                EXPECT_EQ(a.id, "acc1");
                EXPECT_EQ(a.contact_json, R"(["mailto:a@example.com"])");
                EXPECT_EQ(ToUnixSeconds(a.created_at), 1700000000);
                // Key rollover onto a key another account holds is refused.
                a.key_thumbprint = "tp2";
                EXPECT_EQ(s.UpdateAccount(a).code(), StatusCode::kAlreadyExists);
                a.key_thumbprint = "tp3";
                a.status = "deactivated";
                RETURN_IF_ERROR(s.UpdateAccount(a));
                ASSIGN_OR_RETURN(auto b, s.GetAccount("acc1"));
                EXPECT_EQ(b.key_thumbprint, "tp3");
                EXPECT_EQ(b.status, "deactivated");
                EXPECT_EQ(s.GetAccount("nope").status().code(), StatusCode::kNotFound);
                EXPECT_EQ(s.GetAccountByThumbprint("tp1").status().code(), StatusCode::kNotFound);
                return OkStatus();
              }).ok());
}

TEST_P(AcmeStoreTest, OrdersAuthzsChallenges) {
  Status st = Run([](AcmeStore& s) -> Status {
    RETURN_IF_ERROR(s.InsertAccount(Account("acc", "tp")));
    for (const char* id : {"o1", "o2"}) {
      AcmeOrderRecord o;
      o.id = id;
      o.account_id = "acc";
      o.identifiers_json = R"([{"type":"dns","value":"a.test"}])";
      o.expires_at = FromUnixSeconds(1700003600);
      o.created_at = FromUnixSeconds(1700000000);
      if (std::string(id) == "o2") o.not_after = FromUnixSeconds(1800000000);
      RETURN_IF_ERROR(s.InsertOrder(o));
    }
    AcmeAuthzRecord a;
    a.id = "z1";
    a.order_id = "o1";
    a.account_id = "acc";
    a.identifier_type = "dns";
    a.identifier_value = "a.test";
    a.expires_at = FromUnixSeconds(1700003600);
    RETURN_IF_ERROR(s.InsertAuthz(a));
    AcmeChallengeRecord c;
    c.id = "c1";
    c.authz_id = "z1";
    c.type = "http-01";
    c.token = "tok";
    RETURN_IF_ERROR(s.InsertChallenge(c));
    EXPECT_EQ(s.InsertChallenge(c).code(), StatusCode::kAlreadyExists);
    return OkStatus();
  });
  ASSERT_TRUE(st.ok()) << st;
  st = Run([](AcmeStore& s) -> Status {
    ASSIGN_OR_RETURN(auto orders, s.ListOrders("acc", 10));
    EXPECT_EQ(orders.size(), 2u);
    if (orders.size() == 2) {
      EXPECT_EQ(orders[0].id, "o1");
      EXPECT_FALSE(orders[0].not_after.has_value());
      EXPECT_TRUE(orders[1].not_after.has_value());
      EXPECT_EQ(ToUnixSeconds(orders[1].not_after.value_or(Time{})), 1800000000);
    }
    RETURN_IF_ERROR(s.UpdateOrder("o1", "valid", "", "abc123"));
    ASSIGN_OR_RETURN(auto o, s.GetOrder("o1"));
    EXPECT_EQ(o.status, "valid");
    EXPECT_EQ(o.cert_serial, "abc123");
    EXPECT_EQ(s.UpdateOrder("nope", "valid", "", "").code(), StatusCode::kNotFound);
    RETURN_IF_ERROR(s.UpdateAuthz("z1", "valid", R"({"serial":"X"})"));
    ASSIGN_OR_RETURN(auto authzs, s.ListAuthzs("o1"));
    EXPECT_EQ(authzs.size(), 1u);
    if (!authzs.empty()) {
      EXPECT_EQ(authzs[0].attested_json, R"({"serial":"X"})");
    }
    RETURN_IF_ERROR(s.UpdateChallenge("c1", "valid", FromUnixSeconds(1700000100), ""));
    ASSIGN_OR_RETURN(auto c, s.GetChallenge("c1"));
    EXPECT_EQ(c.status, "valid");
    EXPECT_TRUE(c.validated_at.has_value());
    ASSIGN_OR_RETURN(auto cs, s.ListChallenges("z1"));
    EXPECT_EQ(cs.size(), 1u);
    // By status, oldest first, limited.
    for (const char* id : {"c2", "c3", "c4"}) {
      AcmeChallengeRecord more;
      more.id = id;
      more.authz_id = "z1";
      more.type = "http-01";
      more.token = std::string("tok-") + id;
      RETURN_IF_ERROR(s.InsertChallenge(more));
      RETURN_IF_ERROR(s.UpdateChallenge(id, "processing", std::nullopt, ""));
    }
    ASSIGN_OR_RETURN(auto processing, s.ListChallengesWithStatus("processing", 2));
    EXPECT_EQ(processing.size(), 2u);
    if (processing.size() == 2) {
      EXPECT_EQ(processing[0].id, "c2");
      EXPECT_EQ(processing[1].id, "c3");
    }
    ASSIGN_OR_RETURN(auto valid, s.ListChallengesWithStatus("valid", 10));
    EXPECT_EQ(valid.size(), 1u);
    ASSIGN_OR_RETURN(auto none, s.ListChallengesWithStatus("pending", 10));
    EXPECT_TRUE(none.empty());
    return OkStatus();
  });
  EXPECT_TRUE(st.ok()) << st;
}

TEST_P(AcmeStoreTest, ClientIdentifiersAreOneTime) {
  AcmeClientIdentifierRecord c;
  c.identifier_sha256 = "aa";
  c.bound_to = "C02FAKE";
  c.created_at = FromUnixSeconds(1000);
  c.expires_at = FromUnixSeconds(2000);
  ASSERT_TRUE(Run([&](AcmeStore& s) { return s.InsertClientIdentifier(c); }).ok());
  EXPECT_EQ(Run([&](AcmeStore& s) { return s.InsertClientIdentifier(c); }).code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(Run([](AcmeStore& s) { return s.SpendClientIdentifier("bb", FromUnixSeconds(1500), "o"); })
                .code(),
            StatusCode::kNotFound);
  EXPECT_EQ(Run([](AcmeStore& s) { return s.SpendClientIdentifier("aa", FromUnixSeconds(2500), "o"); })
                .code(),
            StatusCode::kFailedPrecondition);  // expired
  EXPECT_TRUE(Run([](AcmeStore& s) { return s.SpendClientIdentifier("aa", FromUnixSeconds(1500), "o"); })
                  .ok());
  EXPECT_EQ(Run([](AcmeStore& s) { return s.SpendClientIdentifier("aa", FromUnixSeconds(1500), "p"); })
                .code(),
            StatusCode::kFailedPrecondition);  // spent
  Status st = Run([](AcmeStore& s) -> Status {
    ASSIGN_OR_RETURN(auto got, s.GetClientIdentifier("aa"));
    EXPECT_EQ(got.bound_to, "C02FAKE");
    EXPECT_EQ(got.spent_by, "o");
    EXPECT_TRUE(got.spent_at.has_value());
    return OkStatus();
  });
  EXPECT_TRUE(st.ok()) << st;
}

INSTANTIATE_TEST_SUITE_P(Drivers, AcmeStoreTest, testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace custos
