// Property lists for the MDM wire layer: a bounded parser, an owning RAII handle, typed accessors
// and builders over libplist 2.2, and a JSON rendering.
//
// Format: Apple "Property List Programming Guide" (XML plist DTD 1.0 and the "bplist00" binary
// format, CFBinaryPList.c). Every MDM check-in and command body is one of these.
//
// Untrusted input: libplist 2.2 frees, copies and serialises trees recursively and its binary
// parser expands shared object references, so a crafted body (a million nested <array>s, or a
// 200-byte binary plist whose objects reference each other exponentially) would overflow the stack
// or exhaust memory inside libplist. Plist::Parse therefore runs a cheap structural pre-scan over
// the raw bytes (nesting depth, node count after reference expansion, entries per dict) and refuses
// what exceeds PlistLimits before libplist sees it. Every accessor checks the node type; nothing
// here aborts on malformed input.
#ifndef CUSTOS_MDM_PLIST_UTIL_H_
#define CUSTOS_MDM_PLIST_UTIL_H_

#include <plist/plist.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "base/time.h"

namespace custos::mdm {

// Bounds applied to untrusted plist bytes before libplist parses them. The defaults admit every
// real device message seen (the deepest, ProfileList, nests 5 levels) with a wide margin.
struct PlistLimits {
  size_t max_bytes = 8 * 1024 * 1024;
  int max_depth = 32;             // containers (dict/array) nested inside each other
  size_t max_nodes = 1'000'000;   // elements after expanding binary object references
  size_t max_dict_entries = 50'000;  // libplist's dict insertion degrades beyond this
};

// Owning handle of a libplist tree (root node). Copying deep-copies; moving transfers.
class Plist {
 public:
  Plist() = default;
  // Takes ownership of `node` (which must be a root: not a child of another node).
  explicit Plist(plist_t node) : node_(node) {}
  ~Plist();
  Plist(const Plist& other);
  Plist& operator=(const Plist& other);
  Plist(Plist&& other) noexcept : node_(other.release()) {}
  Plist& operator=(Plist&& other) noexcept;

  // Parses an XML or binary ("bplist00") plist. INVALID_ARGUMENT when the bytes exceed `limits`
  // (the message names the limit), use an XML construct MDM never needs (CDATA, a DOCTYPE internal
  // subset), hold a NUL character in a string (libplist 2.2 aborts on such dict keys), or are not
  // a well-formed plist.
  static StatusOr<Plist> Parse(std::string_view bytes, const PlistLimits& limits = {});
  static Plist NewDict();
  static Plist NewArray();

  plist_t get() const { return node_; }
  plist_t release() {
    plist_t n = node_;
    node_ = nullptr;
    return n;
  }
  bool empty() const { return node_ == nullptr; }

  // The XML form (Apple's DTD header, UTF-8). INVALID_ARGUMENT on an empty handle.
  StatusOr<std::string> ToXml() const;
  // The binary ("bplist00") form. INVALID_ARGUMENT on an empty handle.
  StatusOr<std::string> ToBinary() const;

 private:
  plist_t node_ = nullptr;
};

// "dict", "array", "string", "integer", "real", "boolean", "date", "data", "uid", "key", "none"
// ("null" for a null pointer): for error messages.
std::string_view PlistTypeName(plist_t node);

class PlistArray;

// A non-owning, type-checked view over a PLIST_DICT node; valid while the tree lives.
//
// Accessors come in two flavours: `String(key)` requires the key (INVALID_ARGUMENT "missing key
// K" when absent) and `OptString(key)` returns nullopt when absent. Both return INVALID_ARGUMENT
// "key K: expected string, got data" when the value has another type.
class PlistDict {
 public:
  // INVALID_ARGUMENT "<what>: expected dict, got T" unless `node` is a dict.
  static StatusOr<PlistDict> Of(plist_t node, std::string_view what = "plist root");

  plist_t node() const { return node_; }
  // nullptr when absent.
  plist_t Get(std::string_view key) const;
  bool Has(std::string_view key) const { return Get(key) != nullptr; }
  size_t size() const;
  std::vector<std::string> Keys() const;

  StatusOr<std::string> String(std::string_view key) const;
  StatusOr<std::optional<std::string>> OptString(std::string_view key) const;
  // OptString with a fallback for an absent key (a mistyped one is still an error).
  StatusOr<std::string> StringOr(std::string_view key, std::string_view fallback) const;
  StatusOr<bool> Bool(std::string_view key) const;
  StatusOr<std::optional<bool>> OptBool(std::string_view key) const;
  StatusOr<bool> BoolOr(std::string_view key, bool fallback) const;
  // Integers as signed 64-bit: libplist keeps negatives in two's complement (ErrorCode -909).
  StatusOr<int64_t> Integer(std::string_view key) const;
  StatusOr<std::optional<int64_t>> OptInteger(std::string_view key) const;
  StatusOr<double> Real(std::string_view key) const;  // accepts <real> and <integer>
  // Raw bytes of a <data> value.
  StatusOr<std::string> Data(std::string_view key) const;
  StatusOr<std::optional<std::string>> OptData(std::string_view key) const;
  StatusOr<Time> Date(std::string_view key) const;
  StatusOr<std::optional<Time>> OptDate(std::string_view key) const;
  StatusOr<PlistDict> Dict(std::string_view key) const;
  StatusOr<std::optional<PlistDict>> OptDict(std::string_view key) const;
  StatusOr<PlistArray> Array(std::string_view key) const;
  StatusOr<std::optional<PlistArray>> OptArray(std::string_view key) const;

 private:
  explicit PlistDict(plist_t node) : node_(node) {}
  StatusOr<plist_t> Required(std::string_view key) const;
  plist_t node_;
};

// A non-owning view over a PLIST_ARRAY node.
class PlistArray {
 public:
  static StatusOr<PlistArray> Of(plist_t node, std::string_view what = "plist root");
  plist_t node() const { return node_; }
  size_t size() const;
  plist_t at(size_t i) const;  // nullptr when out of range
  // The elements as strings; INVALID_ARGUMENT naming `what`[i] if one is not a string.
  StatusOr<std::vector<std::string>> Strings(std::string_view what) const;

 private:
  explicit PlistArray(plist_t node) : node_(node) {}
  plist_t node_;
};

// Scalar node values with type checks: INVALID_ARGUMENT "<what>: expected T, got U".
StatusOr<std::string> PlistString(plist_t node, std::string_view what);
StatusOr<int64_t> PlistInteger(plist_t node, std::string_view what);
StatusOr<std::string> PlistData(plist_t node, std::string_view what);

// Builders. Each inserts (or replaces) `key` in `dict` (which must be a PLIST_DICT). Strings must
// be UTF-8 text that XML 1.0 can carry: an embedded NUL or a control character other than tab,
// CR, LF is INVALID_ARGUMENT (libplist would truncate or emit an XML no device parses).
Status DictSetString(plist_t dict, std::string_view key, std::string_view value);
Status DictSetBool(plist_t dict, std::string_view key, bool value);
Status DictSetInteger(plist_t dict, std::string_view key, int64_t value);
Status DictSetData(plist_t dict, std::string_view key, std::string_view bytes);
// Moves `value` (a root) into `dict`.
Status DictSetNode(plist_t dict, std::string_view key, Plist value);
// INVALID_ARGUMENT when `text` is not usable as a plist string (see above).
Status CheckPlistText(std::string_view text, std::string_view what);

// `text` cut to 64 bytes with non-printable bytes replaced by '?': for quoting device-supplied
// values (an unknown MessageType, Status, parameter) in error messages and logs.
std::string PrintableForError(std::string_view text);

// A JSON rendering of any plist, for the API and webhooks: dict -> object, array -> array,
// string -> string, integer -> number (signed), real -> number, boolean -> bool, data -> base64
// string, date -> RFC 3339 string, uid -> number. INVALID_ARGUMENT beyond `max_depth` nesting.
// Strings may hold invalid UTF-8 from a device: dump the result with PlistJsonDump, which replaces
// such bytes instead of throwing.
StatusOr<nlohmann::json> PlistToJson(plist_t node, int max_depth = 64);
// nlohmann::json::dump() that never throws (invalid UTF-8 replaced by U+FFFD).
std::string PlistJsonDump(const nlohmann::json& j);

}  // namespace custos::mdm

#endif  // CUSTOS_MDM_PLIST_UTIL_H_
