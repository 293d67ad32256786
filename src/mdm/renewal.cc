#include "mdm/renewal.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "base/encoding.h"
#include "mdm/plist_util.h"
#include "pki/cms.h"
#include "pki/key.h"
#include "scep/service.h"

namespace custos::mdm {
namespace {

std::string KindName(EnrollIdentity identity) { return std::string(EnrollIdentityName(identity)); }

class ProfileServiceRenewalSource : public RenewalProfileSource {
 public:
  explicit ProfileServiceRenewalSource(ProfileService* profiles) : profiles_(profiles) {}

  StatusOr<RenewalProfile> Make(EnrollIdentity identity, const EnrollingDevice& device) override {
    ProfileService::Request request;
    request.identity = identity;
    request.device = device;
    ASSIGN_OR_RETURN(ProfileService::Output out, profiles_->Generate(request));
    std::string plist = out.body;
    if (out.is_signed) {
      ASSIGN_OR_RETURN(ParsedSignedData parsed, ParseSignedData(out.body));
      if (!parsed.content.has_value()) return InternalError("signed renewal profile has no content");
      plist = *parsed.content;
    }
    auto secret = ProfileSecret(plist);
    if (!secret.ok()) return InternalError("renewal profile: " + secret.status().message());
    RenewalProfile p;
    p.body = std::move(out.body);
    p.secret = *std::move(secret);
    p.identity = out.identity;
    return p;
  }

 private:
  ProfileService* profiles_;
};

}  // namespace

RenewalOptions RenewalOptions::FromConfig(const RenewalConfig& c) {
  RenewalOptions o;
  o.enabled = c.enabled;
  o.window = c.window;
  o.interval = c.interval;
  o.retry_after = c.retry_after;
  o.batch_size = c.batch_size;
  return o;
}

std::unique_ptr<RenewalProfileSource> NewProfileServiceRenewalSource(ProfileService* profiles) {
  return std::make_unique<ProfileServiceRenewalSource>(profiles);
}

StatusOr<std::string> RenewalChallengeSource::NewChallenge() {
  return service_->NewChallenge(ttl_, "");
}

StatusOr<std::string> ProfileSecret(std::string_view plist_bytes) {
  ASSIGN_OR_RETURN(Plist plist, Plist::Parse(plist_bytes));
  ASSIGN_OR_RETURN(PlistDict root, PlistDict::Of(plist.get(), "profile"));
  ASSIGN_OR_RETURN(PlistArray payloads, root.Array("PayloadContent"));
  for (size_t i = 0; i < payloads.size(); ++i) {
    ASSIGN_OR_RETURN(PlistDict payload, PlistDict::Of(payloads.at(i), "payload"));
    ASSIGN_OR_RETURN(std::string type, payload.StringOr("PayloadType", ""));
    std::string secret;
    if (type == "com.apple.security.scep") {
      ASSIGN_OR_RETURN(PlistDict content, payload.Dict("PayloadContent"));
      ASSIGN_OR_RETURN(secret, content.StringOr("Challenge", ""));
    } else if (type == "com.apple.security.acme") {
      ASSIGN_OR_RETURN(secret, payload.StringOr("ClientIdentifier", ""));
    } else {
      continue;
    }
    if (secret.empty()) return InvalidArgumentError("the " + type + " payload has no one-time secret");
    return secret;
  }
  return InvalidArgumentError("the profile has no SCEP or ACME payload");
}

// ---- RenewalJob --------------------------------------------------------------------------------

StatusOr<std::unique_ptr<RenewalJob>> RenewalJob::Create(RenewalOptions options, Deps deps) {
  if (deps.storage == nullptr || deps.clock == nullptr || deps.random == nullptr ||
      deps.mdm == nullptr || deps.profiles == nullptr) {
    return InvalidArgumentError("renewal: storage, clock, random, MDM service and profiles are required");
  }
  if (options.window.count() <= 0 || options.interval.count() <= 0 ||
      options.retry_after.count() <= 0) {
    return InvalidArgumentError("renewal: window, interval and retry_after must be positive");
  }
  if (options.batch_size <= 0) options.batch_size = 500;
  return std::unique_ptr<RenewalJob>(new RenewalJob(options, deps));
}

RenewalJob::RenewalJob(RenewalOptions options, Deps deps)
    : options_(std::move(options)), deps_(deps) {}

RenewalJob::~RenewalJob() { Stop(); }

void RenewalJob::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!options_.enabled || thread_.joinable()) return;
  stopping_ = false;
  spdlog::info("renewal: identities expiring within {} are renewed, checked every {}",
               FormatDuration(options_.window), FormatDuration(options_.interval));
  thread_ = std::thread([this] { Loop(); });
}

void RenewalJob::Stop() {
  std::thread t;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    t = std::move(thread_);
  }
  cv_.notify_all();
  if (t.joinable()) t.join();
}

void RenewalJob::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    auto result = RunOnce();
    if (!result.ok()) spdlog::warn("renewal: run failed: {}", result.status().ToString());
    lock.lock();
    cv_.wait_for(lock, options_.interval, [this] { return stopping_; });
  }
}

StatusOr<std::vector<RenewalRequestRecord>> RenewalJob::ListRequests(
    const RenewalRequestFilter& filter) {
  std::vector<RenewalRequestRecord> out;
  RETURN_IF_ERROR(deps_.storage->Transact(
      [&](Stores& s) -> Status {
        ASSIGN_OR_RETURN(out, s.renewal().ListRequests(filter));
        return OkStatus();
      },
      TxMode::kReadOnly));
  return out;
}

StatusOr<RenewalRunResult> RenewalJob::RunOnce(std::optional<Time> at, bool dry_run) {
  std::lock_guard<std::mutex> run_lock(run_mu_);
  RenewalRunResult result;
  result.at = at.value_or(deps_.clock->Now());
  result.dry_run = dry_run;
  std::vector<RenewalCandidate> due;
  RETURN_IF_ERROR(deps_.storage->Transact(
      [&](Stores& s) -> Status {
        ASSIGN_OR_RETURN(due, s.renewal().ListDue(result.at, result.at + options_.window,
                                                  result.at - options_.retry_after,
                                                  options_.batch_size));
        return OkStatus();
      },
      TxMode::kReadOnly));
  for (const RenewalCandidate& c : due) {
    RenewalAction action = Renew(c, result.at, dry_run);
    if (!dry_run) {
      if (action.skipped) {
        ++result.skipped;
      } else if (action.error.empty()) {
        ++result.queued;
      } else {
        ++result.failed;
      }
    }
    result.actions.push_back(std::move(action));
  }
  if (!dry_run && (result.queued > 0 || result.failed > 0)) {
    spdlog::info("renewal: run at {}: {} renewal profile(s) queued, {} failed",
                 FormatRfc3339(result.at), result.queued, result.failed);
  }
  return result;
}

Status RenewalJob::RecordFailure(const RenewalCandidate& c, RenewalAction& action, Time at,
                                 int64_t replace_id) {
  spdlog::warn("renewal: could not renew identity {} of {} (expires {}): {}", c.serial_hex,
               c.enrollment_id, FormatRfc3339(c.not_after), action.error);
  RenewalRequestRecord r;
  r.old_serial = c.serial_hex;
  r.enrollment_id = c.enrollment_id;
  r.identity_kind = action.identity.empty() ? "scep" : action.identity;
  r.status = std::string(kRenewalFailed);
  r.reason = action.error;
  r.old_not_after = c.not_after;
  r.requested_at = at;
  return deps_.storage->Transact([&](Stores& s) -> Status {
    if (replace_id != 0) RETURN_IF_ERROR(s.renewal().DeleteRequest(replace_id));
    ASSIGN_OR_RETURN(action.request_id, s.renewal().InsertRequest(r));
    return OkStatus();
  });
}

RenewalAction RenewalJob::Renew(const RenewalCandidate& c, Time at, bool dry_run) {
  RenewalAction action;
  action.enrollment_id = c.enrollment_id;
  action.serial_hex = c.serial_hex;
  action.not_after = c.not_after;
  action.current_kind = c.requester;
  action.attempts = c.attempts;

  // 1. Which identity: the enrollment policy's decision for this device.
  EnrollIdentity identity = EnrollIdentity::kScep;
  action.reason = "no enrollment policy: SCEP";
  if (deps_.policy != nullptr) {
    policy::DeviceFacts facts{c.device_serial, c.product_name, c.os_version};
    auto kind = deps_.policy->IdentityFor(facts);
    if (!kind.ok()) {
      action.identity = "scep";
      action.error = "enrollment policy: " + kind.status().message();
      if (!dry_run) {
        Status s = RecordFailure(c, action, at, 0);
        if (!s.ok()) spdlog::warn("renewal: recording a failed attempt: {}", s.ToString());
      }
      return action;
    }
    if (*kind == policy::IdentityKind::kAttestedAcme) identity = EnrollIdentity::kAcme;
    auto eligibility = deps_.policy->Evaluate(facts);
    std::string why = eligibility.ok() ? eligibility->reason : eligibility.status().message();
    if (identity == EnrollIdentity::kAcme) {
      action.reason = "attested ACME: " + why;
    } else if (eligibility.ok() && eligibility->eligible) {
      action.reason = "SCEP: require_hardware_attestation is off (" + why + ")";
    } else {
      action.reason = "SCEP: " + why;
    }
  }
  action.identity = KindName(identity);
  if (dry_run) return action;

  // 2. A fresh profile with a one-time secret (reserved for the device's serial when ACME).
  auto profile = deps_.profiles->Make(
      identity, EnrollingDevice{c.enrollment_id, c.device_serial, c.product_name, c.os_version});
  if (!profile.ok()) {
    action.error = "enrollment profile: " + profile.status().message();
    Status s = RecordFailure(c, action, at, 0);
    if (!s.ok()) spdlog::warn("renewal: recording a failed attempt: {}", s.ToString());
    return action;
  }

  // 3. Record the request (with the secret's digest) BEFORE the device can see the profile, so
  // that the MDM service recognises the new identity however fast the device is. The record is
  // also the claim: when another process on the same database recorded an attempt for this
  // identity since ListDue, this one stands down (its unused one-time secret simply expires).
  const std::string command_uuid = deps_.random->Uuid();
  RenewalRequestRecord r;
  r.old_serial = c.serial_hex;
  r.enrollment_id = c.enrollment_id;
  r.command_uuid = command_uuid;
  r.identity_kind = action.identity;
  r.secret_sha256 = Sha256Hex(profile->secret);
  r.reason = action.reason;
  r.old_not_after = c.not_after;
  r.requested_at = at;
  Status recorded = deps_.storage->Transact([&](Stores& s) -> Status {
    ASSIGN_OR_RETURN(action.request_id,
                     s.renewal().InsertRequestUnlessRecent(r, at - options_.retry_after));
    return OkStatus();
  });
  if (recorded.code() == StatusCode::kAlreadyExists) {
    action.skipped = true;
    spdlog::info("renewal: identity {} of {}: {}; skipped", c.serial_hex, c.enrollment_id,
                 recorded.message());
    return action;
  }
  if (!recorded.ok()) {
    action.error = "recording the request: " + recorded.message();
    spdlog::warn("renewal: identity {} of {}: {}", c.serial_hex, c.enrollment_id, action.error);
    return action;
  }

  // 4. Queue InstallProfile (the MDM service pushes). It expires when the next attempt is due.
  EnqueueRequest enqueue;
  enqueue.enrollment_ids = {c.enrollment_id};
  enqueue.request_type = "InstallProfile";
  enqueue.params = nlohmann::json{{"Payload", Base64Encode(profile->body)}};
  enqueue.command_uuid = command_uuid;
  enqueue.expires_at = at + options_.retry_after;
  auto queued = deps_.mdm->Enqueue(enqueue);
  if (!queued.ok() || queued->queued.empty()) {
    action.error = "queueing InstallProfile: " +
                   (queued.ok() ? std::string("unknown enrollment") : queued.status().message());
    Status s = RecordFailure(c, action, at, action.request_id);
    if (!s.ok()) spdlog::warn("renewal: recording a failed attempt: {}", s.ToString());
    return action;
  }
  action.command_uuid = command_uuid;
  spdlog::info(
      "renewal: InstallProfile {} queued for {}: identity {} ({}) expires {}; new identity over {} "
      "({}), attempt {}",
      command_uuid, c.enrollment_id, c.serial_hex, c.requester, FormatRfc3339(c.not_after),
      action.identity, action.reason, c.attempts + 1);
  return action;
}

}  // namespace custos::mdm
