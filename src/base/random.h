// Injected randomness. Production uses OpenSSL's CSPRNG; tests use a seeded deterministic source
// so generated serials, nonces and challenges are reproducible.
#ifndef CUSTOS_BASE_RANDOM_H_
#define CUSTOS_BASE_RANDOM_H_

#include <cstdint>
#include <mutex>
#include <string>

namespace custos {

class Random {
 public:
  virtual ~Random() = default;
  // `n` random bytes.
  virtual std::string Bytes(size_t n) = 0;
  // n random bytes as base64url without padding: tokens, nonces, challenges.
  std::string Token(size_t n);
  // A random RFC 4122 version-4 UUID in upper case, as Apple payloads use them.
  std::string Uuid();
  // The process-wide CSPRNG (OpenSSL RAND_bytes; aborts only if the CSPRNG itself fails).
  static Random* Secure();
};

// Deterministic, for tests only: an xorshift stream from a seed. Never use for secrets.
class FakeRandom : public Random {
 public:
  explicit FakeRandom(uint64_t seed) : state_(seed == 0 ? 1 : seed) {}
  std::string Bytes(size_t n) override;

 private:
  std::mutex mu_;
  uint64_t state_;
};

}  // namespace custos

#endif  // CUSTOS_BASE_RANDOM_H_
