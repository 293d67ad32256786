#include "mdm/command.h"

#include <array>
#include <utility>

#include "base/encoding.h"

namespace custos::mdm {
namespace {

constexpr std::array<std::pair<CommandStatus, std::string_view>, 5> kStatuses = {{
    {CommandStatus::kIdle, "Idle"},
    {CommandStatus::kAcknowledged, "Acknowledged"},
    {CommandStatus::kError, "Error"},
    {CommandStatus::kCommandFormatError, "CommandFormatError"},
    {CommandStatus::kNotNow, "NotNow"},
}};

// DESIGN.md: the DeviceInformation freshness nonce is at most 32 bytes.
constexpr size_t kMaxAttestationNonceBytes = 32;

StatusOr<ErrorChainEntry> DecodeErrorChainEntry(plist_t node, size_t index) {
  ASSIGN_OR_RETURN(PlistDict d, PlistDict::Of(node, "ErrorChain[" + std::to_string(index) + "]"));
  ErrorChainEntry e;
  ASSIGN_OR_RETURN(std::optional<int64_t> code, d.OptInteger("ErrorCode"));
  e.error_code = code.value_or(0);
  ASSIGN_OR_RETURN(e.error_domain, d.StringOr("ErrorDomain", ""));
  ASSIGN_OR_RETURN(e.localized_description, d.StringOr("LocalizedDescription", ""));
  ASSIGN_OR_RETURN(e.us_english_description, d.StringOr("USEnglishDescription", ""));
  return e;
}

// ---- builders ----

enum class ParamKind { kString, kBool, kBase64Data, kStringArray, kDict };

struct ParamSpec {
  std::string_view key;
  ParamKind kind;
  bool required = false;
  std::vector<ParamSpec> sub = {};               // kDict: its keys
  std::vector<std::string_view> allowed = {};    // kString: allowed values, if restricted
  size_t max_bytes = 0;                          // kBase64Data: decoded size limit (0: none)
};

struct BuilderSpec {
  std::string_view request_type;
  std::vector<ParamSpec> params;
};

const std::vector<BuilderSpec>& Builders() {
  // Keys and types from apple/device-management mdm/commands/*.yaml.
  static const auto* kBuilders = new std::vector<BuilderSpec>{
      {"DeviceInformation",
       {{"Queries", ParamKind::kStringArray, true},
        {"DeviceAttestationNonce", ParamKind::kBase64Data, false, {}, {},
         kMaxAttestationNonceBytes}}},
      {"SecurityInfo", {}},
      {"ProfileList", {{"ManagedOnly", ParamKind::kBool}}},
      {"InstallProfile", {{"Payload", ParamKind::kBase64Data, true}}},
      {"RemoveProfile", {{"Identifier", ParamKind::kString, true}}},
      {"CertificateList", {{"ManagedOnly", ParamKind::kBool}}},
      {"InstalledApplicationList",
       {{"Identifiers", ParamKind::kStringArray},
        {"ManagedAppsOnly", ParamKind::kBool},
        {"Items", ParamKind::kStringArray}}},
      {"RestartDevice",
       {{"NotifyUser", ParamKind::kBool},
        {"RebuildKernelCache", ParamKind::kBool},
        {"KextPaths", ParamKind::kStringArray}}},
      {"ShutDownDevice", {}},
      {"DeviceLock",
       {{"PIN", ParamKind::kString},
        {"Message", ParamKind::kString},
        {"PhoneNumber", ParamKind::kString}}},
      {"EraseDevice",
       {{"PIN", ParamKind::kString},
        {"PreserveDataPlan", ParamKind::kBool},
        {"DisallowProximitySetup", ParamKind::kBool},
        {"ObliterationBehavior", ParamKind::kString, false, {},
         {"Default", "DoNotObliterate", "ObliterateWithWarning", "Always"}},
        {"ReturnToService", ParamKind::kDict, false,
         {{"Enabled", ParamKind::kBool, true},
          {"WiFiProfileData", ParamKind::kBase64Data},
          {"MDMProfileData", ParamKind::kBase64Data}}}}},
  };
  return *kBuilders;
}

std::string JsonTypeName(const nlohmann::json& j) { return j.type_name(); }

Status FillDict(plist_t dict, const std::vector<ParamSpec>& specs, const nlohmann::json& params,
                const std::string& context);

Status SetParam(plist_t dict, const ParamSpec& spec, const nlohmann::json& value,
                const std::string& what) {
  switch (spec.kind) {
    case ParamKind::kString: {
      if (!value.is_string()) {
        return InvalidArgumentError(what + ": expected string, got " + JsonTypeName(value));
      }
      const auto& s = value.get_ref<const std::string&>();
      if (spec.required && s.empty()) return InvalidArgumentError(what + ": empty");
      if (!spec.allowed.empty()) {
        bool ok = false;
        for (std::string_view a : spec.allowed) ok = ok || a == s;
        if (!ok) return InvalidArgumentError(what + ": unsupported value " + PrintableForError(s));
      }
      return DictSetString(dict, spec.key, s).WithContext(what);
    }
    case ParamKind::kBool:
      if (!value.is_boolean()) {
        return InvalidArgumentError(what + ": expected boolean, got " + JsonTypeName(value));
      }
      return DictSetBool(dict, spec.key, value.get<bool>());
    case ParamKind::kBase64Data: {
      if (!value.is_string()) {
        return InvalidArgumentError(what + ": expected base64 string, got " +
                                    JsonTypeName(value));
      }
      StatusOr<std::string> bytes = Base64Decode(value.get_ref<const std::string&>());
      if (!bytes.ok()) return InvalidArgumentError(what + ": invalid base64");
      if (spec.required && bytes->empty()) return InvalidArgumentError(what + ": empty");
      if (spec.max_bytes != 0 && bytes->size() > spec.max_bytes) {
        return InvalidArgumentError(what + ": longer than " + std::to_string(spec.max_bytes) +
                                    " bytes");
      }
      return DictSetData(dict, spec.key, *bytes);
    }
    case ParamKind::kStringArray: {
      if (!value.is_array()) {
        return InvalidArgumentError(what + ": expected array of strings, got " +
                                    JsonTypeName(value));
      }
      Plist arr = Plist::NewArray();
      for (size_t i = 0; i < value.size(); ++i) {
        const auto& item = value[i];
        const std::string item_what = what + "[" + std::to_string(i) + "]";
        if (!item.is_string()) {
          return InvalidArgumentError(item_what + ": expected string, got " + JsonTypeName(item));
        }
        const auto& s = item.get_ref<const std::string&>();
        RETURN_IF_ERROR(CheckPlistText(s, item_what));
        plist_array_append_item(arr.get(), plist_new_string(s.c_str()));
      }
      return DictSetNode(dict, spec.key, std::move(arr));
    }
    case ParamKind::kDict: {
      if (!value.is_object()) {
        return InvalidArgumentError(what + ": expected object, got " + JsonTypeName(value));
      }
      Plist sub = Plist::NewDict();
      RETURN_IF_ERROR(FillDict(sub.get(), spec.sub, value, what + "."));
      return DictSetNode(dict, spec.key, std::move(sub));
    }
  }
  return InternalError("unhandled parameter kind");
}

Status FillDict(plist_t dict, const std::vector<ParamSpec>& specs, const nlohmann::json& params,
                const std::string& context) {
  for (const auto& [key, value] : params.items()) {
    bool known = false;
    for (const ParamSpec& spec : specs) known = known || spec.key == key;
    if (!known) return InvalidArgumentError("unknown parameter " + context + PrintableForError(key));
  }
  for (const ParamSpec& spec : specs) {
    const std::string what = context + std::string(spec.key);
    auto it = params.find(std::string(spec.key));
    if (it == params.end() || it->is_null()) {
      if (spec.required) return InvalidArgumentError("missing parameter " + what);
      continue;
    }
    RETURN_IF_ERROR(SetParam(dict, spec, *it, what));
  }
  return OkStatus();
}

}  // namespace

std::string_view CommandStatusName(CommandStatus status) {
  for (const auto& [s, name] : kStatuses) {
    if (s == status) return name;
  }
  return "unknown";
}

StatusOr<CommandStatus> ParseCommandStatus(std::string_view name) {
  for (const auto& [s, n] : kStatuses) {
    if (n == name) return s;
  }
  return InvalidArgumentError("unknown Status " + PrintableForError(name));
}

StatusOr<CommandResult> DecodeCommandResult(std::string_view body, const PlistLimits& limits) {
  ASSIGN_OR_RETURN(Plist plist, Plist::Parse(body, limits));
  ASSIGN_OR_RETURN(PlistDict d, PlistDict::Of(plist.get(), "command result"));
  CommandResult r;
  ASSIGN_OR_RETURN(std::string status, d.String("Status"));
  ASSIGN_OR_RETURN(r.status, ParseCommandStatus(status));
  ASSIGN_OR_RETURN(r.identifiers, ReadEnrollmentIdentifiers(d));
  ASSIGN_OR_RETURN(r.enrollment, ResolveEnrollment(r.identifiers));
  ASSIGN_OR_RETURN(std::optional<std::string> uuid, d.OptString("CommandUUID"));
  if (r.status != CommandStatus::kIdle) {
    if (!uuid.has_value()) return InvalidArgumentError("missing key CommandUUID");
    RETURN_IF_ERROR(CheckIdentifier(*uuid, "CommandUUID"));
    r.command_uuid = std::move(*uuid);
  }
  ASSIGN_OR_RETURN(r.request_type, d.OptString("RequestType"));
  ASSIGN_OR_RETURN(std::optional<PlistArray> chain, d.OptArray("ErrorChain"));
  if (chain.has_value()) {
    const size_t n = chain->size();
    r.error_chain.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      ASSIGN_OR_RETURN(ErrorChainEntry e, DecodeErrorChainEntry(chain->at(i), i));
      r.error_chain.push_back(std::move(e));
    }
  }
  ASSIGN_OR_RETURN(r.not_on_console, d.OptBool("NotOnConsole"));
  r.raw = std::string(body);
  return r;
}

StatusOr<std::string> EncodeCommand(const Command& command) {
  RETURN_IF_ERROR(CheckIdentifier(command.uuid, "CommandUUID"));
  RETURN_IF_ERROR(CheckIdentifier(command.request_type, "RequestType"));
  if (command.payload.empty() || plist_get_node_type(command.payload.get()) != PLIST_DICT) {
    return InvalidArgumentError("command payload is not a dict");
  }
  Plist payload = command.payload;  // deep copy: the caller's command stays untouched
  RETURN_IF_ERROR(DictSetString(payload.get(), "RequestType", command.request_type));
  Plist root = Plist::NewDict();
  RETURN_IF_ERROR(DictSetString(root.get(), "CommandUUID", command.uuid));
  RETURN_IF_ERROR(DictSetNode(root.get(), "Command", std::move(payload)));
  return root.ToXml();
}

const std::vector<std::string_view>& BuilderRequestTypes() {
  static const auto* kTypes = [] {
    auto* types = new std::vector<std::string_view>;
    for (const BuilderSpec& b : Builders()) types->push_back(b.request_type);
    return types;
  }();
  return *kTypes;
}

StatusOr<Command> BuildCommand(std::string_view request_type, const nlohmann::json& params,
                               std::string_view uuid) {
  const BuilderSpec* spec = nullptr;
  for (const BuilderSpec& b : Builders()) {
    if (b.request_type == request_type) spec = &b;
  }
  if (spec == nullptr) {
    return InvalidArgumentError("unknown request type " + PrintableForError(request_type));
  }
  RETURN_IF_ERROR(CheckIdentifier(uuid, "CommandUUID"));
  if (!params.is_null() && !params.is_object()) {
    return InvalidArgumentError("command parameters must be a JSON object, got " +
                                JsonTypeName(params));
  }
  Command c;
  c.uuid = std::string(uuid);
  c.request_type = std::string(request_type);
  c.payload = Plist::NewDict();
  RETURN_IF_ERROR(DictSetString(c.payload.get(), "RequestType", request_type));
  if (params.is_object()) {
    RETURN_IF_ERROR(FillDict(c.payload.get(), spec->params, params, ""));
  } else {
    RETURN_IF_ERROR(FillDict(c.payload.get(), spec->params, nlohmann::json::object(), ""));
  }
  return c;
}

StatusOr<Command> DecodeRawCommand(std::string_view body, const PlistLimits& limits) {
  ASSIGN_OR_RETURN(Plist plist, Plist::Parse(body, limits));
  ASSIGN_OR_RETURN(PlistDict root, PlistDict::Of(plist.get(), "command plist"));
  Command c;
  ASSIGN_OR_RETURN(c.uuid, root.String("CommandUUID"));
  RETURN_IF_ERROR(CheckIdentifier(c.uuid, "CommandUUID"));
  ASSIGN_OR_RETURN(PlistDict cmd, root.Dict("Command"));
  StatusOr<std::string> request_type = cmd.String("RequestType");
  if (!request_type.ok()) return request_type.status().WithContext("Command");
  c.request_type = std::move(request_type).value();
  RETURN_IF_ERROR(CheckIdentifier(c.request_type, "RequestType"));
  c.payload = Plist(plist_copy(cmd.node()));
  return c;
}

}  // namespace custos::mdm
