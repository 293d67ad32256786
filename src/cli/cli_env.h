// What every `custos` subcommand shares: the global options (--config, --data-dir, --set,
// --log-format, --log-level), loading the effective configuration from them, and printing
// inspection output as `key: value` lines or, with --json, one JSON object.
//
// A component adds its subcommands with a function `void AddXxxCommands(CLI::App& root,
// CliEnv& env)` declared in commands.h and called from main.cc. Callbacks return an exit code
// through CliEnv::Fail / the Status they produce; they never throw.
#ifndef CUSTOS_CLI_CLI_ENV_H_
#define CUSTOS_CLI_CLI_ENV_H_

#include <CLI/CLI.hpp>

#include <string>
#include <utility>
#include <vector>

#include "base/config.h"
#include "base/status.h"

namespace custos {

struct GlobalOptions {
  std::string config_path;  // --config, or CUSTOS_CONFIG
  std::string data_dir;     // --data-dir (overrides server.data_dir)
  std::vector<std::string> sets;  // --set section.key=value
  std::string log_format;   // --log-format text|json
  std::string log_level;    // --log-level
};

class CliEnv {
 public:
  GlobalOptions options;
  int exit_code = 0;

  // Adds --config, --data-dir, --set, --log-format, --log-level to `cmd` (every subcommand that
  // reads the store takes them).
  void AddGlobalFlags(CLI::App* cmd);

  // The effective configuration: defaults < file < CUSTOS_* environment < flags, finalized, and
  // logging initialised from it. `extra` are flag-level settings of the subcommand itself
  // (e.g. {"server.listen", "127.0.0.1:9000"}), applied last.
  StatusOr<Config> LoadConfig(const std::vector<std::pair<std::string, std::string>>& extra = {});

  // Prints "error: <message>" to stderr and sets exit_code (1 unless given).
  void Fail(const Status& status, int code = 1);
};

// Reads the file at `path` ("-" for standard input) for an `inspect` command. NOT_FOUND when it
// cannot be opened; INVALID_ARGUMENT when it is larger than `max_bytes` (inspected files are
// untrusted captures).
StatusOr<std::string> ReadInputFile(const std::string& path, size_t max_bytes = 1024 * 1024);

// Inspection output: one `key: value` per line, or one JSON object of strings with --json.
// Values containing newlines are printed as-is in text mode (PEM blocks come last by convention).
void PrintFields(const std::vector<std::pair<std::string, std::string>>& fields, bool json);

}  // namespace custos

#endif  // CUSTOS_CLI_CLI_ENV_H_
