#include "dep/maid_jwt.h"

#include <nlohmann/json.hpp>

#include "base/encoding.h"

namespace custos::dep {

StatusOr<std::string> SignMaidJwt(EVP_PKEY* key, std::string_view server_uuid,
                                  std::string_view service_type, Time now, Random* random) {
  if (key == nullptr || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
    return InvalidArgumentError("MAID JWT: the DEP key is not RSA");
  }
  if (server_uuid.empty()) return InvalidArgumentError("MAID JWT: no server UUID");
  nlohmann::json header = {{"alg", "RS256"}, {"typ", "JWT"}};
  nlohmann::json claims = {{"iss", std::string(server_uuid)},
                           {"iat", ToUnixSeconds(now)},
                           {"jti", HexEncode(random->Bytes(16))},
                           {"service_type", std::string(service_type)}};
  std::string input = Base64UrlEncode(header.dump()) + "." + Base64UrlEncode(claims.dump());
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) != 1) {
    return OpenSslError("MAID JWT signature");
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    return OpenSslError("MAID JWT signature");
  }
  sig.resize(len);
  return input + "." + Base64UrlEncode(sig);
}

StatusOr<std::string> VerifyRs256Jwt(std::string_view jwt, EVP_PKEY* public_key) {
  size_t a = jwt.find('.');
  size_t b = a == std::string_view::npos ? a : jwt.find('.', a + 1);
  if (b == std::string_view::npos) return InvalidArgumentError("JWT: not three parts");
  ASSIGN_OR_RETURN(std::string header, Base64UrlDecode(jwt.substr(0, a)));
  ASSIGN_OR_RETURN(std::string claims, Base64UrlDecode(jwt.substr(a + 1, b - a - 1)));
  ASSIGN_OR_RETURN(std::string sig, Base64UrlDecode(jwt.substr(b + 1)));
  nlohmann::json h = nlohmann::json::parse(header, nullptr, false);
  if (!h.is_object() || h.value("alg", "") != "RS256") return InvalidArgumentError("JWT: alg is not RS256");
  std::string_view input = jwt.substr(0, b);
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, public_key) != 1 ||
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                       reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    return OpenSslError("JWT: signature does not verify", StatusCode::kInvalidArgument);
  }
  return claims;
}

}  // namespace custos::dep
