#include "dep/oauth1.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <utility>

#include "base/encoding.h"

namespace custos::dep {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecodeStrict(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

std::string OAuthPercentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string OAuthSignature(std::string_view method, std::string_view url,
                           const std::map<std::string, std::string>& oauth_params,
                           std::string_view consumer_secret, std::string_view token_secret) {
  std::string_view base_url = url;
  std::vector<std::pair<std::string, std::string>> params;
  if (size_t q = url.find('?'); q != std::string_view::npos) {
    base_url = url.substr(0, q);
    std::string_view query = url.substr(q + 1);
    while (!query.empty()) {
      size_t amp = query.find('&');
      std::string_view part = query.substr(0, amp);
      size_t eq = part.find('=');
      std::string k = PercentDecodeStrict(part.substr(0, eq));
      std::string v = eq == std::string_view::npos ? "" : PercentDecodeStrict(part.substr(eq + 1));
      params.emplace_back(OAuthPercentEncode(k), OAuthPercentEncode(v));
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
  }
  for (const auto& [k, v] : oauth_params) {
    if (k == "oauth_signature" || k == "realm") continue;
    params.emplace_back(OAuthPercentEncode(k), OAuthPercentEncode(v));
  }
  std::sort(params.begin(), params.end());
  std::string normalized;
  for (const auto& [k, v] : params) {
    if (!normalized.empty()) normalized += '&';
    normalized += k + "=" + v;
  }
  std::string base = std::string(method) + "&" + OAuthPercentEncode(base_url) + "&" +
                     OAuthPercentEncode(normalized);
  std::string key = OAuthPercentEncode(consumer_secret) + "&" + OAuthPercentEncode(token_secret);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(base.data()), base.size(), mac, &mac_len);
  return Base64Encode(std::string_view(reinterpret_cast<char*>(mac), mac_len));
}

std::string OAuthAuthorizationHeader(std::string_view method, std::string_view url,
                                     const DepTokens& tokens, int64_t timestamp,
                                     std::string_view nonce) {
  std::map<std::string, std::string> p = {
      {"oauth_consumer_key", tokens.consumer_key},
      {"oauth_token", tokens.access_token},
      {"oauth_signature_method", "HMAC-SHA1"},
      {"oauth_timestamp", std::to_string(timestamp)},
      {"oauth_nonce", std::string(nonce)},
      {"oauth_version", "1.0"},
  };
  p["oauth_signature"] =
      OAuthSignature(method, url, p, tokens.consumer_secret, tokens.access_secret);
  std::string h = "OAuth realm=\"ADM\"";
  for (const auto& [k, v] : p) h += ", " + k + "=\"" + OAuthPercentEncode(v) + "\"";
  return h;
}

StatusOr<std::map<std::string, std::string>> ParseOAuthHeader(std::string_view header) {
  constexpr std::string_view kPrefix = "OAuth ";
  if (header.substr(0, kPrefix.size()) != kPrefix) {
    return InvalidArgumentError("not an OAuth Authorization header");
  }
  header.remove_prefix(kPrefix.size());
  std::map<std::string, std::string> out;
  while (!header.empty()) {
    while (!header.empty() && (header[0] == ' ' || header[0] == ',')) header.remove_prefix(1);
    if (header.empty()) break;
    size_t eq = header.find('=');
    if (eq == std::string_view::npos) return InvalidArgumentError("OAuth header: parameter without '='");
    std::string key(header.substr(0, eq));
    header.remove_prefix(eq + 1);
    if (header.empty() || header[0] != '"') return InvalidArgumentError("OAuth header: unquoted value");
    size_t close = header.find('"', 1);
    if (close == std::string_view::npos) return InvalidArgumentError("OAuth header: unterminated value");
    out[key] = PercentDecodeStrict(header.substr(1, close - 1));
    header.remove_prefix(close + 1);
  }
  return out;
}

}  // namespace custos::dep
