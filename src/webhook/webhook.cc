#include "webhook/webhook.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "base/logging.h"
#include "base/metrics.h"

namespace custos::webhook {
namespace {

constexpr std::chrono::milliseconds kMaxRetryDelay{60000};

std::string Hmac(std::string_view secret, std::string_view body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &len) == nullptr) {
    return std::string();
  }
  return std::string(reinterpret_cast<const char*>(mac), len);
}

size_t DiscardBody(char*, size_t size, size_t nmemb, void*) { return size * nmemb; }

void CurlGlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

enum class Attempt { kDelivered, kRetry, kReject };

}  // namespace

WebhookOptions WebhookOptions::FromConfig(const WebhookConfig& config) {
  WebhookOptions o;
  o.url = config.url;
  o.secret = config.secret;
  o.queue_size = config.queue_size;
  o.max_retries = config.max_retries;
  return o;
}

std::string EncodeEventJson(const mdm::MdmEvent& event) {
  nlohmann::json j = nlohmann::json::object();
  j["topic"] = event.topic;
  j["event_id"] = event.event_id;
  j["created_at"] = FormatRfc3339(event.created_at);
  auto add_ids = [&](nlohmann::json& sub) {
    if (!event.udid.empty()) sub["udid"] = event.udid;
    // enrollment_id is MicroMDM's/NanoMDM's EnrollmentID (User Enrollment), not custos' key.
    if (event.udid.empty() && !event.enrollment_id.empty()) {
      std::string_view id = event.enrollment_id;
      sub["enrollment_id"] = std::string(id.substr(0, id.find(':')));
    }
  };
  if (event.topic == "mdm.Connect") {
    nlohmann::json ack = nlohmann::json::object();
    add_ids(ack);
    ack["status"] = event.status;
    if (!event.command_uuid.empty()) ack["command_uuid"] = event.command_uuid;
    ack["raw_payload"] = Base64Encode(event.raw_payload);
    j["acknowledge_event"] = std::move(ack);
  } else if (event.topic.rfind("dep.", 0) == 0) {
    nlohmann::json payload =
        nlohmann::json::parse(event.json_payload, nullptr, /*allow_exceptions=*/false);
    j["dep_event"] = payload.is_discarded() ? nlohmann::json(event.json_payload) : payload;
  } else if (event.topic.rfind("enroll.", 0) == 0) {
    // Issue 7: enrollment policy events (enroll.Refused) carry their JSON as enroll_event.
    nlohmann::json payload =
        nlohmann::json::parse(event.json_payload, nullptr, /*allow_exceptions=*/false);
    j["enroll_event"] = payload.is_discarded() ? nlohmann::json(event.json_payload) : payload;
  } else {
    nlohmann::json checkin = nlohmann::json::object();
    add_ids(checkin);
    checkin["url_params"] = nlohmann::json::object();
    checkin["raw_payload"] = Base64Encode(event.raw_payload);
    j["checkin_event"] = std::move(checkin);
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string SignatureHeaderValue(std::string_view secret, std::string_view body) {
  return "sha256=" + HexEncode(Hmac(secret, body));
}

std::string NanoMdmSignatureHeaderValue(std::string_view secret, std::string_view body) {
  return Base64Encode(Hmac(secret, body));
}

class WebhookSink::Impl {
 public:
  explicit Impl(WebhookOptions options)
      : options_(std::move(options)),
        registry_(options_.metrics != nullptr ? options_.metrics : &metrics::Default()),
        events_(registry_->AddCounter("custos_webhook_events_total",
                                      "Webhook events by final outcome.", {"outcome"})),
        attempts_(registry_->AddCounter("custos_webhook_attempts_total",
                                        "HTTP requests made to the webhook URL.")),
        queue_length_(registry_->AddGauge("custos_webhook_queue_length",
                                          "Webhook events waiting for delivery.")) {}

  ~Impl() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (worker_.joinable()) worker_.join();
    if (curl_ != nullptr) curl_easy_cleanup(curl_);
    if (headers_ != nullptr) curl_slist_free_all(headers_);
  }

  Status Start() {
    CurlGlobalInit();
    curl_ = curl_easy_init();
    if (curl_ == nullptr) return InternalError("curl_easy_init failed");
    worker_ = std::thread([this] { Run(); });
    return OkStatus();
  }

  void Publish(mdm::MdmEvent event) {
    bool dropped = false;
    uint64_t drops = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      if (static_cast<int64_t>(queue_.size()) >= options_.queue_size) {
        queue_.pop_front();
        dropped = true;
        drops = ++drop_count_;
      }
      queue_.push_back(std::move(event));
      queue_length_.Get().Set(static_cast<double>(queue_.size()));
    }
    cv_.notify_all();
    if (dropped) {
      events_.WithLabels({"dropped"}).Inc();
      // One line per 1000 drops: a long receiver outage must not flood the log either.
      if (drops == 1 || drops % 1000 == 0) {
        spdlog::warn("webhook queue full ({} events): dropped the oldest event ({} dropped so far)",
                     options_.queue_size, drops);
      }
    }
  }

  bool Flush(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [this] { return queue_.empty() && !busy_; });
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) break;
      mdm::MdmEvent event = std::move(queue_.front());
      queue_.pop_front();
      queue_length_.Get().Set(static_cast<double>(queue_.size()));
      busy_ = true;
      lock.unlock();
      Deliver(event);
      lock.lock();
      busy_ = false;
      cv_.notify_all();
    }
    if (!queue_.empty()) {
      spdlog::warn("webhook: {} undelivered events dropped at shutdown", queue_.size());
      events_.WithLabels({"dropped"}).Inc(static_cast<double>(queue_.size()));
      queue_.clear();
    }
    cv_.notify_all();
  }

  void Deliver(const mdm::MdmEvent& event) {
    const std::string body = EncodeEventJson(event);
    std::chrono::milliseconds delay = options_.retry_base_delay;
    std::string last_error;
    for (int64_t attempt = 0; attempt <= options_.max_retries; ++attempt) {
      if (attempt > 0) {
        std::unique_lock<std::mutex> lock(mu_);
        if (cv_.wait_for(lock, delay, [this] { return stopping_; })) {
          spdlog::warn("webhook: {} {} abandoned at shutdown after {} attempts ({})", event.topic,
                       event.event_id, attempt, last_error);
          events_.WithLabels({"failed"}).Inc();
          return;
        }
        delay = std::min(delay * 2, kMaxRetryDelay);
      }
      attempts_.Get().Inc();
      Attempt outcome = Post(body, &last_error);
      if (outcome == Attempt::kDelivered) {
        events_.WithLabels({"delivered"}).Inc();
        spdlog::debug("webhook: delivered {} {}", event.topic, event.event_id);
        return;
      }
      if (outcome == Attempt::kReject) {
        events_.WithLabels({"rejected"}).Inc();
        spdlog::warn("webhook: {} {} refused by the receiver ({}); not retried", event.topic,
                     event.event_id, last_error);
        return;
      }
    }
    events_.WithLabels({"failed"}).Inc();
    spdlog::warn("webhook: {} {} not delivered after {} attempts ({})", event.topic,
                 event.event_id, options_.max_retries + 1, last_error);
  }

  Attempt Post(const std::string& body, std::string* error) {
    if (headers_ != nullptr) curl_slist_free_all(headers_);
    headers_ = curl_slist_append(nullptr, "Content-Type: application/json; charset=utf-8");
    headers_ = curl_slist_append(headers_, "Expect:");
    if (!options_.secret.empty()) {
      headers_ = curl_slist_append(
          headers_, (std::string(kSignatureHeader) + ": " +
                     SignatureHeaderValue(options_.secret, body)).c_str());
      headers_ = curl_slist_append(
          headers_, (std::string(kNanoMdmSignatureHeader) + ": " +
                     NanoMdmSignatureHeaderValue(options_.secret, body)).c_str());
    }
    curl_easy_reset(curl_);
    curl_easy_setopt(curl_, CURLOPT_URL, options_.url.c_str());
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_POST, 1L);
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers_);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.request_timeout.count()));
    curl_easy_setopt(curl_, CURLOPT_USERAGENT, "custos-webhook");
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, DiscardBody);
    curl_easy_setopt(curl_, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl_, CURLOPT_FOLLOWLOCATION, 0L);
    if (!options_.ca_file.empty()) curl_easy_setopt(curl_, CURLOPT_CAINFO, options_.ca_file.c_str());
    CURLcode rc = curl_easy_perform(curl_);
    if (rc != CURLE_OK) {
      *error = curl_easy_strerror(rc);
      return Attempt::kRetry;
    }
    long status = 0;
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) return Attempt::kDelivered;
    *error = "HTTP " + std::to_string(status);
    if (status == 408 || status == 429 || status >= 500) return Attempt::kRetry;
    return Attempt::kReject;
  }

  const WebhookOptions options_;
  metrics::Registry* registry_;
  metrics::CounterFamily& events_;
  metrics::CounterFamily& attempts_;
  metrics::GaugeFamily& queue_length_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<mdm::MdmEvent> queue_;
  bool busy_ = false;
  bool stopping_ = false;
  uint64_t drop_count_ = 0;
  std::thread worker_;
  // Used by the worker thread only.
  CURL* curl_ = nullptr;
  curl_slist* headers_ = nullptr;
};

StatusOr<std::unique_ptr<WebhookSink>> WebhookSink::Create(WebhookOptions options) {
  if (options.url.rfind("http://", 0) != 0 && options.url.rfind("https://", 0) != 0) {
    return InvalidArgumentError("webhook url must start with http:// or https://");
  }
  if (options.queue_size < 1 || options.queue_size > 10000000 || options.max_retries < 0 ||
      options.max_retries > 100 || options.retry_base_delay.count() < 0 ||
      options.request_timeout.count() <= 0) {
    return InvalidArgumentError(
        "webhook limits out of range (queue_size 1..10000000, max_retries 0..100)");
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  RETURN_IF_ERROR(impl->Start());
  return std::unique_ptr<WebhookSink>(new WebhookSink(std::move(impl)));
}

WebhookSink::WebhookSink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WebhookSink::~WebhookSink() = default;

void WebhookSink::Publish(mdm::MdmEvent event) { impl_->Publish(std::move(event)); }

bool WebhookSink::Flush(std::chrono::milliseconds timeout) { return impl_->Flush(timeout); }

}  // namespace custos::webhook
