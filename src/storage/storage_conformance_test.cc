// The one conformance suite every storage driver passes: each role of storage.h, run against
// SQLite and PostgreSQL (the latter needs scripts/with-postgres.sh, as `make test` does).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "storage/storage.h"
#include "storage/testing.h"

namespace custos {
namespace {

const Time kNow = FromUnixSeconds(1'800'000'000);

std::string SerialOf(int i) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "5e%06x", i);
  return buf;
}

CertificateRecord MakeCert(std::string serial, int64_t issuer_id) {
  CertificateRecord c;
  c.serial_hex = serial;
  c.subject = "CN=device " + serial + ",O=custos";
  c.sans_json = R"([{"type":"dns","value":")" + serial + R"(.example"}])";
  c.spki_sha256 = "a1" + serial;
  c.cert_sha256 = "c2" + serial;
  c.not_before = kNow - std::chrono::hours(1);
  c.not_after = kNow + std::chrono::hours(24 * 365);
  c.issuer_id = issuer_id;
  c.requester = "scep";
  c.requester_ref = "txn-" + serial;
  c.renewal_of = "";
  c.attributes_json = R"({"attested":true})";
  c.der = std::string("\x30\x82\x00\x00\xff", 5) + serial;  // bytes, with a NUL
  c.created_at = kNow;
  return c;
}

void ExpectSameCert(const CertificateRecord& a, const CertificateRecord& b) {
  EXPECT_EQ(a.serial_hex, b.serial_hex);
  EXPECT_EQ(a.subject, b.subject);
  EXPECT_EQ(a.sans_json, b.sans_json);
  EXPECT_EQ(a.spki_sha256, b.spki_sha256);
  EXPECT_EQ(a.cert_sha256, b.cert_sha256);
  EXPECT_EQ(a.not_before, b.not_before);
  EXPECT_EQ(a.not_after, b.not_after);
  EXPECT_EQ(a.issuer_id, b.issuer_id);
  EXPECT_EQ(a.requester, b.requester);
  EXPECT_EQ(a.requester_ref, b.requester_ref);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.revoked_at, b.revoked_at);
  EXPECT_EQ(a.revocation_reason, b.revocation_reason);
  EXPECT_EQ(a.renewal_of, b.renewal_of);
  EXPECT_EQ(a.attributes_json, b.attributes_json);
  EXPECT_EQ(a.der, b.der);
  EXPECT_EQ(a.created_at, b.created_at);
}

class StorageConformanceTest : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres" && !PostgresAvailable()) {
      GTEST_SKIP() << "CUSTOS_TEST_PG_ADMIN_DSN is not set: run through scripts/with-postgres.sh";
    }
    auto storage = OpenTestStorage(GetParam());
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = std::move(storage).value();
    ASSERT_EQ(storage_->driver(), GetParam());
  }

  Status Tx(const std::function<Status(Stores&)>& fn) { return storage_->Transact(fn); }

  // A CA key and certificate of `role`; returns the certificate id.
  int64_t AddCaCert(const std::string& role, const std::string& tag, bool active = false,
                    Storage* storage = nullptr) {
    int64_t id = 0;
    Status s = (storage != nullptr ? storage : storage_.get())->Transact([&](Stores& st) -> Status {
      CaKeyRecord key{0, "-----BEGIN PRIVATE KEY-----\n" + tag, false, kNow};
      ASSIGN_OR_RETURN(int64_t key_id, st.ca().InsertKey(key));
      CaCertRecord cert;
      cert.role = role;
      cert.key_id = key_id;
      cert.der = std::string("\x30\x00", 2) + tag;
      cert.subject = "CN=" + tag;
      cert.serial_hex = "01" + HexTag(tag);
      cert.sha256_hex = "ff" + HexTag(tag);
      cert.not_before = kNow - std::chrono::hours(24);
      cert.not_after = kNow + std::chrono::hours(24 * 3650);
      cert.active = active;
      cert.created_at = kNow;
      ASSIGN_OR_RETURN(id, st.ca().InsertCert(cert));
      return OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    return id;
  }

  static std::string HexTag(const std::string& tag) {
    std::string out;
    for (unsigned char c : tag) {
      char buf[3];
      std::snprintf(buf, sizeof(buf), "%02x", c);
      out += buf;
    }
    return out;
  }

  Status InsertCert(const CertificateRecord& c) {
    return Tx([&](Stores& st) { return st.certs().Insert(c); });
  }

  StatusOr<CertificateRecord> GetBySerial(const std::string& serial) {
    std::optional<StatusOr<CertificateRecord>> out;
    Status s = storage_->Transact(
        [&](Stores& st) {
          out = st.certs().GetBySerial(serial);
          return OkStatus();
        },
        TxMode::kReadOnly);
    if (!s.ok()) return s;
    return *out;
  }

  std::vector<std::string> ListSerials(const CertificateFilter& filter) {
    std::vector<std::string> serials;
    Status s = storage_->Transact(
        [&](Stores& st) -> Status {
          ASSIGN_OR_RETURN(auto list, st.certs().List(filter));
          for (const auto& c : list) serials.push_back(c.serial_hex);
          return OkStatus();
        },
        TxMode::kReadOnly);
    EXPECT_TRUE(s.ok()) << s;
    return serials;
  }

  std::unique_ptr<Storage> storage_;
};

// ---- CaStore -----------------------------------------------------------------------------------

TEST_P(StorageConformanceTest, CaKeyRoundTrip) {
  ASSERT_TRUE(Tx([&](Stores& st) -> Status {
                CaKeyRecord key{0, "-----BEGIN ENCRYPTED PRIVATE KEY-----\nabc\n", true, kNow};
                ASSIGN_OR_RETURN(int64_t id, st.ca().InsertKey(key));
                EXPECT_GT(id, 0);
                ASSIGN_OR_RETURN(CaKeyRecord got, st.ca().GetKey(id));
                EXPECT_EQ(got.id, id);
                EXPECT_EQ(got.pkcs8_pem, key.pkcs8_pem);
                EXPECT_TRUE(got.encrypted);
                EXPECT_EQ(got.created_at, kNow);
                ASSIGN_OR_RETURN(int64_t id2, st.ca().InsertKey(key));
                EXPECT_NE(id2, id);
                EXPECT_EQ(st.ca().GetKey(id2 + 100).status().code(), StatusCode::kNotFound);
                return OkStatus();
              }).ok());
}

TEST_P(StorageConformanceTest, CaCertRoundTripAndListOldestFirst) {
  int64_t root = AddCaCert("root", "root", true);
  int64_t issuing1 = AddCaCert("issuing", "issuing-1", true);
  int64_t issuing2 = AddCaCert("issuing", "issuing-2");
  ASSERT_TRUE(Tx([&](Stores& st) -> Status {
                ASSIGN_OR_RETURN(CaCertRecord c, st.ca().GetCert(issuing1));
                EXPECT_EQ(c.id, issuing1);
                EXPECT_EQ(c.role, "issuing");
                EXPECT_GT(c.key_id, 0);
                EXPECT_EQ(c.der, std::string("\x30\x00", 2) + "issuing-1");
                EXPECT_EQ(c.subject, "CN=issuing-1");
                EXPECT_EQ(c.serial_hex, "01" + HexTag("issuing-1"));
                EXPECT_EQ(c.sha256_hex, "ff" + HexTag("issuing-1"));
                EXPECT_EQ(c.not_before, kNow - std::chrono::hours(24));
                EXPECT_EQ(c.not_after, kNow + std::chrono::hours(24 * 3650));
                EXPECT_TRUE(c.active);
                EXPECT_EQ(c.created_at, kNow);
                ASSIGN_OR_RETURN(auto list, st.ca().ListCerts());
                std::vector<int64_t> ids;
                for (const auto& x : list) ids.push_back(x.id);
                EXPECT_EQ(ids, (std::vector<int64_t>{root, issuing1, issuing2}));
                EXPECT_EQ(st.ca().GetCert(issuing2 + 100).status().code(), StatusCode::kNotFound);
                return OkStatus();
              }).ok());
}

TEST_P(StorageConformanceTest, CaCertWithUnknownKeyIsRefused) {
  Status s = Tx([&](Stores& st) -> Status {
    CaCertRecord cert;
    cert.role = "issuing";
    cert.key_id = 4242;
    cert.der = "x";
    cert.sha256_hex = "aa";
    return st.ca().InsertCert(cert).status();
  });
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s;
}

TEST_P(StorageConformanceTest, SetActiveLeavesExactlyOneActivePerRole) {
  int64_t root = AddCaCert("root", "root", true);
  int64_t a = AddCaCert("issuing", "a", true);
  int64_t b = AddCaCert("issuing", "b");
  int64_t c = AddCaCert("issuing", "c", true);  // an active insert deactivates a
  auto active_of = [&](const std::string& role) {
    std::vector<int64_t> active;
    EXPECT_TRUE(Tx([&](Stores& st) -> Status {
                  ASSIGN_OR_RETURN(auto list, st.ca().ListCerts());
                  for (const auto& x : list) {
                    if (x.role == role && x.active) active.push_back(x.id);
                  }
                  return OkStatus();
                }).ok());
    return active;
  };
  EXPECT_EQ(active_of("issuing"), std::vector<int64_t>{c});
  ASSERT_TRUE(Tx([&](Stores& st) { return st.ca().SetActive(b); }).ok());
  EXPECT_EQ(active_of("issuing"), std::vector<int64_t>{b});
  EXPECT_EQ(active_of("root"), std::vector<int64_t>{root});
  ASSERT_TRUE(Tx([&](Stores& st) { return st.ca().SetActive(a); }).ok());
  EXPECT_EQ(active_of("issuing"), std::vector<int64_t>{a});
  EXPECT_EQ(Tx([&](Stores& st) { return st.ca().SetActive(c + 100); }).code(),
            StatusCode::kNotFound);
  EXPECT_EQ(active_of("issuing"), std::vector<int64_t>{a});
}

TEST_P(StorageConformanceTest, CrlPutGetReplace) {
  int64_t issuing = AddCaCert("issuing", "crl-ca", true);
  ASSERT_TRUE(Tx([&](Stores& st) -> Status {
                EXPECT_EQ(st.ca().GetCrl(issuing).status().code(), StatusCode::kNotFound);
                RETURN_IF_ERROR(st.ca().PutCrl({issuing, 1, std::string("crl\0one", 7), kNow,
                                                kNow + std::chrono::hours(24)}));
                ASSIGN_OR_RETURN(CrlRecord got, st.ca().GetCrl(issuing));
                EXPECT_EQ(got.ca_cert_id, issuing);
                EXPECT_EQ(got.number, 1);
                EXPECT_EQ(got.der, std::string("crl\0one", 7));
                EXPECT_EQ(got.this_update, kNow);
                EXPECT_EQ(got.next_update, kNow + std::chrono::hours(24));
                return st.ca().PutCrl({issuing, 2, "crl two", kNow + std::chrono::hours(1),
                                       kNow + std::chrono::hours(25)});
              }).ok());
  ASSERT_TRUE(Tx([&](Stores& st) -> Status {
                ASSIGN_OR_RETURN(CrlRecord got, st.ca().GetCrl(issuing));
                EXPECT_EQ(got.number, 2);
                EXPECT_EQ(got.der, "crl two");
                EXPECT_EQ(got.this_update, kNow + std::chrono::hours(1));
                return OkStatus();
              }).ok());
  EXPECT_EQ(Tx([&](Stores& st) {
              return st.ca().PutCrl({issuing + 100, 1, "x", kNow, kNow});
            }).code(),
            StatusCode::kFailedPrecondition);
}

TEST_P(StorageConformanceTest, NextCrlNumberCountsPerCertificate) {
  int64_t a = AddCaCert("issuing", "a");
  int64_t b = AddCaCert("issuing", "b");
  ASSERT_TRUE(Tx([&](Stores& st) -> Status {
                for (int64_t want = 1; want <= 3; ++want) {
                  ASSIGN_OR_RETURN(int64_t n, st.ca().NextCrlNumber(a));
                  EXPECT_EQ(n, want);
                }
                ASSIGN_OR_RETURN(int64_t n, st.ca().NextCrlNumber(b));
                EXPECT_EQ(n, 1);
                EXPECT_EQ(st.ca().NextCrlNumber(b + 100).status().code(), StatusCode::kNotFound);
                return OkStatus();
              }).ok());
}

TEST_P(StorageConformanceTest, NextCrlNumberIsStrictlyIncreasingUnderConcurrency) {
  int64_t ca = AddCaCert("issuing", "busy");
  constexpr int kThreads = 8;
  constexpr int kEach = 15;
  std::vector<std::vector<int64_t>> seen(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        Status s = Tx([&](Stores& st) -> Status {
          ASSIGN_OR_RETURN(int64_t n, st.ca().NextCrlNumber(ca));
          seen[t].push_back(n);
          return OkStatus();
        });
        EXPECT_TRUE(s.ok()) << s;
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<int64_t> all;
  for (const auto& v : seen) {
    EXPECT_TRUE(std::is_sorted(v.begin(), v.end()));
    EXPECT_EQ(std::adjacent_find(v.begin(), v.end()), v.end());  // strictly: no repeats
    all.insert(v.begin(), v.end());
  }
  ASSERT_EQ(all.size(), size_t{kThreads * kEach});
  EXPECT_EQ(*all.begin(), 1);
  EXPECT_EQ(*all.rbegin(), kThreads * kEach);
}

// ---- CertStore ---------------------------------------------------------------------------------

TEST_P(StorageConformanceTest, CertificateRoundTripBySerialAndHash) {
  int64_t issuer = AddCaCert("issuing", "issuer", true);
  CertificateRecord c = MakeCert("7f01", issuer);
  c.renewal_of = "7f00";
  ASSERT_TRUE(InsertCert(c).ok());
  ASSERT_TRUE(Tx([&](Stores& st) -> Status {
                ASSIGN_OR_RETURN(auto by_serial, st.certs().GetBySerial("7f01"));
                ExpectSameCert(by_serial, c);
                ASSIGN_OR_RETURN(auto by_hash, st.certs().GetBySha256(c.cert_sha256));
                ExpectSameCert(by_hash, c);
                EXPECT_EQ(st.certs().GetBySerial("7f02").status().code(), StatusCode::kNotFound);
                EXPECT_EQ(st.certs().GetBySha256("00").status().code(), StatusCode::kNotFound);
                return OkStatus();
              }).ok());
}

TEST_P(StorageConformanceTest, DuplicateSerialOrHashIsAlreadyExistsAndTransactionGoesOn) {
  int64_t issuer = AddCaCert("issuing", "issuer", true);
  ASSERT_TRUE(InsertCert(MakeCert("0a", issuer)).ok());
  CertificateRecord same_serial = MakeCert("0a", issuer);
  same_serial.cert_sha256 = "other";
  CertificateRecord same_hash = MakeCert("0b", issuer);
  same_hash.cert_sha256 = MakeCert("0a", issuer).cert_sha256;
  // The CA retries with a new serial inside the same transaction: that must still commit.
  Status s = Tx([&](Stores& st) -> Status {
    EXPECT_EQ(st.certs().Insert(same_serial).code(), StatusCode::kAlreadyExists);
    EXPECT_EQ(st.certs().Insert(same_hash).code(), StatusCode::kAlreadyExists);
    return st.certs().Insert(MakeCert("0c", issuer));
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(ListSerials({}), (std::vector<std::string>{"0a", "0c"}));
  auto original = GetBySerial("0a");
  ASSERT_TRUE(original.ok());
  EXPECT_EQ(original->cert_sha256, MakeCert("0a", issuer).cert_sha256);
}

TEST_P(StorageConformanceTest, CertificateWithUnknownIssuerIsRefused) {
  EXPECT_EQ(InsertCert(MakeCert("0a", 999)).code(), StatusCode::kFailedPrecondition);
}

TEST_P(StorageConformanceTest, RevokeOnceThenFailedPrecondition) {
  int64_t issuer = AddCaCert("issuing", "issuer", true);
  ASSERT_TRUE(InsertCert(MakeCert("1234", issuer)).ok());
  const Time when = kNow + std::chrono::hours(2);
  ASSERT_TRUE(Tx([&](Stores& st) { return st.certs().Revoke("1234", when, 1); }).ok());
  auto got = GetBySerial("1234");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->status, "revoked");
  EXPECT_EQ(got->revoked_at, std::optional<Time>(when));
  EXPECT_EQ(got->revocation_reason, 1);
  Status again = Tx([&](Stores& st) { return st.certs().Revoke("1234", when, 4); });
  EXPECT_EQ(again.code(), StatusCode::kFailedPrecondition) << again;
  EXPECT_EQ(GetBySerial("1234")->revocation_reason, 1);
  EXPECT_EQ(Tx([&](Stores& st) { return st.certs().Revoke("9999", when, 1); }).code(),
            StatusCode::kNotFound);
}

TEST_P(StorageConformanceTest, ListRevokedFiltersByIssuerAndExpiry) {
  int64_t a = AddCaCert("issuing", "a", true);
  int64_t b = AddCaCert("issuing", "b");
  CertificateRecord revoked_live = MakeCert("a1", a);
  CertificateRecord revoked_expired = MakeCert("a2", a);
  revoked_expired.not_after = kNow - std::chrono::seconds(1);
  CertificateRecord valid = MakeCert("a3", a);
  CertificateRecord other_issuer = MakeCert("b1", b);
  CertificateRecord revoked_at_edge = MakeCert("a4", a);
  revoked_at_edge.not_after = kNow;  // still valid at `now`
  for (const auto* c : {&revoked_live, &revoked_expired, &valid, &other_issuer, &revoked_at_edge}) {
    ASSERT_TRUE(InsertCert(*c).ok());
  }
  ASSERT_TRUE(Tx([&](Stores& st) -> Status {
                for (const char* s : {"a1", "a2", "b1", "a4"}) {
                  RETURN_IF_ERROR(st.certs().Revoke(s, kNow - std::chrono::hours(1), 0));
                }
                return OkStatus();
              }).ok());
  ASSERT_TRUE(Tx([&](Stores& st) -> Status {
                ASSIGN_OR_RETURN(auto list, st.certs().ListRevoked(a, kNow));
                std::vector<std::string> serials;
                for (const auto& c : list) serials.push_back(c.serial_hex);
                EXPECT_EQ(serials, (std::vector<std::string>{"a1", "a4"}));
                ASSIGN_OR_RETURN(auto later, st.certs().ListRevoked(a, kNow + std::chrono::hours(1)));
                EXPECT_EQ(later.size(), 1u);
                ASSIGN_OR_RETURN(auto of_b, st.certs().ListRevoked(b, kNow));
                EXPECT_EQ(of_b.size(), 1u);
                ASSIGN_OR_RETURN(auto none, st.certs().ListRevoked(b + 100, kNow));
                EXPECT_TRUE(none.empty());
                return OkStatus();
              }).ok());
}

TEST_P(StorageConformanceTest, ListPagesAndFilters) {
  int64_t issuer = AddCaCert("issuing", "issuer", true);
  std::vector<std::string> all, scep, revoked;
  for (int i = 0; i < 25; ++i) {
    CertificateRecord c = MakeCert(SerialOf(i * 7919 % 1000), issuer);
    c.requester = i % 3 == 0 ? "acme" : "scep";
    ASSERT_TRUE(InsertCert(c).ok());
    all.push_back(c.serial_hex);
    if (c.requester == "scep") scep.push_back(c.serial_hex);
    if (i % 4 == 0) {
      ASSERT_TRUE(Tx([&](Stores& st) { return st.certs().Revoke(c.serial_hex, kNow, 0); }).ok());
      revoked.push_back(c.serial_hex);
    }
  }
  std::sort(all.begin(), all.end());
  std::sort(scep.begin(), scep.end());
  std::sort(revoked.begin(), revoked.end());

  std::vector<std::string> paged;
  CertificateFilter filter;
  filter.limit = 10;
  int pages = 0;
  for (;;) {
    auto page = ListSerials(filter);
    ASSERT_LE(page.size(), 10u);
    ++pages;
    if (page.empty()) break;
    paged.insert(paged.end(), page.begin(), page.end());
    filter.after_serial = page.back();
  }
  EXPECT_EQ(paged, all);
  EXPECT_EQ(pages, 4);  // 10 + 10 + 5 + an empty one

  CertificateFilter by_requester;
  by_requester.requester = "scep";
  by_requester.limit = 1000;
  EXPECT_EQ(ListSerials(by_requester), scep);

  CertificateFilter by_status;
  by_status.status = "revoked";
  EXPECT_EQ(ListSerials(by_status), revoked);

  CertificateFilter both;
  both.status = "valid";
  both.requester = "acme";
  for (const auto& s : ListSerials(both)) {
    auto c = GetBySerial(s);
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->status, "valid");
    EXPECT_EQ(c->requester, "acme");
  }
  EXPECT_FALSE(ListSerials(both).empty());
}

// ---- Transactions ------------------------------------------------------------------------------

TEST_P(StorageConformanceTest, FailedCallbackRollsBackEverything) {
  int64_t issuer = AddCaCert("issuing", "issuer", true);
  Status s = Tx([&](Stores& st) -> Status {
    RETURN_IF_ERROR(st.certs().Insert(MakeCert("dead", issuer)));
    RETURN_IF_ERROR(st.ca().NextCrlNumber(issuer).status());
    RETURN_IF_ERROR(st.ca().InsertKey({0, "pem", false, kNow}).status());
    return InternalError("something after the insert failed");
  });
  EXPECT_EQ(s, InternalError("something after the insert failed"));
  EXPECT_EQ(GetBySerial("dead").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(ListSerials({}).empty());
  ASSERT_TRUE(Tx([&](Stores& st) -> Status {
                ASSIGN_OR_RETURN(int64_t n, st.ca().NextCrlNumber(issuer));
                EXPECT_EQ(n, 1);  // the rolled-back increment is gone
                ASSIGN_OR_RETURN(auto certs, st.ca().ListCerts());
                EXPECT_EQ(certs.size(), 1u);
                return OkStatus();
              }).ok());
}

TEST_P(StorageConformanceTest, AbortedIsRetried) {
  int calls = 0;
  Status s = Tx([&](Stores&) -> Status {
    ++calls;
    return calls < 3 ? AbortedError("conflict") : OkStatus();
  });
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(calls, 3);
  int forever = 0;
  Status gave_up = Tx([&](Stores&) -> Status {
    ++forever;
    return AbortedError("always");
  });
  EXPECT_EQ(gave_up.code(), StatusCode::kAborted);
  EXPECT_GT(forever, 1);
  EXPECT_LT(forever, 20);
  int not_retried = 0;
  EXPECT_EQ(Tx([&](Stores&) -> Status {
              ++not_retried;
              return NotFoundError("x");
            }).code(),
            StatusCode::kNotFound);
  EXPECT_EQ(not_retried, 1);
}

TEST_P(StorageConformanceTest, ReadOnlyTransactionRefusesWrites) {
  int64_t issuer = AddCaCert("issuing", "issuer", true);
  Status s = storage_->Transact([&](Stores& st) { return st.certs().Insert(MakeCert("77", issuer)); },
                                TxMode::kReadOnly);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(GetBySerial("77").status().code(), StatusCode::kNotFound);
}

TEST_P(StorageConformanceTest, ConcurrentInsertsWithDistinctSerialsAllLand) {
  int64_t issuer = AddCaCert("issuing", "issuer", true);
  constexpr int kThreads = 8;
  constexpr int kEach = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        Status s = InsertCert(MakeCert(SerialOf(t * 1000 + i), issuer));
        if (!s.ok()) {
          ++failures;
          ADD_FAILURE() << s;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  CertificateFilter filter;
  filter.limit = 1000;
  EXPECT_EQ(ListSerials(filter).size(), size_t{kThreads * kEach});
}

// Two Storage instances on one database, as two custos processes: racing to record the same
// serials, exactly one insert of each wins.
TEST_P(StorageConformanceTest, TwoInstancesNeverBothWinASerial) {
  auto db = TestDatabase::Create(GetParam());
  ASSERT_TRUE(db.ok()) << db.status();
  auto first = Storage::Open((*db)->config(), nullptr);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = Storage::Open((*db)->config(), nullptr);
  ASSERT_TRUE(second.ok()) << second.status();
  int64_t issuer = AddCaCert("issuing", "shared", true, first->get());
  ASSERT_GT(issuer, 0);

  constexpr int kSerials = 40;
  constexpr int kThreadsPerInstance = 4;
  std::vector<std::atomic<int>> wins(kSerials);
  std::atomic<int> unexpected{0};
  std::vector<std::thread> threads;
  for (Storage* instance : {first->get(), second->get()}) {
    for (int t = 0; t < kThreadsPerInstance; ++t) {
      threads.emplace_back([&, instance] {
        for (int i = 0; i < kSerials; ++i) {
          CertificateRecord c = MakeCert(SerialOf(i), issuer);
          Status s = instance->Transact([&](Stores& st) { return st.certs().Insert(c); });
          if (s.ok()) {
            ++wins[i];
          } else if (s.code() != StatusCode::kAlreadyExists) {
            ++unexpected;
            ADD_FAILURE() << s;
          }
        }
      });
    }
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(unexpected.load(), 0);
  for (int i = 0; i < kSerials; ++i) EXPECT_EQ(wins[i].load(), 1) << SerialOf(i);
  Status s = (*second)->Transact([&](Stores& st) -> Status {
    CertificateFilter filter;
    filter.limit = 1000;
    ASSIGN_OR_RETURN(auto list, st.certs().List(filter));
    EXPECT_EQ(list.size(), size_t{kSerials});
    return OkStatus();
  });
  EXPECT_TRUE(s.ok()) << s;
  first->reset();
  second->reset();
}

INSTANTIATE_TEST_SUITE_P(Drivers, StorageConformanceTest, testing::Values("sqlite", "postgres"),
                         [](const testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace custos
