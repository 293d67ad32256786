// DeviceAttester (device_sim.h): a simulated device's answer to DeviceInformation with
// DevicePropertiesAttestation (issue 5). Test-only.
#include <plist/plist.h>

#include "attest/testdata/fake_attestation.h"
#include "base/random.h"
#include "mdm/plist_util.h"
#include "tests/devicesim/device_sim.h"

namespace custos::devicesim {

DeviceAttester::DeviceAttester(const attest::testing::FakeAttestationCa* ca,
                               std::chrono::seconds rate_limit)
    : ca_(ca), rate_limit_(rate_limit) {}

DeviceAttester::~DeviceAttester() = default;

StatusOr<std::string> DeviceAttester::AnswerBody(const Device& device,
                                                 const ReceivedCommand& command) {
  if (ca_ == nullptr) return FailedPreconditionError("DeviceAttester needs an attestation CA");
  ASSIGN_OR_RETURN(mdm::Plist root, mdm::Plist::Parse(command.plist));
  ASSIGN_OR_RETURN(mdm::PlistDict dict, mdm::PlistDict::Of(root.get(), "command"));
  ASSIGN_OR_RETURN(mdm::PlistDict cmd, dict.Dict("Command"));
  ASSIGN_OR_RETURN(std::string type, cmd.String("RequestType"));
  if (type != "DeviceInformation") {
    return InvalidArgumentError("not a DeviceInformation command: " + type);
  }
  ASSIGN_OR_RETURN(mdm::PlistArray queries_array, cmd.Array("Queries"));
  ASSIGN_OR_RETURN(std::vector<std::string> queries, queries_array.Strings("Queries"));
  ASSIGN_OR_RETURN(std::optional<std::string> nonce, cmd.OptData("DeviceAttestationNonce"));

  mdm::Plist responses = mdm::Plist::NewDict();
  for (const std::string& q : queries) {
    if (q == "OSVersion") {
      RETURN_IF_ERROR(mdm::DictSetString(responses.get(), q, os_version_));
    } else if (q == "SerialNumber") {
      RETURN_IF_ERROR(mdm::DictSetString(responses.get(), q, device.serial()));
    } else if (q == "UDID") {
      RETURN_IF_ERROR(mdm::DictSetString(responses.get(), q, device.udid()));
    } else if (q == "DevicePropertiesAttestation" && tamper_ != Tamper::kNoAttestation) {
      auto now = std::chrono::system_clock::now();
      bool new_nonce = nonce.has_value() && *nonce != cached_nonce_;
      bool make = cached_chain_.empty() || tamper_ != Tamper::kNone ||
                  (new_nonce && now - cached_at_ >= rate_limit_);
      std::vector<std::string> chain = cached_chain_;
      if (make) {
        attest::testing::FakeLeafSpec spec;
        spec.not_before = now - std::chrono::minutes(1);
        spec.not_after = now + std::chrono::hours(24 * 365);
        spec.serial_number = device.serial();
        spec.udid = device.udid();
        spec.os_version = os_version_;
        spec.sepos_version = os_version_;
        spec.device_information_eku = true;
        if (nonce) spec.freshness_code = *nonce;
        const attest::testing::FakeAttestationCa* ca = ca_;
        switch (tamper_) {
          case Tamper::kWrongRoot:
            if (!other_ca_) {
              ASSIGN_OR_RETURN(auto other,
                               attest::testing::MakeFakeAttestationCa(
                                   now - std::chrono::hours(24), now + std::chrono::hours(24 * 3650),
                                   "Untrusted Attestation Root CA"));
              other_ca_ = std::make_unique<attest::testing::FakeAttestationCa>(std::move(other));
            }
            ca = other_ca_.get();
            break;
          case Tamper::kWrongSerial:
            spec.serial_number = "WRONG-" + device.serial();
            break;
          case Tamper::kUnknownNonce:
            spec.freshness_code = Random::Secure()->Bytes(32);
            break;
          default:
            break;
        }
        ASSIGN_OR_RETURN(auto leaf, attest::testing::IssueFakeLeaf(*ca, spec));
        chain = leaf.chain;
        if (tamper_ == Tamper::kNone) {  // a tampered answer never becomes the cache
          cached_chain_ = chain;
          cached_nonce_ = nonce.value_or("");
          cached_at_ = now;
          ++fresh_count_;
        }
      }
      plist_t array = plist_new_array();
      for (const auto& der : chain) plist_array_append_item(array, plist_new_data(der.data(), der.size()));
      RETURN_IF_ERROR(mdm::DictSetNode(responses.get(), q, mdm::Plist(array)));
    }
  }
  mdm::Plist report = mdm::Plist::NewDict();
  RETURN_IF_ERROR(mdm::DictSetString(report.get(), "UDID", device.udid()));
  RETURN_IF_ERROR(mdm::DictSetString(report.get(), "Status", "Acknowledged"));
  RETURN_IF_ERROR(mdm::DictSetString(report.get(), "CommandUUID", command.command_uuid));
  RETURN_IF_ERROR(mdm::DictSetNode(report.get(), "QueryResponses", std::move(responses)));
  return report.ToXml();
}

StatusOr<HttpResult> DeviceAttester::Answer(Device& device, const ReceivedCommand& command,
                                            std::optional<ReceivedCommand>* next) {
  ASSIGN_OR_RETURN(std::string body, AnswerBody(device, command));
  ASSIGN_OR_RETURN(HttpResult r, device.Send(false, body));
  if (next != nullptr) {
    next->reset();
    if (r.status == 200) {
      ASSIGN_OR_RETURN(*next, ParseCommandReply(r.body));
    }
  }
  return r;
}

}  // namespace custos::devicesim
