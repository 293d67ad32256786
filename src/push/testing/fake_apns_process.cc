#include "push/testing/fake_apns_process.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <set>
#include <thread>

#ifndef CUSTOS_SOURCE_DIR_DEFAULT
#define CUSTOS_SOURCE_DIR_DEFAULT "."
#endif

namespace custos::push::testing {

StatusOr<std::unique_ptr<FakeApnsProcess>> FakeApnsProcess::Start(Options options) {
  auto p = std::unique_ptr<FakeApnsProcess>(new FakeApnsProcess());
  ASSIGN_OR_RETURN(KeyAndCert ca, MakeCa("fake APNs server CA"));
  ASSIGN_OR_RETURN(KeyAndCert server, MakeServerCert(ca));
  const std::string& dir = options.dir;
  p->server_ca_file_ = dir + "/apns-server-ca.pem";
  RETURN_IF_ERROR(WriteFile(p->server_ca_file_, ca.cert_pem));
  RETURN_IF_ERROR(WriteFile(dir + "/apns-server.pem", server.cert_pem));
  RETURN_IF_ERROR(WriteFile(dir + "/apns-server.key", server.key_pem));
  RETURN_IF_ERROR(WriteFile(dir + "/apns-client-ca.pem", options.client_ca_pem));
  p->record_file_ = dir + "/pushes.jsonl";
  RETURN_IF_ERROR(WriteFile(p->record_file_, ""));

  const char* src = std::getenv("CUSTOS_SOURCE_DIR");
  std::string script = std::string(src != nullptr && *src != '\0' ? src : CUSTOS_SOURCE_DIR_DEFAULT) +
                       "/tests/fakeapns/fake_apns.py";
  const char* py = std::getenv("CUSTOS_PYTHON");
  std::string python = py != nullptr && *py != '\0' ? py : "/usr/bin/python3";

  std::vector<std::string> args = {python,
                                    script,
                                    "--cert", dir + "/apns-server.pem",
                                    "--key", dir + "/apns-server.key",
                                    "--client-ca", dir + "/apns-client-ca.pem",
                                    "--max-streams", std::to_string(options.max_streams)};
  if (options.record) {
    args.push_back("--record");
    args.push_back(p->record_file_);
  } else {
    args.push_back("--no-memory");
  }
  for (const std::string& r : options.rules) {
    args.push_back("--rule");
    args.push_back(r);
  }

  int out[2];
  if (::pipe(out) != 0) return InternalError("pipe failed");
  pid_t pid = ::fork();
  if (pid < 0) return InternalError("fork failed");
  if (pid == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    ::close(out[0]);
    ::close(out[1]);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  p->pid_ = pid;

  std::string line;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (line.find('\n') == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd pfd{out[0], POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[256];
    ssize_t n = ::read(out[0], buf, sizeof(buf));
    if (n <= 0) break;
    line.append(buf, static_cast<size_t>(n));
  }
  ::close(out[0]);
  if (line.rfind("PORT ", 0) != 0) {
    return UnavailableError("fake APNs server did not start (" + script + "): got \"" + line + "\"");
  }
  p->port_ = std::atoi(line.c_str() + 5);
  if (p->port_ <= 0) return UnavailableError("fake APNs server printed a bad port: " + line);
  return p;
}

FakeApnsProcess::~FakeApnsProcess() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 500; ++i) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
}

std::string FakeApnsProcess::url() const { return "https://127.0.0.1:" + std::to_string(port_); }

std::vector<nlohmann::json> FakeApnsProcess::Records() const {
  std::vector<nlohmann::json> out;
  std::ifstream in(record_file_);
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object()) out.push_back(std::move(j));
  }
  return out;
}

std::vector<nlohmann::json> FakeApnsProcess::Pushes() const {
  std::vector<nlohmann::json> out;
  for (auto& r : Records()) {
    if (r.value("type", "") == "push") out.push_back(std::move(r));
  }
  return out;
}

size_t FakeApnsProcess::ConnectionCount() const {
  size_t n = 0;
  for (const auto& r : Records()) {
    if (r.value("type", "") == "connection") ++n;
  }
  return n;
}

}  // namespace custos::push::testing
