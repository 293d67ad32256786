#include "acme/nonces.h"

#include "acme/problem.h"
#include "base/encoding.h"

namespace custos::acme {

NonceStore::NonceStore(Clock* clock, Random* random, Duration lifetime, size_t max_nonces)
    : clock_(clock), random_(random), lifetime_(lifetime), max_nonces_(max_nonces) {}

std::string NonceStore::Issue() {
  std::string nonce = Base64UrlEncode(random_->Bytes(16));
  Time now = clock_->Now();
  std::lock_guard<std::mutex> lock(mu_);
  DropExpiredLocked(now);
  while (live_.size() >= max_nonces_ && !by_expiry_.empty()) {
    live_.erase(by_expiry_.front().second);
    by_expiry_.pop_front();
  }
  live_[nonce] = now + lifetime_;
  by_expiry_.emplace_back(now + lifetime_, nonce);
  return nonce;
}

Status NonceStore::Consume(std::string_view nonce) {
  if (nonce.empty()) return AcmeError(ProblemType::kBadNonce, "the JWS carries no nonce");
  Time now = clock_->Now();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(std::string(nonce));
  if (it == live_.end()) {
    return AcmeError(ProblemType::kBadNonce, "unknown, used or expired nonce");
  }
  bool expired = it->second <= now;
  live_.erase(it);  // the deque entry is dropped lazily (it no longer matches live_)
  if (expired) return AcmeError(ProblemType::kBadNonce, "unknown, used or expired nonce");
  return OkStatus();
}

size_t NonceStore::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return live_.size();
}

void NonceStore::DropExpiredLocked(Time now) {
  while (!by_expiry_.empty() &&
         (by_expiry_.front().first <= now || live_.size() < by_expiry_.size())) {
    auto& [expiry, nonce] = by_expiry_.front();
    auto it = live_.find(nonce);
    if (it != live_.end() && it->second == expiry) {
      if (expiry > now) break;  // live and unexpired: stop here
      live_.erase(it);
    }
    by_expiry_.pop_front();
  }
}

}  // namespace custos::acme
