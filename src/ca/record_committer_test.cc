#include "ca/record_committer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "base/time.h"
#include "storage/testing.h"

namespace custos {
namespace {

class CertRecordCommitterTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres" && !PostgresAvailable()) {
      GTEST_SKIP() << "PostgreSQL not available (run under scripts/with-postgres.sh)";
    }
    auto storage = OpenTestStorage(GetParam());
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = std::move(storage).value();
    // Certificate records reference their issuing CA certificate (a foreign key).
    Status s = storage_->Transact([&](Stores& st) -> Status {
      ASSIGN_OR_RETURN(int64_t key_id, st.ca().InsertKey({0, "key", false, FromUnixSeconds(1)}));
      CaCertRecord ca;
      ca.role = "issuing";
      ca.key_id = key_id;
      ca.der = "ca-der";
      ca.subject = "CN=Test CA";
      ca.serial_hex = "1";
      ca.sha256_hex = std::string(64, 'c');
      ca.not_before = FromUnixSeconds(1);
      ca.not_after = FromUnixSeconds(2000000000);
      ca.active = true;
      ca.created_at = FromUnixSeconds(1);
      ASSIGN_OR_RETURN(issuer_id_, st.ca().InsertCert(ca));
      return OkStatus();
    });
    ASSERT_TRUE(s.ok()) << s;
  }

  CertificateRecord Record(const std::string& serial) const {
    CertificateRecord r;
    r.serial_hex = serial;
    r.subject = "CN=device " + serial;
    r.sans_json = "[]";
    r.spki_sha256 = std::string(64, 'a');
    r.cert_sha256 = "sha-" + serial;
    r.not_before = FromUnixSeconds(1000);
    r.not_after = FromUnixSeconds(2000);
    r.issuer_id = issuer_id_;
    r.requester = "api";
    r.requester_ref = "test";
    r.status = "valid";
    r.attributes_json = "{}";
    r.der = "der-" + serial;
    r.created_at = FromUnixSeconds(1000);
    return r;
  }

  // The subject recorded under `serial`, or "" when there is none.
  std::string Recorded(const std::string& serial) {
    std::string subject;
    Status s = storage_->Transact(
        [&](Stores& st) -> Status {
          auto rec = st.certs().GetBySerial(serial);
          subject = rec.ok() ? rec->subject : "";
          return rec.ok() || rec.status().code() == StatusCode::kNotFound ? OkStatus()
                                                                          : rec.status();
        },
        TxMode::kReadOnly);
    EXPECT_TRUE(s.ok()) << s;
    return subject;
  }

  std::unique_ptr<Storage> storage_;
  int64_t issuer_id_ = 0;
};

TEST_P(CertRecordCommitterTest, OneTransactionForABatch) {
  CertRecordCommitter committer(storage_.get());
  CertificateRecord a = Record("a1"), b = Record("b2"), c = Record("c3");
  std::vector<Status> out = committer.CommitBatch({&a, &b, &c});
  ASSERT_EQ(out.size(), 3u);
  for (const Status& s : out) EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(committer.stats().transactions, 1u);
  EXPECT_EQ(committer.stats().records, 3u);
  EXPECT_EQ(Recorded("a1"), "CN=device a1");
  EXPECT_EQ(Recorded("b2"), "CN=device b2");
  EXPECT_EQ(Recorded("c3"), "CN=device c3");
}

TEST_P(CertRecordCommitterTest, ATakenSerialFailsAloneInItsBatch) {
  CertRecordCommitter committer(storage_.get());
  CertificateRecord first = Record("d4");
  ASSERT_TRUE(committer.Commit(first).ok());
  CertificateRecord b = Record("e5"), dup = Record("d4"), c = Record("f6");
  dup.subject = "CN=someone else";
  dup.cert_sha256 = "sha-other";
  std::vector<Status> out = committer.CommitBatch({&b, &dup, &c});
  EXPECT_TRUE(out[0].ok()) << out[0];
  EXPECT_EQ(out[1].code(), StatusCode::kAlreadyExists) << out[1];
  EXPECT_TRUE(out[2].ok()) << out[2];
  EXPECT_EQ(Recorded("d4"), "CN=device d4");  // the first record stays
  EXPECT_EQ(Recorded("e5"), "CN=device e5");
  EXPECT_EQ(Recorded("f6"), "CN=device f6");
}

TEST_P(CertRecordCommitterTest, AFailingRecordRollsBackOnlyItself) {
  // A foreign-key violation aborts the whole transaction on PostgreSQL (and fails the statement
  // on SQLite): the batch is rolled back and its records are committed again one by one.
  CertRecordCommitter committer(storage_.get());
  CertificateRecord b = Record("1b"), bad = Record("2b"), c = Record("3b");
  bad.issuer_id = issuer_id_ + 1000;  // no such CA certificate
  std::vector<Status> out = committer.CommitBatch({&b, &bad, &c});
  EXPECT_TRUE(out[0].ok()) << out[0];
  EXPECT_FALSE(out[1].ok());
  EXPECT_NE(out[1].code(), StatusCode::kAlreadyExists) << out[1];
  EXPECT_TRUE(out[2].ok()) << out[2];
  EXPECT_EQ(Recorded("1b"), "CN=device 1b");
  EXPECT_EQ(Recorded("2b"), "");
  EXPECT_EQ(Recorded("3b"), "CN=device 3b");
  EXPECT_EQ(committer.stats().records, 2u);
}

TEST_P(CertRecordCommitterTest, ASingleFailingRecordGetsItsError) {
  CertRecordCommitter committer(storage_.get());
  CertificateRecord bad = Record("4b");
  bad.issuer_id = issuer_id_ + 1000;
  Status s = committer.Commit(bad);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(Recorded("4b"), "");
}

TEST_P(CertRecordCommitterTest, ConcurrentCallersEachGetTheirOwnOutcome) {
  // 8 threads commit 25 records each; every 5th record of a thread repeats a serial another
  // thread also commits, so exactly one of the two may win. Every caller learns its own outcome,
  // every OK record is recorded, and no two records share a serial.
  CertRecordCommitter committer(storage_.get(), /*max_batch=*/16);
  constexpr int kThreads = 8;
  constexpr int kPerThread = 25;
  std::vector<std::vector<Status>> results(kThreads);
  std::vector<std::vector<std::string>> serials(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        // Threads t and t^1 share the serials of their every 5th record.
        std::string serial = i % 5 == 0 ? "5ad" + std::to_string(t / 2) + "0" + std::to_string(i)
                                         : "7" + std::to_string(t) + "0" + std::to_string(i);
        CertificateRecord r = Record(serial);
        r.cert_sha256 = "sha-" + std::to_string(t) + "-" + std::to_string(i);
        r.subject = "CN=thread " + std::to_string(t);
        serials[t].push_back(serial);
        results[t].push_back(committer.Commit(r));
      }
    });
  }
  for (auto& th : threads) th.join();
  std::map<std::string, int> winners;
  size_t ok = 0;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      const Status& s = results[t][i];
      if (s.ok()) {
        ++ok;
        ++winners[serials[t][i]];
        EXPECT_EQ(Recorded(serials[t][i]), "CN=thread " + std::to_string(t));
      } else {
        EXPECT_EQ(s.code(), StatusCode::kAlreadyExists) << s;
        EXPECT_EQ(i % 5, 0) << "only shared serials may conflict";
      }
    }
  }
  for (const auto& [serial, n] : winners) EXPECT_EQ(n, 1) << serial;
  // 8 * 25 records, of which 8 * 5 share a serial pairwise: 160 distinct + 20 shared serials.
  EXPECT_EQ(ok, 180u);
  EXPECT_EQ(committer.stats().records, 180u);
  EXPECT_LE(committer.stats().transactions, 200u);
  std::printf("group commit: %zu records in %zu transactions\n", committer.stats().records,
              committer.stats().transactions);
}

INSTANTIATE_TEST_SUITE_P(Drivers, CertRecordCommitterTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace custos
