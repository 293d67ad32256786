#include "policy/policy.h"

#include <cctype>
#include <charconv>
#include <optional>
#include <utility>

#include "base/logging.h"

namespace custos::policy {
namespace {

constexpr std::string_view kSettingName = "require_hardware_attestation";

// "iPhone10,1" -> {"iPhone", 10, 1}. nullopt for anything else.
struct ProductId {
  std::string family;
  int major = 0;
  int minor = 0;
};

std::optional<int> ParseNumber(std::string_view s) {
  if (s.empty() || s.size() > 4) return std::nullopt;
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<ProductId> ParseProduct(std::string_view product) {
  size_t i = 0;
  while (i < product.size() && std::isalpha(static_cast<unsigned char>(product[i]))) ++i;
  size_t comma = product.find(',', i);
  if (i == 0 || comma == std::string_view::npos) return std::nullopt;
  auto major = ParseNumber(product.substr(i, comma - i));
  auto minor = ParseNumber(product.substr(comma + 1));
  if (!major || !minor) return std::nullopt;
  return ProductId{std::string(product.substr(0, i)), *major, *minor};
}

// The major version of "16", "16.1", "17.0.3": every dot-separated component must be a number.
// nullopt for anything else.
std::optional<int> OsMajor(std::string_view version) {
  std::optional<int> major;
  for (size_t start = 0;;) {
    size_t dot = version.find('.', start);
    auto part = ParseNumber(version.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (!part) return std::nullopt;
    if (!major) major = part;
    if (dot == std::string_view::npos) return major;
    start = dot + 1;
  }
}

// The first Apple-silicon model number of each Mac family; families absent here (MacPro,
// iMacPro, MacBook) never had Apple silicon under their own name.
std::optional<int> FirstAppleSiliconMajor(std::string_view family) {
  if (family == "MacBookAir") return 10;  // MacBookAir10,1: M1 (2020)
  if (family == "MacBookPro") return 17;  // MacBookPro17,1: M1 (2020); 18,x M1 Pro/Max
  if (family == "Macmini") return 9;      // Macmini9,1: M1 (2020)
  if (family == "iMac") return 21;        // iMac21,1/21,2: M1 (2021)
  if (family == "Mac") return 13;         // Mac13,x (Mac Studio 2022) and every later Mac
  return std::nullopt;
}

std::string Quoted(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 64)) {
    out += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
  }
  return "\"" + out + "\"";
}

class StoredEnrollmentPolicy : public EnrollmentPolicy {
 public:
  StoredEnrollmentPolicy(bool default_on, Storage* storage, Clock* clock)
      : default_on_(default_on), storage_(storage), clock_(clock) {}

  StatusOr<bool> RequireHardwareAttestation() override {
    std::optional<PolicySettingRecord> setting;
    RETURN_IF_ERROR(storage_->Transact(
        [&](Stores& s) -> Status {
          auto got = s.policy().GetSetting(kSettingName);
          if (got.ok()) {
            setting = *std::move(got);
          } else if (got.status().code() != StatusCode::kNotFound) {
            return got.status();
          } else {
            setting.reset();
          }
          return OkStatus();
        },
        TxMode::kReadOnly));
    if (!setting) return default_on_;
    return setting->value == "true";
  }

  Status SetRequireHardwareAttestation(bool on, std::string_view actor) override {
    PolicySettingRecord rec{std::string(kSettingName), on ? "true" : "false", std::string(actor),
                            clock_->Now()};
    RETURN_IF_ERROR(storage_->Transact([&](Stores& s) { return s.policy().PutSetting(rec); }));
    spdlog::info("policy: require_hardware_attestation set to {} by {}", on ? "on" : "off",
                 Quoted(actor));
    return OkStatus();
  }

  StatusOr<Eligibility> Evaluate(const DeviceFacts& facts) override {
    Eligibility platform = PlatformSupportsAttestedIdentity(facts.product, facts.os_version);
    if (!platform.eligible) return platform;
    if (facts.serial.empty()) {
      return Eligibility{false, "the device's serial number is unknown, so it is not known from "
                                "Apple Business Manager"};
    }
    std::optional<DepDeviceRecord> known;
    RETURN_IF_ERROR(storage_->Transact(
        [&](Stores& s) -> Status {
          auto got = s.dep().FindKnownDevice(facts.serial);
          if (got.ok()) {
            known = *std::move(got);
          } else if (got.status().code() == StatusCode::kNotFound) {
            known.reset();
          } else {
            return got.status();
          }
          return OkStatus();
        },
        TxMode::kReadOnly));
    if (!known) {
      return Eligibility{false, "serial " + Quoted(facts.serial) +
                                    " is not known from Apple Business Manager"};
    }
    return Eligibility{true, platform.reason + "; serial " + Quoted(facts.serial) +
                                 " is known from Apple Business Manager (" + known->dep_name + ")"};
  }

  StatusOr<IdentityKind> IdentityFor(const DeviceFacts& facts) override {
    ASSIGN_OR_RETURN(bool on, RequireHardwareAttestation());
    if (!on) return IdentityKind::kScep;
    ASSIGN_OR_RETURN(Eligibility e, Evaluate(facts));
    return e.eligible ? IdentityKind::kAttestedAcme : IdentityKind::kScep;
  }

 private:
  const bool default_on_;
  Storage* storage_;
  Clock* clock_;
};

}  // namespace

Eligibility PlatformSupportsAttestedIdentity(std::string_view product, std::string_view os_version) {
  if (product.empty()) return {false, "the product identifier is unknown"};
  auto id = ParseProduct(product);
  if (!id) return {false, "unknown product identifier " + Quoted(product)};
  std::optional<int> os = OsMajor(os_version);
  const std::string name = Quoted(product);

  if (id->family == "iPhone" || id->family == "iPad") {
    const bool iphone = id->family == "iPhone";
    const std::string os_name = iphone ? "iOS" : "iPadOS";
    // A11 Bionic: iPhone10,x (iPhone 8, 8 Plus, X). iPads with A11 or later start at iPad8,x
    // (iPad Pro 2018, A12X); every iPad7,x has an A10 or A10X.
    const int first_a11 = iphone ? 10 : 8;
    if (id->major < first_a11) {
      return {false, name + " has an A10 chip or older (attested identities need A11 or later)"};
    }
    if (!os) return {false, "unknown " + os_name + " version " + Quoted(os_version)};
    if (*os < 16) {
      return {false, name + " runs " + os_name + " " + std::string(os_version) +
                         " (attested identities need " + os_name + " 16 or later)"};
    }
    return {true, name + " on " + os_name + " " + std::string(os_version) +
                      " supports hardware-attested identities"};
  }
  if (auto first = FirstAppleSiliconMajor(id->family)) {
    if (id->major < *first) {
      return {false, name + " is an Intel Mac (attested identities need Apple silicon)"};
    }
    if (!os) return {false, "unknown macOS version " + Quoted(os_version)};
    if (*os < 14) {
      return {false, name + " runs macOS " + std::string(os_version) +
                         " (attested identities need macOS 14 or later)"};
    }
    return {true, name + " on macOS " + std::string(os_version) +
                      " supports hardware-attested identities"};
  }
  if (id->family == "MacPro" || id->family == "iMacPro" || id->family == "MacBook") {
    return {false, name + " is an Intel Mac (attested identities need Apple silicon)"};
  }
  return {false, "product " + name + " does not support hardware-attested identities"};
}

StatusOr<std::unique_ptr<EnrollmentPolicy>> EnrollmentPolicy::Create(const Config& config,
                                                                     Storage* storage,
                                                                     Clock* clock) {
  if (storage == nullptr || clock == nullptr) {
    return InvalidArgumentError("EnrollmentPolicy needs storage and a clock");
  }
  return std::unique_ptr<EnrollmentPolicy>(
      new StoredEnrollmentPolicy(config.policy.require_hardware_attestation, storage, clock));
}

}  // namespace custos::policy
