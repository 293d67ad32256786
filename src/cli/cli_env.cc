#include "cli/cli_env.h"

#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "base/logging.h"

namespace custos {

void CliEnv::AddGlobalFlags(CLI::App* cmd) {
  cmd->add_option("--config", options.config_path, "TOML configuration file (or CUSTOS_CONFIG)");
  cmd->add_option("--data-dir", options.data_dir, "data folder (server.data_dir)");
  cmd->add_option("--set", options.sets, "override one key: section.key=value (repeatable)");
  cmd->add_option("--log-format", options.log_format, "text or json (log.format)");
  cmd->add_option("--log-level", options.log_level, "trace, debug, info, warn, error, off (log.level)");
}

StatusOr<Config> CliEnv::LoadConfig(
    const std::vector<std::pair<std::string, std::string>>& extra) {
  auto env = ProcessEnvironment();
  std::string path = options.config_path;
  if (path.empty()) {
    if (auto it = env.find("CUSTOS_CONFIG"); it != env.end()) path = it->second;
  }
  ASSIGN_OR_RETURN(Config config, Config::Load(path, env));
  if (!options.data_dir.empty()) RETURN_IF_ERROR(config.Set("server", "data_dir", options.data_dir));
  if (!options.log_format.empty()) RETURN_IF_ERROR(config.Set("log", "format", options.log_format));
  if (!options.log_level.empty()) RETURN_IF_ERROR(config.Set("log", "level", options.log_level));
  for (const auto& s : options.sets) RETURN_IF_ERROR(config.SetAssignment(s));
  for (const auto& [key, value] : extra) {
    RETURN_IF_ERROR(config.SetAssignment(key + "=" + value));
  }
  RETURN_IF_ERROR(config.Finalize());
  ASSIGN_OR_RETURN(LogFormat format, ParseLogFormat(config.log.format));
  RETURN_IF_ERROR(InitLogging(format, config.log.level));
  return config;
}

void CliEnv::Fail(const Status& status, int code) {
  std::cerr << "error: " << status.message() << std::endl;
  exit_code = code;
}

StatusOr<std::string> ReadInputFile(const std::string& path, size_t max_bytes) {
  std::string data;
  if (path == "-") {
    data.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) return NotFoundError("cannot open " + path);
    std::ostringstream ss;
    ss << in.rdbuf();
    data = ss.str();
  }
  if (data.size() > max_bytes) {
    return InvalidArgumentError(path + " is larger than " + std::to_string(max_bytes) + " bytes");
  }
  return data;
}

void PrintFields(const std::vector<std::pair<std::string, std::string>>& fields, bool json) {
  if (json) {
    nlohmann::ordered_json j = nlohmann::ordered_json::object();
    for (const auto& [k, v] : fields) j[k] = v;
    std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
    return;
  }
  for (const auto& [k, v] : fields) std::cout << k << ": " << v << "\n";
  std::cout.flush();
}

}  // namespace custos
