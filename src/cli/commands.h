// Registration of every `custos` subcommand group; each is defined beside its component's CLI
// code in this folder and called once from main.cc.
#ifndef CUSTOS_CLI_COMMANDS_H_
#define CUSTOS_CLI_COMMANDS_H_

#include <CLI/CLI.hpp>

#include "cli/cli_env.h"

namespace custos {

void AddServeCommand(CLI::App& root, CliEnv& env);   // serve_command.cc
void AddConfigCommands(CLI::App& root, CliEnv& env);  // config_commands.cc
void AddCaCommands(CLI::App& root, CliEnv& env);      // ca_commands.cc: ca init|show|renew|rekey, cert list|show|revoke|issue
void AddScepCommands(CLI::App& root, CliEnv& env);    // scep_commands.cc: scep challenge|approve|reject
void AddEnrollCommands(CLI::App& root, CliEnv& env);  // enroll_commands.cc: enroll profile|token
void AddDepCommands(CLI::App& root, CliEnv& env);     // dep_commands.cc: dep cert|tokens|show|list|maidjwt|sync
void AddMdmCommands(CLI::App& root, CliEnv& env);     // mdm_commands.cc: device list, command send|list, push-cert install|list
// posture_commands.cc: device attest|posture (issue 5); call after AddMdmCommands.
void AddPostureCommands(CLI::App& root, CliEnv& env);
void AddPolicyCommands(CLI::App& root, CliEnv& env);
void AddRenewalCommands(CLI::App& root, CliEnv& env);  // renewal_commands.cc: renewal list|due (issue 7)  // policy_commands.cc: policy show|set|refusals|check (issue 7)

// `custos inspect ...`: decoders for what devices send, for administrators debugging a refusal.
void AddInspectScepCommand(CLI::App& inspect, CliEnv& env);         // inspect_scep.cc
void AddInspectAttestationCommand(CLI::App& inspect, CliEnv& env);  // inspect_attestation.cc
void AddInspectMdmSignatureCommand(CLI::App& inspect, CliEnv& env);  // inspect_mdm_signature.cc

}  // namespace custos

#endif  // CUSTOS_CLI_COMMANDS_H_
