#include "tests/integration/custos_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

extern char** environ;

namespace custos::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// fork + exec `argv` with stdout/stderr to files and extra environment entries.
pid_t Spawn(const std::vector<std::string>& argv, const std::string& out_path,
            const std::string& err_path, const std::vector<std::string>& extra_env) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  for (const auto& e : extra_env) env_strings.push_back(e);
  pid_t pid = fork();
  if (pid != 0) return pid;
  int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int devnull = open("/dev/null", O_RDONLY);
  dup2(devnull, 0);
  dup2(out, 1);
  dup2(err, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : env_strings) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  execve(args[0], args.data(), envp.data());
  _exit(127);
}

int WaitFor(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (r < 0) return -1;
    if (std::chrono::steady_clock::now() > deadline) return -2;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

std::string CustosBinary() {
  const char* b = std::getenv("CUSTOS_BINARY");
#ifdef CUSTOS_DEFAULT_BINARY
  return b != nullptr ? b : CUSTOS_DEFAULT_BINARY;
#else
  return b != nullptr ? b : "custos";
#endif
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/custos-it-XXXXXX";
  char* p = mkdtemp(tmpl);
  path_ = p != nullptr ? p : "/tmp";
}
TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

CommandResult RunCustos(const std::vector<std::string>& args, std::chrono::seconds timeout,
                        const std::vector<std::string>& extra_env) {
  TempDir tmp;
  std::vector<std::string> argv = {CustosBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string out = tmp.path() + "/out", err = tmp.path() + "/err";
  pid_t pid = Spawn(argv, out, err, extra_env);
  CommandResult result;
  result.exit_code = WaitFor(pid, timeout);
  if (result.exit_code == -2) {
    kill(pid, SIGKILL);
    WaitFor(pid, std::chrono::seconds(5));
  }
  result.out = ReadFile(out);
  result.err = ReadFile(err);
  return result;
}

StatusOr<std::unique_ptr<CustosServer>> CustosServer::Start(
    const std::vector<std::string>& args, const std::vector<std::string>& extra_env,
    std::chrono::seconds timeout) {
  auto server = std::unique_ptr<CustosServer>(new CustosServer());
  char tmpl[] = "/tmp/custos-srv-XXXXXX";
  int fd = mkstemp(tmpl);
  if (fd < 0) return InternalError("mkstemp failed");
  close(fd);
  server->log_path_ = tmpl;
  std::string out_path = server->log_path_ + ".out";
  std::vector<std::string> argv = {CustosBinary(), "serve"};
  argv.insert(argv.end(), args.begin(), args.end());
  bool has_listen = false;
  for (const auto& a : args) has_listen |= (a == "--listen");
  if (!has_listen) {
    argv.push_back("--listen");
    argv.push_back("127.0.0.1:0");
  }
  server->pid_ = Spawn(argv, out_path, server->log_path_, extra_env);
  std::regex listening(R"(listening on (http://127\.0\.0\.1:(\d+)))");
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::string out = ReadFile(out_path);
    std::smatch m;
    if (std::regex_search(out, m, listening)) {
      server->url_ = m[1];
      server->port_ = std::stoi(m[2]);
      std::remove(out_path.c_str());
      return server;
    }
    int status = 0;
    if (waitpid(server->pid_, &status, WNOHANG) == server->pid_) {
      server->pid_ = -1;
      return UnavailableError("custos serve exited early: " + ReadFile(server->log_path_) +
                              ReadFile(out_path));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return DeadlineExceededError("custos serve did not report a listener: " + server->Log());
}

CustosServer::~CustosServer() {
  Stop();
  std::remove(log_path_.c_str());
}

int CustosServer::Stop() {
  if (pid_ <= 0) return exit_status_;
  kill(pid_, SIGTERM);
  int rc = WaitFor(pid_, std::chrono::seconds(10));
  if (rc == -2) {
    kill(pid_, SIGKILL);
    rc = WaitFor(pid_, std::chrono::seconds(5));
  }
  pid_ = -1;
  exit_status_ = rc;
  return rc;
}

std::string CustosServer::Log() const { return ReadFile(log_path_); }

std::string HttpReply::Header(std::string_view name) const {
  std::istringstream in(headers);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t colon = line.find(':');
    if (colon == std::string::npos || colon != name.size()) continue;
    if (strncasecmp(line.data(), name.data(), name.size()) != 0) continue;
    size_t v = colon + 1;
    while (v < line.size() && line[v] == ' ') ++v;
    return line.substr(v);
  }
  return "";
}

StatusOr<HttpReply> HttpRequest(const std::string& url, const std::string& method,
                                const std::string& body, const std::vector<std::string>& headers) {
  std::smatch m;
  static const std::regex kUrl(R"(http://127\.0\.0\.1:(\d+)(/.*)?)");
  if (!std::regex_match(url, m, kUrl)) return InvalidArgumentError("only http://127.0.0.1 URLs: " + url);
  int port = std::stoi(m[1]);
  std::string target = m[2].matched ? std::string(m[2]) : "/";
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return UnavailableError("connect " + url + ": " + std::strerror(errno));
  }
  timeval tv{30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  for (const auto& h : headers) req += h + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT") {
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n" + body;
  size_t sent = 0;
  while (sent < req.size()) {
    ssize_t n = send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string raw;
  char buf[16384];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) raw.append(buf, static_cast<size_t>(n));
  close(fd);
  size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos || raw.size() < 12) return DataLossError("malformed HTTP reply: " + raw);
  HttpReply reply;
  reply.status = std::atoi(raw.substr(9, 3).c_str());
  reply.headers = raw.substr(0, end);
  reply.body = raw.substr(end + 4);
  if (reply.Header("Transfer-Encoding") == "chunked") {
    std::string decoded;
    size_t pos = 0;
    while (pos < reply.body.size()) {
      size_t eol = reply.body.find("\r\n", pos);
      if (eol == std::string::npos) break;
      size_t len = std::stoul(reply.body.substr(pos, eol - pos), nullptr, 16);
      if (len == 0) break;
      decoded += reply.body.substr(eol + 2, len);
      pos = eol + 2 + len + 2;
    }
    reply.body = decoded;
  }
  return reply;
}

}  // namespace custos::testing
