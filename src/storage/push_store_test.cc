// Conformance tests of PushStore (push_store.h), on SQLite and PostgreSQL (the latter needs
// scripts/with-postgres.sh, as `make test` does).
#include <gtest/gtest.h>

#include "storage/storage.h"
#include "storage/testing.h"

namespace custos {
namespace {

class PushStoreTest : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres" && !PostgresAvailable()) GTEST_SKIP() << "no PostgreSQL";
    auto s = OpenTestStorage(GetParam());
    ASSERT_TRUE(s.ok()) << s.status();
    storage_ = std::move(*s);
  }
  std::unique_ptr<Storage> storage_;
};

PushCertRecord Record(std::string topic, int64_t t) {
  PushCertRecord c;
  c.topic = std::move(topic);
  c.cert_pem = "-----BEGIN CERTIFICATE-----\ncert-" + std::to_string(t) + "\n";
  c.key_pem = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nkey-" + std::to_string(t) + "\n";
  c.key_encrypted = true;
  c.subject = "UID=" + c.topic + ",CN=APSP:" + c.topic;
  c.sha256_hex = std::string(64, 'a' + static_cast<char>(t % 6));
  c.not_before = FromUnixSeconds(1700000000 + t);
  c.not_after = FromUnixSeconds(1800000000 + t);
  c.created_at = FromUnixSeconds(1750000000 + t);
  c.updated_at = c.created_at;
  return c;
}

TEST_P(PushStoreTest, MigrationApplied) {
  auto v = storage_->SchemaVersion();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_GE(*v, 4);
}

TEST_P(PushStoreTest, PutGetRoundTrip) {
  PushCertRecord in = Record("com.apple.mgmt.External.a", 1);
  ASSERT_TRUE(storage_->Transact([&](Stores& s) { return s.push().PutCert(in); }).ok());
  PushCertRecord out;
  ASSERT_TRUE(storage_
                  ->Transact(
                      [&](Stores& s) -> Status {
                        ASSIGN_OR_RETURN(out, s.push().GetCert(in.topic));
                        return OkStatus();
                      },
                      TxMode::kReadOnly)
                  .ok());
  EXPECT_EQ(out.topic, in.topic);
  EXPECT_EQ(out.cert_pem, in.cert_pem);
  EXPECT_EQ(out.key_pem, in.key_pem);
  EXPECT_TRUE(out.key_encrypted);
  EXPECT_EQ(out.subject, in.subject);
  EXPECT_EQ(out.sha256_hex, in.sha256_hex);
  EXPECT_EQ(out.not_before, in.not_before);
  EXPECT_EQ(out.not_after, in.not_after);
  EXPECT_EQ(out.created_at, in.created_at);
}

TEST_P(PushStoreTest, PutReplacesAndKeepsCreatedAt) {
  PushCertRecord first = Record("com.apple.mgmt.External.b", 1);
  PushCertRecord second = Record("com.apple.mgmt.External.b", 2);
  second.key_encrypted = false;
  ASSERT_TRUE(storage_->Transact([&](Stores& s) { return s.push().PutCert(first); }).ok());
  ASSERT_TRUE(storage_->Transact([&](Stores& s) { return s.push().PutCert(second); }).ok());
  std::vector<PushCertRecord> all;
  ASSERT_TRUE(storage_
                  ->Transact([&](Stores& s) -> Status {
                    ASSIGN_OR_RETURN(all, s.push().ListCerts());
                    return OkStatus();
                  })
                  .ok());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].cert_pem, second.cert_pem);
  EXPECT_EQ(all[0].key_pem, second.key_pem);
  EXPECT_FALSE(all[0].key_encrypted);
  EXPECT_EQ(all[0].not_after, second.not_after);
  EXPECT_EQ(all[0].updated_at, second.updated_at);
  EXPECT_EQ(all[0].created_at, first.created_at);
}

TEST_P(PushStoreTest, ListOrderedByTopicAndDelete) {
  ASSERT_TRUE(storage_
                  ->Transact([&](Stores& s) -> Status {
                    RETURN_IF_ERROR(s.push().PutCert(Record("topic.c", 3)));
                    RETURN_IF_ERROR(s.push().PutCert(Record("topic.a", 1)));
                    return s.push().PutCert(Record("topic.b", 2));
                  })
                  .ok());
  std::vector<PushCertRecord> all;
  ASSERT_TRUE(storage_
                  ->Transact([&](Stores& s) -> Status {
                    ASSIGN_OR_RETURN(all, s.push().ListCerts());
                    return OkStatus();
                  })
                  .ok());
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].topic, "topic.a");
  EXPECT_EQ(all[1].topic, "topic.b");
  EXPECT_EQ(all[2].topic, "topic.c");

  EXPECT_TRUE(storage_->Transact([&](Stores& s) { return s.push().DeleteCert("topic.b"); }).ok());
  Status again = storage_->Transact([&](Stores& s) { return s.push().DeleteCert("topic.b"); });
  EXPECT_EQ(again.code(), StatusCode::kNotFound) << again;
  Status get = storage_->Transact(
      [&](Stores& s) { return s.push().GetCert("topic.b").status(); }, TxMode::kReadOnly);
  EXPECT_EQ(get.code(), StatusCode::kNotFound) << get;
}

TEST_P(PushStoreTest, RefusesEmptyFields) {
  PushCertRecord bad = Record("", 1);
  Status s = storage_->Transact([&](Stores& st) { return st.push().PutCert(bad); });
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s;
  bad = Record("topic.x", 1);
  bad.key_pem.clear();
  s = storage_->Transact([&](Stores& st) { return st.push().PutCert(bad); });
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s;
}

INSTANTIATE_TEST_SUITE_P(Drivers, PushStoreTest, testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace custos
