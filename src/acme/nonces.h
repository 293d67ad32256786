// ACME anti-replay nonces (RFC 8555 section 6.5): every response carries a fresh Replay-Nonce,
// every JWS must carry one the server issued, unexpired and never used before; otherwise the
// client gets badNonce and retries with the nonce of that error response.
//
// Nonces are 128 random bits (base64url) held in memory with their expiry, so they are valid only
// on the process that issued them (behind a load balancer, pin ACME clients to one instance or
// let them retry on badNonce, which every ACME client does). The table is bounded: when full, the
// oldest nonces are dropped (a client holding one gets badNonce and retries).
#ifndef CUSTOS_ACME_NONCES_H_
#define CUSTOS_ACME_NONCES_H_

#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "base/random.h"
#include "base/status.h"
#include "base/time.h"

namespace custos::acme {

class NonceStore {
 public:
  // `clock` and `random` must outlive the store.
  NonceStore(Clock* clock, Random* random, Duration lifetime, size_t max_nonces = 1 << 20);

  // A fresh nonce, valid once for `lifetime`.
  std::string Issue();
  // Spends `nonce`: OK exactly once per issued, unexpired nonce; badNonce (tagged, problem.h)
  // otherwise (unknown, reused, expired, empty).
  Status Consume(std::string_view nonce);

  size_t size() const;

 private:
  void DropExpiredLocked(Time now);

  Clock* clock_;
  Random* random_;
  const Duration lifetime_;
  const size_t max_nonces_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Time> live_;          // nonce -> expiry
  std::deque<std::pair<Time, std::string>> by_expiry_;  // issue order == expiry order
};

}  // namespace custos::acme

#endif  // CUSTOS_ACME_NONCES_H_
