#include "acme/jws.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "acme/problem.h"
#include "base/encoding.h"
#include "pki/key.h"

namespace custos::acme {
namespace {

using Json = nlohmann::json;

StatusOr<std::string> B64Member(const Json& obj, const char* name, ProblemType type) {
  auto it = obj.find(name);
  if (it == obj.end() || !it->is_string()) {
    return AcmeError(type, std::string("JWK/JWS member ") + name + " missing or not a string");
  }
  auto decoded = Base64UrlDecode(it->get<std::string>());
  if (!decoded.ok()) return AcmeError(type, std::string(name) + " is not base64url");
  return *std::move(decoded);
}

// The curve size in bytes for an EC JWS alg (0 for other algs).
size_t EcCoordinateBytes(std::string_view alg) {
  if (alg == "ES256") return 32;
  if (alg == "ES384") return 48;
  return 0;
}

std::string KeyCurve(EVP_PKEY* key) {
  char name[64] = {0};
  size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof(name), &len) !=
      1) {
    return "";
  }
  return std::string(name, len);
}

// Raw r||s (each `n` bytes) to a DER ECDSA-Sig-Value.
StatusOr<std::string> RawEcdsaToDer(std::string_view r, std::string_view s) {
  EcdsaSigPtr sig(ECDSA_SIG_new());
  BIGNUM* br = BN_bin2bn(reinterpret_cast<const unsigned char*>(r.data()), r.size(), nullptr);
  BIGNUM* bs = BN_bin2bn(reinterpret_cast<const unsigned char*>(s.data()), s.size(), nullptr);
  if (!sig || !br || !bs || ECDSA_SIG_set0(sig.get(), br, bs) != 1) {
    BN_free(br);
    BN_free(bs);
    return OpenSslError("ECDSA signature");
  }
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(sig.get(), &der);
  if (len <= 0) return OpenSslError("ECDSA signature encoding");
  std::string out(reinterpret_cast<char*>(der), len);
  OPENSSL_free(der);
  return out;
}

// One-shot verification (EdDSA, which signs the message itself rather than a digest).
bool VerifyWith(EVP_PKEY* key, const EVP_MD* md, std::string_view data, std::string_view sig) {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key) != 1) {
    ERR_clear_error();
    return false;
  }
  int rc = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()),
                            sig.size(), reinterpret_cast<const unsigned char*>(data.data()),
                            data.size());
  ERR_clear_error();
  return rc == 1;
}

// SHA-256 or SHA-384 by digest size, fetched once (pki/key.h).
const EVP_MD* FetchedDigest(size_t bytes) { return bytes == 48 ? Sha384Md() : Sha256Md(); }

// Verification contexts (EVP_PKEY_verify_init done, digest and padding set), kept per thread for
// the keys it verified last. Setting one up makes OpenSSL 3.0 fetch the signature implementation
// and walk its name map: on a loaded server that cost half as much as the ES256 verification
// itself. Every signed ACME request of an account comes with the same key object (the JWK cache
// in ParseJwk), so a kept context serves all but the first. Each entry holds a reference on its
// key, so a key address in the cache always means the same key.
class VerifyContexts {
 public:
  static EVP_PKEY_CTX* For(EVP_PKEY* key, const EVP_MD* md, bool rsa_pkcs1) {
    thread_local VerifyContexts contexts;
    return contexts.Find(key, md, rsa_pkcs1);
  }

 private:
  static constexpr size_t kMaxPerThread = 64;
  struct Entry {
    EvpPkeyPtr key;
    const EVP_MD* md;
    EvpPkeyCtxPtr ctx;
  };

  EVP_PKEY_CTX* Find(EVP_PKEY* key, const EVP_MD* md, bool rsa_pkcs1) {
    for (size_t i = 0; i < entries_.size(); ++i) {
      if (entries_[i].key.get() == key && entries_[i].md == md) {
        if (i + 1 != entries_.size()) std::swap(entries_[i], entries_.back());
        return entries_.back().ctx.get();
      }
    }
    EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
    if (!ctx || EVP_PKEY_verify_init(ctx.get()) != 1 ||
        (rsa_pkcs1 && EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1) ||
        EVP_PKEY_CTX_set_signature_md(ctx.get(), md) != 1 || EVP_PKEY_up_ref(key) != 1) {
      return nullptr;
    }
    if (entries_.size() == kMaxPerThread) entries_.erase(entries_.begin());  // the oldest
    entries_.push_back({EvpPkeyPtr(key), md, std::move(ctx)});
    return entries_.back().ctx.get();
  }

  std::vector<Entry> entries_;
};

// Verifies the DER signatures in `candidates` (any one verifying is enough) over the SHA-256 or
// SHA-384 (`digest_bytes`) of `data`.
bool VerifyDigestSignature(EVP_PKEY* key, size_t digest_bytes, bool rsa_pkcs1, std::string_view data,
                           const std::vector<std::string>& candidates) {
  const EVP_MD* md = FetchedDigest(digest_bytes);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_PKEY_CTX* ctx = md == nullptr ? nullptr : VerifyContexts::For(key, md, rsa_pkcs1);
  bool ok = ctx != nullptr && EVP_Digest(data.data(), data.size(), digest, &len, md, nullptr) == 1;
  bool verified = false;
  for (size_t i = 0; ok && !verified && i < candidates.size(); ++i) {
    verified = EVP_PKEY_verify(ctx, reinterpret_cast<const unsigned char*>(candidates[i].data()),
                               candidates[i].size(), digest, len) == 1;
  }
  ERR_clear_error();
  return verified;
}

// Raw r||s ECDSA signature (RFC 7518 section 3.4) with halves of `n` bytes; one or two bytes
// short when Apple's client dropped a leading zero of r or s.
bool VerifyEcdsaRaw(EVP_PKEY* key, std::string_view data, std::string_view raw, size_t n) {
  std::vector<std::pair<std::string_view, std::string_view>> halves;
  if (raw.size() == 2 * n) {
    halves.emplace_back(raw.substr(0, n), raw.substr(n));
  } else if (raw.size() == 2 * n - 1) {
    // One half lost its leading zero: either r (then s is the last n bytes) or s.
    halves.emplace_back(raw.substr(0, n - 1), raw.substr(n - 1));
    halves.emplace_back(raw.substr(0, n), raw.substr(n));
  } else if (raw.size() == 2 * n - 2) {
    halves.emplace_back(raw.substr(0, n - 1), raw.substr(n - 1));
  }
  std::vector<std::string> candidates;
  for (const auto& [r, s] : halves) {
    auto der = RawEcdsaToDer(r, s);
    if (der.ok()) candidates.push_back(*std::move(der));
  }
  return !candidates.empty() && VerifyDigestSignature(key, n, false, data, candidates);
}

StatusOr<EvpPkeyPtr> EcKeyFromJwk(const Json& jwk) {
  auto crv = jwk.find("crv");
  if (crv == jwk.end() || !crv->is_string()) {
    return AcmeError(ProblemType::kBadPublicKey, "EC JWK without crv");
  }
  std::string group;
  size_t n = 0;
  if (*crv == "P-256") {
    group = "prime256v1";
    n = 32;
  } else if (*crv == "P-384") {
    group = "secp384r1";
    n = 48;
  } else {
    return AcmeError(ProblemType::kBadPublicKey, "unsupported EC curve (P-256 and P-384 are)");
  }
  ASSIGN_OR_RETURN(std::string x, B64Member(jwk, "x", ProblemType::kBadPublicKey));
  ASSIGN_OR_RETURN(std::string y, B64Member(jwk, "y", ProblemType::kBadPublicKey));
  if (x.size() != n || y.size() != n) {
    return AcmeError(ProblemType::kBadPublicKey, "EC JWK coordinates have the wrong length");
  }
  std::string point = "\x04" + x + y;
  EvpPkeyPtr key = EcPublicKeyFromPoint(group.c_str(), point);
  if (!key) return AcmeError(ProblemType::kBadPublicKey, "EC JWK point is not on the curve");
  return key;
}

StatusOr<EvpPkeyPtr> RsaKeyFromJwk(const Json& jwk) {
  ASSIGN_OR_RETURN(std::string n, B64Member(jwk, "n", ProblemType::kBadPublicKey));
  ASSIGN_OR_RETURN(std::string e, B64Member(jwk, "e", ProblemType::kBadPublicKey));
  // RFC 7518 section 6.3.1: minimal octets, so a key has exactly one JWK (and one thumbprint).
  if (n.empty() || n[0] == '\0' || e.empty() || e[0] == '\0') {
    return AcmeError(ProblemType::kBadPublicKey, "RSA JWK n and e must not have leading zeros");
  }
  if (n.size() > 1024 || e.size() > 8) {
    return AcmeError(ProblemType::kBadPublicKey, "RSA JWK modulus or exponent out of range");
  }
  BigNumPtr bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), n.size(), nullptr));
  BigNumPtr be(BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), e.size(), nullptr));
  if (!bn || !be) return OpenSslError("RSA JWK");
  if (BN_num_bits(bn.get()) < 2048) {
    return AcmeError(ProblemType::kBadPublicKey, "RSA keys must have at least 2048 bits");
  }
  EvpPkeyPtr key = RsaPublicKeyFromModulus(bn.get(), be.get());
  if (!key) return AcmeError(ProblemType::kBadPublicKey, "the JWK is not a valid RSA public key");
  return key;
}

StatusOr<EvpPkeyPtr> OkpKeyFromJwk(const Json& jwk) {
  auto crv = jwk.find("crv");
  if (crv == jwk.end() || *crv != "Ed25519") {
    return AcmeError(ProblemType::kBadPublicKey, "unsupported OKP curve (Ed25519 is)");
  }
  ASSIGN_OR_RETURN(std::string x, B64Member(jwk, "x", ProblemType::kBadPublicKey));
  if (x.size() != 32) return AcmeError(ProblemType::kBadPublicKey, "Ed25519 key must be 32 bytes");
  EVP_PKEY* key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                              reinterpret_cast<const unsigned char*>(x.data()),
                                              x.size());
  if (!key) {
    ERR_clear_error();
    return AcmeError(ProblemType::kBadPublicKey, "invalid Ed25519 key");
  }
  return EvpPkeyPtr(key);
}

std::string BnToB64(const BIGNUM* bn, size_t pad = 0) {
  std::string out(std::max<size_t>(BN_num_bytes(bn), pad), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), out.size());
  return Base64UrlEncode(out);
}

}  // namespace

StatusOr<std::string> JwkThumbprint(const Json& jwk) {
  if (!jwk.is_object() || !jwk.contains("kty") || !jwk["kty"].is_string()) {
    return AcmeError(ProblemType::kBadPublicKey, "JWK without kty");
  }
  std::string kty = jwk["kty"];
  std::vector<const char*> members;
  if (kty == "EC") {
    members = {"crv", "kty", "x", "y"};
  } else if (kty == "RSA") {
    members = {"e", "kty", "n"};
  } else if (kty == "OKP") {
    members = {"crv", "kty", "x"};
  } else {
    return AcmeError(ProblemType::kBadPublicKey, "unsupported JWK kty");
  }
  // nlohmann::json objects are sorted by key and dump() is compact: exactly RFC 7638's form.
  Json canonical = Json::object();
  for (const char* m : members) {
    auto it = jwk.find(m);
    if (it == jwk.end() || !it->is_string()) {
      return AcmeError(ProblemType::kBadPublicKey, std::string("JWK member missing: ") + m);
    }
    canonical[m] = *it;
  }
  return Base64UrlEncode(Sha256(canonical.dump()));
}

namespace {

// Keys of recently seen JWKs by RFC 7638 thumbprint (a SHA-256 over exactly the key's required
// members, so one thumbprint is one key). Every request of an account parses the stored JWK
// again; building an EVP_PKEY from parameters costs far more than the thumbprint. Only keys that
// passed every check are kept; an EVP_PKEY is immutable and shared by reference count.
class JwkKeyCache {
 public:
  static JwkKeyCache& Get() {
    static JwkKeyCache* cache = new JwkKeyCache;  // never destroyed: used until exit
    return *cache;
  }
  EvpPkeyPtr Find(const std::string& thumbprint) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = keys_.find(thumbprint);
    if (it == keys_.end()) return nullptr;
    EVP_PKEY_up_ref(it->second.get());
    return EvpPkeyPtr(it->second.get());
  }
  void Put(const std::string& thumbprint, EVP_PKEY* key) {
    constexpr size_t kMaxKeys = 4096;
    std::lock_guard<std::mutex> lock(mu_);
    if (keys_.size() >= kMaxKeys) keys_.clear();
    EVP_PKEY_up_ref(key);
    keys_.insert_or_assign(thumbprint, EvpPkeyPtr(key));
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, EvpPkeyPtr> keys_;
};

}  // namespace

StatusOr<Jwk> ParseJwk(const Json& jwk) {
  if (!jwk.is_object()) return AcmeError(ProblemType::kBadPublicKey, "jwk is not an object");
  ASSIGN_OR_RETURN(std::string thumbprint, JwkThumbprint(jwk));
  std::string kty = jwk["kty"];
  Jwk out;
  EvpPkeyPtr cached = JwkKeyCache::Get().Find(thumbprint);
  if (kty == "EC") {
    if (cached == nullptr) {
      ASSIGN_OR_RETURN(cached, EcKeyFromJwk(jwk));
    }
    out.json = {{"kty", "EC"}, {"crv", jwk["crv"]}, {"x", jwk["x"]}, {"y", jwk["y"]}};
  } else if (kty == "RSA") {
    if (cached == nullptr) {
      ASSIGN_OR_RETURN(cached, RsaKeyFromJwk(jwk));
    }
    out.json = {{"kty", "RSA"}, {"n", jwk["n"]}, {"e", jwk["e"]}};
  } else {
    if (cached == nullptr) {
      ASSIGN_OR_RETURN(cached, OkpKeyFromJwk(jwk));
    }
    out.json = {{"kty", "OKP"}, {"crv", jwk["crv"]}, {"x", jwk["x"]}};
  }
  JwkKeyCache::Get().Put(thumbprint, cached.get());
  out.key = std::move(cached);
  out.thumbprint = std::move(thumbprint);
  return out;
}

StatusOr<Json> JwkFromKey(EVP_PKEY* key) {
  int id = EVP_PKEY_get_base_id(key);
  if (id == EVP_PKEY_EC) {
    std::string curve = KeyCurve(key);
    size_t n = curve == "prime256v1" ? 32 : curve == "secp384r1" ? 48 : 0;
    if (n == 0) return InvalidArgumentError("unsupported EC curve for a JWK");
    unsigned char point[1 + 2 * 48];
    size_t len = 0;
    if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
                                        sizeof(point), &len) != 1 ||
        len != 1 + 2 * n) {
      return OpenSslError("EC public key");
    }
    std::string_view p(reinterpret_cast<char*>(point), len);
    return Json{{"kty", "EC"},
                {"crv", n == 32 ? "P-256" : "P-384"},
                {"x", Base64UrlEncode(p.substr(1, n))},
                {"y", Base64UrlEncode(p.substr(1 + n, n))}};
  }
  if (id == EVP_PKEY_RSA) {
    BIGNUM* n = nullptr;
    BIGNUM* e = nullptr;
    if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
        EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
      BN_free(n);
      BN_free(e);
      return OpenSslError("RSA public key");
    }
    Json j{{"kty", "RSA"}, {"n", BnToB64(n)}, {"e", BnToB64(e)}};
    BN_free(n);
    BN_free(e);
    return j;
  }
  if (id == EVP_PKEY_ED25519) {
    unsigned char raw[32];
    size_t len = sizeof(raw);
    if (EVP_PKEY_get_raw_public_key(key, raw, &len) != 1) return OpenSslError("Ed25519 key");
    return Json{{"kty", "OKP"},
                {"crv", "Ed25519"},
                {"x", Base64UrlEncode(std::string_view(reinterpret_cast<char*>(raw), len))}};
  }
  return InvalidArgumentError("unsupported key type for a JWK");
}

StatusOr<Jws> ParseFlattenedJws(std::string_view body) {
  if (body.size() > kMaxJwsBytes) return AcmeError(ProblemType::kMalformed, "JWS too large");
  Json outer = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!outer.is_object()) {
    return AcmeError(ProblemType::kMalformed, "the body is not a flattened JWS JSON object");
  }
  if (outer.contains("header")) {
    return AcmeError(ProblemType::kMalformed, "unprotected JWS header members are not allowed");
  }
  if (outer.contains("signatures")) {
    return AcmeError(ProblemType::kMalformed, "only the flattened JWS serialization is accepted");
  }
  Jws jws;
  for (auto [name, field] : {std::pair{"protected", &jws.protected_b64},
                             std::pair{"payload", &jws.payload_b64}}) {
    auto it = outer.find(name);
    if (it == outer.end() || !it->is_string()) {
      return AcmeError(ProblemType::kMalformed, std::string("JWS member missing: ") + name);
    }
    *field = it->get<std::string>();
  }
  ASSIGN_OR_RETURN(jws.signature, B64Member(outer, "signature", ProblemType::kMalformed));
  auto header_text = Base64UrlDecode(jws.protected_b64);
  if (!header_text.ok()) return AcmeError(ProblemType::kMalformed, "protected is not base64url");
  auto payload = Base64UrlDecode(jws.payload_b64);
  if (!payload.ok()) return AcmeError(ProblemType::kMalformed, "payload is not base64url");
  jws.payload = *std::move(payload);
  jws.header = Json::parse(*header_text, nullptr, false);
  if (!jws.header.is_object()) {
    return AcmeError(ProblemType::kMalformed, "the protected header is not a JSON object");
  }
  const Json& h = jws.header;
  auto alg = h.find("alg");
  if (alg == h.end() || !alg->is_string()) {
    return AcmeError(ProblemType::kMalformed, "protected header without alg");
  }
  jws.alg = *alg;
  if (jws.alg != "ES256" && jws.alg != "ES384" && jws.alg != "RS256" && jws.alg != "EdDSA") {
    return AcmeError(ProblemType::kBadSignatureAlgorithm,
                     "unsupported alg (ES256, ES384, RS256 and EdDSA are accepted)");
  }
  auto nonce = h.find("nonce");
  if (nonce != h.end()) {
    if (!nonce->is_string()) return AcmeError(ProblemType::kBadNonce, "nonce is not a string");
    jws.nonce = *nonce;
  }
  auto url = h.find("url");
  if (url == h.end() || !url->is_string()) {
    return AcmeError(ProblemType::kMalformed, "protected header without url");
  }
  jws.url = *url;
  bool has_jwk = h.contains("jwk");
  bool has_kid = h.contains("kid");
  if (has_jwk == has_kid) {
    return AcmeError(ProblemType::kMalformed, "the protected header needs exactly one of jwk, kid");
  }
  if (has_kid) {
    if (!h["kid"].is_string()) return AcmeError(ProblemType::kMalformed, "kid is not a string");
    jws.kid = h["kid"];
  } else {
    jws.jwk = h["jwk"];
  }
  return jws;
}

Status VerifyJws(const Jws& jws, EVP_PKEY* key) {
  std::string data = jws.protected_b64 + "." + jws.payload_b64;
  int id = EVP_PKEY_get_base_id(key);
  bool ok = false;
  if (size_t n = EcCoordinateBytes(jws.alg); n != 0) {
    std::string want = n == 32 ? "prime256v1" : "secp384r1";
    if (id != EVP_PKEY_EC || KeyCurve(key) != want) {
      return AcmeError(ProblemType::kBadSignatureAlgorithm, jws.alg + " does not fit the key");
    }
    ok = VerifyEcdsaRaw(key, data, jws.signature, n);
  } else if (jws.alg == "RS256") {
    if (id != EVP_PKEY_RSA) {
      return AcmeError(ProblemType::kBadSignatureAlgorithm, "RS256 needs an RSA key");
    }
    ok = VerifyDigestSignature(key, 32, true, data, {jws.signature});
  } else if (jws.alg == "EdDSA") {
    if (id != EVP_PKEY_ED25519) {
      return AcmeError(ProblemType::kBadSignatureAlgorithm, "EdDSA needs an Ed25519 key");
    }
    ok = VerifyWith(key, nullptr, data, jws.signature);
  } else {
    return AcmeError(ProblemType::kBadSignatureAlgorithm, "unsupported alg");
  }
  if (!ok) return AcmeError(ProblemType::kMalformed, "JWS signature verification failed");
  return OkStatus();
}

StatusOr<std::string> JwsAlgForKey(EVP_PKEY* key) {
  int id = EVP_PKEY_get_base_id(key);
  if (id == EVP_PKEY_RSA) return std::string("RS256");
  if (id == EVP_PKEY_ED25519) return std::string("EdDSA");
  if (id == EVP_PKEY_EC) {
    std::string curve = KeyCurve(key);
    if (curve == "prime256v1") return std::string("ES256");
    if (curve == "secp384r1") return std::string("ES384");
  }
  return InvalidArgumentError("no JWS algorithm for this key");
}

StatusOr<std::string> SignFlattenedJws(EVP_PKEY* key, Json header, std::string_view payload) {
  ASSIGN_OR_RETURN(std::string alg, JwsAlgForKey(key));
  header["alg"] = alg;
  std::string protected_b64 = Base64UrlEncode(header.dump());
  std::string payload_b64 = Base64UrlEncode(payload);
  std::string data = protected_b64 + "." + payload_b64;
  const EVP_MD* md = alg == "ES384" ? EVP_sha384() : alg == "EdDSA" ? nullptr : EVP_sha256();
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()),
                     data.size()) != 1) {
    return OpenSslError("JWS signing");
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
    return OpenSslError("JWS signing");
  }
  sig.resize(len);
  if (alg == "ES256" || alg == "ES384") {
    size_t n = alg == "ES256" ? 32 : 48;
    const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
    EcdsaSigPtr es(d2i_ECDSA_SIG(nullptr, &p, sig.size()));
    if (!es) return OpenSslError("ECDSA signature decoding");
    std::string raw(2 * n, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(es.get()), reinterpret_cast<unsigned char*>(raw.data()), n);
    BN_bn2binpad(ECDSA_SIG_get0_s(es.get()), reinterpret_cast<unsigned char*>(raw.data()) + n, n);
    sig = raw;
  }
  Json body{{"protected", protected_b64}, {"payload", payload_b64},
            {"signature", Base64UrlEncode(sig)}};
  return body.dump();
}

}  // namespace custos::acme
