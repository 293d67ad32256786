#include "mdm/plist_util.h"

#include <string>

#include <gtest/gtest.h>

namespace custos::mdm {
namespace {

std::string Wrap(const std::string& inner) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
         "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" "
         "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n<plist version=\"1.0\">" +
         inner + "</plist>";
}

std::string Nested(int depth) {
  std::string s;
  for (int i = 0; i < depth; ++i) s += "<array>";
  for (int i = 0; i < depth; ++i) s += "</array>";
  return Wrap(s);
}

std::string ToBinary(const Plist& p) { return p.ToBinary().value(); }

TEST(PlistTest, TypedAccessors) {
  auto p = Plist::Parse(Wrap(
      "<dict><key>s</key><string>hé</string><key>b</key><true/><key>i</key><integer>-909"
      "</integer><key>r</key><real>1.5</real><key>d</key><data>YXBwbGU=</data>"
      "<key>t</key><date>2024-01-02T03:04:05Z</date><key>a</key><array><string>x</string>"
      "<string>y</string></array><key>o</key><dict><key>k</key><false/></dict></dict>"));
  ASSERT_TRUE(p.ok()) << p.status();
  auto d = PlistDict::Of(p->get());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->size(), 8u);
  EXPECT_EQ(d->String("s").value(), "hé");
  EXPECT_EQ(d->Bool("b").value(), true);
  EXPECT_EQ(d->Integer("i").value(), -909);
  EXPECT_DOUBLE_EQ(d->Real("r").value(), 1.5);
  EXPECT_DOUBLE_EQ(d->Real("i").value(), -909.0);
  EXPECT_EQ(d->Data("d").value(), "apple");
  EXPECT_EQ(FormatRfc3339(d->Date("t").value()), "2024-01-02T03:04:05Z");
  EXPECT_EQ(d->Array("a").value().Strings("a").value(), (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(d->Dict("o").value().Bool("k").value(), false);
  EXPECT_EQ(d->OptString("nope").value(), std::nullopt);
  EXPECT_EQ(d->OptBool("b").value(), std::optional<bool>(true));

  // Absent and mistyped keys give clear errors.
  EXPECT_EQ(d->String("nope").status().message(), "missing key nope");
  EXPECT_EQ(d->String("d").status().message(), "key d: expected string, got data");
  EXPECT_EQ(d->OptData("s").status().message(), "key s: expected data, got string");
  EXPECT_EQ(d->Dict("a").status().message(), "key a: expected dict, got array");
  EXPECT_EQ(d->Array("o").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(d->Integer("r").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(d->Date("s").status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(d->Array("a").value().Strings("a").value().empty());
  EXPECT_EQ(d->Array("a").value().at(5), nullptr);
  EXPECT_FALSE(PlistDict::Of(d->Get("a")).ok());
  EXPECT_FALSE(PlistDict::Of(nullptr).ok());
}

TEST(PlistTest, MalformedInputIsAClearError) {
  for (const std::string& bad :
       {std::string(), std::string("garbage"), Wrap("<dict><key>a</key>"),
        std::string("<plist><dict><key>a</key><string>x</string>"), std::string("bplist00"),
        std::string("bplist00") + std::string(40, '\0'), std::string(100, '\xff'),
        Wrap("<dict><![CDATA[</dict>]]></dict>"),
        std::string("<!DOCTYPE plist [<!ENTITY a \"b\">]><plist><dict/></plist>"),
        Wrap("<dict><!-- unterminated"), Wrap("<dict")}) {
    auto p = Plist::Parse(bad);
    EXPECT_FALSE(p.ok()) << bad;
    EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(PlistTest, DeepNestingIsRefusedBeforeLibplistRecurses) {
  EXPECT_TRUE(Plist::Parse(Nested(32)).ok());
  auto deep = Plist::Parse(Nested(33));
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.status().message(), "plist nesting deeper than 32");
  // A million levels would overflow libplist's recursive free; the pre-scan stops it early.
  auto huge = Plist::Parse(Nested(1'000'000), {.max_bytes = 64 << 20});
  EXPECT_FALSE(huge.ok());
  // Unclosed opens count too (libplist frees the partial tree recursively on error).
  std::string unclosed;
  for (int i = 0; i < 100; ++i) unclosed += "<dict>";
  EXPECT_FALSE(Plist::Parse(Wrap(unclosed)).ok());
  // Closing tags hidden in comments cannot hide depth.
  std::string sneaky;
  for (int i = 0; i < 40; ++i) sneaky += "<array><!-- </array> -->";
  EXPECT_FALSE(Plist::Parse(Wrap(sneaky)).ok());
  std::string in_comment = "<!--";
  for (int i = 0; i < 40; ++i) in_comment += "<array>";
  EXPECT_FALSE(Plist::Parse(Wrap(in_comment + "--><dict/>")).ok());
}

TEST(PlistTest, SizeAndDictLimits) {
  std::string big = Wrap("<string>" + std::string(2000, 'a') + "</string>");
  EXPECT_FALSE(Plist::Parse(big, {.max_bytes = 1000}).ok());
  EXPECT_TRUE(Plist::Parse(big, {.max_bytes = 4000}).ok());
  std::string keys = "<dict>";
  for (int i = 0; i < 20; ++i) keys += "<key>k" + std::to_string(i) + "</key><true/>";
  keys += "</dict>";
  EXPECT_TRUE(Plist::Parse(Wrap(keys), {.max_dict_entries = 20}).ok());
  auto too_many = Plist::Parse(Wrap(keys), {.max_dict_entries = 19});
  ASSERT_FALSE(too_many.ok());
  EXPECT_EQ(too_many.status().message(), "plist dict with more than 19 entries");
  EXPECT_FALSE(Plist::Parse(Wrap(keys), {.max_nodes = 30}).ok());
}

TEST(PlistTest, BinaryPlists) {
  auto xml = Plist::Parse(Wrap("<dict><key>a</key><array><integer>1</integer><data>AAE=</data>"
                               "</array></dict>"));
  ASSERT_TRUE(xml.ok());
  const std::string bin = ToBinary(*xml);
  ASSERT_TRUE(bin.starts_with("bplist00"));
  auto p = Plist::Parse(bin);
  ASSERT_TRUE(p.ok()) << p.status();
  auto a = PlistDict::Of(p->get()).value().Array("a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->size(), 2u);
  EXPECT_EQ(PlistData(a->at(1), "x").value(), std::string("\0\1", 2));

  // Deep binary nesting is refused like XML.
  auto deep_xml = Plist::Parse(Nested(30));
  ASSERT_TRUE(deep_xml.ok());
  const std::string deep_bin = ToBinary(*deep_xml);
  EXPECT_TRUE(Plist::Parse(deep_bin).ok());
  EXPECT_FALSE(Plist::Parse(deep_bin, {.max_depth = 10}).ok());

  // Truncations and corruptions of a valid binary plist never crash.
  for (size_t n = 0; n < bin.size(); ++n) (void)Plist::Parse(bin.substr(0, n));
  for (size_t i = 8; i < bin.size(); ++i) {
    std::string corrupt = bin;
    corrupt[i] = static_cast<char>(corrupt[i] ^ 0xff);
    (void)Plist::Parse(corrupt);
  }
}

// A "billion laughs" binary plist: each array holds two references to the next one, so 40 objects
// expand to 2^40 nodes in libplist. The pre-scan counts expanded nodes and refuses it.
TEST(PlistTest, BinaryReferenceExpansionIsBounded) {
  constexpr int kLevels = 40;
  std::string b = "bplist00";
  std::vector<uint64_t> offsets;
  for (int i = 0; i < kLevels; ++i) {
    offsets.push_back(b.size());
    if (i + 1 < kLevels) {
      b += static_cast<char>(0xA2);  // array of 2, refs of 1 byte
      b += static_cast<char>(i + 1);
      b += static_cast<char>(i + 1);
    } else {
      b += static_cast<char>(0x08);  // false
    }
  }
  const uint64_t table = b.size();
  for (uint64_t off : offsets) b += static_cast<char>(off);
  std::string trailer(32, '\0');
  trailer[6] = 1;  // offset size
  trailer[7] = 1;  // ref size
  trailer[15] = kLevels;
  trailer[23] = 0;  // top object
  trailer[31] = static_cast<char>(table);
  b += trailer;
  auto p = Plist::Parse(b, {.max_depth = 64});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  // A cycle (object 0 referencing itself) is refused as too deep.
  std::string cyc = "bplist00";
  cyc += static_cast<char>(0xA1);
  cyc += static_cast<char>(0);
  std::string t2(32, '\0');
  t2[6] = 1;
  t2[7] = 1;
  t2[15] = 1;
  t2[31] = static_cast<char>(cyc.size());
  cyc += static_cast<char>(8);
  cyc += t2;
  EXPECT_FALSE(Plist::Parse(cyc).ok());
}

// libplist 2.2 aborts on a dict key holding NUL (found by mdm_command_result_fuzzer): refused
// before libplist sees it, in binary and XML form.
TEST(PlistTest, NulInStringsIsRefused) {
  std::string b = "bplist00";
  b += std::string("\xD1\x01\x02", 3);   // 8: dict {ref 1: ref 2}
  b += std::string("\x52" "a\0", 3);      // 11: ASCII string "a\0"
  b += std::string("\x09", 1);             // 14: true
  b += std::string("\x08\x0B\x0E", 3);   // 15: offset table
  std::string trailer(32, '\0');
  trailer[6] = 1;
  trailer[7] = 1;
  trailer[15] = 3;
  trailer[31] = 15;
  auto p = Plist::Parse(b + trailer);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().message(), "plist string holds a NUL character");
  // The same plist with a clean key parses.
  b[13] = 'b';
  EXPECT_TRUE(Plist::Parse(b + trailer).ok());
  // UTF-16 form of the key.
  std::string u = "bplist00";
  u += std::string("\xD1\x01\x02", 3);
  u += std::string("\x62\x00\x61\x00\x00", 5);  // UTF-16 "a\0"
  u += std::string("\x09", 1);
  u += std::string("\x08\x0B\x10", 3);
  trailer[31] = 17;
  EXPECT_FALSE(Plist::Parse(u + trailer).ok());

  // Strings that overlap each other (a crafted way to make the NUL scan quadratic) are refused.
  std::string o = "bplist00";
  o += std::string("\xA2\x01\x02", 3);  // 8: array [ref 1, ref 2]
  o += std::string("\x53x\x51y", 4);    // 11: "x\x51y"; 13: "y" inside it
  o += std::string("\x08\x0B\x0D", 3);  // 15: offset table
  trailer[31] = 15;
  auto overlap = Plist::Parse(o + trailer);
  ASSERT_FALSE(overlap.ok());
  EXPECT_EQ(overlap.status().message(), "binary plist: overlapping strings");

  EXPECT_FALSE(Plist::Parse(std::string("<plist><dict><key>a\0</key><true/></dict></plist>", 48))
                   .ok());
  EXPECT_FALSE(Plist::Parse("<plist><dict><key>a&#x000;</key><true/></dict></plist>").ok());
  EXPECT_FALSE(Plist::Parse("<plist><dict><key>a&#0;</key><true/></dict></plist>").ok());
  EXPECT_TRUE(Plist::Parse("<plist><dict><key>a&#65;</key><true/></dict></plist>").ok());
}

TEST(PlistTest, BuildSerializeAndCopy) {
  Plist p = Plist::NewDict();
  ASSERT_TRUE(DictSetString(p.get(), "Name", "a & <b>").ok());
  ASSERT_TRUE(DictSetBool(p.get(), "Flag", true).ok());
  ASSERT_TRUE(DictSetInteger(p.get(), "N", 42).ok());
  ASSERT_TRUE(DictSetData(p.get(), "Bytes", std::string("\0\xff", 2)).ok());
  EXPECT_FALSE(DictSetInteger(p.get(), "Neg", -1).ok());
  EXPECT_FALSE(DictSetString(p.get(), "Bad", std::string("a\0b", 3)).ok());
  EXPECT_FALSE(DictSetString(p.get(), "Bad", "bell\x07").ok());
  Plist arr = Plist::NewArray();
  EXPECT_FALSE(DictSetBool(arr.get(), "x", true).ok());  // not a dict

  Plist copy = p;  // deep copy
  ASSERT_TRUE(DictSetString(p.get(), "Name", "changed").ok());
  auto xml = copy.ToXml();
  ASSERT_TRUE(xml.ok());
  EXPECT_NE(xml->find("a &amp; &lt;b&gt;"), std::string::npos);
  auto back = Plist::Parse(*xml);
  ASSERT_TRUE(back.ok());
  auto d = PlistDict::Of(back->get()).value();
  EXPECT_EQ(d.String("Name").value(), "a & <b>");
  EXPECT_EQ(d.Integer("N").value(), 42);
  EXPECT_EQ(d.Data("Bytes").value(), std::string("\0\xff", 2));
  EXPECT_FALSE(Plist().ToXml().ok());
  EXPECT_FALSE(Plist().ToBinary().ok());

  Plist moved = std::move(copy);
  EXPECT_TRUE(copy.empty());  // NOLINT: testing the moved-from state
  EXPECT_FALSE(moved.empty());
}

TEST(PlistTest, JsonRendering) {
  auto p = Plist::Parse(Wrap(
      "<dict><key>s</key><string>x</string><key>n</key><integer>-3</integer><key>d</key>"
      "<data>AAE=</data><key>t</key><date>2024-01-02T03:04:05Z</date><key>a</key><array>"
      "<true/><real>0.5</real></array><key>e</key><dict/></dict>"));
  ASSERT_TRUE(p.ok());
  auto j = PlistToJson(p->get());
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ(*j, nlohmann::json::parse(R"({"s":"x","n":-3,"d":"AAE=","t":"2024-01-02T03:04:05Z",
                                          "a":[true,0.5],"e":{}})"));
  EXPECT_FALSE(PlistToJson(p->get(), 1).ok());  // "a" is one level deeper than allowed
  // Invalid UTF-8 from a device is replaced, not thrown.
  Plist bad = Plist::NewDict();
  plist_dict_set_item(bad.get(), "k", plist_new_string("\xc3\x28"));
  auto bj = PlistToJson(bad.get());
  ASSERT_TRUE(bj.ok());
  EXPECT_NE(PlistJsonDump(*bj).find("\xEF\xBF\xBD"), std::string::npos);  // U+FFFD
}

}  // namespace
}  // namespace custos::mdm
