#include "base/random.h"

#include <openssl/rand.h>

#include <cstdio>
#include <cctype>
#include <cstdlib>

#include "base/encoding.h"

namespace custos {
namespace {

class SecureRandom : public Random {
 public:
  std::string Bytes(size_t n) override {
    std::string out(n, '\0');
    if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
      // A failing CSPRNG leaves nothing safe to do: keys, serials and nonces would be predictable.
      std::fputs("custos: OpenSSL RAND_bytes failed\n", stderr);
      std::abort();
    }
    return out;
  }
};

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
