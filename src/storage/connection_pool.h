// A bounded pool of database connections shared by both SQL drivers: connections are opened
// lazily up to a maximum, handed to one transaction at a time, and closed instead of reused when
// the driver says they are no longer sound.
#ifndef CUSTOS_STORAGE_CONNECTION_POOL_H_
#define CUSTOS_STORAGE_CONNECTION_POOL_H_

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "base/status.h"

namespace custos::sql {

template <typename Conn>
class ConnectionPool {
 public:
  using Opener = std::function<StatusOr<std::unique_ptr<Conn>>()>;

  // `open` makes a new connection; at most `max_open` (>= 1) exist at once.
  ConnectionPool(size_t max_open, Opener open) : max_open_(max_open), open_(std::move(open)) {}

  // Adds a connection opened by the caller (the first one, opened to check the settings).
  void Add(std::unique_ptr<Conn> conn) {
    std::lock_guard<std::mutex> lock(mu_);
    idle_.push_back(std::move(conn));
    ++open_count_;
  }

  // An idle connection, or a new one while fewer than max_open exist; otherwise waits for a
  // Release. Returns the opener's error when a new connection cannot be opened.
  StatusOr<std::unique_ptr<Conn>> Acquire() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !idle_.empty() || open_count_ < max_open_; });
    if (!idle_.empty()) {
      std::unique_ptr<Conn> conn = std::move(idle_.back());
      idle_.pop_back();
      return conn;
    }
    ++open_count_;
    lock.unlock();  // opening may take a while: let others use idle connections meanwhile
    StatusOr<std::unique_ptr<Conn>> conn = open_();
    if (!conn.ok()) {
      lock.lock();
      --open_count_;
      cv_.notify_one();
    }
    return conn;
  }

  // Returns `conn` to the pool, or closes it when `reusable` is false.
  void Release(std::unique_ptr<Conn> conn, bool reusable) {
    std::lock_guard<std::mutex> lock(mu_);
    if (reusable) {
      idle_.push_back(std::move(conn));
    } else {
      conn.reset();
      --open_count_;
    }
    cv_.notify_one();
  }

 private:
  const size_t max_open_;
  const Opener open_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Conn>> idle_;
  size_t open_count_ = 0;
};

}  // namespace custos::sql

#endif  // CUSTOS_STORAGE_CONNECTION_POOL_H_
