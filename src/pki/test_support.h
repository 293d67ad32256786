// Helpers shared by tests that check custos' certificates with the openssl command line: a
// temporary folder to write PEM/DER files into, and running a command to capture its output.
// Test-only (library custos_pki_test_support).
#ifndef CUSTOS_PKI_TEST_SUPPORT_H_
#define CUSTOS_PKI_TEST_SUPPORT_H_

#include <string>

namespace custos::testing_support {

// A fresh folder under /tmp, removed with everything in it by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Writes `content` to `name` inside the folder and returns the file's path.
  std::string File(const std::string& name, const std::string& content) const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Runs `cmd` through the shell with stderr joined to stdout; returns the output, and the exit
// status in `exit_code` when given.
std::string RunCommand(const std::string& cmd, int* exit_code = nullptr);

}  // namespace custos::testing_support

#endif  // CUSTOS_PKI_TEST_SUPPORT_H_
