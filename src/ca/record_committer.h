// Group commit of issued-certificate records: concurrent issuers hand their CertificateRecord to
// one CertRecordCommitter, which writes everything that is waiting in ONE storage transaction
// (CertStore::Insert per record) and wakes each caller with the outcome of its own record.
//
// Why: on SQLite every transaction costs a BEGIN IMMEDIATE, a COMMIT that appends the dirty pages
// to the WAL, and now and then a checkpoint; on PostgreSQL a round trip and a WAL flush. Under
// concurrent issuance (many devices enrolling at once) one transaction for several records pays
// that once. This is the classic group commit of database engines (e.g. PostgreSQL's
// commit_delay, InnoDB's binlog group commit), done one level up. There is no waiting for a batch
// to fill: the first caller to arrive while no commit is running commits at once (leader); callers
// that arrive while a commit is running queue up and the next leader takes them all.
//
// Durability is unchanged: Commit() returns OK only after the transaction holding the caller's
// record has committed, with the storage driver's own durability setting (SQLite: WAL with
// synchronous=NORMAL, as for every other transaction of custos; PostgreSQL: its commit).
//
// Isolation of failures: a record whose serial or SHA-256 is already taken gets ALREADY_EXISTS
// (the insert is ON CONFLICT DO NOTHING, so the transaction stays usable on both drivers) while
// the others of its batch commit. Any other failure (a bad record, a lost connection, a failed
// COMMIT) rolls the batch back and then every record of it is committed again on its own, so only
// the record that fails sees the error.
//
// Thread-safety: Commit may be called from any number of threads.
#ifndef CUSTOS_CA_RECORD_COMMITTER_H_
#define CUSTOS_CA_RECORD_COMMITTER_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <vector>

#include "base/status.h"
#include "storage/storage.h"

namespace custos {

class CertRecordCommitter {
 public:
  // At most this many records go into one transaction.
  static constexpr size_t kDefaultMaxBatch = 64;

  // `storage` is not owned and must outlive the committer.
  explicit CertRecordCommitter(Storage* storage, size_t max_batch = kDefaultMaxBatch);

  // Records `record` (CertStore::Insert) durably, possibly in one transaction with records of
  // concurrent callers. OK once committed; ALREADY_EXISTS when its serial or certificate hash is
  // already recorded; otherwise the storage error of this record's own transaction.
  Status Commit(const CertificateRecord& record);

  // Writes `records` in one transaction, with the isolation described above, and returns one
  // status per record (same order). Exposed so tests can form a batch deterministically.
  std::vector<Status> CommitBatch(const std::vector<const CertificateRecord*>& records);

  // Counters for tests and benchmarks: transactions that committed a batch, records committed.
  struct Stats {
    size_t transactions = 0;
    size_t records = 0;
  };
  Stats stats() const;

 private:
  struct Pending {
    const CertificateRecord* record;
    Status status;
    bool done = false;
  };

  Storage* storage_;
  const size_t max_batch_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending*> queue_;  // guarded by mu_
  bool leader_active_ = false;  // guarded by mu_
  Stats stats_;                 // guarded by mu_
};

}  // namespace custos

#endif  // CUSTOS_CA_RECORD_COMMITTER_H_
