#include "base/random.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <cstdio>
#include <cctype>
#include <cstdlib>
#include <cstring>

#include "base/encoding.h"

namespace custos {
namespace {

// OpenSSL's RAND_bytes, with small requests (request IDs, UUIDs, tokens: the hot path asks for
// 8-32 bytes per HTTP request) served from a per-thread block of its output. RAND_bytes costs
// about 3 us per call in OpenSSL 3 (DRBG lock, reseed checks, AES-CTR setup) whatever the size;
// one call per 512 bytes amortises that. Bytes are wiped from the block as they are handed out,
// and a forked child (new PID) starts on a fresh block, never on its parent's.
class SecureRandom : public Random {
 public:
  std::string Bytes(size_t n) override {
    std::string out(n, '\0');
    auto* dst = reinterpret_cast<unsigned char*>(out.data());
    if (n > kMaxBuffered) {
      Fill(dst, n);
      return out;
    }
    Block& b = block_;
    const pid_t pid = getpid();
    if (b.pid != pid || kBlock - b.used < n) {
      Fill(b.bytes, kBlock);
      b.used = 0;
      b.pid = pid;
    }
    std::memcpy(dst, b.bytes + b.used, n);
    OPENSSL_cleanse(b.bytes + b.used, n);
    b.used += n;
    return out;
  }

 private:
  static constexpr size_t kBlock = 512;
  static constexpr size_t kMaxBuffered = 64;
  struct Block {
    unsigned char bytes[kBlock];
    size_t used = kBlock;
    pid_t pid = 0;
    ~Block() { OPENSSL_cleanse(bytes, kBlock); }
  };
  static thread_local Block block_;

  static void Fill(unsigned char* dst, size_t n) {
    if (n > 0 && RAND_bytes(dst, static_cast<int>(n)) != 1) {
      // A failing CSPRNG leaves nothing safe to do: keys, serials and nonces would be predictable.
      std::fputs("custos: OpenSSL RAND_bytes failed\n", stderr);
      std::abort();
    }
  }
};

thread_local SecureRandom::Block SecureRandom::block_;

}  // namespace

std::string Random::Token(size_t n) { return Base64UrlEncode(Bytes(n)); }

std::string Random::Uuid() {
  std::string b = Bytes(16);
  b[6] = static_cast<char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<char>((b[8] & 0x3f) | 0x80);
  std::string hex = HexEncode(b);
  for (char& c : hex) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20, 12);
}

Random* Random::Secure() {
  static SecureRandom r;
  return &r;
}

std::string FakeRandom::Bytes(size_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    out[i] = static_cast<char>(state_ & 0xff);
  }
  return out;
}

}  // namespace custos
