// The MDM service: check-in and command protocol over the durable per-enrollment command queue
// (issue 4, "Check-in" and "Commands"), plus the enqueue and read API administrators use.
//
// Apple Device Management, "Check-in" and "Commands and queries"; where Apple and the issue are
// silent it follows NanoMDM's documented semantics, so custos is a drop-in for NanoMDM's API:
//   Authenticate       stores the device facts, retires its queue and its user channels' queues
//                      ("cleared"), and leaves the enrollment disabled until TokenUpdate.
//   TokenUpdate        stores topic, push token, PushMagic, UnlockToken; enables the channel
//                      (creating user channels, linked to their device); clears "unregistered".
//   CheckOut           disables the channel (a device channel's CheckOut disables its users too).
//   UserAuthenticate   410 by default; an empty DigestChallenge when configured.
//   Set/GetBootstrapToken  stored AES-256-GCM encrypted (key file, see MdmConfig).
//   DeclarativeManagement  forwarded to the configured URL, else FAILED_PRECONDITION.
//   GetToken           answered by the TokenService registered for TokenServiceType, else
//                      INVALID_ARGUMENT.
// Command reports (the ServerURL):
//   Idle               the next command: highest priority first, FIFO within a priority.
//   Acknowledged / Error / CommandFormatError   retire the command and store the report (raw
//                      plist, status, ErrorChain); then the next command.
//   NotNow             the command stays queued, but is skipped for the rest of that connection:
//                      every report but Idle skips NotNow'd commands; the next Idle offers them
//                      again. (NanoMDM skips them only on the response to the NotNow itself; custos
//                      keeps skipping until the device starts a new round with Idle, as DESIGN.md
//                      says, so a NotNow'd command is not offered twice between two Idles.)
//                      Apple ("Handling NotNow Status Responses"): a device re-polls by itself only
//                      when NotNow was its last status; otherwise the next push (any enqueue, or
//                      an administrator's push) brings the deferred command back. custos does not
//                      push on its own there: a still-locked device would loop on NotNow.
//   A command that was sent but never answered is sent again at the next Idle.
//   A report for a command never sent to that enrollment (unknown, still "queued", or deleted)
//   is INVALID_ARGUMENT and changes nothing. A repeated report of an already retired command is
//   accepted without change (a device retrying after a lost response).
//   Commands past their expiry are never delivered (and show as "expired").
//
// Device identity, in the same transaction as the message (issue 4, "Device authentication"):
// the caller (http_handler) has verified the certificate chains to custos' CA; this service
// decides which enrollment it may speak for. At Authenticate an unassociated certificate is
// associated with the device id; every other message must present a certificate associated with
// its device id (user channels share their device's identity); a certificate associated with
// another device is refused; a certificate custos issued as the renewal of one associated with the
// device is accepted and associated without a new Authenticate, and so is a certificate issued
// against the one-time secret of a renewal profile queued for that device (issue 7, see
// mdm/renewal.h and RenewalStore::FindRequestForIssuedCert). Refusals are PERMISSION_DENIED
// (HTTP 400, never 401), logged with the reason, and store nothing.
//
// Events (mdm.* topics, raw payload) go to the EventSink, and pushes to the PushTrigger, only
// after the transaction committed; both are optional (null = none).
#ifndef CUSTOS_MDM_SERVICE_H_
#define CUSTOS_MDM_SERVICE_H_

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/random.h"
#include "base/status.h"
#include "base/time.h"
#include "mdm/checkin.h"
#include "mdm/command.h"
#include "mdm/hooks.h"
#include "storage/storage.h"

namespace custos::mdm {

// The identity a request was authenticated with (from DeviceIdentity, see device_auth.h).
struct VerifiedDevice {
  std::string cert_sha256;  // lowercase hex SHA-256 of the certificate DER
  std::string serial_hex;   // CertificateRecord::serial_hex
  std::string renewal_of;   // serial_hex of the certificate it renews, or ""
  std::string source;       // "tls", "proxy-header", "mdm-signature" (for logs)
};

// The answer to a device. Errors are returned as Status instead (the handler answers 400 for
// INVALID_ARGUMENT / PERMISSION_DENIED, and the usual mapping otherwise).
struct MdmReply {
  int http_status = 200;     // 200, or 410 for a refused UserAuthenticate
  std::string body;          // an XML plist, or empty
  std::string content_type;  // "application/xml" when body is set
};

// A GetToken check-in, for a TokenService.
struct TokenRequest {
  std::string enrollment_id;
  std::string device_id;
  std::string token_service_type;
  nlohmann::json token_parameters;
  std::string raw;  // the check-in body
};

// One token service of GetToken (e.g. com.apple.maid, registered by the DEP component).
class TokenService {
 public:
  virtual ~TokenService() = default;
  // The TokenData bytes for the device; errors are returned to the device as an HTTP error.
  virtual StatusOr<std::string> GetToken(const TokenRequest& request) = 0;
};

// A DeclarativeManagement check-in, for the forwarder.
struct DeclarativeManagementRequest {
  std::string enrollment_id;
  std::string endpoint;  // "tokens", "declaration-items", "status", "declaration/..."
  std::string data;      // the Data bytes (JSON) or ""
  std::string raw;       // the check-in body
};

// Answers DeclarativeManagement check-ins (the HTTP implementation forwards them).
class DeclarativeManagementForwarder {
 public:
  virtual ~DeclarativeManagementForwarder() = default;
  // The response body for the device (JSON bytes, passed through).
  virtual StatusOr<std::string> Forward(const DeclarativeManagementRequest& request) = 0;
};

// Forwards over HTTP(S) with libcurl: POST `base_url` + "/" + Endpoint with the Data as body
// (GET when there is none), headers X-Enrollment-ID and Content-Type application/json; a non-2xx
// answer is UNAVAILABLE naming the status. `timeout` bounds one request.
std::unique_ptr<DeclarativeManagementForwarder> NewHttpDeclarativeManagementForwarder(
    std::string base_url, Duration timeout);

// The AES-256 key that encrypts bootstrap tokens at rest: read from `path` (32 raw bytes), or,
// when the file does not exist, generated with `random` and written with mode 0600.
// FAILED_PRECONDITION for a file of another size or that cannot be read or written.
StatusOr<std::string> LoadOrCreateBootstrapTokenKey(const std::string& path, Random* random);

struct MdmServiceOptions {
  bool user_authenticate_digest_challenge = false;  // else 410
  std::string bootstrap_token_key;  // 32 bytes (LoadOrCreateBootstrapTokenKey)
  Duration command_expiry{0};       // default lifetime of enqueued commands; 0 = none
  PlistLimits limits;               // for check-ins, reports and raw commands
};

// An administrator's enqueue: either a raw command plist or a builder request type with JSON.
struct EnqueueRequest {
  std::vector<std::string> enrollment_ids;  // at least one; any number
  std::string raw_command;   // NanoMDM's format: {CommandUUID, Command: {RequestType, ...}}
  std::string request_type;  // or a BuilderRequestTypes() name (when raw_command is empty) ...
  nlohmann::json params;     // ... with its parameters (null for none)
  std::string command_uuid;  // builders only: "" = a fresh UUID
  int64_t priority = 0;      // higher first
  std::optional<Time> expires_at;  // default: now + command_expiry when that is set
  bool no_push = false;      // NanoMDM's nopush
};

struct EnqueueResult {
  std::string command_uuid;
  std::string request_type;
  std::vector<std::string> queued;   // enrollment ids the command was queued for
  std::vector<std::string> unknown;  // enrollment ids that do not exist (not queued)
  bool push_requested = false;
};

// Enrollment policy at Authenticate (issue 7; src/policy implements it, server.cc wires it).
struct AuthenticateFacts {
  std::string udid;
  std::string serial_number;
  std::string product_name;  // Authenticate ProductName, e.g. "iPhone15,2"
  std::string os_version;    // Authenticate OSVersion
  std::string cert_serial_hex;  // the identity certificate presented
  std::string source;           // how it was presented ("tls", "mdm-signature", ...)
};

class AuthenticatePolicy {
 public:
  virtual ~AuthenticatePolicy() = default;
  // Called before an Authenticate is stored. OK lets it through; PERMISSION_DENIED (with the
  // reason) refuses it, and the policy has recorded the refusal. Other errors fail the request.
  virtual Status CheckAuthenticate(const AuthenticateFacts& facts) = 0;
};

// True when `cert` is a hardware-attested identity: issued by custos' ACME server after a valid
// device-attest-01 (requester "acme", attributes_json with the attested facts and hardware_bound).
bool IsHardwareAttestedIdentity(const CertificateRecord& cert);

class MdmService {
 public:
  // INVALID_ARGUMENT when the bootstrap token key is not 32 bytes. `storage`, `clock` and
  // `random` must outlive the service.
  static StatusOr<std::unique_ptr<MdmService>> Create(MdmServiceOptions options, Storage* storage,
                                                      Clock* clock, Random* random);
  ~MdmService();

  // Wiring (server.cc), before or while serving; null disables. The objects must outlive the
  // service.
  void SetEventSink(EventSink* sink) { sink_.store(sink); }
  void SetPushTrigger(PushTrigger* trigger) { push_.store(trigger); }
  void SetDeclarativeManagement(std::unique_ptr<DeclarativeManagementForwarder> forwarder);
  // Consulted at every Authenticate (issue 7); null = none. The device's hardware_attested mark
  // (PolicyStore) is kept either way: set at Authenticate from the presented certificate's
  // issuance record, and re-evaluated when a renewed certificate is associated.
  void SetAuthenticatePolicy(AuthenticatePolicy* policy) { authenticate_policy_.store(policy); }
  // Registers (or replaces) the service for `token_service_type`. Thread-safe.
  void RegisterTokenService(std::string token_service_type, std::shared_ptr<TokenService> service);

  // ---- Device endpoints ------------------------------------------------------------------------

  // One check-in (CheckInURL) body, from the device authenticated as `device`.
  // INVALID_ARGUMENT: malformed/oversized plist, unknown MessageType, missing UDID, ...;
  // PERMISSION_DENIED: certificate association refused; FAILED_PRECONDITION: a message for an
  // enrollment that never authenticated, DeclarativeManagement without a forwarder; NOT_FOUND/
  // INVALID_ARGUMENT from GetToken; UNAVAILABLE from storage or the forwarder.
  StatusOr<MdmReply> Checkin(const VerifiedDevice& device, std::string_view body);
  // One command report (ServerURL) body; the reply holds the next command or is empty.
  // INVALID_ARGUMENT: malformed report, result for a command never sent; PERMISSION_DENIED:
  // association refused; FAILED_PRECONDITION: unknown enrollment.
  StatusOr<MdmReply> Report(const VerifiedDevice& device, std::string_view body);

  // ---- Administration --------------------------------------------------------------------------

  // Queues one command for many enrollments in one transaction (set-based), then asks the
  // PushTrigger to wake the queued ones unless no_push. INVALID_ARGUMENT for a malformed command
  // or parameters, no enrollment ids, or a CommandUUID already used (ALREADY_EXISTS).
  StatusOr<EnqueueResult> Enqueue(const EnqueueRequest& request);
  StatusOr<std::vector<MdmEnrollmentRecord>> ListEnrollments(const MdmEnrollmentFilter& filter);
  StatusOr<MdmEnrollmentRecord> GetEnrollment(std::string_view id);  // NOT_FOUND
  // Queue entries with their results (expired-but-unretired entries show status "expired").
  StatusOr<std::vector<MdmQueueEntry>> ListCommands(const MdmQueueFilter& filter);
  StatusOr<MdmCommandRecord> GetCommand(std::string_view command_uuid);  // NOT_FOUND
  // Deletes queued (active) commands of an enrollment: one, or all when `command_uuid` is "".
  StatusOr<int64_t> DeleteQueued(std::string_view enrollment_id, std::string_view command_uuid);
  // Retires ("expired") every queued command whose expiry has passed, so queues do not keep
  // dead entries; returns how many. The server runs it periodically (expired commands are never
  // delivered either way). UNAVAILABLE from storage.
  StatusOr<int64_t> ExpireCommands();

  // ---- For the push service ----------------------------------------------------------------------

  StatusOr<std::vector<MdmPushInfo>> GetPushInfo(const std::vector<std::string>& enrollment_ids);
  // After APNs 410 for this token (see MdmStore::MarkTokenUnregistered).
  Status MarkTokenUnregistered(std::string_view enrollment_id, std::string_view push_token_hex);

 private:
  MdmService(MdmServiceOptions options, Storage* storage, Clock* clock, Random* random);
  Status AuthorizeIdentity(Stores& stores, const VerifiedDevice& device,
                           const ResolvedEnrollment& enrollment, bool authenticate,
                           std::string_view what);
  void Publish(MdmEvent event);

  MdmServiceOptions options_;
  Storage* storage_;
  Clock* clock_;
  Random* random_;
  std::atomic<EventSink*> sink_{nullptr};
  std::atomic<PushTrigger*> push_{nullptr};
  std::atomic<AuthenticatePolicy*> authenticate_policy_{nullptr};  // issue 7
  std::mutex mu_;  // guards forwarder_ and token_services_
  std::shared_ptr<DeclarativeManagementForwarder> forwarder_;
  std::map<std::string, std::shared_ptr<TokenService>, std::less<>> token_services_;
};

}  // namespace custos::mdm

#endif  // CUSTOS_MDM_SERVICE_H_
