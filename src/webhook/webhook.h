// The webhook sender: an mdm::EventSink that POSTs every MDM event as MicroMDM-compatible JSON to
// one configured URL ([webhook] url), asynchronously, with retries and a bounded queue.
//
// Wire format (MicroMDM's workflow/webhook and NanoMDM's service/microwebhook, field for field),
// Content-Type "application/json; charset=utf-8":
//   {"topic": "mdm.Authenticate", "event_id": "<uuid>", "created_at": "<RFC 3339>",
//    "checkin_event": {"udid": "...", "enrollment_id": "...", "url_params": {},
//                      "raw_payload": "<base64 of the plist the device sent>"}}
//   {"topic": "mdm.Connect", ..., "acknowledge_event": {"udid": "...", "enrollment_id": "...",
//    "status": "Acknowledged", "command_uuid": "...", "raw_payload": "<base64>"}}
// `udid` and `enrollment_id` (User Enrollment's EnrollmentID) are omitted when empty, as MicroMDM
// does; `url_params` is always {} on check-ins (custos' MDM URLs carry no parameters). dep.*
// events carry {"dep_event": <the ABM JSON>} instead (custos' own extension; MicroMDM had none).
//
// Authenticity: with a [webhook] secret, every POST carries
//   X-Custos-Signature: sha256=<lowercase hex HMAC-SHA256(secret, body)>
//   X-Hmac-Signature: <base64 HMAC-SHA256(secret, body)>   (NanoMDM's -webhook-hmac-key header)
// over the exact body bytes; receivers compare in constant time.
//
// Delivery: Publish() only appends to an in-memory queue and returns; one worker thread posts the
// events in order over a kept-alive libcurl connection. 2xx is delivered; 408, 429, 5xx and
// transport errors are retried with exponential backoff (base delay doubled per attempt, capped
// at 60 s) up to max_retries times; any other status drops the event (logged). When the queue is
// full the OLDEST event is dropped (custos_webhook_events_total{outcome="dropped"} and a warning),
// so a receiver outage never grows memory without bound and never delays a device. Events still
// queued at shutdown are dropped (logged with their count): delivery is at most once per process.
//
// Metrics: custos_webhook_events_total{outcome=delivered|failed|dropped|rejected},
// custos_webhook_attempts_total, custos_webhook_queue_length.
#ifndef CUSTOS_WEBHOOK_WEBHOOK_H_
#define CUSTOS_WEBHOOK_WEBHOOK_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/config.h"
#include "base/status.h"
#include "mdm/hooks.h"

namespace custos::metrics {
class Registry;
}

namespace custos::webhook {

inline constexpr std::string_view kSignatureHeader = "X-Custos-Signature";
inline constexpr std::string_view kNanoMdmSignatureHeader = "X-Hmac-Signature";

struct WebhookOptions {
  std::string url;      // http:// or https://
  std::string secret;   // HMAC key; "" = unsigned
  int64_t queue_size = 10000;  // events held at most; the oldest is dropped beyond
  int64_t max_retries = 5;     // retries after the first attempt
  std::chrono::milliseconds retry_base_delay{1000};
  std::chrono::milliseconds request_timeout{10000};
  std::string ca_file;  // PEM roots for an https receiver instead of the system's; "" = system
  // nullptr = metrics::Default().
  metrics::Registry* metrics = nullptr;

  // The [webhook] section.
  static WebhookOptions FromConfig(const WebhookConfig& config);
};

// The JSON body for `event` (see the header comment). Exposed for tests and the API docs.
std::string EncodeEventJson(const mdm::MdmEvent& event);

// "sha256=" + lowercase hex HMAC-SHA256(secret, body): the X-Custos-Signature value.
std::string SignatureHeaderValue(std::string_view secret, std::string_view body);
// base64 HMAC-SHA256(secret, body): the X-Hmac-Signature value.
std::string NanoMdmSignatureHeaderValue(std::string_view secret, std::string_view body);

class WebhookSink : public mdm::EventSink {
 public:
  // Starts the worker thread. INVALID_ARGUMENT for a URL that is not http(s):// or limits out of
  // range (queue_size 1..10,000,000, max_retries 0..100).
  static StatusOr<std::unique_ptr<WebhookSink>> Create(WebhookOptions options);

  // Stops the worker after the attempt in progress; queued events are dropped (logged).
  ~WebhookSink() override;

  // Queues `event` and returns at once (never blocks on the network).
  void Publish(mdm::MdmEvent event) override;

  // Waits until every event published so far has been delivered, failed or dropped, or `timeout`
  // passed; true when the queue drained. For tests and orderly shutdown.
  bool Flush(std::chrono::milliseconds timeout);

  class Impl;

 private:
  explicit WebhookSink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace custos::webhook

#endif  // CUSTOS_WEBHOOK_WEBHOOK_H_
