// `custos renewal ...`: identity renewal over MDM (issue 7, "Identity renewal"; mdm/renewal.h).
//   custos renewal list [--enrollment ID] [--status pending|completed|failed] [--limit N] [--json]
//       the recorded renewal attempts
//   custos renewal due [--at RFC3339] [--window 30d] [--retry-after 1d] [--json]
//       the identities the job would renew now (or as of --at), with the identity kind the
//       enrollment policy chooses for each; read-only
// Like the other admin commands these read the storage directly (the --config / --data-dir of the
// server). Renewals are queued by `custos serve` (the job, or POST /v1/renewals/run), which pushes.
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <string>

#include "api/renewal_api.h"
#include "base/time.h"
#include "cli/cli_env.h"
#include "policy/policy.h"
#include "storage/storage.h"

namespace custos {
namespace {

struct RenewalCliOptions {
  bool json = false;
  std::string enrollment;
  std::string status;
  int64_t limit = 100;
  std::string at;
  std::string window;
  std::string retry_after;
};

void List(CliEnv& env, const RenewalCliOptions& o) {
  auto config = env.LoadConfig();
  if (!config.ok()) return env.Fail(config.status());
  auto storage = Storage::Open(config->storage, Clock::Real());
  if (!storage.ok()) return env.Fail(storage.status());
  RenewalRequestFilter f;
  f.enrollment_id = o.enrollment;
  f.status = o.status;
  f.limit = o.limit;
  std::vector<RenewalRequestRecord> list;
  Status s = (*storage)->Transact(
      [&](Stores& st) -> Status {
        ASSIGN_OR_RETURN(list, st.renewal().ListRequests(f));
        return OkStatus();
      },
      TxMode::kReadOnly);
  if (!s.ok()) return env.Fail(s);
  if (o.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : list) out.push_back(api::RenewalRequestToJson(r));
    std::cout << out.dump(2) << std::endl;
    return;
  }
  for (const auto& r : list) {
    std::cout << r.id << "  " << FormatRfc3339(r.requested_at) << "  " << r.enrollment_id << "  "
              << r.old_serial << " -> " << (r.new_serial.empty() ? "-" : r.new_serial) << "  "
              << r.identity_kind << "  " << r.status << "  " << r.command_uuid << "  " << r.reason
              << "\n";
  }
}

void Due(CliEnv& env, const RenewalCliOptions& o) {
  auto config = env.LoadConfig();
  if (!config.ok()) return env.Fail(config.status());
  Time at = Clock::Real()->Now();
  if (!o.at.empty()) {
    auto t = ParseRfc3339(o.at);
    if (!t.ok()) return env.Fail(t.status());
    at = *t;
  }
  Duration window = config->renewal.window;
  Duration retry = config->renewal.retry_after;
  if (!o.window.empty()) {
    auto d = ParseDuration(o.window);
    if (!d.ok()) return env.Fail(d.status());
    window = *d;
  }
  if (!o.retry_after.empty()) {
    auto d = ParseDuration(o.retry_after);
    if (!d.ok()) return env.Fail(d.status());
    retry = *d;
  }
  auto storage = Storage::Open(config->storage, Clock::Real());
  if (!storage.ok()) return env.Fail(storage.status());
  auto policy = policy::EnrollmentPolicy::Create(*config, storage->get(), Clock::Real());
  if (!policy.ok()) return env.Fail(policy.status());
  std::vector<RenewalCandidate> due;
  Status s = (*storage)->Transact(
      [&](Stores& st) -> Status {
        ASSIGN_OR_RETURN(due, st.renewal().ListDue(at, at + window, at - retry,
                                                   config->renewal.batch_size));
        return OkStatus();
      },
      TxMode::kReadOnly);
  if (!s.ok()) return env.Fail(s);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& c : due) {
    policy::DeviceFacts facts{c.device_serial, c.product_name, c.os_version};
    auto kind = (*policy)->IdentityFor(facts);
    std::string identity = !kind.ok() ? "error: " + kind.status().message()
                           : *kind == policy::IdentityKind::kAttestedAcme ? "acme"
                                                                          : "scep";
    if (o.json) {
      out.push_back({{"enrollment_id", c.enrollment_id},
                     {"serial", c.serial_hex},
                     {"not_after", FormatRfc3339(c.not_after)},
                     {"current_kind", c.requester},
                     {"identity", identity},
                     {"attempts", c.attempts}});
    } else {
      std::cout << c.enrollment_id << "  " << c.serial_hex << "  expires "
                << FormatRfc3339(c.not_after) << "  " << c.requester << " -> " << identity
                << "  attempts " << c.attempts << "\n";
    }
  }
  if (o.json) std::cout << out.dump(2) << std::endl;
}

}  // namespace

void AddRenewalCommands(CLI::App& root, CliEnv& env) {
  auto options = std::make_shared<RenewalCliOptions>();
  CLI::App* renewal = root.add_subcommand("renewal", "identity renewal over MDM (InstallProfile)");
  renewal->require_subcommand(1);

  CLI::App* list = renewal->add_subcommand("list", "recorded renewal attempts");
  env.AddGlobalFlags(list);
  list->add_option("--enrollment", options->enrollment, "only this enrollment (device) id");
  list->add_option("--status", options->status, "pending, completed or failed")
      ->check(CLI::IsMember({"pending", "completed", "failed"}));
  list->add_option("--limit", options->limit, "at most this many")->check(CLI::Range(1, 10000));
  list->add_flag("--json", options->json, "JSON output");
  list->callback([&env, options] { List(env, *options); });

  CLI::App* due = renewal->add_subcommand("due", "identities the renewal job would renew (read-only)");
  env.AddGlobalFlags(due);
  due->add_option("--at", options->at, "as of this RFC 3339 instant instead of now");
  due->add_option("--window", options->window, "instead of renewal.window");
  due->add_option("--retry-after", options->retry_after, "instead of renewal.retry_after");
  due->add_flag("--json", options->json, "JSON output");
  due->callback([&env, options] { Due(env, *options); });
}

}  // namespace custos
