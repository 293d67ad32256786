// `custos dep ...`: Apple Business Manager (DEP) administration (issue 6).
//   custos dep cert NAME                  new STAGING token PKI pair; prints its certificate (PEM)
//                                         to upload to ABM (the current pair keeps working)
//   custos dep tokens NAME FILE.p7m [--force]   stores the token file downloaded from ABM:
//                                         decrypts with the staging key (then promotes it) or the
//                                         current key; --force accepts another consumer key
//   custos dep show NAME [--json]         current_cert_sha256:, staging_cert_sha256:,
//                                         consumer_key:, access_token_expiry:, ...
//   custos dep list                       one line per DEP name
//   custos dep maidjwt NAME [--server-uuid UUID]  prints a MAID JWT
//   custos dep sync NAME                  one fetch/sync round with ABM now
// All take --config / --data-dir like every command that reads the store.
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <string>

#include "base/random.h"
#include "base/time.h"
#include "cli/cli_env.h"
#include "cli/commands.h"
#include "dep/service.h"
#include "dep/syncer.h"
#include "dep/token_pki.h"
#include "storage/storage.h"

namespace custos {
namespace {

struct DepCliOptions {
  std::string name;
  std::string file;
  std::string server_uuid;
  bool force = false;
  bool json = false;
};

struct DepStack {
  std::unique_ptr<Storage> storage;
  std::unique_ptr<dep::DepService> service;
};

StatusOr<DepStack> OpenStack(CliEnv& env) {
  ASSIGN_OR_RETURN(Config config, env.LoadConfig());
  DepStack stack;
  ASSIGN_OR_RETURN(stack.storage, Storage::Open(config.storage, Clock::Real()));
  ASSIGN_OR_RETURN(std::string passphrase, config.CaPassphrase());
  ASSIGN_OR_RETURN(stack.service, dep::DepService::Create(config.dep, stack.storage.get(),
                                                          Clock::Real(), Random::Secure(),
                                                          passphrase));
  return stack;
}

std::vector<std::pair<std::string, std::string>> InfoFields(const dep::DepNameInfo& info) {
  return {{"name", info.name},
          {"current_cert_sha256", info.current_cert_sha256},
          {"staging_cert_sha256", info.staging_cert_sha256},
          {"consumer_key", info.consumer_key},
          {"access_token_expiry",
           info.access_token_expiry ? FormatRfc3339(*info.access_token_expiry) : ""},
          {"token_expiry_warning", info.token_expiry_warning ? "true" : "false"},
          {"server_uuid", info.server_uuid},
          {"fetch_completed", info.fetch_completed ? "true" : "false"}};
}

}  // namespace

void AddDepCommands(CLI::App& root, CliEnv& env) {
  auto o = std::make_shared<DepCliOptions>();
  CLI::App* dep = root.add_subcommand("dep", "Apple Business Manager (DEP): tokens, MAID, sync");
  dep->require_subcommand(1);

  CLI::App* cert = dep->add_subcommand("cert", "stage a new token PKI pair; print its certificate (PEM)");
  cert->add_option("NAME", o->name, "DEP name")->required();
  env.AddGlobalFlags(cert);
  cert->callback([o, &env]() {
    auto stack = OpenStack(env);
    if (!stack.ok()) return env.Fail(stack.status());
    auto pem = stack->service->NewStagingCertificate(o->name);
    if (!pem.ok()) return env.Fail(pem.status());
    std::cout << *pem;
  });

  CLI::App* tokens = dep->add_subcommand("tokens", "store the token file (.p7m) downloaded from ABM");
  tokens->add_option("NAME", o->name, "DEP name")->required();
  tokens->add_option("FILE", o->file, "token file from ABM ('-' for standard input)")->required();
  tokens->add_flag("--force", o->force, "accept a different consumer key than the stored one");
  env.AddGlobalFlags(tokens);
  tokens->callback([o, &env]() {
    auto file = ReadInputFile(o->file, dep::kMaxTokenFileBytes);
    if (!file.ok()) return env.Fail(file.status());
    auto stack = OpenStack(env);
    if (!stack.ok()) return env.Fail(stack.status());
    auto r = stack->service->UploadTokens(o->name, *file, o->force);
    if (!r.ok()) return env.Fail(r.status());
    auto fields = InfoFields(r->info);
    fields.emplace_back("promoted", r->promoted ? "true" : "false");
    PrintFields(fields, false);
  });

  CLI::App* show = dep->add_subcommand("show", "show a DEP name: key pairs, tokens, sync state");
  show->add_option("NAME", o->name, "DEP name")->required();
  show->add_flag("--json", o->json, "one JSON object");
  env.AddGlobalFlags(show);
  show->callback([o, &env]() {
    auto stack = OpenStack(env);
    if (!stack.ok()) return env.Fail(stack.status());
    auto info = stack->service->Show(o->name);
    if (!info.ok()) return env.Fail(info.status());
    PrintFields(InfoFields(*info), o->json);
  });

  CLI::App* list = dep->add_subcommand("list", "list DEP names");
  env.AddGlobalFlags(list);
  list->callback([&env]() {
    auto stack = OpenStack(env);
    if (!stack.ok()) return env.Fail(stack.status());
    auto names = stack->service->List();
    if (!names.ok()) return env.Fail(names.status());
    for (const auto& n : *names) {
      std::cout << n.name << " consumer_key=" << n.consumer_key << " expiry="
                << (n.access_token_expiry ? FormatRfc3339(*n.access_token_expiry) : "-")
                << (n.staging_cert_sha256.empty() ? "" : " (staging pair pending)") << "\n";
    }
  });

  CLI::App* maid = dep->add_subcommand("maidjwt", "print a MAID access-management JWT");
  maid->add_option("NAME", o->name, "DEP name")->required();
  maid->add_option("--server-uuid", o->server_uuid, "issuer (default: cached ABM server UUID)");
  env.AddGlobalFlags(maid);
  maid->callback([o, &env]() {
    auto stack = OpenStack(env);
    if (!stack.ok()) return env.Fail(stack.status());
    auto jwt = stack->service->MaidJwt(o->name, o->server_uuid);
    if (!jwt.ok()) return env.Fail(jwt.status());
    std::cout << *jwt << std::endl;
  });

  CLI::App* sync = dep->add_subcommand("sync", "run one device fetch/sync round with ABM now");
  sync->add_option("NAME", o->name, "DEP name")->required();
  env.AddGlobalFlags(sync);
  sync->callback([o, &env]() {
    auto stack = OpenStack(env);
    if (!stack.ok()) return env.Fail(stack.status());
    dep::Syncer syncer(stack->service.get(), o->name, nullptr);
    auto s = syncer.RunOnce();
    if (!s.ok()) return env.Fail(s.status());
    PrintFields({{"fetch_pages", std::to_string(s->fetch_pages)},
                 {"sync_pages", std::to_string(s->sync_pages)},
                 {"devices", std::to_string(s->devices)},
                 {"new_devices", std::to_string(s->new_devices)},
                 {"assigned", std::to_string(s->assigned)},
                 {"restarted", s->restarted ? "true" : "false"}},
                false);
  });
}

}  // namespace custos
