// Byte encodings: base64 (RFC 4648 section 4), base64url without padding (section 5, as JOSE
// uses it), and lowercase hex. Bytes are carried in std::string throughout custos.
#ifndef CUSTOS_BASE_ENCODING_H_
#define CUSTOS_BASE_ENCODING_H_

#include <string>
#include <string_view>

#include "base/status.h"

namespace custos {

std::string Base64Encode(std::string_view bytes);
// Accepts standard base64 with or without padding; ASCII whitespace (line breaks in PEM-ish
// bodies and in plist <data>) is ignored. Any other stray character is INVALID_ARGUMENT.
StatusOr<std::string> Base64Decode(std::string_view text);

// base64url without padding.
std::string Base64UrlEncode(std::string_view bytes);
// Accepts base64url with or without padding; rejects the standard alphabet's '+' and '/'.
StatusOr<std::string> Base64UrlDecode(std::string_view text);

std::string HexEncode(std::string_view bytes);  // lowercase
// Accepts upper or lower case; odd length or a non-hex character is INVALID_ARGUMENT.
StatusOr<std::string> HexDecode(std::string_view text);

// Constant-time equality for secrets (API keys, challenges): the time taken depends only on the
// lengths, never on where the inputs first differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace custos

#endif  // CUSTOS_BASE_ENCODING_H_
