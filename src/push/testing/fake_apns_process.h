// Test-only: runs tests/fakeapns/fake_apns.py (the fake APNs server) as a child process with a
// fresh throw-away PKI, and reads back what it recorded. Never use outside tests.
#ifndef CUSTOS_PUSH_TESTING_FAKE_APNS_PROCESS_H_
#define CUSTOS_PUSH_TESTING_FAKE_APNS_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "push/testing/test_pki.h"

namespace custos::push::testing {

class FakeApnsProcess {
 public:
  struct Options {
    std::string dir;             // working folder (certificates, record file)
    std::string client_ca_pem;   // CA(s) the server requires client certificates to chain to
    std::vector<std::string> rules;  // "--rule" values: TOKEN,STATUS[,REASON[,COUNT]]
    int max_streams = 1000;
    bool record = true;          // write the JSON-lines record file
  };

  // Generates a server CA and TLS certificate under `dir`, starts the server and waits (up to
  // 15 s) for its "PORT n" line. The script is $CUSTOS_SOURCE_DIR/tests/fakeapns/fake_apns.py
  // (else the source tree this was built from); the interpreter $CUSTOS_PYTHON or /usr/bin/python3.
  static StatusOr<std::unique_ptr<FakeApnsProcess>> Start(Options options);

  // Stops the server (SIGTERM, then SIGKILL after 5 s) and reaps it.
  ~FakeApnsProcess();

  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  // "https://127.0.0.1:PORT".
  std::string url() const;
  // PEM file of the CA that signed the server's TLS certificate (the client's CAINFO).
  const std::string& server_ca_file() const { return server_ca_file_; }

  // Every line of the record file, parsed; type "push" or "connection".
  std::vector<nlohmann::json> Records() const;
  std::vector<nlohmann::json> Pushes() const;
  // Connections the server accepted (completed TLS + ALPN h2).
  size_t ConnectionCount() const;

 private:
  FakeApnsProcess() = default;
  pid_t pid_ = -1;
  int port_ = 0;
  std::string record_file_;
  std::string server_ca_file_;
};

}  // namespace custos::push::testing

#endif  // CUSTOS_PUSH_TESTING_FAKE_APNS_PROCESS_H_
