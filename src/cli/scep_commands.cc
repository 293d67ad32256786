// `custos scep ...`: administration of SCEP enrollment (issue 3).
//   custos scep challenge [--ttl D] [--bound-to SERIAL_OR_UDID]   prints a new one-time challenge
//                                                                 (and nothing else) on stdout
//   custos scep approve TRANSACTION_ID                            issues a PENDING request
//   custos scep reject TRANSACTION_ID                             refuses a PENDING request
// All take --config / --data-dir like every command that reads the store.
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "base/random.h"
#include "base/time.h"
#include "ca/authority.h"
#include "cli/cli_env.h"
#include "scep/service.h"
#include "storage/storage.h"

namespace custos {
namespace {

struct ScepCliOptions {
  std::string ttl;
  std::string bound_to;
  std::string transaction_id;
};

// Storage, CA and SCEP service from the effective configuration.
struct ScepStack {
  std::unique_ptr<Storage> storage;
  std::unique_ptr<Authority> ca;
  std::unique_ptr<scep::ScepService> service;
};

StatusOr<ScepStack> OpenStack(CliEnv& env) {
  ASSIGN_OR_RETURN(Config config, env.LoadConfig());
  ScepStack stack;
  ASSIGN_OR_RETURN(stack.storage, Storage::Open(config.storage, Clock::Real()));
  ASSIGN_OR_RETURN(std::string passphrase, config.CaPassphrase());
  ASSIGN_OR_RETURN(stack.ca, Authority::Create(config.ca, stack.storage.get(), Clock::Real(),
                                               Random::Secure(), passphrase));
  ASSIGN_OR_RETURN(stack.service,
                   scep::ScepService::Create(config.scep, stack.ca.get(), stack.storage.get(),
                                             Clock::Real(), Random::Secure(), passphrase));
  return stack;
}

}  // namespace

void AddScepCommands(CLI::App& root, CliEnv& env) {
  auto options = std::make_shared<ScepCliOptions>();
  CLI::App* scep = root.add_subcommand("scep", "SCEP enrollment: challenges and approvals");
  scep->require_subcommand(1);

  CLI::App* challenge = scep->add_subcommand(
      "challenge", "print a new one-time SCEP challenge (only the challenge, on stdout)");
  challenge->add_option("--ttl", options->ttl, "lifetime, e.g. 1h or 7d (default scep.challenge_ttl)");
  challenge->add_option("--bound-to", options->bound_to,
                        "device serial number or UDID the challenge is reserved for");
  env.AddGlobalFlags(challenge);
  challenge->callback([options, &env]() {
    std::optional<Duration> ttl;
    if (!options->ttl.empty()) {
      auto d = ParseDuration(options->ttl);
      if (!d.ok()) return env.Fail(d.status());
      ttl = *d;
    }
    auto stack = OpenStack(env);
    if (!stack.ok()) return env.Fail(stack.status());
    auto c = stack->service->NewChallenge(ttl, options->bound_to);
    if (!c.ok()) return env.Fail(c.status());
    std::cout << *c << std::endl;
  });

  CLI::App* approve = scep->add_subcommand("approve", "issue the certificate of a PENDING request");
  approve->add_option("TRANSACTION_ID", options->transaction_id, "SCEP transactionID")->required();
  env.AddGlobalFlags(approve);
  approve->callback([options, &env]() {
    auto stack = OpenStack(env);
    if (!stack.ok()) return env.Fail(stack.status());
    auto serial = stack->service->Approve(options->transaction_id);
    if (!serial.ok()) return env.Fail(serial.status());
    std::cout << "serial: " << *serial << std::endl;
  });

  CLI::App* reject = scep->add_subcommand("reject", "refuse a PENDING request");
  reject->add_option("TRANSACTION_ID", options->transaction_id, "SCEP transactionID")->required();
  env.AddGlobalFlags(reject);
  reject->callback([options, &env]() {
    auto stack = OpenStack(env);
    if (!stack.ok()) return env.Fail(stack.status());
    Status s = stack->service->Reject(options->transaction_id);
    if (!s.ok()) return env.Fail(s);
  });
}

}  // namespace custos
