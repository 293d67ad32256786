#include "mdm/plist_util.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "base/encoding.h"

namespace custos::mdm {
namespace {

constexpr std::string_view kBinaryMagic = "bplist00";
constexpr size_t kBinaryTrailerSize = 32;
// Seconds from the Unix epoch to the plist epoch (2001-01-01T00:00:00Z).
constexpr int64_t kPlistEpochUnix = 978307200;

std::string Str(std::string_view s) { return std::string(s); }

uint64_t ReadBigEndian(const unsigned char* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

// Structural pre-scan of a binary plist (CFBinaryPList.c layout): validates the trailer and the
// offset table, then walks the object graph from the top object as libplist will expand it (a
// shared reference counts once per use), bounding depth, expanded node count and dict size.
// Leaf objects are left to libplist.
Status CheckBinaryPlist(std::string_view bytes, const PlistLimits& limits) {
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t size = bytes.size();
  if (size < kBinaryMagic.size() + kBinaryTrailerSize) {
    return InvalidArgumentError("binary plist: too short for a trailer");
  }
  const unsigned char* trailer = data + size - kBinaryTrailerSize;
  const size_t offset_size = trailer[6];
  const size_t ref_size = trailer[7];
  const uint64_t num_objects = ReadBigEndian(trailer + 8, 8);
  const uint64_t top_object = ReadBigEndian(trailer + 16, 8);
  const uint64_t table_offset = ReadBigEndian(trailer + 24, 8);
  if (offset_size < 1 || offset_size > 8 || ref_size < 1 || ref_size > 8) {
    return InvalidArgumentError("binary plist: bad offset or reference size in trailer");
  }
  const uint64_t body_end = size - kBinaryTrailerSize;
  if (num_objects == 0 || top_object >= num_objects) {
    return InvalidArgumentError("binary plist: bad object count or top object");
  }
  if (table_offset < kBinaryMagic.size() || table_offset >= body_end ||
      num_objects > (body_end - table_offset) / offset_size) {
    return InvalidArgumentError("binary plist: offset table out of bounds");
  }
  auto object_offset = [&](uint64_t index) -> uint64_t {
    return ReadBigEndian(data + table_offset + index * offset_size, offset_size);
  };
  // Reads the element count of the object whose marker is at `off`: the marker's low nibble, or
  // an integer object after it when the nibble is 0xF. Sets `pos` to the first byte after it.
  auto read_count = [&](uint64_t off, uint64_t* count, uint64_t* pos) -> Status {
    *count = data[off] & 0x0F;
    *pos = off + 1;
    if (*count != 0x0F) return OkStatus();
    if (*pos >= table_offset) return InvalidArgumentError("binary plist: truncated count");
    const unsigned char int_marker = data[*pos];
    const size_t n = size_t{1} << (int_marker & 0x0F);
    if ((int_marker >> 4) != 0x1 || n > 8 || *pos + 1 + n > table_offset) {
      return InvalidArgumentError("binary plist: bad object count");
    }
    *count = ReadBigEndian(data + *pos + 1, n);
    *pos += 1 + n;
    return OkStatus();
  };

  // libplist 2.2 aborts (an assert, enabled in distribution builds) when a dict key holds a NUL
  // byte, and truncates strings that do. No MDM message needs one: refuse every string with NUL.
  // Each distinct string is scanned once, however many offset entries point at it.
  std::vector<uint64_t> string_offsets;
  for (uint64_t index = 0; index < num_objects; ++index) {
    const uint64_t off = object_offset(index);
    if (off < kBinaryMagic.size() || off >= table_offset) {
      return InvalidArgumentError("binary plist: object offset out of bounds");
    }
    const unsigned type = data[off] >> 4;
    if (type == 0x5 || type == 0x6) string_offsets.push_back(off);
  }
  std::sort(string_offsets.begin(), string_offsets.end());
  string_offsets.erase(std::unique(string_offsets.begin(), string_offsets.end()),
                       string_offsets.end());
  uint64_t scanned_until = 0;  // distinct strings never overlap in a real binary plist
  for (const uint64_t off : string_offsets) {
    const unsigned type = data[off] >> 4;
    uint64_t count = 0;
    uint64_t pos = 0;
    RETURN_IF_ERROR(read_count(off, &count, &pos));
    const uint64_t unit = type == 0x6 ? 2 : 1;
    if (count > (table_offset - pos) / unit) {
      return InvalidArgumentError("binary plist: string out of bounds");
    }
    if (off < scanned_until) return InvalidArgumentError("binary plist: overlapping strings");
    for (uint64_t i = 0; i < count; ++i) {
      const unsigned char* c = data + pos + i * unit;
      if (c[0] == 0 && (unit == 1 || c[1] == 0)) {
        return InvalidArgumentError("plist string holds a NUL character");
      }
    }
    scanned_until = pos + count * unit;
  }

  struct Pending {
    uint64_t index;
    int depth;  // depth of the object itself; the top object is at depth 0
  };
  std::vector<Pending> stack;
  stack.push_back({top_object, 0});
  size_t nodes = 1;
  while (!stack.empty()) {
    const Pending cur = stack.back();
    stack.pop_back();
    const uint64_t off = object_offset(cur.index);  // checked above
    const unsigned char marker = data[off];
    const unsigned type = marker >> 4;
    if (type != 0xA && type != 0xC && type != 0xD) continue;  // not a container
    if (cur.depth + 1 > limits.max_depth) {
      return InvalidArgumentError("plist nesting deeper than " +
                                  std::to_string(limits.max_depth));
    }
    uint64_t count = 0;
    uint64_t pos = 0;
    RETURN_IF_ERROR(read_count(off, &count, &pos));
    if (type == 0xD && count > limits.max_dict_entries) {
      return InvalidArgumentError("plist dict with more than " +
                                  std::to_string(limits.max_dict_entries) + " entries");
    }
    const uint64_t available_refs = (table_offset - pos) / ref_size;
    const uint64_t refs = type == 0xD ? count * 2 : count;
    if (count > available_refs || refs > available_refs) {
      return InvalidArgumentError("binary plist: container references out of bounds");
    }
    if (refs > limits.max_nodes - nodes) {
      return InvalidArgumentError("plist with more than " + std::to_string(limits.max_nodes) +
                                  " nodes");
    }
    nodes += refs;
    for (uint64_t i = 0; i < refs; ++i) {
      const uint64_t ref = ReadBigEndian(data + pos + i * ref_size, ref_size);
      if (ref >= num_objects) return InvalidArgumentError("binary plist: reference out of range");
      // Dict keys (the first half of a dict's references) are strings: counted, not walked.
      if (type == 0xD && i < count) continue;
      stack.push_back({ref, cur.depth + 1});
    }
  }
  return OkStatus();
}

size_t CountOccurrences(std::string_view hay, std::string_view needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string_view::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.' || c == ':';
}

// Structural pre-scan of an XML plist. Tracks the stack of open <dict>/<array> elements; container
// tags hidden in comments, processing instructions or the DOCTYPE count as permanently open, so a
// parser that reads such a region differently can only make the real depth smaller than the
// measured one, never larger.
Status CheckXmlPlist(std::string_view xml, const PlistLimits& limits) {
  struct Open {
    bool is_dict;
    size_t keys;
  };
  std::vector<Open> stack;
  size_t hidden_opens = 0;
  size_t nodes = 0;
  auto depth_error = [&]() {
    return InvalidArgumentError("plist nesting deeper than " + std::to_string(limits.max_depth));
  };
  auto skip_region = [&](size_t start, std::string_view terminator,
                         std::string_view what) -> StatusOr<size_t> {
    const size_t end = xml.find(terminator, start);
    if (end == std::string_view::npos) return InvalidArgumentError("unterminated XML " + Str(what));
    const std::string_view region = xml.substr(start, end - start);
    hidden_opens += CountOccurrences(region, "<dict") + CountOccurrences(region, "<array");
    if (stack.size() + hidden_opens > static_cast<size_t>(limits.max_depth)) return depth_error();
    return end + terminator.size();
  };

  // NUL is not XML; and libplist 2.2 aborts on a dict key holding one (see CheckBinaryPlist), so
  // character references to it are refused too.
  if (xml.find('\0') != std::string_view::npos) {
    return InvalidArgumentError("plist string holds a NUL character");
  }
  for (size_t amp = xml.find("&#"); amp != std::string_view::npos; amp = xml.find("&#", amp + 2)) {
    size_t p = amp + 2;
    const bool hex = p < xml.size() && (xml[p] == 'x' || xml[p] == 'X');
    if (hex) ++p;
    const size_t digits_start = p;
    bool all_zero = true;
    while (p < xml.size() && (hex ? std::isxdigit(static_cast<unsigned char>(xml[p])) != 0
                                  : std::isdigit(static_cast<unsigned char>(xml[p])) != 0)) {
      all_zero = all_zero && xml[p] == '0';
      ++p;
    }
    if (p > digits_start && all_zero) {
      return InvalidArgumentError("plist string holds a NUL character");
    }
  }

  size_t i = 0;
  while ((i = xml.find('<', i)) != std::string_view::npos) {
    const std::string_view rest = xml.substr(i);
    if (rest.starts_with("<!--")) {
      ASSIGN_OR_RETURN(i, skip_region(i + 4, "-->", "comment"));
      continue;
    }
    if (rest.starts_with("<![CDATA[")) {
      return InvalidArgumentError("XML CDATA sections are not supported in plists");
    }
    if (rest.starts_with("<?")) {
      ASSIGN_OR_RETURN(i, skip_region(i + 2, "?>", "processing instruction"));
      continue;
    }
    if (rest.starts_with("<!")) {
      const size_t end = xml.find('>', i);
      if (end == std::string_view::npos) return InvalidArgumentError("unterminated XML DOCTYPE");
      if (xml.substr(i, end - i).find('[') != std::string_view::npos) {
        return InvalidArgumentError("XML DOCTYPE internal subsets are not supported in plists");
      }
      ASSIGN_OR_RETURN(i, skip_region(i + 2, ">", "DOCTYPE"));
      continue;
    }
    const bool closing = rest.size() > 1 && rest[1] == '/';
    size_t p = i + 1 + (closing ? 1 : 0);
    const size_t name_start = p;
    while (p < xml.size() && IsNameChar(xml[p])) ++p;
    const std::string_view name = xml.substr(name_start, p - name_start);
    // Find the end of the tag, honouring quoted attribute values.
    char quote = 0;
    while (p < xml.size()) {
      const char c = xml[p];
      if (quote != 0) {
        if (c == quote) quote = 0;
      } else if (c == '"' || c == '\'') {
        quote = c;
      } else if (c == '>') {
        break;
      }
      ++p;
    }
    if (p >= xml.size()) return InvalidArgumentError("unterminated XML tag");
    const bool self_closing = xml[p - 1] == '/';
    const bool container = name == "dict" || name == "array";
    if (!closing) {
      if (++nodes > limits.max_nodes) {
        return InvalidArgumentError("plist with more than " + std::to_string(limits.max_nodes) +
                                    " nodes");
      }
      if (name == "key" && !stack.empty() && stack.back().is_dict &&
          ++stack.back().keys > limits.max_dict_entries) {
        return InvalidArgumentError("plist dict with more than " +
                                    std::to_string(limits.max_dict_entries) + " entries");
      }
      if (container && !self_closing) {
        stack.push_back({name == "dict", 0});
        if (stack.size() + hidden_opens > static_cast<size_t>(limits.max_depth)) {
          return depth_error();
        }
      }
    } else if (container && !stack.empty()) {
      stack.pop_back();
    }
    i = p + 1;
  }
  return OkStatus();
}

Status TypeError(std::string_view what, std::string_view expected, plist_t got) {
  return InvalidArgumentError(Str(what) + ": expected " + Str(expected) + ", got " +
                              Str(PlistTypeName(got)));
}

std::string KeyWhat(std::string_view key) { return "key " + Str(key); }

}  // namespace

// ---- Plist ----

Plist::~Plist() {
  if (node_ != nullptr) plist_free(node_);
}

Plist::Plist(const Plist& other)
    : node_(other.node_ == nullptr ? nullptr : plist_copy(other.node_)) {}

Plist& Plist::operator=(const Plist& other) {
  if (this != &other) *this = Plist(other);
  return *this;
}

Plist& Plist::operator=(Plist&& other) noexcept {
  if (this != &other) {
    if (node_ != nullptr) plist_free(node_);
    node_ = other.release();
  }
  return *this;
}

StatusOr<Plist> Plist::Parse(std::string_view bytes, const PlistLimits& limits) {
  if (bytes.empty()) return InvalidArgumentError("empty plist");
  if (bytes.size() > limits.max_bytes || bytes.size() > UINT32_MAX) {
    return InvalidArgumentError("plist larger than " + std::to_string(limits.max_bytes) +
                                " bytes");
  }
  if (bytes.starts_with(kBinaryMagic)) {
    RETURN_IF_ERROR(CheckBinaryPlist(bytes, limits));
  } else {
    RETURN_IF_ERROR(CheckXmlPlist(bytes, limits));
  }
  plist_t node = nullptr;
  plist_from_memory(bytes.data(), static_cast<uint32_t>(bytes.size()), &node);
  if (node == nullptr) return InvalidArgumentError("malformed plist");
  return Plist(node);
}

Plist Plist::NewDict() { return Plist(plist_new_dict()); }
Plist Plist::NewArray() { return Plist(plist_new_array()); }

StatusOr<std::string> Plist::ToXml() const {
  if (node_ == nullptr) return InvalidArgumentError("empty plist");
  char* xml = nullptr;
  uint32_t length = 0;
  plist_to_xml(node_, &xml, &length);
  if (xml == nullptr) return InternalError("plist_to_xml failed");
  std::string out(xml, length);
  plist_to_xml_free(xml);
  return out;
}

StatusOr<std::string> Plist::ToBinary() const {
  if (node_ == nullptr) return InvalidArgumentError("empty plist");
  char* bin = nullptr;
  uint32_t length = 0;
  plist_to_bin(node_, &bin, &length);
  if (bin == nullptr) return InternalError("plist_to_bin failed");
  std::string out(bin, length);
  plist_to_bin_free(bin);
  return out;
}

std::string PrintableForError(std::string_view text) {
  constexpr size_t kMax = 64;
  std::string out;
  for (unsigned char c : text.substr(0, kMax)) {
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  if (text.size() > kMax) out += "...";
  return out;
}

std::string_view PlistTypeName(plist_t node) {
  if (node == nullptr) return "null";
  switch (plist_get_node_type(node)) {
    case PLIST_BOOLEAN: return "boolean";
    case PLIST_UINT: return "integer";
    case PLIST_REAL: return "real";
    case PLIST_STRING: return "string";
    case PLIST_ARRAY: return "array";
    case PLIST_DICT: return "dict";
    case PLIST_DATE: return "date";
    case PLIST_DATA: return "data";
    case PLIST_KEY: return "key";
    case PLIST_UID: return "uid";
    default: return "none";
  }
}

// ---- scalar accessors ----

StatusOr<std::string> PlistString(plist_t node, std::string_view what) {
  if (node == nullptr || plist_get_node_type(node) != PLIST_STRING) {
    return TypeError(what, "string", node);
  }
  uint64_t length = 0;
  const char* p = plist_get_string_ptr(node, &length);
  if (p == nullptr) return std::string();
  return std::string(p, length);
}

StatusOr<int64_t> PlistInteger(plist_t node, std::string_view what) {
  if (node == nullptr || plist_get_node_type(node) != PLIST_UINT) {
    return TypeError(what, "integer", node);
  }
  uint64_t v = 0;
  plist_get_uint_val(node, &v);
  return static_cast<int64_t>(v);
}

StatusOr<std::string> PlistData(plist_t node, std::string_view what) {
  if (node == nullptr || plist_get_node_type(node) != PLIST_DATA) {
    return TypeError(what, "data", node);
  }
  uint64_t length = 0;
  const char* p = plist_get_data_ptr(node, &length);
  if (p == nullptr) return std::string();
  return std::string(p, length);
}

namespace {

StatusOr<bool> PlistBool(plist_t node, std::string_view what) {
  if (node == nullptr || plist_get_node_type(node) != PLIST_BOOLEAN) {
    return TypeError(what, "boolean", node);
  }
  uint8_t v = 0;
  plist_get_bool_val(node, &v);
  return v != 0;
}

StatusOr<Time> PlistDate(plist_t node, std::string_view what) {
  if (node == nullptr || plist_get_node_type(node) != PLIST_DATE) {
    return TypeError(what, "date", node);
  }
  int32_t sec = 0;
  int32_t usec = 0;
  plist_get_date_val(node, &sec, &usec);
  return FromUnixSeconds(kPlistEpochUnix + sec) + std::chrono::microseconds(usec);
}

}  // namespace

// ---- PlistDict ----

StatusOr<PlistDict> PlistDict::Of(plist_t node, std::string_view what) {
  if (node == nullptr || plist_get_node_type(node) != PLIST_DICT) {
    return TypeError(what, "dict", node);
  }
  return PlistDict(node);
}

plist_t PlistDict::Get(std::string_view key) const {
  return plist_dict_get_item(node_, Str(key).c_str());
}

size_t PlistDict::size() const { return plist_dict_get_size(node_); }

std::vector<std::string> PlistDict::Keys() const {
  std::vector<std::string> keys;
  plist_dict_iter it = nullptr;
  plist_dict_new_iter(node_, &it);
  if (it == nullptr) return keys;
  for (;;) {
    char* key = nullptr;
    plist_t value = nullptr;
    plist_dict_next_item(node_, it, &key, &value);
    if (key == nullptr) break;
    keys.emplace_back(key);
    std::free(key);
  }
  std::free(it);
  return keys;
}

StatusOr<plist_t> PlistDict::Required(std::string_view key) const {
  plist_t v = Get(key);
  if (v == nullptr) return InvalidArgumentError("missing key " + Str(key));
  return v;
}

StatusOr<std::string> PlistDict::String(std::string_view key) const {
  ASSIGN_OR_RETURN(plist_t v, Required(key));
  return PlistString(v, KeyWhat(key));
}

StatusOr<std::optional<std::string>> PlistDict::OptString(std::string_view key) const {
  plist_t v = Get(key);
  if (v == nullptr) return std::optional<std::string>();
  ASSIGN_OR_RETURN(std::string s, PlistString(v, KeyWhat(key)));
  return std::optional<std::string>(std::move(s));
}

StatusOr<std::string> PlistDict::StringOr(std::string_view key, std::string_view fallback) const {
  ASSIGN_OR_RETURN(std::optional<std::string> v, OptString(key));
  return v.has_value() ? std::move(*v) : std::string(fallback);
}

StatusOr<bool> PlistDict::BoolOr(std::string_view key, bool fallback) const {
  ASSIGN_OR_RETURN(std::optional<bool> v, OptBool(key));
  return v.value_or(fallback);
}

StatusOr<bool> PlistDict::Bool(std::string_view key) const {
  ASSIGN_OR_RETURN(plist_t v, Required(key));
  return PlistBool(v, KeyWhat(key));
}

StatusOr<std::optional<bool>> PlistDict::OptBool(std::string_view key) const {
  plist_t v = Get(key);
  if (v == nullptr) return std::optional<bool>();
  ASSIGN_OR_RETURN(bool b, PlistBool(v, KeyWhat(key)));
  return std::optional<bool>(b);
}

StatusOr<int64_t> PlistDict::Integer(std::string_view key) const {
  ASSIGN_OR_RETURN(plist_t v, Required(key));
  return PlistInteger(v, KeyWhat(key));
}

StatusOr<std::optional<int64_t>> PlistDict::OptInteger(std::string_view key) const {
  plist_t v = Get(key);
  if (v == nullptr) return std::optional<int64_t>();
  ASSIGN_OR_RETURN(int64_t i, PlistInteger(v, KeyWhat(key)));
  return std::optional<int64_t>(i);
}

StatusOr<double> PlistDict::Real(std::string_view key) const {
  ASSIGN_OR_RETURN(plist_t v, Required(key));
  if (plist_get_node_type(v) == PLIST_UINT) {
    ASSIGN_OR_RETURN(int64_t i, PlistInteger(v, KeyWhat(key)));
    return static_cast<double>(i);
  }
  if (plist_get_node_type(v) != PLIST_REAL) return TypeError(KeyWhat(key), "real", v);
  double d = 0;
  plist_get_real_val(v, &d);
  return d;
}

StatusOr<std::string> PlistDict::Data(std::string_view key) const {
  ASSIGN_OR_RETURN(plist_t v, Required(key));
  return PlistData(v, KeyWhat(key));
}

StatusOr<std::optional<std::string>> PlistDict::OptData(std::string_view key) const {
  plist_t v = Get(key);
  if (v == nullptr) return std::optional<std::string>();
  ASSIGN_OR_RETURN(std::string s, PlistData(v, KeyWhat(key)));
  return std::optional<std::string>(std::move(s));
}

StatusOr<Time> PlistDict::Date(std::string_view key) const {
  ASSIGN_OR_RETURN(plist_t v, Required(key));
  return PlistDate(v, KeyWhat(key));
}

StatusOr<std::optional<Time>> PlistDict::OptDate(std::string_view key) const {
  plist_t v = Get(key);
  if (v == nullptr) return std::optional<Time>();
  ASSIGN_OR_RETURN(Time t, PlistDate(v, KeyWhat(key)));
  return std::optional<Time>(t);
}

StatusOr<PlistDict> PlistDict::Dict(std::string_view key) const {
  ASSIGN_OR_RETURN(plist_t v, Required(key));
  return PlistDict::Of(v, KeyWhat(key));
}

StatusOr<std::optional<PlistDict>> PlistDict::OptDict(std::string_view key) const {
  plist_t v = Get(key);
  if (v == nullptr) return std::optional<PlistDict>();
  ASSIGN_OR_RETURN(PlistDict d, PlistDict::Of(v, KeyWhat(key)));
  return std::optional<PlistDict>(d);
}

StatusOr<PlistArray> PlistDict::Array(std::string_view key) const {
  ASSIGN_OR_RETURN(plist_t v, Required(key));
  return PlistArray::Of(v, KeyWhat(key));
}

StatusOr<std::optional<PlistArray>> PlistDict::OptArray(std::string_view key) const {
  plist_t v = Get(key);
  if (v == nullptr) return std::optional<PlistArray>();
  ASSIGN_OR_RETURN(PlistArray a, PlistArray::Of(v, KeyWhat(key)));
  return std::optional<PlistArray>(a);
}

// ---- PlistArray ----

StatusOr<PlistArray> PlistArray::Of(plist_t node, std::string_view what) {
  if (node == nullptr || plist_get_node_type(node) != PLIST_ARRAY) {
    return TypeError(what, "array", node);
  }
  return PlistArray(node);
}

size_t PlistArray::size() const { return plist_array_get_size(node_); }

plist_t PlistArray::at(size_t i) const {
  if (i >= size()) return nullptr;
  return plist_array_get_item(node_, static_cast<uint32_t>(i));
}

StatusOr<std::vector<std::string>> PlistArray::Strings(std::string_view what) const {
  std::vector<std::string> out;
  const size_t n = size();
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    ASSIGN_OR_RETURN(std::string s, PlistString(at(i), Str(what) + "[" + std::to_string(i) + "]"));
    out.push_back(std::move(s));
  }
  return out;
}

// ---- builders ----

Status CheckPlistText(std::string_view text, std::string_view what) {
  for (unsigned char c : text) {
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
      return InvalidArgumentError(Str(what) + ": control character in text");
    }
  }
  return OkStatus();
}

namespace {
Status CheckDict(plist_t dict, std::string_view key) {
  if (dict == nullptr || plist_get_node_type(dict) != PLIST_DICT) {
    return InvalidArgumentError("setting key " + Str(key) + " on a non-dict node");
  }
  return CheckPlistText(key, "key");
}
}  // namespace

Status DictSetString(plist_t dict, std::string_view key, std::string_view value) {
  RETURN_IF_ERROR(CheckDict(dict, key));
  RETURN_IF_ERROR(CheckPlistText(value, KeyWhat(key)));
  plist_dict_set_item(dict, Str(key).c_str(), plist_new_string(Str(value).c_str()));
  return OkStatus();
}

Status DictSetBool(plist_t dict, std::string_view key, bool value) {
  RETURN_IF_ERROR(CheckDict(dict, key));
  plist_dict_set_item(dict, Str(key).c_str(), plist_new_bool(value ? 1 : 0));
  return OkStatus();
}

Status DictSetInteger(plist_t dict, std::string_view key, int64_t value) {
  RETURN_IF_ERROR(CheckDict(dict, key));
  if (value < 0) {
    // libplist 2.2 has no public constructor for negative integers.
    return InvalidArgumentError(KeyWhat(key) + ": negative integers are not supported");
  }
  plist_dict_set_item(dict, Str(key).c_str(), plist_new_uint(static_cast<uint64_t>(value)));
  return OkStatus();
}

Status DictSetData(plist_t dict, std::string_view key, std::string_view bytes) {
  RETURN_IF_ERROR(CheckDict(dict, key));
  plist_dict_set_item(dict, Str(key).c_str(), plist_new_data(bytes.data(), bytes.size()));
  return OkStatus();
}

Status DictSetNode(plist_t dict, std::string_view key, Plist value) {
  RETURN_IF_ERROR(CheckDict(dict, key));
  if (value.empty()) return InvalidArgumentError(KeyWhat(key) + ": empty value");
  plist_dict_set_item(dict, Str(key).c_str(), value.release());
  return OkStatus();
}

// ---- JSON ----

namespace {
StatusOr<nlohmann::json> ToJson(plist_t node, int depth_left) {
  if (node == nullptr) return nlohmann::json(nullptr);
  switch (plist_get_node_type(node)) {
    case PLIST_BOOLEAN: {
      uint8_t v = 0;
      plist_get_bool_val(node, &v);
      return nlohmann::json(v != 0);
    }
    case PLIST_UINT: {
      uint64_t v = 0;
      plist_get_uint_val(node, &v);
      return nlohmann::json(static_cast<int64_t>(v));
    }
    case PLIST_UID: {
      uint64_t v = 0;
      plist_get_uid_val(node, &v);
      return nlohmann::json(v);
    }
    case PLIST_REAL: {
      double v = 0;
      plist_get_real_val(node, &v);
      return nlohmann::json(v);
    }
    case PLIST_STRING:
    case PLIST_KEY: {
      uint64_t length = 0;
      const char* p = plist_get_node_type(node) == PLIST_STRING
                          ? plist_get_string_ptr(node, &length)
                          : nullptr;
      if (p != nullptr) return nlohmann::json(std::string(p, length));
      char* s = nullptr;
      plist_get_key_val(node, &s);
      nlohmann::json j = s == nullptr ? std::string() : std::string(s);
      std::free(s);
      return j;
    }
    case PLIST_DATA: {
      ASSIGN_OR_RETURN(std::string bytes, PlistData(node, "data"));
      return nlohmann::json(Base64Encode(bytes));
    }
    case PLIST_DATE: {
      ASSIGN_OR_RETURN(Time t, PlistDate(node, "date"));
      return nlohmann::json(FormatRfc3339(t));
    }
    case PLIST_ARRAY: {
      if (depth_left <= 0) return InvalidArgumentError("plist too deep to render as JSON");
      nlohmann::json arr = nlohmann::json::array();
      const uint32_t n = plist_array_get_size(node);
      for (uint32_t i = 0; i < n; ++i) {
        ASSIGN_OR_RETURN(nlohmann::json item, ToJson(plist_array_get_item(node, i), depth_left - 1));
        arr.push_back(std::move(item));
      }
      return arr;
    }
    case PLIST_DICT: {
      if (depth_left <= 0) return InvalidArgumentError("plist too deep to render as JSON");
      nlohmann::json obj = nlohmann::json::object();
      plist_dict_iter it = nullptr;
      plist_dict_new_iter(node, &it);
      if (it == nullptr) return obj;
      for (;;) {
        char* key = nullptr;
        plist_t value = nullptr;
        plist_dict_next_item(node, it, &key, &value);
        if (key == nullptr) break;
        std::string k(key);
        std::free(key);
        auto item = ToJson(value, depth_left - 1);
        if (!item.ok()) {
          std::free(it);
          return item.status();
        }
        obj[k] = std::move(item).value();
      }
      std::free(it);
      return obj;
    }
    default:
      return nlohmann::json(nullptr);
  }
}
}  // namespace

StatusOr<nlohmann::json> PlistToJson(plist_t node, int max_depth) {
  return ToJson(node, max_depth);
}

std::string PlistJsonDump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace custos::mdm
