// Runs the real `custos` binary for integration tests: starts `custos serve` (or any subcommand)
// as a child process on loopback, learns its URL from the "listening on" line it prints, and
// stops it by PID (SIGTERM, then SIGKILL after a grace period) when the test ends.
#ifndef CUSTOS_TESTS_INTEGRATION_CUSTOS_PROCESS_H_
#define CUSTOS_TESTS_INTEGRATION_CUSTOS_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace custos::testing {

// Path of the custos binary under test: $CUSTOS_BINARY, else the one this build made.
std::string CustosBinary();

// A fresh temporary folder, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;  // standard output
  std::string err;  // standard error
};

// Runs `custos ARGS...` to completion (at most `timeout`), capturing its output.
CommandResult RunCustos(const std::vector<std::string>& args,
                        std::chrono::seconds timeout = std::chrono::seconds(60),
                        const std::vector<std::string>& extra_env = {});

class CustosServer {
 public:
  // Starts `custos serve ARGS... --listen 127.0.0.1:0` and waits (up to `timeout`) until it
  // prints the URL it serves. `extra_env` are NAME=value entries added to the environment.
  static StatusOr<std::unique_ptr<CustosServer>> Start(
      const std::vector<std::string>& args, const std::vector<std::string>& extra_env = {},
      std::chrono::seconds timeout = std::chrono::seconds(60));
  ~CustosServer();  // Stop()

  // SIGTERM, wait up to 10 s, then SIGKILL. Returns the exit status (or -1).
  int Stop();
  const std::string& url() const { return url_; }  // http://127.0.0.1:PORT
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  // Everything the server wrote to stderr so far (its log).
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  std::string url_;
  int port_ = 0;
  std::string log_path_;
  int exit_status_ = -1;
};

// A minimal blocking HTTP/1.1 client over loopback (one request per connection).
struct HttpReply {
  int status = 0;
  std::string headers;  // raw header block
  std::string body;
  std::string Header(std::string_view name) const;
};
StatusOr<HttpReply> HttpRequest(const std::string& url, const std::string& method = "GET",
                                const std::string& body = "",
                                const std::vector<std::string>& headers = {});

}  // namespace custos::testing

#endif  // CUSTOS_TESTS_INTEGRATION_CUSTOS_PROCESS_H_
