#include "ca/record_committer.h"

#include <algorithm>

namespace custos {

CertRecordCommitter::CertRecordCommitter(Storage* storage, size_t max_batch)
    : storage_(storage), max_batch_(std::max<size_t>(1, max_batch)) {}

CertRecordCommitter::Stats CertRecordCommitter::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

std::vector<Status> CertRecordCommitter::CommitBatch(
    const std::vector<const CertificateRecord*>& records) {
  std::vector<Status> out(records.size());
  if (records.empty()) return out;
  // First try: all records in one transaction. ALREADY_EXISTS is per record (ON CONFLICT DO
  // NOTHING leaves the transaction usable); anything else aborts the whole attempt.
  Status batch = storage_->Transact([&](Stores& stores) -> Status {
    for (size_t i = 0; i < records.size(); ++i) {
      out[i] = stores.certs().Insert(*records[i]);
      if (!out[i].ok() && out[i].code() != StatusCode::kAlreadyExists) return out[i];
    }
    return OkStatus();
  });
  size_t committed = 0;
  if (batch.ok()) {
    for (const Status& s : out) committed += s.ok() ? 1 : 0;
  } else if (records.size() == 1) {
    out[0] = batch;
  } else {
    // Rolled back: every record again on its own, so one bad record fails alone.
    for (size_t i = 0; i < records.size(); ++i) {
      out[i] = storage_->Transact(
          [&](Stores& stores) -> Status { return stores.certs().Insert(*records[i]); });
      committed += out[i].ok() ? 1 : 0;
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  stats_.transactions += 1;
  stats_.records += committed;
  return out;
}

Status CertRecordCommitter::Commit(const CertificateRecord& record) {
  Pending mine{&record, OkStatus()};
  std::unique_lock<std::mutex> lock(mu_);
  queue_.push_back(&mine);
  while (!mine.done) {
    if (leader_active_) {
      cv_.wait(lock);
      continue;
    }
    // Lead: take what is waiting (this caller's record included, FIFO) and commit it.
    leader_active_ = true;
    std::vector<Pending*> batch;
    while (!queue_.empty() && batch.size() < max_batch_) {
      batch.push_back(queue_.front());
      queue_.pop_front();
    }
    lock.unlock();
    std::vector<const CertificateRecord*> records;
    records.reserve(batch.size());
    for (Pending* p : batch) records.push_back(p->record);
    std::vector<Status> results = CommitBatch(records);
    lock.lock();
    for (size_t i = 0; i < batch.size(); ++i) {
      batch[i]->status = std::move(results[i]);
      batch[i]->done = true;
    }
    leader_active_ = false;
    cv_.notify_all();
  }
  return mine.status;
}

}  // namespace custos
