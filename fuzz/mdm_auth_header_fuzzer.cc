// libFuzzer target: the device-identity headers of src/mdm/device_auth.h, which every device
// request reaches before anything else. Input: HEADER [NUL BODY].
//   - HEADER as the raw bytes of an Mdm-Signature (base64-encoded here, so the BER/CMS decoder and
//     the certificate split are fuzzed) and as the header text itself (base64 decoding);
//   - HEADER as a proxy client-certificate header (RFC 9440 `:base64:` and nginx's URL-escaped
//     PEM), both as given and wrapped as an RFC 9440 byte sequence.
// Seeds: fuzz/corpus/mdm_auth_header_fuzzer/ (the real nanomdm Mdm-Signature capture, BER/SHA-1
// and DER/SHA-256 signatures with their bodies, RFC 9440 and nginx headers; see its README).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/encoding.h"
#include "mdm/device_auth.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t sep = in.find('\0');
  std::string_view header = in.substr(0, sep);
  std::string_view body = sep == std::string_view::npos ? std::string_view() : in.substr(sep + 1);

  std::string digest;
  auto signer = custos::mdm::VerifyMdmSignature(custos::Base64Encode(header), body, &digest);
  if (signer.ok() && *signer == nullptr) __builtin_trap();  // ok means a certificate
  (void)custos::mdm::VerifyMdmSignature(header, body, nullptr);

  (void)custos::mdm::ParseProxyCertificateHeader(header);
  (void)custos::mdm::ParseProxyCertificateHeader(":" + custos::Base64Encode(header) + ":");
  return 0;
}
