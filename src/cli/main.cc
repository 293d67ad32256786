// custos: the server and its admin command line. See README.md.
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/commands.h"

#ifndef CUSTOS_VERSION
#define CUSTOS_VERSION "dev"
#endif

int main(int argc, char** argv) {
  custos::CliEnv env;
  CLI::App app{"custos: Apple device management with device identity at its heart"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "show help for every subcommand");

  CLI::App* version = app.add_subcommand("version", "print the version");
  version->callback([] { std::cout << "custos " << CUSTOS_VERSION << std::endl; });

  custos::AddServeCommand(app, env);
  custos::AddConfigCommands(app, env);
  custos::AddCaCommands(app, env);
  custos::AddScepCommands(app, env);
  custos::AddEnrollCommands(app, env);
  custos::AddDepCommands(app, env);
  custos::AddMdmCommands(app, env);
  custos::AddPostureCommands(app, env);  // device attest|posture (issue 5)
  custos::AddPolicyCommands(app, env);   // policy show|set|refusals|check (issue 7)
  custos::AddRenewalCommands(app, env);  // renewal list|due (issue 7, identity renewal)

  CLI::App* inspect = app.add_subcommand("inspect", "decode and check what a device sent");
  inspect->require_subcommand(1);
  custos::AddInspectScepCommand(*inspect, env);
  custos::AddInspectAttestationCommand(*inspect, env);
  custos::AddInspectMdmSignatureCommand(*inspect, env);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return env.exit_code;
}
