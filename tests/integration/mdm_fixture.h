// Shared scaffolding for the end-to-end tests that run the real `custos serve` (mdm, renewal,
// policy, posture and OTA e2e tests): a data folder; the storage driver (SQLite, or a fresh
// PostgreSQL database under scripts/with-postgres.sh); optionally the fake APNs
// (tests/fakeapns) with a push certificate for the topic installed over PUT /v1/pushcert
// (NanoMDM's API); the admin API with its key; a device's manual enrollment through
// tests/devicesim (profile, SCEP, Authenticate, TokenUpdate); and the pushes the fake APNs saw.
// A gtest fixture holds one as a member and calls Start() from SetUp(); test-specific
// configuration goes in Options. Test-only.
#ifndef CUSTOS_TESTS_INTEGRATION_MDM_FIXTURE_H_
#define CUSTOS_TESTS_INTEGRATION_MDM_FIXTURE_H_

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "push/testing/fake_apns_process.h"
#include "tests/devicesim/device_sim.h"
#include "tests/integration/custos_process.h"

namespace custos::testing {

class MdmFixture {
 public:
  struct Options {
    std::string topic;               // enroll.topic
    std::string api_key;             // api.key (sent as a Bearer token by Api())
    std::string driver = "sqlite";   // "sqlite" or "postgres"
    // Start the fake APNs (requiring a client certificate from a throw-away push CA), point
    // push.apns_url / push.ca_file at it, and install a push certificate for `topic`.
    bool fake_apns = false;
    std::vector<std::string> args;   // more `custos serve` arguments ("--set", "key=value", ...)
    std::vector<std::string> env;    // more environment entries (NAME=value)
  };

  MdmFixture() = default;  // the data folder exists at once, so files can go in before Start()
  // Prints the server log to stderr when the current test has failed, then stops the server and
  // after it the fake APNs.
  ~MdmFixture();

  // Starts the fake APNs (if asked) and `custos serve --data-dir dir() ...`, and installs the
  // push certificate. Uses gtest assertions: call it inside ASSERT_NO_FATAL_FAILURE. With driver
  // "postgres" and no PostgreSQL available it marks the test skipped (GTEST_SKIP) and starts
  // nothing; gtest then skips the test body.
  void Start(Options options);

  // The data folder, and `text` written to dir()/`name` (returns that path).
  const std::string& dir() const { return dir_.path(); }
  std::string WriteFile(const std::string& name, const std::string& text) const;

  // Valid after a successful Start().
  CustosServer& server() { return *server_; }
  const std::string& url() const { return server_->url(); }
  // The `custos serve` arguments (data folder, topic, key, Options::args): CLI commands on the
  // same data accept them too.
  const std::vector<std::string>& args() const { return args_; }
  // The server's environment (Options::env plus the PostgreSQL driver and DSN), for CLI commands
  // beside it.
  const std::vector<std::string>& env() const { return env_; }
  const std::string& dsn() const { return dsn_; }  // PostgreSQL DSN; "" with SQLite
  push::testing::FakeApnsProcess* apns() { return apns_.get(); }

  // An admin API request with the key: "Authorization: Bearer KEY", and "Content-Type:
  // `content_type`" unless it is empty. Errors: those of HttpRequest (the HTTP status is not one).
  StatusOr<HttpReply> Api(const std::string& method, const std::string& path,
                          const std::string& body = "",
                          const std::string& content_type = "application/json");
  // Api() with a JSON body; EXPECTs the request to work with HTTP status `expect` and returns
  // the reply parsed (discarded JSON when it is not JSON, null when the request failed).
  nlohmann::json ApiJson(const std::string& method, const std::string& path,
                         const std::string& body = "", int expect = 200);

  // Manual enrollment of `d`: GET url() + `enroll_path` (the profile; its topic must be
  // `expect_topic` when that is not empty), SCEP, Authenticate and TokenUpdate, each ASSERTed to
  // succeed with 200. Call it inside ASSERT_NO_FATAL_FAILURE.
  void Enroll(devicesim::Device& d, const std::string& enroll_path = "/mdm/enroll",
              const std::string& expect_topic = "");

  // The pushes the fake APNs recorded for `token_hex`, after polling (every 100 ms, up to `wait`)
  // for at least `at_least` of them. Requires Options::fake_apns.
  std::vector<nlohmann::json> PushesFor(const std::string& token_hex, size_t at_least,
                                        std::chrono::seconds wait = std::chrono::seconds(10));

 private:
  TempDir dir_;
  std::string api_key_;
  std::vector<std::string> args_;
  std::vector<std::string> env_;
  std::string dsn_;
  std::unique_ptr<push::testing::FakeApnsProcess> apns_;
  std::unique_ptr<CustosServer> server_;  // declared last: stopped first
};

}  // namespace custos::testing

#endif  // CUSTOS_TESTS_INTEGRATION_MDM_FIXTURE_H_
