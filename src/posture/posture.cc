#include "posture/posture.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <utility>

#include "base/encoding.h"
#include "mdm/plist_util.h"

namespace custos::posture {
namespace {

using Json = nlohmann::json;

// Clock skew allowed between Apple's attestation servers (the leaf's notBefore) and custos.
constexpr Duration kSkew{3600};
// How much one RunOnce pass handles of each kind.
constexpr int64_t kBatch = 500;
// Staleness window when random requests are off.
constexpr Duration kDefaultStaleness{30 * 86400};

Json NullableTime(const std::optional<Time>& t) {
  return t ? Json(FormatRfc3339(*t)) : Json(nullptr);
}

Json ParseJsonOr(const std::string& text, Json fallback) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? fallback : j;
}

std::string DurationText(Duration d) { return FormatDuration(d); }

// The newest request of a device that was not given up (a failed request never reached it).
StatusOr<std::optional<PostureRequestRecord>> LatestLiveRequest(PostureStore& store,
                                                                std::string_view device_id) {
  ASSIGN_OR_RETURN(auto list, store.ListRequests(device_id, 50));
  for (auto& r : list) {
    if (r.status != kPostureFailed) return std::optional<PostureRequestRecord>(std::move(r));
  }
  return std::optional<PostureRequestRecord>();
}

StatusOr<std::optional<PostureDeviceRecord>> GetPostureDevice(PostureStore& store,
                                                              std::string_view device_id) {
  auto d = store.GetDevice(device_id);
  if (d.status().code() == StatusCode::kNotFound) return std::optional<PostureDeviceRecord>();
  RETURN_IF_ERROR(d.status());
  return std::optional<PostureDeviceRecord>(*std::move(d));
}

}  // namespace

const std::vector<std::string>& AttestationQueries() {
  static const std::vector<std::string> kQueries = {"DevicePropertiesAttestation", "OSVersion",
                                                    "SerialNumber", "UDID"};
  return kQueries;
}

PostureOptions PostureOptions::FromConfig(const PostureConfig& c) {
  PostureOptions o;
  o.rate_limit = c.rate_limit;
  o.request_on_os_change = c.request_on_os_change;
  o.min_interval = c.min_interval;
  o.max_interval = c.max_interval;
  o.check_interval = c.check_interval;
  o.answer_timeout = c.answer_timeout;
  return o;
}

// ---- Parsing and judging ------------------------------------------------------------------------

StatusOr<DeviceInformationAnswer> ParseDeviceInformationReport(std::string_view plist) {
  ASSIGN_OR_RETURN(mdm::Plist root, mdm::Plist::Parse(plist));
  ASSIGN_OR_RETURN(mdm::PlistDict report, mdm::PlistDict::Of(root.get(), "report"));
  DeviceInformationAnswer a;
  ASSIGN_OR_RETURN(a.status, report.String("Status"));
  ASSIGN_OR_RETURN(auto chain, report.OptArray("ErrorChain"));
  if (chain && chain->size() > 0) {
    auto first = mdm::PlistDict::Of(chain->at(0), "ErrorChain[0]");
    if (first.ok()) a.error = first->StringOr("LocalizedDescription", "").value_or("");
  }
  ASSIGN_OR_RETURN(auto responses, report.OptDict("QueryResponses"));
  if (!responses) return a;
  ASSIGN_OR_RETURN(a.os_version, responses->StringOr("OSVersion", ""));
  ASSIGN_OR_RETURN(a.serial_number, responses->StringOr("SerialNumber", ""));
  ASSIGN_OR_RETURN(a.udid, responses->StringOr("UDID", ""));
  ASSIGN_OR_RETURN(a.provisioning_udid, responses->StringOr("ProvisioningUDID", ""));
  ASSIGN_OR_RETURN(auto certs, responses->OptArray("DevicePropertiesAttestation"));
  if (certs) {
    if (certs->size() > attest::kMaxChainCertificates) {
      return InvalidArgumentError("DevicePropertiesAttestation holds " +
                                  std::to_string(certs->size()) + " certificates, at most " +
                                  std::to_string(attest::kMaxChainCertificates) + " are accepted");
    }
    std::vector<std::string> der;
    for (size_t i = 0; i < certs->size(); ++i) {
      ASSIGN_OR_RETURN(std::string cert,
                       mdm::PlistData(certs->at(i),
                                      "DevicePropertiesAttestation[" + std::to_string(i) + "]"));
      der.push_back(std::move(cert));
    }
    a.attestation_chain = std::move(der);
  }
  return a;
}

Json PropertiesToJson(const attest::AttestationProperties& p) {
  Json j = Json::object();
  attest::PutAttestedProperties(p, j);
  if (p.freshness_code) j["freshness_code"] = HexEncode(*p.freshness_code);
  j["leaf_serial"] = p.leaf_serial_hex;
  j["leaf_not_before"] = FormatRfc3339(p.leaf_not_before);
  j["leaf_not_after"] = FormatRfc3339(p.leaf_not_after);
  if (!p.unknown_extensions.empty()) {
    Json unknown = Json::array();
    for (const auto& u : p.unknown_extensions) {
      unknown.push_back({{"oid", u.oid}, {"value_hex", u.value_hex}, {"critical", u.critical}});
    }
    j["unknown_extensions"] = std::move(unknown);
  }
  return j;
}

Judgement JudgeAnswer(const attest::AttestationVerifier& verifier,
                      const DeviceInformationAnswer& answer, const JudgeContext& ctx) {
  Judgement j;
  if (answer.status != "Acknowledged") {
    j.verdict = kVerdictError;
    j.reason = "the device answered " + mdm::PrintableForError(answer.status) +
               (answer.error.empty() ? "" : ": " + mdm::PrintableForError(answer.error));
    return j;
  }
  if (!answer.attestation_chain || answer.attestation_chain->empty()) {
    j.verdict = kVerdictMissing;
    j.reason =
        "the answer holds no DevicePropertiesAttestation (unsupported hardware, Apple's "
        "attestation servers unreachable, or a device withholding it)";
    return j;
  }
  const std::vector<std::string>& chain = *answer.attestation_chain;

  attest::AttestationExpectations expected;
  expected.freshness = {attest::FreshnessKind::kDeviceInformationNonce, ctx.nonce};
  if (!ctx.user_enrollment) {
    if (!ctx.serial_number.empty()) {
      expected.serial_number = ctx.serial_number;
    } else {
      j.findings.push_back("note: no serial number known from Authenticate; serial not compared");
    }
    std::string udid = ctx.device_id;
    // A Mac attests its ProvisioningUDID, not the MDM UDID (Apple, DevicePropertiesAttestation).
    if (!answer.provisioning_udid.empty() && answer.provisioning_udid != ctx.device_id) {
      udid = answer.provisioning_udid;
      j.findings.push_back("note: UDID compared with the reported ProvisioningUDID (Mac)");
    }
    expected.udid = udid;
  } else {
    j.findings.push_back("note: User Enrollment: no serial number or UDID is attested");
  }

  attest::AttestationResult r = verifier.Verify(chain, expected);
  if (r.properties) {
    j.properties = PropertiesToJson(*r.properties);
    if (r.properties->freshness_code) j.freshness_hex = HexEncode(*r.properties->freshness_code);
    j.attested_at = r.properties->leaf_not_before;
  }
  j.findings.insert(j.findings.end(), r.findings.begin(), r.findings.end());
  if (r.valid) {
    j.verdict = kVerdictFresh;
    j.reason = "fresh attestation: chain, nonce, serial and UDID verified";
    return j;
  }
  if (r.failed_check != attest::AttestationCheck::kFreshness) {
    j.verdict = kVerdictRefused;
    j.reason = r.reason;
    return j;
  }
  // Only the nonce is off. Everything else must still hold before caching is considered.
  attest::AttestationExpectations without_nonce = expected;
  without_nonce.freshness = {};
  attest::AttestationResult r2 = verifier.Verify(chain, without_nonce);
  if (!r2.valid) {
    j.verdict = kVerdictRefused;
    j.reason = r2.reason;
    return j;
  }
  const std::optional<std::string>& code = r2.properties->freshness_code;
  if (!code) {
    j.verdict = kVerdictSuspicious;
    j.reason = "freshness code missing although a nonce was sent";
    return j;
  }
  std::optional<PostureRequestRecord> earlier;
  if (ctx.find_nonce) earlier = ctx.find_nonce(*code);
  if (!earlier) {
    j.verdict = kVerdictSuspicious;
    j.reason = "freshness code " + HexEncode(code->substr(0, 32)) +
               " is no nonce custos ever sent this device";
    return j;
  }
  Time made = r2.properties->leaf_not_before;
  if (made + kSkew < earlier->requested_at) {
    j.verdict = kVerdictSuspicious;
    j.reason = "the attestation (issued " + FormatRfc3339(made) + ") predates its nonce (sent " +
               FormatRfc3339(earlier->requested_at) + " with command " + earlier->command_uuid + ")";
    return j;
  }
  if (ctx.now - made > ctx.rate_limit + kSkew) {
    j.verdict = kVerdictSuspicious;
    j.reason = "stale cached attestation: issued " + FormatRfc3339(made) + ", more than the " +
               DurationText(ctx.rate_limit) +
               " rate limit ago, so the device should have made a fresh one";
    return j;
  }
  j.verdict = kVerdictCached;
  j.reason = "cached attestation (expected): it carries the nonce of command " +
             earlier->command_uuid + " sent " + FormatRfc3339(earlier->requested_at) +
             " and was issued " + FormatRfc3339(made) + ", within the " +
             DurationText(ctx.rate_limit) + " rate limit";
  return j;
}

// ---- The service --------------------------------------------------------------------------------

StatusOr<std::unique_ptr<PostureService>> PostureService::Create(
    PostureOptions options, Storage* storage, mdm::MdmService* mdm,
    const attest::AttestationVerifier* verifier, Clock* clock, Random* random) {
  if (storage == nullptr || mdm == nullptr || verifier == nullptr) {
    return InvalidArgumentError("posture: storage, MDM service and verifier are required");
  }
  if (options.rate_limit.count() <= 0 || options.answer_timeout.count() <= 0 ||
      options.check_interval.count() < 0 || options.min_interval.count() < 0 ||
      options.max_interval.count() < 0 ||
      (options.max_interval.count() > 0 && options.min_interval > options.max_interval)) {
    return InvalidArgumentError("posture: durations out of range");
  }
  if (clock == nullptr) clock = Clock::Real();
  if (random == nullptr) random = Random::Secure();
  return std::unique_ptr<PostureService>(
      new PostureService(options, storage, mdm, verifier, clock, random));
}

PostureService::PostureService(PostureOptions options, Storage* storage, mdm::MdmService* mdm,
                               const attest::AttestationVerifier* verifier, Clock* clock,
                               Random* random)
    : options_(options),
      storage_(storage),
      mdm_(mdm),
      verifier_(verifier),
      clock_(clock),
      random_(random) {}

PostureService::~PostureService() { Stop(); }

Duration PostureService::RandomInterval() {
  // The policy never asks more often than the rate limit, whatever min_interval says.
  Duration lo = std::max(options_.min_interval, options_.rate_limit);
  Duration hi = std::max(options_.max_interval, lo);
  std::string bytes;
  {
    std::lock_guard<std::mutex> lock(random_mu_);
    bytes = random_->Bytes(8);
  }
  uint64_t v = 0;
  std::memcpy(&v, bytes.data(), sizeof(v));
  uint64_t span = static_cast<uint64_t>((hi - lo).count()) + 1;
  return lo + Duration(static_cast<int64_t>(v % span));
}

StatusOr<AttestationRequestResult> PostureService::RequestAttestation(std::string_view device_id,
                                                                      std::string_view trigger,
                                                                      bool force, bool no_push) {
  ASSIGN_OR_RETURN(MdmEnrollmentRecord enrollment, mdm_->GetEnrollment(device_id));
  if (!enrollment.parent_id.empty()) {
    return InvalidArgumentError("enrollment " + std::string(device_id) +
                                " is a user channel; attestation is asked of the device channel " +
                                enrollment.parent_id);
  }
  AttestationRequestResult out;
  out.device_id = std::string(device_id);
  out.trigger = std::string(trigger);
  out.forced = force;
  out.requested_at = clock_->Now();
  std::string nonce;
  {
    std::lock_guard<std::mutex> lock(random_mu_);
    nonce = random_->Bytes(attest::kMaxDeviceInformationNonceBytes);
    out.command_uuid = random_->Uuid();
  }
  out.nonce_hex = HexEncode(nonce);
  std::optional<Time> next_due;
  if (options_.max_interval.count() > 0) next_due = out.requested_at + RandomInterval();

  RETURN_IF_ERROR(storage_->Transact([&](Stores& s) -> Status {
    PostureStore& store = s.posture();
    if (!force) {
      ASSIGN_OR_RETURN(auto latest, LatestLiveRequest(store, device_id));
      if (latest && out.requested_at - latest->requested_at < options_.rate_limit) {
        return FailedPreconditionError(
            "an attestation was requested from " + std::string(device_id) + " at " +
            FormatRfc3339(latest->requested_at) + " (command " + latest->command_uuid +
            "); within the " + DurationText(options_.rate_limit) +
            " rate limit the device answers with its cached attestation, so custos waits until " +
            FormatRfc3339(latest->requested_at + options_.rate_limit) + " (force to send anyway)");
      }
    }
    PostureRequestRecord r;
    r.command_uuid = out.command_uuid;
    r.device_id = out.device_id;
    r.nonce = nonce;
    r.trigger = out.trigger;
    r.forced = force;
    r.requested_at = out.requested_at;
    RETURN_IF_ERROR(store.InsertRequest(r));
    ASSIGN_OR_RETURN(auto state, GetPostureDevice(store, device_id));
    PostureDeviceRecord d;
    if (state) {
      d = *state;
    } else {
      d.device_id = out.device_id;
      auto device = s.mdm().GetDevice(device_id);
      if (device.ok()) {
        d.os_version = device->os_version;
        d.os_version_at = device->updated_at;
      }
    }
    d.next_due_at = next_due;
    d.due_reason = next_due ? "random" : "";
    d.updated_at = out.requested_at;
    return store.PutDevice(d);
  }));

  mdm::EnqueueRequest q;
  q.enrollment_ids = {out.device_id};
  q.request_type = "DeviceInformation";
  q.params = Json{{"Queries", AttestationQueries()},
                  {"DeviceAttestationNonce", Base64Encode(nonce)}};
  q.command_uuid = out.command_uuid;
  q.no_push = no_push;
  auto queued = mdm_->Enqueue(q);
  Status failure = queued.status();
  if (queued.ok() && queued->queued.empty()) {
    failure = NotFoundError("enrollment " + out.device_id + " vanished before the command was queued");
  }
  if (!failure.ok()) {
    Status s = storage_->Transact([&](Stores& st) {
      return st.posture().FinishRequest(out.command_uuid, kPostureFailed, clock_->Now()).status();
    });
    if (!s.ok()) spdlog::warn("posture: marking request {} failed: {}", out.command_uuid, s.ToString());
    return failure;
  }
  out.push_requested = queued->push_requested;
  spdlog::info("posture: attestation requested from {} (command {}, trigger {}{})", out.device_id,
               out.command_uuid, out.trigger, force ? ", forced" : "");
  return out;
}

void PostureService::Publish(mdm::MdmEvent event) {
  QueuedEvent e;
  if (event.topic == "mdm.Connect") {
    if (event.command_uuid.empty() || event.status == "Idle" || event.status == "NotNow") return;
    e.enrollment_id = std::move(event.enrollment_id);
    e.command_uuid = std::move(event.command_uuid);
    // Only DeviceInformation answers matter beyond our own requests, and only for OSVersion.
    if (event.raw_payload.find("OSVersion") != std::string::npos) {
      e.raw_report = std::move(event.raw_payload);
    }
  } else if (event.topic == "mdm.Authenticate") {
    e.authenticate = true;
    e.enrollment_id = std::move(event.enrollment_id);
  } else {
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.size() >= options_.max_queued_events) {
      // Nothing is lost for good: pending requests are finished from the stored results by RunOnce.
      spdlog::warn("posture: event queue full, dropped {} for {}", e.authenticate ? "Authenticate" : "a result",
                   e.enrollment_id);
      return;
    }
    queue_.push_back(std::move(e));
  }
  cv_.notify_one();
}

void PostureService::Handle(const QueuedEvent& e) {
  Status s;
  if (e.authenticate) {
    // The MDM service stored the Authenticate facts before publishing the event.
    std::string os_version;
    s = storage_->Transact(
        [&](Stores& st) -> Status {
          ASSIGN_OR_RETURN(MdmDeviceRecord d, st.mdm().GetDevice(e.enrollment_id));
          os_version = d.os_version;
          return OkStatus();
        },
        TxMode::kReadOnly);
    if (s.ok() && !os_version.empty()) s = ObserveOsVersion(e.enrollment_id, os_version);
  } else {
    s = ProcessCommandResult(e.enrollment_id, e.command_uuid, e.raw_report);
  }
  if (!s.ok()) {
    spdlog::warn("posture: handling {} of {}: {}", e.authenticate ? "Authenticate" : e.command_uuid,
                 e.enrollment_id, s.ToString());
  }
}

void PostureService::Drain() {
  for (;;) {
    QueuedEvent e;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (queue_.empty()) return;
      e = std::move(queue_.front());
      queue_.pop_front();
    }
    Handle(e);
  }
}

Status PostureService::ObserveOsVersion(std::string_view device_id, std::string_view os_version) {
  if (os_version.empty()) return OkStatus();
  Time now = clock_->Now();
  return storage_->Transact([&](Stores& s) {
    return UpdateOsVersion(s.posture(), device_id, os_version, "", now);
  });
}

Status PostureService::UpdateOsVersion(PostureStore& store, std::string_view device_id,
                                       std::string_view os_version,
                                       std::string_view attested_os_version, Time now) {
  if (os_version.empty()) return OkStatus();
  ASSIGN_OR_RETURN(auto state, GetPostureDevice(store, device_id));
  if (!state) {
    // First sighting: a device never attested is the one most worth asking.
    PostureDeviceRecord d;
    d.device_id = std::string(device_id);
    d.os_version = std::string(os_version);
    d.os_version_at = now;
    d.next_due_at = now;
    d.due_reason = "initial";
    d.updated_at = now;
    return store.PutDevice(d);
  }
  if (state->os_version == os_version) return OkStatus();
  PostureDeviceRecord d = *state;
  spdlog::info("posture: {} reports OSVersion {} (was {})", device_id,
               mdm::PrintableForError(os_version), mdm::PrintableForError(d.os_version));
  d.os_version = std::string(os_version);
  d.os_version_at = now;
  d.updated_at = now;
  if (options_.request_on_os_change && attested_os_version != os_version) {
    ASSIGN_OR_RETURN(auto latest, LatestLiveRequest(store, device_id));
    Time due = now;
    if (latest) due = std::max(now, latest->requested_at + options_.rate_limit);
    if (!d.next_due_at || due <= *d.next_due_at) {
      d.next_due_at = due;
      d.due_reason = "os-change";
    }
  }
  return store.PutDevice(d);
}

Status PostureService::ProcessCommandResult(std::string_view enrollment_id,
                                            std::string_view command_uuid,
                                            std::string_view raw_report) {
  std::optional<PostureRequestRecord> request;
  MdmQueueEntry entry;
  bool have_entry = false;
  std::string serial;
  bool user_enrollment = false;
  RETURN_IF_ERROR(storage_->Transact(
      [&](Stores& s) -> Status {
        request.reset();
        have_entry = false;
        auto r = s.posture().GetRequest(command_uuid);
        if (r.status().code() == StatusCode::kNotFound) return OkStatus();
        RETURN_IF_ERROR(r.status());
        request = *std::move(r);
        if (request->status != kPosturePending) return OkStatus();
        auto q = s.mdm().GetQueueEntry(request->device_id, command_uuid);
        if (q.status().code() == StatusCode::kNotFound) return OkStatus();
        RETURN_IF_ERROR(q.status());
        entry = *std::move(q);
        have_entry = true;
        auto device = s.mdm().GetDevice(request->device_id);
        if (device.ok()) serial = device->serial_number;
        auto enrollment = s.mdm().GetEnrollment(request->device_id);
        if (enrollment.ok()) user_enrollment = enrollment->type.rfind("User Enrollment", 0) == 0;
        return OkStatus();
      },
      TxMode::kReadOnly));

  if (!request) {
    // Not ours; another DeviceInformation answer may still tell us the OS version.
    if (raw_report.empty()) return OkStatus();
    auto answer = ParseDeviceInformationReport(raw_report);
    if (!answer.ok() || answer->os_version.empty() || answer->status != "Acknowledged") {
      return OkStatus();
    }
    auto enrollment = mdm_->GetEnrollment(enrollment_id);
    if (!enrollment.ok() || !enrollment->parent_id.empty()) return OkStatus();
    return ObserveOsVersion(enrollment_id, answer->os_version);
  }
  if (request->status != kPosturePending) return OkStatus();
  if (!have_entry || entry.active) return OkStatus();  // not answered yet (or NotNow)

  Time now = clock_->Now();
  if (entry.result.empty()) {
    // Retired without an answer: cleared by a new Authenticate, or expired.
    return storage_->Transact([&](Stores& s) {
      return s.posture().FinishRequest(command_uuid, kPostureFailed, now).status();
    });
  }

  Judgement j;
  DeviceInformationAnswer answer;
  auto parsed = ParseDeviceInformationReport(entry.result);
  if (!parsed.ok()) {
    j.verdict = kVerdictRefused;
    j.reason = "malformed answer: " + parsed.status().message();
  } else {
    answer = *std::move(parsed);
    JudgeContext ctx;
    ctx.device_id = request->device_id;
    ctx.serial_number = serial;
    ctx.user_enrollment = user_enrollment;
    ctx.nonce = request->nonce;
    ctx.now = now;
    ctx.rate_limit = options_.rate_limit;
    const std::string device_id = request->device_id;
    ctx.find_nonce = [this, device_id](std::string_view nonce) {
      std::optional<PostureRequestRecord> found;
      Status s = storage_->Transact(
          [&](Stores& st) -> Status {
            ASSIGN_OR_RETURN(found, st.posture().FindRequestByNonce(device_id, nonce));
            return OkStatus();
          },
          TxMode::kReadOnly);
      if (!s.ok()) spdlog::warn("posture: nonce lookup for {}: {}", device_id, s.ToString());
      return found;
    };
    j = JudgeAnswer(*verifier_, answer, ctx);
  }

  PostureResultRecord rec;
  rec.device_id = request->device_id;
  rec.command_uuid = std::string(command_uuid);
  rec.received_at = entry.result_at.value_or(now);
  rec.verdict = j.verdict;
  rec.reason = j.reason;
  rec.findings_json = mdm::PlistJsonDump(Json(j.findings));
  rec.properties_json = mdm::PlistJsonDump(j.properties);
  rec.freshness_hex = j.freshness_hex;
  rec.attested_at = j.attested_at;
  rec.reported_os_version = answer.os_version;
  std::string attested_os;
  if (j.verdict == kVerdictFresh && j.properties.contains("os_version")) {
    attested_os = j.properties["os_version"].get<std::string>();
  }
  bool recorded = false;
  RETURN_IF_ERROR(storage_->Transact([&](Stores& s) -> Status {
    ASSIGN_OR_RETURN(recorded, s.posture().FinishRequest(command_uuid, kPostureAnswered, now));
    if (!recorded) return OkStatus();  // another worker or process got there first
    RETURN_IF_ERROR(s.posture().InsertResult(rec).status());
    return UpdateOsVersion(s.posture(), rec.device_id, answer.os_version, attested_os, now);
  }));
  if (recorded) {
    auto log = j.verdict == kVerdictFresh || j.verdict == kVerdictCached ? spdlog::level::info
                                                                         : spdlog::level::warn;
    spdlog::log(log, "posture: {} attestation {}: {} ({})", rec.device_id, rec.command_uuid,
                j.verdict, j.reason);
  }
  return OkStatus();
}

StatusOr<RunStats> PostureService::RunOnce() {
  RunStats stats;
  Time now = clock_->Now();
  auto stopping = [this] {
    std::lock_guard<std::mutex> lock(mu_);
    return stopping_;
  };

  // 1. Pending requests: finish those answered (whatever happened to their events), give up on
  // those that can no longer be answered.
  std::vector<PostureRequestRecord> pending;
  RETURN_IF_ERROR(storage_->Transact(
      [&](Stores& s) -> Status {
        ASSIGN_OR_RETURN(pending, s.posture().ListPendingRequests(now, kBatch));
        return OkStatus();
      },
      TxMode::kReadOnly));
  for (const auto& p : pending) {
    if (stopping()) return stats;
    std::optional<MdmQueueEntry> entry;
    RETURN_IF_ERROR(storage_->Transact(
        [&](Stores& s) -> Status {
          auto q = s.mdm().GetQueueEntry(p.device_id, p.command_uuid);
          if (q.status().code() == StatusCode::kNotFound) {
            entry.reset();
            return OkStatus();
          }
          RETURN_IF_ERROR(q.status());
          entry = *std::move(q);
          return OkStatus();
        },
        TxMode::kReadOnly));
    bool give_up = !entry || (entry->active && now - p.requested_at > options_.answer_timeout);
    if (entry && !entry->active) {
      RETURN_IF_ERROR(ProcessCommandResult(p.device_id, p.command_uuid));
      if (entry->result.empty()) {
        ++stats.requests_failed;
      } else {
        ++stats.results_processed;
      }
      continue;
    }
    if (give_up) {
      RETURN_IF_ERROR(storage_->Transact([&](Stores& s) {
        return s.posture().FinishRequest(p.command_uuid, kPostureFailed, now).status();
      }));
      spdlog::warn("posture: attestation request {} to {} given up ({})", p.command_uuid,
                   p.device_id, entry ? "unanswered too long" : "command deleted");
      ++stats.requests_failed;
    }
  }

  // 2. Devices whose attestation is due.
  std::vector<PostureDeviceRecord> due;
  RETURN_IF_ERROR(storage_->Transact(
      [&](Stores& s) -> Status {
        ASSIGN_OR_RETURN(due, s.posture().ListDueDevices(now, kBatch));
        return OkStatus();
      },
      TxMode::kReadOnly));
  for (const auto& d : due) {
    if (stopping()) return stats;
    auto enrollment = mdm_->GetEnrollment(d.device_id);
    if (enrollment.status().code() == StatusCode::kNotFound ||
        (enrollment.ok() && !enrollment->parent_id.empty())) {
      // Gone (or never a device channel): nothing to ask.
      RETURN_IF_ERROR(storage_->Transact([&](Stores& s) -> Status {
        ASSIGN_OR_RETURN(auto state, s.posture().GetDevice(d.device_id));
        state.next_due_at.reset();
        state.due_reason.clear();
        state.updated_at = now;
        return s.posture().PutDevice(state);
      }));
      continue;
    }
    RETURN_IF_ERROR(enrollment.status());
    if (!enrollment->enabled) continue;  // checked out or before TokenUpdate: ask later
    auto made = RequestAttestation(d.device_id, d.due_reason.empty() ? "random" : d.due_reason,
                                   /*force=*/false);
    if (made.ok()) {
      ++stats.requests_made;
      continue;
    }
    if (made.status().code() != StatusCode::kFailedPrecondition) {
      spdlog::warn("posture: requesting a due attestation from {}: {}", d.device_id,
                   made.status().ToString());
      continue;
    }
    // Inside the rate limit: due again when it allows.
    RETURN_IF_ERROR(storage_->Transact([&](Stores& s) -> Status {
      ASSIGN_OR_RETURN(auto latest, LatestLiveRequest(s.posture(), d.device_id));
      ASSIGN_OR_RETURN(auto state, s.posture().GetDevice(d.device_id));
      Time allowed = latest ? latest->requested_at + options_.rate_limit : now;
      state.next_due_at = std::max(allowed, now);
      state.updated_at = now;
      return s.posture().PutDevice(state);
    }));
    ++stats.postponed;
  }
  return stats;
}

// ---- Posture --------------------------------------------------------------------------------------

StatusOr<Json> PostureService::GetPosture(std::string_view device_id) {
  ASSIGN_OR_RETURN(MdmEnrollmentRecord enrollment, mdm_->GetEnrollment(device_id));
  Time now = clock_->Now();
  std::optional<MdmDeviceRecord> device;
  std::vector<CertificateRecord> certs;
  std::optional<PostureDeviceRecord> state;
  std::vector<PostureResultRecord> results;
  std::optional<PostureResultRecord> last_fresh;
  std::vector<PostureRequestRecord> requests;
  RETURN_IF_ERROR(storage_->Transact(
      [&](Stores& s) -> Status {
        device.reset();
        certs.clear();
        auto d = s.mdm().GetDevice(device_id);
        if (d.ok()) device = *std::move(d);
        ASSIGN_OR_RETURN(auto assoc, s.mdm().ListCertAssociations(device_id));
        for (const auto& a : assoc) {
          auto c = s.certs().GetBySerial(a.serial_hex);
          if (c.ok()) certs.push_back(*std::move(c));
        }
        ASSIGN_OR_RETURN(state, GetPostureDevice(s.posture(), device_id));
        ASSIGN_OR_RETURN(results, s.posture().ListResults(device_id, 10));
        ASSIGN_OR_RETURN(last_fresh, s.posture().LatestResult(device_id, kVerdictFresh));
        ASSIGN_OR_RETURN(requests, s.posture().ListRequests(device_id, 5));
        return OkStatus();
      },
      TxMode::kReadOnly));
  const std::string serial = device ? device->serial_number : "";
  const std::string reported_os = state && !state->os_version.empty()
                                      ? state->os_version
                                      : (device ? device->os_version : "");

  // Identity: certificates issued over device-attest-01 record the attested facts.
  Json identities = Json::array();
  std::string hardware_serial;
  for (const auto& c : certs) {
    Json attrs = ParseJsonOr(c.attributes_json, Json::object());
    if (!attrs.is_object()) attrs = Json::object();
    std::string challenge = attrs.value("challenge", std::string());
    bool hardware_bound = attrs.value("hardware_bound", false);
    Json attested = attrs.value("attested", Json::object());
    if (!attested.is_object()) attested = Json::object();
    bool usable = c.status == "valid" && c.not_after > now;
    bool matches = (!serial.empty() && attested.value("serial_number", std::string()) == serial) ||
                   attested.value("udid", std::string()) == device_id;
    bool hw = usable && challenge == "device-attest-01" && hardware_bound && matches;
    if (hw && hardware_serial.empty()) hardware_serial = c.serial_hex;
    identities.push_back({{"serial_hex", c.serial_hex},
                          {"requester", c.requester},
                          {"challenge", challenge},
                          {"status", c.status},
                          {"not_after", FormatRfc3339(c.not_after)},
                          {"hardware_attested", hw}});
  }
  const bool hardware = !hardware_serial.empty();

  const Duration window = options_.max_interval.count() > 0
                              ? options_.max_interval + options_.rate_limit
                              : kDefaultStaleness;
  const PostureResultRecord* latest = results.empty() ? nullptr : &results[0];
  const PostureResultRecord* trusted = nullptr;  // newest fresh or cached verdict
  for (const auto& r : results) {
    if (r.verdict == kVerdictFresh || r.verdict == kVerdictCached) {
      trusted = &r;
      break;
    }
  }
  bool current = latest != nullptr &&
                 (latest->verdict == kVerdictFresh || latest->verdict == kVerdictCached) &&
                 last_fresh && now - last_fresh->received_at <= window;

  std::vector<std::string> reasons;
  std::string level;
  if (latest && (latest->verdict == kVerdictRefused || latest->verdict == kVerdictSuspicious)) {
    level = "untrusted";
    reasons.push_back("latest attestation " + latest->verdict + ": " + latest->reason);
  } else {
    int score = (hardware ? 1 : 0) + (current ? 1 : 0);  // 2 high, 1 medium, 0 low
    reasons.push_back(hardware ? "identity certificate " + hardware_serial +
                                     " was issued over device-attest-01 for this device"
                               : "identity is not hardware-attested (no valid device-attest-01 "
                                 "certificate associated with this device)");
    if (current) {
      reasons.push_back("current attestation: last fresh one at " +
                        FormatRfc3339(last_fresh->received_at) + ", latest verdict " +
                        latest->verdict);
    } else if (!latest) {
      reasons.push_back("never attested");
    } else if (latest->verdict == kVerdictMissing || latest->verdict == kVerdictError) {
      reasons.push_back("latest attestation " + latest->verdict + ": " + latest->reason);
    } else {
      reasons.push_back(last_fresh ? "last fresh attestation at " +
                                         FormatRfc3339(last_fresh->received_at) +
                                         " is older than " + DurationText(window)
                                   : "no fresh attestation yet (only cached ones)");
    }
    if (current && trusted != nullptr) {
      Json props = ParseJsonOr(trusted->properties_json, Json::object());
      std::string attested_os = props.is_object() ? props.value("os_version", std::string()) : "";
      if (!attested_os.empty() && !reported_os.empty() && attested_os != reported_os) {
        --score;
        reasons.push_back("reported OSVersion " + reported_os + " differs from the attested " +
                          attested_os);
      }
    }
    level = score >= 2 ? "high" : score == 1 ? "medium" : "low";
  }

  Json history = Json::array();
  for (const auto& r : results) {
    history.push_back({{"command_uuid", r.command_uuid},
                       {"received_at", FormatRfc3339(r.received_at)},
                       {"verdict", r.verdict},
                       {"reason", r.reason}});
  }
  Json latest_json = nullptr;
  if (latest) {
    latest_json = {{"command_uuid", latest->command_uuid},
                   {"received_at", FormatRfc3339(latest->received_at)},
                   {"verdict", latest->verdict},
                   {"reason", latest->reason},
                   {"findings", ParseJsonOr(latest->findings_json, Json::array())},
                   {"freshness_code", latest->freshness_hex},
                   {"attested_at", NullableTime(latest->attested_at)},
                   {"reported_os_version", latest->reported_os_version},
                   // What the answer claimed, verified or not: an operator wants to see it.
                   {"properties", ParseJsonOr(latest->properties_json, Json::object())}};
  }
  Json pending = nullptr;
  Json last_request = nullptr;
  if (!requests.empty()) {
    const auto& r = requests[0];
    last_request = {{"command_uuid", r.command_uuid},
                    {"requested_at", FormatRfc3339(r.requested_at)},
                    {"trigger", r.trigger},
                    {"forced", r.forced},
                    {"status", r.status}};
    if (r.status == kPosturePending) pending = last_request;
  }
  Json out = {
      {"device_id", std::string(device_id)},
      {"serial_number", serial},
      {"enrollment_type", enrollment.type},
      {"reported_os_version", reported_os},
      {"trust_level", level},
      {"reasons", reasons},
      {"hardware_attested_identity", hardware},
      {"identities", std::move(identities)},
      {"attested", trusted ? ParseJsonOr(trusted->properties_json, Json::object()) : Json(nullptr)},
      {"attested_verdict", trusted ? Json(trusted->verdict) : Json(nullptr)},
      {"attested_at", trusted ? NullableTime(trusted->attested_at) : Json(nullptr)},
      {"last_fresh_attestation_at",
       last_fresh ? Json(FormatRfc3339(last_fresh->received_at)) : Json(nullptr)},
      {"latest_verdict", std::move(latest_json)},
      {"last_request", std::move(last_request)},
      {"pending_request", std::move(pending)},
      {"next_attestation_due_at", state ? NullableTime(state->next_due_at) : Json(nullptr)},
      {"due_reason", state ? state->due_reason : ""},
      {"rate_limit", DurationText(options_.rate_limit)},
      {"history", std::move(history)}};
  return out;
}

// ---- The worker -------------------------------------------------------------------------------

void PostureService::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (worker_.joinable()) return;
  stopping_ = false;
  worker_ = std::thread([this] { Loop(); });
}

void PostureService::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!worker_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

void PostureService::Loop() {
  using Steady = std::chrono::steady_clock;
  const bool periodic = options_.check_interval.count() > 0;
  Steady::time_point next_run = Steady::now();  // one pass at start: recover what is pending
  for (;;) {
    std::optional<QueuedEvent> event;
    {
      std::unique_lock<std::mutex> lock(mu_);
      auto ready = [this] { return stopping_ || !queue_.empty(); };
      if (periodic) {
        cv_.wait_until(lock, next_run, ready);
      } else {
        cv_.wait(lock, ready);
      }
      if (stopping_) return;
      if (!queue_.empty()) {
        event = std::move(queue_.front());
        queue_.pop_front();
      } else if (!periodic || Steady::now() < next_run) {
        continue;
      }
    }
    if (event) {
      Handle(*event);
      continue;
    }
    auto stats = RunOnce();
    if (!stats.ok()) {
      spdlog::warn("posture: policy job: {}", stats.status().ToString());
    } else if (stats->results_processed + stats->requests_failed + stats->requests_made > 0) {
      spdlog::info("posture: policy job: {} results recovered, {} requests given up, {} requested, "
                   "{} postponed",
                   stats->results_processed, stats->requests_failed, stats->requests_made,
                   stats->postponed);
    }
    next_run = Steady::now() + std::chrono::duration_cast<Steady::duration>(options_.check_interval);
  }
}

}  // namespace custos::posture
