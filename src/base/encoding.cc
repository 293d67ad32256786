#include "base/encoding.h"

#include <openssl/crypto.h>

#include <array>
#include <cstdint>

namespace custos {
namespace {

constexpr std::string_view kStd = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kUrl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string Encode(std::string_view in, std::string_view alphabet, bool pad) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  auto byte = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(in[k])); };
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  size_t rest = in.size() - i;
  if (rest == 1) {
    uint32_t v = byte(i) << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    if (pad) out += "==";
  } else if (rest == 2) {
    uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    if (pad) out += '=';
  }
  return out;
}

// Symbol values of an alphabet (-1: not in it), built at compile time.
using DecodeTable = std::array<int8_t, 256>;
constexpr DecodeTable MakeDecodeTable(std::string_view alphabet) {
  DecodeTable table{};
  for (auto& v : table) v = -1;
  for (size_t k = 0; k < alphabet.size(); ++k) {
    table[static_cast<unsigned char>(alphabet[k])] = static_cast<int8_t>(k);
  }
  return table;
}
constexpr DecodeTable kStdTable = MakeDecodeTable(kStd);
constexpr DecodeTable kUrlTable = MakeDecodeTable(kUrl);

// Decodes `in` (padding optional; ASCII white space skipped when skip_space). Hot path: the
// Mdm-Signature header of every device request, so bytes are written straight into the result.
StatusOr<std::string> Decode(std::string_view in, const DecodeTable& table, bool skip_space,
                             std::string_view what) {
  std::string out(in.size() / 4 * 3 + 3, '\0');
  char* w = out.data();
  uint32_t acc = 0;
  int bits = 0;
  size_t symbols = 0;
  size_t padding = 0;
  for (char c : in) {
    const int8_t v = table[static_cast<unsigned char>(c)];
    if (v >= 0 && padding == 0) {
      ++symbols;
      acc = (acc << 6) | static_cast<uint32_t>(v);
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        *w++ = static_cast<char>((acc >> bits) & 0xff);
      }
      continue;
    }
    if (skip_space && (c == ' ' || c == '\n' || c == '\r' || c == '\t')) continue;
    if (c == '=') {
      ++padding;
      continue;
    }
    if (padding > 0) return InvalidArgumentError(std::string(what) + ": data after padding");
    return InvalidArgumentError(std::string(what) + ": invalid character");
  }
  if (symbols % 4 == 1) return InvalidArgumentError(std::string(what) + ": truncated input");
  if (padding > 2 || (padding > 0 && (symbols + padding) % 4 != 0)) {
    return InvalidArgumentError(std::string(what) + ": bad padding");
  }
  out.resize(static_cast<size_t>(w - out.data()));
  return out;
}

}  // namespace

std::string Base64Encode(std::string_view bytes) { return Encode(bytes, kStd, true); }
StatusOr<std::string> Base64Decode(std::string_view text) {
  return Decode(text, kStdTable, true, "base64");
}
std::string Base64UrlEncode(std::string_view bytes) { return Encode(bytes, kUrl, false); }
StatusOr<std::string> Base64UrlDecode(std::string_view text) {
  return Decode(text, kUrlTable, false, "base64url");
}

std::string HexEncode(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

StatusOr<std::string> HexDecode(std::string_view text) {
  if (text.size() % 2 != 0) return InvalidArgumentError("hex: odd length");
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size() / 2);
  for (size_t i = 0; i < text.size(); i += 2) {
    int hi = nibble(text[i]);
    int lo = nibble(text[i + 1]);
    if (hi < 0 || lo < 0) return InvalidArgumentError("hex: invalid character");
    out += static_cast<char>((hi << 4) | lo);
  }
  return out;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace custos
