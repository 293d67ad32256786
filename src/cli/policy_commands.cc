// `custos policy ...`: the enrollment policy (issue 7, "The setting").
//   custos policy show [--json]
//   custos policy set require-hardware-attestation on|off
//   custos policy refusals [--serial S] [--limit N] [--json]
//   custos policy check --product P --os-version V [--serial S]
// Like the other admin commands these talk to the storage directly (the --config / --data-dir of
// the server): a setting stored here is what every running server reads at the next enrollment.
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <string>

#include "api/policy_api.h"
#include "base/random.h"
#include "base/time.h"
#include "cli/cli_env.h"
#include "policy/enforcement.h"
#include "policy/policy.h"
#include "storage/storage.h"

namespace custos {
namespace {

struct PolicyCliOptions {
  bool json = false;
  std::string setting;
  std::string value;
  std::string serial;
  std::string product;
  std::string os_version;
  int64_t limit = 100;
};

struct PolicyStack {
  std::unique_ptr<Storage> storage;
  std::unique_ptr<policy::EnrollmentPolicy> policy;
};

StatusOr<PolicyStack> OpenPolicy(CliEnv& env) {
  PolicyStack stack;
  ASSIGN_OR_RETURN(Config config, env.LoadConfig());
  ASSIGN_OR_RETURN(stack.storage, Storage::Open(config.storage, Clock::Real()));
  ASSIGN_OR_RETURN(stack.policy,
                   policy::EnrollmentPolicy::Create(config, stack.storage.get(), Clock::Real()));
  return stack;
}

void Show(CliEnv& env, const PolicyCliOptions& o) {
  auto stack = OpenPolicy(env);
  if (!stack.ok()) return env.Fail(stack.status());
  auto on = stack->policy->RequireHardwareAttestation();
  if (!on.ok()) return env.Fail(on.status());
  if (o.json) {
    std::cout << api::PolicyJson(*on).dump(2) << std::endl;
    return;
  }
  std::cout << "require_hardware_attestation: " << (*on ? "on" : "off") << "\n"
            << "eligibility_rule: " << api::EligibilityRuleText() << "\n";
}

void Set(CliEnv& env, const PolicyCliOptions& o) {
  if (o.setting != "require-hardware-attestation") {
    return env.Fail(InvalidArgumentError("unknown setting \"" + o.setting +
                                         "\" (known: require-hardware-attestation)"));
  }
  bool on = false;
  if (o.value == "on" || o.value == "true") {
    on = true;
  } else if (o.value != "off" && o.value != "false") {
    return env.Fail(InvalidArgumentError("the value must be on or off"));
  }
  auto stack = OpenPolicy(env);
  if (!stack.ok()) return env.Fail(stack.status());
  Status st = stack->policy->SetRequireHardwareAttestation(on, "cli");
  if (!st.ok()) return env.Fail(st);
  std::cout << "require_hardware_attestation: " << (on ? "on" : "off") << "\n";
}

void Refusals(CliEnv& env, const PolicyCliOptions& o) {
  auto stack = OpenPolicy(env);
  if (!stack.ok()) return env.Fail(stack.status());
  policy::RefusalRecorder recorder(stack->storage.get(), Clock::Real(), Random::Secure(), nullptr);
  EnrollmentRefusalFilter f;
  f.serial = o.serial;
  f.limit = o.limit;
  auto list = recorder.List(f);
  if (!list.ok()) return env.Fail(list.status());
  if (o.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : *list) out.push_back(policy::RefusalToJson(r));
    std::cout << out.dump(2) << std::endl;
    return;
  }
  std::cout << "ID\tTIME\tSERIAL\tUDID\tSTAGE\tREASON\n";
  for (const auto& r : *list) {
    std::cout << r.id << '\t' << FormatRfc3339(r.created_at) << '\t'
              << (r.serial.empty() ? "-" : r.serial) << '\t' << (r.udid.empty() ? "-" : r.udid)
              << '\t' << r.stage << '\t' << r.reason << '\n';
  }
}

void Check(CliEnv& env, const PolicyCliOptions& o) {
  auto stack = OpenPolicy(env);
  if (!stack.ok()) return env.Fail(stack.status());
  auto e = stack->policy->Evaluate({o.serial, o.product, o.os_version});
  if (!e.ok()) return env.Fail(e.status());
  std::cout << "eligible: " << (e->eligible ? "true" : "false") << "\nreason: " << e->reason
            << "\n";
}

}  // namespace

void AddPolicyCommands(CLI::App& root, CliEnv& env) {
  auto o = std::make_shared<PolicyCliOptions>();
  CLI::App* policy = root.add_subcommand("policy", "the enrollment policy (hardware attestation)");
  policy->require_subcommand(1);

  CLI::App* show = policy->add_subcommand("show", "the effective setting and the eligibility rule");
  show->add_flag("--json", o->json, "print JSON");
  env.AddGlobalFlags(show);
  show->callback([&env, o] { Show(env, *o); });

  CLI::App* set = policy->add_subcommand("set", "change a setting: require-hardware-attestation on|off");
  set->add_option("setting", o->setting, "require-hardware-attestation")->required();
  set->add_option("value", o->value, "on or off")->required();
  env.AddGlobalFlags(set);
  set->callback([&env, o] { Set(env, *o); });

  CLI::App* refusals = policy->add_subcommand("refusals", "refused enrollment attempts, oldest first");
  refusals->add_option("--serial", o->serial, "only this serial number");
  refusals->add_option("--limit", o->limit, "at most this many")->check(CLI::Range(1, 10000));
  refusals->add_flag("--json", o->json, "print JSON");
  env.AddGlobalFlags(refusals);
  refusals->callback([&env, o] { Refusals(env, *o); });

  CLI::App* check = policy->add_subcommand("check", "is a device eligible for an attested identity?");
  check->add_option("--product", o->product, "product identifier, e.g. iPhone15,2")->required();
  check->add_option("--os-version", o->os_version, "OS version, e.g. 17.4")->required();
  check->add_option("--serial", o->serial, "serial number (must be known from ABM)");
  env.AddGlobalFlags(check);
  check->callback([&env, o] { Check(env, *o); });
}

}  // namespace custos
