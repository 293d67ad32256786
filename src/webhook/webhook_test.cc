#include "webhook/webhook.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "base/metrics.h"
#include "webhook/testing/hook_receiver.h"

namespace custos::webhook {
namespace {

mdm::MdmEvent CheckinEvent(std::string id) {
  mdm::MdmEvent e;
  e.topic = "mdm.TokenUpdate";
  e.event_id = std::move(id);
  e.created_at = FromUnixSeconds(1763824980);  // 2025-11-22T15:23:00Z
  e.enrollment_id = "UDID-1";
  e.udid = "UDID-1";
  e.raw_payload = "<?xml version=\"1.0\"?><plist><dict/></plist>\x01\xff";
  return e;
}

TEST(EncodeEventJsonTest, CheckinEventHasMicroMdmFields) {
  auto j = nlohmann::json::parse(EncodeEventJson(CheckinEvent("ev-1")));
  EXPECT_EQ(j["topic"], "mdm.TokenUpdate");
  EXPECT_EQ(j["event_id"], "ev-1");
  EXPECT_EQ(j["created_at"], "2025-11-22T15:23:00Z");
  ASSERT_TRUE(j.contains("checkin_event"));
  EXPECT_FALSE(j.contains("acknowledge_event"));
  const auto& c = j["checkin_event"];
  EXPECT_EQ(c["udid"], "UDID-1");
  EXPECT_FALSE(c.contains("enrollment_id"));
  EXPECT_TRUE(c["url_params"].is_object());
  auto raw = Base64Decode(c["raw_payload"].get<std::string>());
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(*raw, CheckinEvent("x").raw_payload);
}

TEST(EncodeEventJsonTest, ConnectEventIsAnAcknowledgeEvent) {
  mdm::MdmEvent e = CheckinEvent("ev-2");
  e.topic = "mdm.Connect";
  e.status = "Acknowledged";
  e.command_uuid = "CMD-1";
  auto j = nlohmann::json::parse(EncodeEventJson(e));
  ASSERT_TRUE(j.contains("acknowledge_event"));
  EXPECT_FALSE(j.contains("checkin_event"));
  const auto& a = j["acknowledge_event"];
  EXPECT_EQ(a["udid"], "UDID-1");
  EXPECT_EQ(a["status"], "Acknowledged");
  EXPECT_EQ(a["command_uuid"], "CMD-1");
  EXPECT_EQ(*Base64Decode(a["raw_payload"].get<std::string>()), e.raw_payload);
}

TEST(EncodeEventJsonTest, UserEnrollmentCarriesEnrollmentId) {
  mdm::MdmEvent e = CheckinEvent("ev-3");
  e.udid.clear();
  e.enrollment_id = "ENROLLMENT-ID:USER";
  auto j = nlohmann::json::parse(EncodeEventJson(e));
  EXPECT_FALSE(j["checkin_event"].contains("udid"));
  EXPECT_EQ(j["checkin_event"]["enrollment_id"], "ENROLLMENT-ID");
}

TEST(SignatureTest, KnownHmacSha256) {
  // RFC 4231 test case 2.
  EXPECT_EQ(SignatureHeaderValue("Jefe", "what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(NanoMdmSignatureHeaderValue("Jefe", "what do ya want for nothing?"),
            Base64Encode(*HexDecode(
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")));
}

using testing::HookReceiver;

class WebhookSinkTest : public ::testing::Test {
 protected:
  // Starts receiver_, answering `statuses` in turn (then 200).
  void StartReceiver(std::vector<int> statuses = {}) {
    auto r = HookReceiver::Start({std::move(statuses)});
    ASSERT_TRUE(r.ok()) << r.status();
    receiver_ = std::move(r).value();
  }
  WebhookOptions Options() {
    WebhookOptions o;
    o.url = receiver_->url();
    o.secret = "s3cret";
    o.retry_base_delay = std::chrono::milliseconds(10);
    o.max_retries = 3;
    o.metrics = &registry_;
    return o;
  }
  double Events(std::string_view outcome) {
    return registry_.AddCounter("custos_webhook_events_total", "", {"outcome"})
        .WithLabels({outcome})
        .Value();
  }
  metrics::Registry registry_;
  std::unique_ptr<HookReceiver> receiver_;
};

TEST_F(WebhookSinkTest, DeliversSignedEventsInOrder) {
  ASSERT_NO_FATAL_FAILURE(StartReceiver());
  auto sink = WebhookSink::Create(Options());
  ASSERT_TRUE(sink.ok()) << sink.status();
  for (int i = 0; i < 5; ++i) (*sink)->Publish(CheckinEvent("ev-" + std::to_string(i)));
  ASSERT_TRUE((*sink)->Flush(std::chrono::seconds(30)));
  auto got = receiver_->received();
  ASSERT_EQ(got.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    auto j = nlohmann::json::parse(got[i].body);
    EXPECT_EQ(j["event_id"], "ev-" + std::to_string(i));
    EXPECT_EQ(got[i].content_type, "application/json; charset=utf-8");
    EXPECT_EQ(got[i].signature, SignatureHeaderValue("s3cret", got[i].body));
    EXPECT_EQ(got[i].nanomdm_signature, NanoMdmSignatureHeaderValue("s3cret", got[i].body));
  }
  EXPECT_EQ(Events("delivered"), 5);
}

TEST_F(WebhookSinkTest, UnsignedWithoutSecret) {
  ASSERT_NO_FATAL_FAILURE(StartReceiver());
  WebhookOptions o = Options();
  o.secret.clear();
  auto sink = WebhookSink::Create(o);
  ASSERT_TRUE(sink.ok()) << sink.status();
  (*sink)->Publish(CheckinEvent("ev"));
  ASSERT_TRUE((*sink)->Flush(std::chrono::seconds(30)));
  auto got = receiver_->received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].signature, "");
}

TEST_F(WebhookSinkTest, RetriesServerErrorsThenDelivers) {
  ASSERT_NO_FATAL_FAILURE(StartReceiver({503, 429, 200}));
  auto sink = WebhookSink::Create(Options());
  ASSERT_TRUE(sink.ok()) << sink.status();
  (*sink)->Publish(CheckinEvent("ev-retry"));
  ASSERT_TRUE((*sink)->Flush(std::chrono::seconds(30)));
  auto got = receiver_->received();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].body, got[2].body);  // the same event, byte for byte
  EXPECT_EQ(Events("delivered"), 1);
  EXPECT_EQ(registry_.AddCounter("custos_webhook_attempts_total", "").Get().Value(), 3);
}

TEST_F(WebhookSinkTest, GivesUpAfterMaxRetries) {
  ASSERT_NO_FATAL_FAILURE(StartReceiver({500, 500, 500}));  // then 200
  WebhookOptions o = Options();
  o.max_retries = 2;
  auto sink = WebhookSink::Create(o);
  ASSERT_TRUE(sink.ok()) << sink.status();
  (*sink)->Publish(CheckinEvent("ev-fail"));
  (*sink)->Publish(CheckinEvent("ev-next"));
  ASSERT_TRUE((*sink)->Flush(std::chrono::seconds(30)));
  auto got = receiver_->received();
  ASSERT_EQ(got.size(), 4u);  // 3 attempts for the first, then the second (200)
  EXPECT_EQ(nlohmann::json::parse(got[3].body)["event_id"], "ev-next");
  EXPECT_EQ(Events("failed"), 1);
  EXPECT_EQ(Events("delivered"), 1);
}

TEST_F(WebhookSinkTest, ClientErrorIsNotRetried) {
  ASSERT_NO_FATAL_FAILURE(StartReceiver({400}));
  auto sink = WebhookSink::Create(Options());
  ASSERT_TRUE(sink.ok()) << sink.status();
  (*sink)->Publish(CheckinEvent("ev-400"));
  ASSERT_TRUE((*sink)->Flush(std::chrono::seconds(30)));
  EXPECT_EQ(receiver_->received().size(), 1u);
  EXPECT_EQ(Events("rejected"), 1);
}

TEST_F(WebhookSinkTest, ConnectionRefusedIsRetriedAndCounted) {
  WebhookOptions o;
  {
    auto gone = HookReceiver::Start();  // take a free port, then close it
    ASSERT_TRUE(gone.ok()) << gone.status();
    o.url = (*gone)->url();
  }
  o.max_retries = 2;
  o.retry_base_delay = std::chrono::milliseconds(5);
  o.metrics = &registry_;
  auto sink = WebhookSink::Create(o);
  ASSERT_TRUE(sink.ok()) << sink.status();
  (*sink)->Publish(CheckinEvent("ev"));
  ASSERT_TRUE((*sink)->Flush(std::chrono::seconds(30)));
  EXPECT_EQ(Events("failed"), 1);
  EXPECT_EQ(registry_.AddCounter("custos_webhook_attempts_total", "").Get().Value(), 3);
}

TEST_F(WebhookSinkTest, FullQueueDropsOldest) {
  ASSERT_NO_FATAL_FAILURE(StartReceiver());
  receiver_->SetBlocked(true);
  WebhookOptions o = Options();
  o.queue_size = 3;
  auto sink = WebhookSink::Create(o);
  ASSERT_TRUE(sink.ok()) << sink.status();
  (*sink)->Publish(CheckinEvent("first"));
  // Wait until the worker holds "first" (blocked in the receiver), so the queue is empty.
  for (int i = 0; i < 500 && receiver_->received().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(receiver_->received().size(), 1u);
  for (int i = 0; i < 6; ++i) (*sink)->Publish(CheckinEvent("q" + std::to_string(i)));
  EXPECT_EQ(Events("dropped"), 3);
  receiver_->SetBlocked(false);
  ASSERT_TRUE((*sink)->Flush(std::chrono::seconds(30)));
  auto got = receiver_->received();
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(nlohmann::json::parse(got[1].body)["event_id"], "q3");
  EXPECT_EQ(nlohmann::json::parse(got[2].body)["event_id"], "q4");
  EXPECT_EQ(nlohmann::json::parse(got[3].body)["event_id"], "q5");
}

TEST_F(WebhookSinkTest, PublishNeverWaitsForTheReceiver) {
  ASSERT_NO_FATAL_FAILURE(StartReceiver());
  receiver_->SetBlocked(true);
  auto sink = WebhookSink::Create(Options());
  ASSERT_TRUE(sink.ok()) << sink.status();
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000; ++i) (*sink)->Publish(CheckinEvent("e" + std::to_string(i)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  receiver_->SetBlocked(false);
}

TEST(WebhookSinkCreateTest, RefusesBadOptions) {
  WebhookOptions o;
  o.url = "ftp://example";
  EXPECT_EQ(WebhookSink::Create(o).status().code(), StatusCode::kInvalidArgument);
  o.url = "http://127.0.0.1:1/";
  o.queue_size = 0;
  EXPECT_EQ(WebhookSink::Create(o).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace custos::webhook
