// The RenewalStore role of storage.h: identity renewal over MDM (issue 7, "Identity renewal").
//
// custos knows every identity it issued (the certificates table) and which device each belongs to
// (MdmStore's certificate associations). This role answers the renewal job's two questions and
// records what it did:
//   - which identities are due: the current identity of an enabled device channel that expires
//     within the window, has not been renewed, and has no recent renewal request;
//   - which renewal request a newly issued certificate came from: the renewal profile's one-time
//     secret (SCEP challenge or ACME ClientIdentifier, stored here as its SHA-256 only) was spent by
//     the SCEP transaction / ACME order that issued the certificate.
// The renewal job and the MDM service's association rule are described in mdm/renewal.h.
//
// Records and the interface live here; the portable-SQL implementation is sql_renewal_store.cc,
// its table is migration 9 ("renewal") in migrations.cc, and its conformance tests (run on SQLite
// and PostgreSQL) are renewal_store_test.cc.
#ifndef CUSTOS_STORAGE_RENEWAL_STORE_H_
#define CUSTOS_STORAGE_RENEWAL_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/time.h"

namespace custos {

// Renewal request states.
inline constexpr std::string_view kRenewalPending = "pending";      // profile queued, no new identity yet
inline constexpr std::string_view kRenewalCompleted = "completed";  // the device uses its new identity
inline constexpr std::string_view kRenewalFailed = "failed";        // no profile could be queued

// One attempt to renew one identity: an InstallProfile carrying a fresh enrollment profile.
struct RenewalRequestRecord {
  int64_t id = 0;               // assigned by InsertRequest
  std::string old_serial;       // serial_hex of the identity being renewed
  std::string enrollment_id;    // the device channel the profile was queued for (= device id)
  std::string command_uuid;     // the InstallProfile command; "" for a failed attempt
  std::string identity_kind;    // "scep" | "acme": the identity payload of the profile
  std::string secret_sha256;    // lowercase hex SHA-256 of the profile's one-time secret; "" if failed
  std::string status = std::string(kRenewalPending);
  std::string reason;           // the policy decision, or why the attempt failed (for the admin)
  std::string new_serial;       // serial_hex of the new identity once completed
  Time old_not_after;           // expiry of the identity being renewed (for listings)
  Time requested_at;
  std::optional<Time> completed_at;
};

// An identity that is due for renewal (ListDue).
struct RenewalCandidate {
  std::string enrollment_id;  // device channel (= device id)
  std::string serial_hex;     // the identity to renew
  std::string requester;      // how it was issued: "scep", "acme", ...
  Time not_after;
  // From the device's last Authenticate ("" when unknown), for the enrollment policy.
  std::string device_serial;
  std::string product_name;
  std::string os_version;
  int64_t attempts = 0;  // earlier renewal requests for this identity
  std::optional<Time> last_requested_at;
};

// What ListRequests returns; ordered by id, page with after_id.
struct RenewalRequestFilter {
  std::string enrollment_id;  // "" = any
  std::string status;         // "" = any
  int64_t limit = 100;        // <= 0 means 100; at most 10000
  int64_t after_id = 0;
};

class RenewalStore {
 public:
  virtual ~RenewalStore() = default;

  // Records an attempt and returns its id. INVALID_ARGUMENT when old_serial, enrollment_id or
  // identity_kind is empty.
  virtual StatusOr<int64_t> InsertRequest(const RenewalRequestRecord& request) = 0;
  // InsertRequest, unless an attempt for the same identity (old_serial) was made at or after
  // `retry_before`: ALREADY_EXISTS then. The check and the insert are serialised per identity, so
  // two custos processes on one database never both renew it: on PostgreSQL the renewed
  // certificate's row stays locked (FOR UPDATE) until the transaction ends; SQLite write
  // transactions are exclusive already.
  virtual StatusOr<int64_t> InsertRequestUnlessRecent(const RenewalRequestRecord& request,
                                                      Time retry_before) = 0;
  virtual StatusOr<RenewalRequestRecord> GetRequest(int64_t id) = 0;  // NOT_FOUND
  // Removes an attempt (the job does, when queueing its command failed). NOT_FOUND.
  virtual Status DeleteRequest(int64_t id) = 0;
  virtual StatusOr<std::vector<RenewalRequestRecord>> ListRequests(
      const RenewalRequestFilter& filter) = 0;

  // Identities due for renewal at `now`, soonest expiry first, at most `limit` (<= 0: 100; at most
  // 10000). An identity is due when all of these hold:
  //   - it is associated with an enabled device channel (mdm_enrollments.parent_id = ''), is
  //     valid (not revoked) and unexpired at `now`, and expires at or before `window_end`;
  //   - it is the device's current identity: no other valid certificate associated with the
  //     device was issued after it (created_at, then not_after, then serial as tie-breaks; never
  //     the certificate it renews itself), and no certificate
  //     names it in renewal_of (a SCEP RenewalReq, or a renewal completed through this role);
  //   - no renewal request for it was made at or after `retry_before` (so a device gets one profile,
  //     and another only when nothing came of the last one).
  virtual StatusOr<std::vector<RenewalCandidate>> ListDue(Time now, Time window_end,
                                                          Time retry_before, int64_t limit) = 0;

  // The pending request of device `device_id` whose one-time secret was spent by the issuance of
  // certificate `cert_serial` (SCEP: the challenge's spending transaction issued it; ACME: the
  // ClientIdentifier's spending order holds it), provided the renewed identity is still valid and
  // still associated with `device_id`. nullopt when there is none.
  virtual StatusOr<std::optional<RenewalRequestRecord>> FindRequestForIssuedCert(
      std::string_view device_id, std::string_view cert_serial) = 0;

  // Marks request `id` completed by `new_serial` at `now`, and records the link on the new
  // certificate (certificates.renewal_of = the old serial, when it names none yet), so the renewed
  // identity is never due again and `custos ca show` names what it renews. NOT_FOUND for an
  // unknown id; FAILED_PRECONDITION when the request is not pending.
  virtual Status CompleteRequest(int64_t id, std::string_view new_serial, Time now) = 0;
};

}  // namespace custos

#endif  // CUSTOS_STORAGE_RENEWAL_STORE_H_
