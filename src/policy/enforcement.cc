#include "policy/enforcement.h"

#include <utility>

#include "base/logging.h"

namespace custos::policy {

StatusOr<std::optional<IdentityKind>> ChooseAbmIdentity(EnrollmentPolicy& policy,
                                                        const DeviceFacts& facts,
                                                        Eligibility* why) {
  ASSIGN_OR_RETURN(bool on, policy.RequireHardwareAttestation());
  if (!on) return std::optional<IdentityKind>();
  ASSIGN_OR_RETURN(Eligibility e, policy.Evaluate(facts));
  if (why != nullptr) *why = e;
  return std::optional<IdentityKind>(e.eligible ? IdentityKind::kAttestedAcme : IdentityKind::kScep);
}

RefusalRecorder::RefusalRecorder(Storage* storage, Clock* clock, Random* random,
                                 mdm::EventSink* sink)
    : storage_(storage), clock_(clock), random_(random), sink_(sink) {}

Status RefusalRecorder::Record(const Refusal& refusal) {
  EnrollmentRefusalRecord rec;
  rec.serial = refusal.serial;
  rec.udid = refusal.udid;
  rec.stage = refusal.stage;
  rec.reason = refusal.reason;
  rec.detail_json = refusal.detail.is_object()
                        ? refusal.detail.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                        : "{}";
  rec.created_at = clock_->Now();
  Status st = storage_->Transact([&](Stores& s) -> Status {
    ASSIGN_OR_RETURN(rec.id, s.policy().InsertRefusal(rec));
    return OkStatus();
  });
  spdlog::warn("policy: enrollment refused ({}) for serial {} udid {}: {}", rec.stage,
               rec.serial.empty() ? "-" : rec.serial, rec.udid.empty() ? "-" : rec.udid, rec.reason);
  if (!st.ok()) spdlog::error("policy: storing the refusal failed: {}", st.ToString());
  if (sink_ != nullptr) {
    mdm::MdmEvent event;
    event.topic = std::string(kRefusedTopic);
    event.event_id = random_->Uuid();
    event.created_at = rec.created_at;
    event.enrollment_id = rec.udid;
    event.udid = rec.udid;
    nlohmann::json payload = RefusalToJson(rec);
    if (!st.ok()) payload.erase("id");
    event.json_payload = payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    sink_->Publish(std::move(event));
  }
  return st;
}

StatusOr<std::vector<EnrollmentRefusalRecord>> RefusalRecorder::List(
    const EnrollmentRefusalFilter& filter) {
  std::vector<EnrollmentRefusalRecord> out;
  RETURN_IF_ERROR(storage_->Transact(
      [&](Stores& s) -> Status {
        ASSIGN_OR_RETURN(out, s.policy().ListRefusals(filter));
        return OkStatus();
      },
      TxMode::kReadOnly));
  return out;
}

nlohmann::json RefusalToJson(const EnrollmentRefusalRecord& r) {
  nlohmann::json detail = nlohmann::json::parse(r.detail_json, nullptr, /*allow_exceptions=*/false);
  if (detail.is_discarded()) detail = nlohmann::json::object();
  return {{"id", r.id},
          {"serial", r.serial},
          {"udid", r.udid},
          {"stage", r.stage},
          {"reason", r.reason},
          {"detail", std::move(detail)},
          {"created_at", FormatRfc3339(r.created_at)}};
}

AuthenticateGate::AuthenticateGate(EnrollmentPolicy* policy, Storage* storage,
                                   RefusalRecorder* recorder)
    : policy_(policy), storage_(storage), recorder_(recorder) {}

Status AuthenticateGate::CheckAuthenticate(const mdm::AuthenticateFacts& facts) {
  ASSIGN_OR_RETURN(bool on, policy_->RequireHardwareAttestation());
  if (!on) return OkStatus();
  ASSIGN_OR_RETURN(Eligibility e,
                   policy_->Evaluate({facts.serial_number, facts.product_name, facts.os_version}));
  if (!e.eligible) return OkStatus();
  std::optional<CertificateRecord> cert;
  RETURN_IF_ERROR(storage_->Transact(
      [&](Stores& s) -> Status {
        auto got = s.certs().GetBySerial(facts.cert_serial_hex);
        if (got.ok()) {
          cert = *std::move(got);
        } else if (got.status().code() == StatusCode::kNotFound) {
          cert.reset();
        } else {
          return got.status();
        }
        return OkStatus();
      },
      TxMode::kReadOnly));
  if (cert && mdm::IsHardwareAttestedIdentity(*cert)) return OkStatus();
  const std::string issued_by = cert ? cert->requester : std::string("unknown");
  Refusal refusal;
  refusal.serial = facts.serial_number;
  refusal.udid = facts.udid;
  refusal.stage = "authenticate";
  refusal.reason = "require_hardware_attestation is on and the device is eligible (" + e.reason +
                   "), but its identity certificate " + facts.cert_serial_hex + " (issued by " +
                   issued_by + ") is not hardware-attested";
  refusal.detail = {{"cert_serial", facts.cert_serial_hex},
                    {"cert_requester", issued_by},
                    {"identity_source", facts.source},
                    {"product", facts.product_name},
                    {"os_version", facts.os_version}};
  Status recorded = recorder_->Record(refusal);
  (void)recorded;  // logged by the recorder; the refusal stands either way
  return PermissionDeniedError(refusal.reason);
}

}  // namespace custos::policy
