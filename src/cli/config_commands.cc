// `custos config print`: the effective configuration (defaults < file < environment < flags),
// secrets redacted, each key annotated with where its value came from.
#include <iostream>
#include <memory>

#include "cli/commands.h"

namespace custos {

void AddConfigCommands(CLI::App& root, CliEnv& env) {
  CLI::App* config = root.add_subcommand("config", "configuration");
  config->require_subcommand(1);
  CLI::App* print = config->add_subcommand("print", "print the effective configuration, secrets redacted");
  env.AddGlobalFlags(print);
  auto json = std::make_shared<bool>(false);
  print->add_flag("--json", *json, "print as JSON");
  print->callback([&env, json] {
    auto config = env.LoadConfig();
    if (!config.ok()) return env.Fail(config.status());
    std::cout << (*json ? config->ToJson() : config->ToToml()) << std::endl;
  });
}

}  // namespace custos
