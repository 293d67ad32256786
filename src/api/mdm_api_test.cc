// In-process tests of the MDM and push admin API (mdm_api.h, push_api.h, openapi.h): requests go
// through the Router straight to the handlers, over a real SQLite storage, the real MDM service
// and the push service with a recording fake Pusher.
#include <gtest/gtest.h>

#include <mutex>

#include <nlohmann/json.hpp>

#include "api/mdm_api.h"
#include "api/openapi.h"
#include "api/push_api.h"
#include "api/scep_api.h"
#include "base/encoding.h"
#include "base/metrics.h"
#include "base/random.h"
#include "push/testing/test_pki.h"
#include "storage/testing.h"

namespace custos::api {
namespace {

constexpr char kKey[] = "test-api-key";
constexpr char kTopic[] = "com.apple.mgmt.External.11111111-2222-4333-8444-555555555555";

// Answers every push at once: delivered, with apns-id "apns-<enrollment>", except tokens listed
// in `reject` (BadDeviceToken).
class FakePusher : public push::Pusher {
 public:
  void Push(std::vector<push::PushTarget> targets, push::PushCallback done) override {
    std::vector<push::PushResult> results;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& t : targets) {
        pushed_.push_back(t);
        push::PushResult r;
        r.enrollment_id = t.enrollment_id;
        r.attempts = 1;
        if (reject_.count(t.enrollment_id)) {
          r.outcome = push::PushOutcome::kRejected;
          r.http_status = 400;
          r.reason = "BadDeviceToken";
        } else {
          r.outcome = push::PushOutcome::kDelivered;
          r.http_status = 200;
          r.apns_id = "apns-" + t.enrollment_id;
        }
        results.push_back(std::move(r));
      }
    }
    done(std::move(results));
  }
  std::vector<push::PushTarget> pushed() {
    std::lock_guard<std::mutex> lock(mu_);
    return pushed_;
  }
  void Reject(std::string id) {
    std::lock_guard<std::mutex> lock(mu_);
    reject_.insert(std::move(id));
  }

 private:
  std::mutex mu_;
  std::vector<push::PushTarget> pushed_;
  std::set<std::string> reject_;
};

std::string RawCommand(std::string_view uuid, std::string_view request_type) {
  return std::string(R"(<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
<key>CommandUUID</key><string>)") + std::string(uuid) + R"(</string>
<key>Command</key><dict><key>RequestType</key><string>)" + std::string(request_type) +
         R"(</string></dict>
</dict></plist>)";
}

class MdmApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = OpenTestStorage("sqlite");
    ASSERT_TRUE(s.ok()) << s.status();
    storage_ = *std::move(s);
    mdm::MdmServiceOptions o;
    o.bootstrap_token_key = std::string(32, 'k');
    auto m = mdm::MdmService::Create(o, storage_.get(), &clock_, Random::Secure());
    ASSERT_TRUE(m.ok()) << m.status();
    mdm_ = *std::move(m);
    push::PushServiceOptions po;
    po.clock = &clock_;
    po.metrics = &registry_;
    po.passphrase = "pass";
    auto p = push::PushService::Create(storage_.get(), &pusher_, po);
    ASSERT_TRUE(p.ok()) << p.status();
    push_ = *std::move(p);
    mdm_->SetPushTrigger(push_.get());
    AddMdmApiRoutes(router_, mdm_.get(), push_.get(), kKey);
    AddPushApiRoutes(router_, push_.get(), kKey);
    AddOpenApiRoute(router_, kKey);

    AddEnrollment("UDID-A", "SERIAL-A", true, 1);
    AddEnrollment("UDID-B", "SERIAL-B", true, 2);
    AddEnrollment("UDID-C", "SERIAL-C", false, 3);
  }

  void AddEnrollment(const std::string& id, const std::string& serial, bool enabled, int token) {
    MdmDeviceRecord d;
    d.id = id;
    d.serial_number = serial;
    d.created_at = d.updated_at = clock_.Now();
    MdmEnrollmentRecord e;
    e.id = id;
    e.type = "Device";
    e.device_id = id;
    e.topic = kTopic;
    e.push_token_hex = HexEncode(std::string(31, '\x01') + static_cast<char>(token));
    e.push_magic = "magic";
    e.enabled = enabled;
    e.created_at = e.updated_at = clock_.Now();
    Status st = storage_->Transact([&](Stores& s) -> Status {
      RETURN_IF_ERROR(s.mdm().UpsertDevice(d));
      return s.mdm().UpsertEnrollment(e);
    });
    ASSERT_TRUE(st.ok()) << st;
  }

  http::Response Call(std::string method, std::string target, std::string body = "",
                      bool auth = true) {
    http::Request r;
    r.method = std::move(method);
    r.target = target;
    size_t q = target.find('?');
    r.path = target.substr(0, q);
    if (q != std::string::npos) r.query = http::ParseQuery(target.substr(q + 1));
    if (auth) r.headers.Add("Authorization", std::string("Bearer ") + kKey);
    r.body = std::move(body);
    std::string_view route;
    return router_.Dispatch(r, &route);
  }
  static nlohmann::json Json(const http::Response& r) {
    return nlohmann::json::parse(r.body, nullptr, false);
  }

  FakeClock clock_{std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now())};
  metrics::Registry registry_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<mdm::MdmService> mdm_;
  FakePusher pusher_;
  std::unique_ptr<push::PushService> push_;
  http::Router router_;
};

TEST_F(MdmApiTest, RequiresTheApiKey) {
  for (auto [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/v1/enrollments"}, {"PUT", "/v1/enqueue/UDID-A"}, {"GET", "/v1/push/UDID-A"},
           {"PUT", "/v1/pushcert"}, {"GET", "/v1/openapi.json"}, {"POST", "/v1/commands"}}) {
    EXPECT_EQ(Call(method, path, "", /*auth=*/false).status, 401) << method << " " << path;
  }
  EXPECT_TRUE(pusher_.pushed().empty());
}

TEST_F(MdmApiTest, ListsEnrollmentsWithFilters) {
  auto r = Call("GET", "/v1/enrollments");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = Json(r);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 3u);
  EXPECT_EQ(j[0]["id"], "UDID-A");
  EXPECT_EQ(j[0]["type"], "Device");
  EXPECT_EQ(j[0]["enabled"], true);
  EXPECT_EQ(j[0]["serial"], "SERIAL-A");
  EXPECT_EQ(j[0]["has_push_token"], true);
  EXPECT_FALSE(j[0].contains("push_magic"));

  j = Json(Call("GET", "/v1/enrollments?enabled=false"));
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["id"], "UDID-C");
  j = Json(Call("GET", "/v1/enrollments?serial=SERIAL-B"));
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["id"], "UDID-B");

  r = Call("GET", "/v1/enrollments?limit=2");
  j = Json(r);
  ASSERT_EQ(j.size(), 2u);
  ASSERT_EQ(r.headers.Get("X-Next-After").value_or(""), "UDID-B");
  j = Json(Call("GET", "/v1/enrollments?limit=2&after=UDID-B"));
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["id"], "UDID-C");

  EXPECT_EQ(Call("GET", "/v1/enrollments?limit=0").status, 400);
  EXPECT_EQ(Call("GET", "/v1/enrollments?enabled=maybe").status, 400);
}

TEST_F(MdmApiTest, ShowsOneEnrollment) {
  auto r = Call("GET", "/v1/enrollments/UDID-B");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Json(r)["serial"], "SERIAL-B");
  EXPECT_EQ(Call("GET", "/v1/enrollments/NOPE").status, 404);
}

TEST_F(MdmApiTest, EnqueueWithBuilderPushesAndListsResults) {
  auto r = Call("POST", "/v1/commands",
                R"({"enrollment_ids": ["UDID-A", "UDID-B", "NOPE"], "request_type":
                    "DeviceInformation", "params": {"Queries": ["SerialNumber"]}})");
  ASSERT_EQ(r.status, 201) << r.body;
  auto j = Json(r);
  std::string uuid = j["command_uuid"];
  EXPECT_FALSE(uuid.empty());
  EXPECT_EQ(j["request_type"], "DeviceInformation");
  EXPECT_EQ(j["queued"].size(), 2u);
  EXPECT_EQ(j["unknown"], nlohmann::json::array({"NOPE"}));
  EXPECT_EQ(j["push_requested"], true);
  ASSERT_TRUE(push_->WaitIdle(std::chrono::seconds(10)));
  EXPECT_EQ(pusher_.pushed().size(), 2u);

  j = Json(Call("GET", "/v1/enrollments/UDID-A/commands"));
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["command_uuid"], uuid);
  EXPECT_EQ(j[0]["request_type"], "DeviceInformation");
  EXPECT_EQ(j[0]["status"], "queued");
  EXPECT_FALSE(j[0].contains("result"));

  // The device runs it and answers.
  std::string result = R"(<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict>
<key>CommandUUID</key><string>)" + uuid + R"(</string><key>Status</key><string>Acknowledged</string>
<key>UDID</key><string>UDID-A</string><key>QueryResponses</key><dict><key>SerialNumber</key>
<string>SERIAL-A</string></dict></dict></plist>)";
  Status st = storage_->Transact([&](Stores& s) -> Status {
    RETURN_IF_ERROR(s.mdm().MarkSent("UDID-A", uuid, clock_.Now()));
    return s.mdm().RecordResult("UDID-A", uuid, "Acknowledged", result, "", clock_.Now());
  });
  ASSERT_TRUE(st.ok()) << st;
  j = Json(Call("GET", "/v1/enrollments/UDID-A/commands"));
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["status"], "Acknowledged");
  EXPECT_EQ(j[0]["result"]["QueryResponses"]["SerialNumber"], "SERIAL-A");
  EXPECT_EQ(*Base64Decode(j[0]["result_plist"].get<std::string>()), result);

  j = Json(Call("GET", "/v1/commands/" + uuid));
  EXPECT_EQ(j["request_type"], "DeviceInformation");
  EXPECT_EQ(j["results"].size(), 2u);
  EXPECT_NE(j["payload"].get<std::string>().find("DeviceInformation"), std::string::npos);

  EXPECT_EQ(Call("GET", "/v1/enrollments/NOPE/commands").status, 404);
}

TEST_F(MdmApiTest, EnqueueRefusesBadJson) {
  EXPECT_EQ(Call("POST", "/v1/commands", "not json").status, 400);
  EXPECT_EQ(Call("POST", "/v1/commands", R"({"enrollment_ids": []})").status, 400);
  EXPECT_EQ(Call("POST", "/v1/commands",
                 R"({"enrollment_ids": ["UDID-A"], "request_type": "NoSuchCommand"})")
                .status,
            400);
  EXPECT_EQ(Call("POST", "/v1/commands",
                 R"({"enrollment_ids": ["UDID-A"], "request_type": "DeviceLock",
                     "raw_command": "x"})")
                .status,
            400);
  EXPECT_TRUE(Json(Call("GET", "/v1/enrollments/UDID-A/commands")).empty());
}

TEST_F(MdmApiTest, DeletesQueuedCommands) {
  ASSERT_EQ(Call("PUT", "/v1/enqueue/UDID-A?nopush=1", RawCommand("CMD-1", "ProfileList")).status,
            200);
  ASSERT_EQ(Call("PUT", "/v1/enqueue/UDID-A?nopush=1", RawCommand("CMD-2", "SecurityInfo")).status,
            200);
  auto r = Call("DELETE", "/v1/enrollments/UDID-A/commands/CMD-1");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Json(r)["deleted"], 1);
  EXPECT_EQ(Call("DELETE", "/v1/enrollments/UDID-A/commands/CMD-1").status, 404);
  auto j = Json(Call("GET", "/v1/enrollments/UDID-A/commands?active=true"));
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["command_uuid"], "CMD-2");
  r = Call("DELETE", "/v1/enrollments/UDID-A/commands");
  EXPECT_EQ(Json(r)["deleted"], 1);
  EXPECT_TRUE(Json(Call("GET", "/v1/enrollments/UDID-A/commands?active=true")).empty());
}

TEST_F(MdmApiTest, NanoMdmEnqueueReportsPerIdResults) {
  pusher_.Reject("UDID-B");
  auto r = Call("PUT", "/v1/enqueue/UDID-A,UDID-B,NOPE", RawCommand("CMD-N", "ProfileList"));
  EXPECT_EQ(r.status, 207) << r.body;
  auto j = Json(r);
  EXPECT_EQ(j["command_uuid"], "CMD-N");
  EXPECT_EQ(j["request_type"], "ProfileList");
  EXPECT_FALSE(j.contains("no_push"));
  EXPECT_EQ(j["status"]["UDID-A"]["push_result"], "apns-UDID-A");
  EXPECT_NE(j["status"]["UDID-B"]["push_error"].get<std::string>().find("BadDeviceToken"),
            std::string::npos);
  EXPECT_TRUE(j["status"]["NOPE"].contains("command_error"));
  EXPECT_EQ(pusher_.pushed().size(), 2u);

  r = Call("PUT", "/v1/enqueue/UDID-A?nopush=1", RawCommand("CMD-M", "ProfileList"));
  EXPECT_EQ(r.status, 200) << r.body;
  j = Json(r);
  EXPECT_EQ(j["no_push"], true);
  EXPECT_FALSE(j.contains("status"));
  EXPECT_EQ(pusher_.pushed().size(), 2u);

  r = Call("PUT", "/v1/enqueue/UDID-A,UDID-B");  // no command: push only, as NanoMDM
  EXPECT_EQ(r.status, 207) << r.body;              // UDID-B is rejected by the fake pusher
  EXPECT_EQ(Json(r)["status"]["UDID-A"]["push_result"], "apns-UDID-A");
  EXPECT_FALSE(Json(r).contains("command_uuid"));
  EXPECT_EQ(pusher_.pushed().size(), 4u);
  r = Call("PUT", "/v1/enqueue/UDID-A?nopush=1");
  EXPECT_EQ(r.status, 500) << r.body;
  EXPECT_EQ(Json(r)["command_error"], "must enqueue or push");

  r = Call("PUT", "/v1/enqueue/UDID-A", "<plist>broken");
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(Json(r).contains("command_error"));
  r = Call("PUT", "/v1/enqueue/UDID-A", RawCommand("CMD-N", "ProfileList"));  // UUID reused
  EXPECT_EQ(r.status, 400) << r.body;
}

TEST_F(MdmApiTest, NanoMdmPush) {
  auto r = Call("GET", "/v1/push/UDID-A,UDID-B");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = Json(r);
  EXPECT_EQ(j["status"]["UDID-A"]["push_result"], "apns-UDID-A");
  EXPECT_EQ(j["status"]["UDID-B"]["push_result"], "apns-UDID-B");

  r = Call("POST", "/v1/push/UDID-C,NOPE");  // disabled, unknown
  EXPECT_EQ(r.status, 500) << r.body;
  j = Json(r);
  EXPECT_TRUE(j["status"]["UDID-C"].contains("push_error"));
  EXPECT_EQ(j["status"]["NOPE"]["push_error"], "unknown enrollment");
  EXPECT_EQ(pusher_.pushed().size(), 2u);
}

TEST_F(MdmApiTest, PushCertificates) {
  auto ca = push::testing::MakeCa("fake Apple CA");
  ASSERT_TRUE(ca.ok()) << ca.status();
  auto leaf = push::testing::MakePushCert(*ca, kTopic, clock_.Now() - std::chrono::hours(1),
                                          clock_.Now() + std::chrono::hours(24 * 365));
  ASSERT_TRUE(leaf.ok()) << leaf.status();

  auto r = Call("PUT", "/v1/pushcert", leaf->cert_pem + leaf->key_pem);
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = Json(r);
  EXPECT_EQ(j["topic"], kTopic);
  EXPECT_FALSE(j["not_after"].get<std::string>().empty());

  r = Call("GET", std::string("/v1/pushcert?topic=") + kTopic);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Json(r), j);
  EXPECT_EQ(Call("GET", "/v1/pushcert").status, 400);
  EXPECT_EQ(Call("GET", "/v1/pushcert?topic=nope").status, 404);
  r = Call("PUT", "/v1/pushcert", leaf->cert_pem);  // no key
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(Json(r).contains("error"));

  // PKCS#12 through custos' own endpoint.
  auto p12 = push::testing::MakePkcs12(*leaf, nullptr, "pw");
  ASSERT_TRUE(p12.ok()) << p12.status();
  r = Call("POST", "/v1/pushcerts",
           nlohmann::json{{"p12", Base64Encode(*p12)}, {"password", "pw"}}.dump());
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Json(r)["key_encrypted"], true);
  r = Call("POST", "/v1/pushcerts",
           nlohmann::json{{"p12", Base64Encode(*p12)}, {"password", "wrong"}}.dump());
  EXPECT_EQ(r.status, 400) << r.body;

  j = Json(Call("GET", "/v1/pushcerts"));
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["topic"], kTopic);
  EXPECT_EQ(j[0]["expires_in_days"], 364);
  EXPECT_EQ(registry_.AddGauge("custos_push_certificate_not_after_seconds", "", {"topic"})
                .WithLabels({kTopic})
                .Value(),
            static_cast<double>(ToUnixSeconds(clock_.Now() + std::chrono::hours(24 * 365))));
}

TEST_F(MdmApiTest, OpenApiDocumentsEveryV1Route) {
  AddScepApiRoutes(router_, nullptr, kKey);  // only its route pattern matters here
  auto r = Call("GET", "/v1/openapi.json");
  ASSERT_EQ(r.status, 200) << r.body;
  auto doc = Json(r);
  EXPECT_EQ(doc["openapi"], "3.0.3");
  int checked = 0;
  for (const std::string& route : router_.Patterns()) {
    size_t space = route.find(' ');
    std::string method = route.substr(0, space);
    std::string path = route.substr(space + 1);
    if (path.rfind("/v1/", 0) != 0) continue;
    for (char& c : method) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    ASSERT_TRUE(doc["paths"].contains(path)) << path;
    ASSERT_TRUE(doc["paths"][path].contains(method)) << method << " " << path;
    EXPECT_FALSE(doc["paths"][path][method].contains("x-custos-undocumented")) << route;
    ++checked;
  }
  EXPECT_GE(checked, 15);
  // A route the static document lacks still appears.
  router_.Add("GET", "/v1/somebody/else/*", [](const http::Request&) {
    return http::Response::Text(200, "x");
  });
  doc = Json(Call("GET", "/v1/openapi.json"));
  EXPECT_TRUE(doc["paths"]["/v1/somebody/else/{path}"]["get"]["x-custos-undocumented"]);
}

TEST(SplitIdsTest, DropsEmptyAndDuplicates) {
  EXPECT_EQ(SplitIds("a,b,,a,c:d"), (std::vector<std::string>{"a", "b", "c:d"}));
  EXPECT_TRUE(SplitIds("").empty());
  EXPECT_TRUE(SplitIds(",,").empty());
}

}  // namespace
}  // namespace custos::api
