#include "attest/attestation_object.h"

#include <cstdint>
#include <exception>
#include <nlohmann/json.hpp>

#include "attest/attestation.h"
#include "base/encoding.h"
#include "base/openssl_util.h"
#include "pki/x509.h"

namespace custos::attest {
namespace {

using json = nlohmann::json;

// Bound on the text forms DecodeAttestationChainAnyForm accepts (a PEM chain of the largest
// certificates allowed, with room).
constexpr size_t kMaxAnyFormBytes = 4 * kMaxChainCertificates * kMaxCertificateBytes;

// A SAX consumer that only checks shape limits, run before nlohmann builds a DOM: the CBOR reader
// recurses once per nesting level, so depth must be refused before it gets deep.
class LimitSax {
 public:
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  bool null() { return true; }
  bool boolean(bool) { return true; }
  bool number_integer(number_integer_t) { return true; }
  bool number_unsigned(number_unsigned_t) { return true; }
  bool number_float(number_float_t, const string_t&) { return true; }
  bool string(string_t&) { return true; }
  bool binary(binary_t&) { return true; }
  bool start_object(std::size_t) { return Enter(); }
  bool key(string_t&) { return true; }
  bool end_object() { return Leave(); }
  bool start_array(std::size_t) { return Enter(); }
  bool end_array() { return Leave(); }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception&) {
    error_ = "not valid CBOR (at byte " + std::to_string(position) + ")";
    return false;
  }

  const std::string& error() const { return error_; }

 private:
  bool Enter() {
    if (++depth_ > kMaxCborDepth) {
      error_ = "CBOR nested deeper than " + std::to_string(kMaxCborDepth);
      return false;
    }
    return true;
  }
  bool Leave() {
    --depth_;
    return true;
  }

  size_t depth_ = 0;
  std::string error_;
};

Status Invalid(std::string_view what) {
  return InvalidArgumentError("attestation object: " + std::string(what));
}

StatusOr<std::vector<std::string>> ChainFromPem(std::string_view pem) {
  ASSIGN_OR_RETURN(std::vector<X509Ptr> certs, ParseCertificateChain(pem));
  if (certs.size() > kMaxChainCertificates) {
    return InvalidArgumentError("more than " + std::to_string(kMaxChainCertificates) +
                                " certificates");
  }
  std::vector<std::string> chain;
  for (const X509Ptr& cert : certs) {
    std::string der = CertificateDer(cert.get());
    if (der.empty()) return InternalError("re-encoding a PEM certificate");
    chain.push_back(std::move(der));
  }
  return chain;
}

// One or more DER certificates back to back.
StatusOr<std::vector<std::string>> ChainFromConcatenatedDer(std::string_view data) {
  std::vector<std::string> chain;
  const unsigned char* start = reinterpret_cast<const unsigned char*>(data.data());
  const unsigned char* p = start;
  const unsigned char* end = start + data.size();
  while (p < end) {
    if (chain.size() >= kMaxChainCertificates) {
      return InvalidArgumentError("more than " + std::to_string(kMaxChainCertificates) +
                                  " certificates");
    }
    const unsigned char* cert_start = p;
    X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(end - p)));
    if (cert == nullptr || p <= cert_start) {
      return OpenSslError("not DER X.509 at byte " + std::to_string(cert_start - start),
                          StatusCode::kInvalidArgument);
    }
    chain.emplace_back(reinterpret_cast<const char*>(cert_start),
                       static_cast<size_t>(p - cert_start));
  }
  if (chain.empty()) return InvalidArgumentError("no DER certificate in the input");
  return chain;
}

std::string_view TrimAsciiSpace(std::string_view s) {
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool LooksLikeCborMap(std::string_view data) {
  if (data.empty()) return false;
  unsigned char major = static_cast<unsigned char>(data[0]) >> 5;
  return major == 5;
}

// Binary forms only: CBOR attestation object or DER certificates.
StatusOr<std::vector<std::string>> ChainFromBinary(std::string_view data) {
  if (LooksLikeCborMap(data)) {
    ASSIGN_OR_RETURN(AttestationObject obj, DecodeAttestationObject(data));
    return std::move(obj.x5c);
  }
  return ChainFromConcatenatedDer(data);
}

}  // namespace

StatusOr<AttestationObject> DecodeAttestationObject(std::string_view cbor) {
  if (cbor.empty()) return Invalid("empty");
  if (cbor.size() > kMaxAttestationObjectBytes) {
    return Invalid("CBOR of " + std::to_string(cbor.size()) + " bytes is larger than " +
                   std::to_string(kMaxAttestationObjectBytes));
  }
  const auto* first = reinterpret_cast<const uint8_t*>(cbor.data());
  const auto* last = first + cbor.size();
  json root;
  try {
    LimitSax limits;
    if (!json::sax_parse(first, last, &limits, json::input_format_t::cbor, /*strict=*/true)) {
      return Invalid(limits.error().empty() ? "not valid CBOR" : limits.error());
    }
    root = json::from_cbor(first, last, /*strict=*/true, /*allow_exceptions=*/false,
                           json::cbor_tag_handler_t::error);
  } catch (const std::exception& e) {
    return Invalid(std::string("not valid CBOR: ") + e.what());
  }
  if (root.is_discarded()) return Invalid("not valid CBOR");
  if (!root.is_object()) return Invalid("not a CBOR map");

  auto fmt = root.find("fmt");
  if (fmt == root.end()) return Invalid("\"fmt\" missing");
  if (!fmt->is_string()) return Invalid("\"fmt\" is not a text string");
  if (fmt->get_ref<const std::string&>() != "apple") {
    return Invalid("unsupported \"fmt\" (only \"apple\" is accepted)");
  }
  auto att_stmt = root.find("attStmt");
  if (att_stmt == root.end()) return Invalid("\"attStmt\" missing");
  if (!att_stmt->is_object()) return Invalid("\"attStmt\" is not a map");
  auto x5c = att_stmt->find("x5c");
  if (x5c == att_stmt->end()) return Invalid("\"attStmt.x5c\" missing");
  if (!x5c->is_array()) return Invalid("\"attStmt.x5c\" is not an array");
  if (x5c->empty()) return Invalid("\"attStmt.x5c\" is empty");
  if (x5c->size() > kMaxChainCertificates) {
    return Invalid("\"attStmt.x5c\" holds " + std::to_string(x5c->size()) +
                   " certificates (at most " + std::to_string(kMaxChainCertificates) + ")");
  }

  AttestationObject obj;
  obj.fmt = "apple";
  for (size_t i = 0; i < x5c->size(); ++i) {
    const json& entry = (*x5c)[i];
    std::string where = "\"attStmt.x5c[" + std::to_string(i) + "]\"";
    if (!entry.is_binary()) return Invalid(where + " is not a byte string");
    const json::binary_t& bytes = entry.get_binary();
    if (bytes.empty()) return Invalid(where + " is empty");
    if (bytes.size() > kMaxCertificateBytes) return Invalid(where + " is too large");
    obj.x5c.emplace_back(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  return obj;
}

StatusOr<AttestationObject> DecodeDeviceAttestPayload(std::string_view json_payload) {
  if (json_payload.size() > kMaxAttestationPayloadBytes) {
    return InvalidArgumentError("device-attest-01 payload is too large");
  }
  json payload = json::parse(json_payload.begin(), json_payload.end(), nullptr,
                             /*allow_exceptions=*/false);
  if (payload.is_discarded()) return InvalidArgumentError("device-attest-01 payload is not JSON");
  if (!payload.is_object()) {
    return InvalidArgumentError("device-attest-01 payload is not a JSON object");
  }
  auto att_obj = payload.find("attObj");
  if (att_obj == payload.end()) {
    return InvalidArgumentError("device-attest-01 payload has no \"attObj\"");
  }
  if (!att_obj->is_string()) {
    return InvalidArgumentError("device-attest-01 \"attObj\" is not a string");
  }
  StatusOr<std::string> cbor = Base64UrlDecode(att_obj->get_ref<const std::string&>());
  if (!cbor.ok()) {
    return InvalidArgumentError("device-attest-01 \"attObj\" is not base64url: " +
                                cbor.status().message());
  }
  return DecodeAttestationObject(*cbor);
}

std::string EncodeAttestationObject(const std::vector<std::string>& x5c_der,
                                    std::string_view fmt) {
  // ordered_json keeps "fmt" first, as CTAP2's canonical CBOR (shorter keys first) has it.
  using ordered = nlohmann::ordered_json;
  ordered x5c = ordered::array();
  for (const std::string& der : x5c_der) {
    x5c.push_back(ordered::binary(std::vector<uint8_t>(der.begin(), der.end())));
  }
  ordered obj = ordered::object();
  obj["fmt"] = std::string(fmt);
  obj["attStmt"] = ordered::object();
  obj["attStmt"]["x5c"] = std::move(x5c);
  std::vector<uint8_t> cbor = ordered::to_cbor(obj);
  return std::string(cbor.begin(), cbor.end());
}

std::string EncodeDeviceAttestPayload(const std::vector<std::string>& x5c_der) {
  json payload = {{"attObj", Base64UrlEncode(EncodeAttestationObject(x5c_der))}};
  return payload.dump();
}

StatusOr<std::vector<std::string>> DecodeAttestationChainAnyForm(std::string_view data) {
  if (data.empty()) return InvalidArgumentError("empty input");
  if (data.size() > kMaxAnyFormBytes) return InvalidArgumentError("input is too large");
  if (data.find("-----BEGIN") != std::string_view::npos) return ChainFromPem(data);
  std::string_view text = TrimAsciiSpace(data);
  if (!text.empty() && text.front() == '{') {
    ASSIGN_OR_RETURN(AttestationObject obj, DecodeDeviceAttestPayload(text));
    return std::move(obj.x5c);
  }
  unsigned char first = static_cast<unsigned char>(data[0]);
  if (LooksLikeCborMap(data) || first == 0x30) return ChainFromBinary(data);

  // Text: base64url (as in attObj) or standard base64 of either binary form.
  StatusOr<std::string> decoded = Base64UrlDecode(text);
  if (!decoded.ok()) decoded = Base64Decode(text);
  if (!decoded.ok() || decoded->empty()) {
    return InvalidArgumentError(
        "not a PEM chain, DER certificates, a CBOR attestation object, a device-attest-01 "
        "payload or base64 of one of them");
  }
  StatusOr<std::vector<std::string>> chain = ChainFromBinary(*decoded);
  if (!chain.ok()) return chain.status().WithContext("after base64 decoding");
  return chain;
}

}  // namespace custos::attest
