// `custos device|command|push-cert ...`: MDM administration from the command line (issue 4).
//   custos device list [--type T] [--serial S] [--enabled true|false] [--limit N] [--json]
//   custos command send --enrollment ID[,ID...] (--request-type T [--params JSON] | --raw FILE)
//                       [--priority N] [--no-push] [--json]
//   custos command list --enrollment ID [--active] [--limit N] [--json]
//   custos push-cert install (--cert PEM [--key PEM] [--key-password-file F]
//                             | --p12 FILE --password-file F)
//   custos push-cert list [--json]
//
// Like the other admin commands these talk to the storage directly (the --config / --data-dir of
// the server), not to a running server's API, so they work while the server is down and need no
// API key. Consequences: `command send` pushes from this process itself (one synchronous push per
// queued enrollment, results printed) unless --no-push; a running server picks up a certificate
// installed here within a minute (the APNs provider re-reads certificates every 60 s), and its
// expiry metric within five. --json prints the admin API's JSON for the same objects.
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <string>

#include "api/mdm_api.h"
#include "api/push_api.h"
#include "base/random.h"
#include "base/time.h"
#include "cli/cli_env.h"
#include "mdm/service.h"
#include "push/service.h"
#include "storage/storage.h"

namespace custos {
namespace {

struct MdmCliOptions {
  bool json = false;
  std::string type;
  std::string serial;
  std::string enabled;
  int64_t limit = 100;
  std::vector<std::string> enrollments;
  std::string request_type;
  std::string params;
  std::string raw_file;
  int64_t priority = 0;
  bool no_push = false;
  bool active = false;
  std::string cert_file;
  std::string key_file;
  std::string key_password_file;
  std::string p12_file;
  std::string password_file;
};

struct MdmStack {
  Config config;
  std::string passphrase;
  std::unique_ptr<Storage> storage;
  std::unique_ptr<mdm::MdmService> mdm;
};

StatusOr<MdmStack> OpenStack(CliEnv& env, bool with_mdm) {
  MdmStack stack;
  ASSIGN_OR_RETURN(stack.config, env.LoadConfig());
  ASSIGN_OR_RETURN(stack.passphrase, stack.config.CaPassphrase());
  ASSIGN_OR_RETURN(stack.storage, Storage::Open(stack.config.storage, Clock::Real()));
  if (with_mdm) {
    mdm::MdmServiceOptions options;
    options.command_expiry = stack.config.mdm.command_expiry;
    // Enqueueing never touches bootstrap tokens: a throw-away key keeps the CLI from creating
    // the server's key file.
    options.bootstrap_token_key = Random::Secure()->Bytes(32);
    ASSIGN_OR_RETURN(stack.mdm, mdm::MdmService::Create(options, stack.storage.get(),
                                                        Clock::Real(), Random::Secure()));
  }
  return stack;
}

// The first line of a password file ("" for none given).
StatusOr<std::string> ReadPassword(const std::string& path) {
  if (path.empty()) return std::string();
  ASSIGN_OR_RETURN(std::string text, ReadInputFile(path, 64 * 1024));
  size_t end = text.find_first_of("\r\n");
  return end == std::string::npos ? text : text.substr(0, end);
}

void DeviceList(CliEnv& env, const MdmCliOptions& o) {
  auto stack = OpenStack(env, true);
  if (!stack.ok()) return env.Fail(stack.status());
  MdmEnrollmentFilter f;
  f.type = o.type;
  f.serial_number = o.serial;
  f.limit = o.limit;
  if (o.enabled == "true") f.enabled = true;
  if (o.enabled == "false") f.enabled = false;
  if (!o.enabled.empty() && !f.enabled.has_value()) {
    return env.Fail(InvalidArgumentError("--enabled must be true or false"));
  }
  auto list = stack->mdm->ListEnrollments(f);
  if (!list.ok()) return env.Fail(list.status());
  if (o.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& e : *list) out.push_back(api::EnrollmentToJson(e));
    std::cout << out.dump(2) << std::endl;
    return;
  }
  std::cout << "ID\tTYPE\tENABLED\tSERIAL\tHARDWARE_ATTESTED\tLAST_SEEN\n";
  for (const auto& e : *list) {
    std::cout << e.id << '\t' << e.type << '\t' << (e.enabled ? "true" : "false") << '\t'
              << (e.serial_number.empty() ? "-" : e.serial_number) << '\t'
              << (e.hardware_attested ? "true" : "false") << '\t'
              << (e.last_seen ? FormatRfc3339(*e.last_seen) : "-") << '\n';
  }
}

void CommandSend(CliEnv& env, const MdmCliOptions& o) {
  mdm::EnqueueRequest req;
  for (const auto& e : o.enrollments) {
    for (auto& id : api::SplitIds(e)) req.enrollment_ids.push_back(std::move(id));
  }
  if (req.enrollment_ids.empty()) return env.Fail(InvalidArgumentError("--enrollment is required"));
  if (o.request_type.empty() == o.raw_file.empty()) {
    return env.Fail(InvalidArgumentError("give --request-type (with --params) or --raw FILE"));
  }
  if (!o.raw_file.empty()) {
    auto raw = ReadInputFile(o.raw_file, 8 * 1024 * 1024);
    if (!raw.ok()) return env.Fail(raw.status());
    req.raw_command = *std::move(raw);
  } else {
    req.request_type = o.request_type;
    if (!o.params.empty()) {
      req.params = nlohmann::json::parse(o.params, nullptr, /*allow_exceptions=*/false);
      if (req.params.is_discarded()) {
        return env.Fail(InvalidArgumentError("--params must be a JSON object"));
      }
    }
  }
  req.priority = o.priority;
  req.no_push = true;  // pushed below, synchronously, so the results can be printed
  auto stack = OpenStack(env, true);
  if (!stack.ok()) return env.Fail(stack.status());
  auto result = stack->mdm->Enqueue(req);
  if (!result.ok()) return env.Fail(result.status());
  nlohmann::json out = {{"command_uuid", result->command_uuid},
                        {"request_type", result->request_type},
                        {"queued", result->queued},
                        {"unknown", result->unknown}};
  if (!o.no_push && !result->queued.empty()) {
    push::PushServiceOptions po;
    po.passphrase = stack->passphrase;
    auto push_service = push::PushService::CreateWithApns(
        stack->storage.get(), push::ApnsOptions::FromConfig(stack->config.push), po);
    if (!push_service.ok()) return env.Fail(push_service.status().WithContext("push"));
    auto pushed = (*push_service)->PushNow(result->queued, std::chrono::seconds(30));
    if (!pushed.ok()) return env.Fail(pushed.status().WithContext("push"));
    nlohmann::json status = nlohmann::json::object();
    api::AddNanoMdmPushResults(*pushed, status);
    out["push"] = std::move(status);
  }
  if (o.json) {
    std::cout << out.dump(2) << std::endl;
    return;
  }
  std::cout << "command_uuid: " << result->command_uuid << "\nrequest_type: "
            << result->request_type << "\nqueued: " << result->queued.size() << '\n';
  for (const auto& id : result->unknown) std::cout << "unknown enrollment: " << id << '\n';
  if (out.contains("push")) {
    for (const auto& [id, r] : out["push"].items()) {
      if (r.contains("push_error")) {
        std::cout << "push " << id << ": " << r["push_error"].get<std::string>() << '\n';
      }
    }
  }
  if (!result->unknown.empty()) env.exit_code = 2;
}

void CommandList(CliEnv& env, const MdmCliOptions& o) {
  if (o.enrollments.size() != 1) {
    return env.Fail(InvalidArgumentError("give exactly one --enrollment"));
  }
  auto stack = OpenStack(env, true);
  if (!stack.ok()) return env.Fail(stack.status());
  MdmQueueFilter f;
  f.enrollment_id = o.enrollments[0];
  f.active_only = o.active;
  f.limit = o.limit;
  auto list = stack->mdm->ListCommands(f);
  if (!list.ok()) return env.Fail(list.status());
  if (o.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& q : *list) out.push_back(api::QueueEntryToJson(q));
    std::cout << out.dump(2) << std::endl;
    return;
  }
  std::cout << "COMMAND_UUID\tREQUEST_TYPE\tSTATUS\tQUEUED_AT\tRESULT_AT\n";
  for (const auto& q : *list) {
    std::cout << q.command_uuid << '\t' << q.request_type << '\t' << q.status << '\t'
              << FormatRfc3339(q.queued_at) << '\t'
              << (q.result_at ? FormatRfc3339(*q.result_at) : "-") << '\n';
  }
}

void PushCertInstall(CliEnv& env, const MdmCliOptions& o) {
  if (o.p12_file.empty() == o.cert_file.empty()) {
    return env.Fail(InvalidArgumentError("give --cert PEM [--key PEM] or --p12 FILE"));
  }
  StatusOr<std::unique_ptr<push::PushCertificate>> cert =
      InvalidArgumentError("no certificate given");
  if (!o.p12_file.empty()) {
    auto der = ReadInputFile(o.p12_file);
    if (!der.ok()) return env.Fail(der.status());
    auto password = ReadPassword(o.password_file);
    if (!password.ok()) return env.Fail(password.status());
    cert = push::PushCertificate::FromPkcs12(*der, *password);
  } else {
    auto pem = ReadInputFile(o.cert_file);
    if (!pem.ok()) return env.Fail(pem.status());
    std::string key;
    if (!o.key_file.empty()) {
      auto k = ReadInputFile(o.key_file);
      if (!k.ok()) return env.Fail(k.status());
      key = *std::move(k);
    }
    auto password = ReadPassword(o.key_password_file);
    if (!password.ok()) return env.Fail(password.status());
    cert = push::PushCertificate::FromPem(*pem, key, *password);
  }
  if (!cert.ok()) return env.Fail(cert.status());
  auto stack = OpenStack(env, false);
  if (!stack.ok()) return env.Fail(stack.status());
  auto info = push::InstallPushCertificate(*stack->storage, **cert, stack->passphrase,
                                           Clock::Real());
  if (!info.ok()) return env.Fail(info.status());
  PrintFields({{"topic", info->topic},
               {"subject", info->subject},
               {"sha256", info->sha256},
               {"not_after", FormatRfc3339(info->not_after)},
               {"key_encrypted", info->key_encrypted ? "true" : "false"}},
              o.json);
}

void PushCertList(CliEnv& env, const MdmCliOptions& o) {
  auto stack = OpenStack(env, false);
  if (!stack.ok()) return env.Fail(stack.status());
  auto certs = push::ListPushCertificates(*stack->storage);
  if (!certs.ok()) return env.Fail(certs.status());
  Time now = Clock::Real()->Now();
  if (o.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& c : *certs) out.push_back(api::PushCertToJson(c, now));
    std::cout << out.dump(2) << std::endl;
    return;
  }
  std::cout << "TOPIC\tNOT_AFTER\tEXPIRES_IN_DAYS\tSHA256\n";
  for (const auto& c : *certs) {
    std::cout << c.topic << '\t' << FormatRfc3339(c.not_after) << '\t'
              << std::chrono::duration_cast<std::chrono::hours>(c.not_after - now).count() / 24
              << '\t' << c.sha256 << '\n';
  }
}

}  // namespace

void AddMdmCommands(CLI::App& root, CliEnv& env) {
  auto o = std::make_shared<MdmCliOptions>();

  CLI::App* device = root.add_subcommand("device", "MDM enrollments (devices and user channels)");
  device->require_subcommand(1);
  CLI::App* dlist = device->add_subcommand("list", "list enrollments: ID TYPE ENABLED SERIAL");
  dlist->add_option("--type", o->type, "Device, User, User Enrollment, ...");
  dlist->add_option("--serial", o->serial, "serial number");
  dlist->add_option("--enabled", o->enabled, "true or false");
  dlist->add_option("--limit", o->limit, "at most this many (1..10000)");
  dlist->add_flag("--json", o->json, "print the admin API's JSON");
  env.AddGlobalFlags(dlist);
  dlist->callback([o, &env] { DeviceList(env, *o); });

  CLI::App* command = root.add_subcommand("command", "MDM commands: queue and results");
  command->require_subcommand(1);
  CLI::App* send = command->add_subcommand("send", "queue a command for enrollments and push");
  send->add_option("--enrollment", o->enrollments, "enrollment ID(s), repeatable or comma-separated")
      ->required();
  send->add_option("--request-type", o->request_type, "builder: DeviceInformation, ProfileList, ...");
  send->add_option("--params", o->params, "JSON object of the command's keys (data as base64)");
  send->add_option("--raw", o->raw_file, "a command plist file ({CommandUUID, Command}), - for stdin");
  send->add_option("--priority", o->priority, "higher is sent first");
  send->add_flag("--no-push", o->no_push, "queue only");
  send->add_flag("--json", o->json, "print JSON");
  env.AddGlobalFlags(send);
  send->callback([o, &env] { CommandSend(env, *o); });

  CLI::App* clist = command->add_subcommand("list", "an enrollment's commands with status and result");
  clist->add_option("--enrollment", o->enrollments, "enrollment ID")->required();
  clist->add_flag("--active", o->active, "only commands still queued");
  clist->add_option("--limit", o->limit, "at most this many (1..10000)");
  clist->add_flag("--json", o->json, "print the admin API's JSON (with results)");
  env.AddGlobalFlags(clist);
  clist->callback([o, &env] { CommandList(env, *o); });

  CLI::App* pc = root.add_subcommand("push-cert", "MDM push certificates (APNs), per topic");
  pc->require_subcommand(1);
  CLI::App* install = pc->add_subcommand("install", "install the push certificate of its topic");
  install->add_option("--cert", o->cert_file, "PEM certificate (may also hold the key)");
  install->add_option("--key", o->key_file, "PEM private key");
  install->add_option("--key-password-file", o->key_password_file, "password of an encrypted PEM key");
  install->add_option("--p12", o->p12_file, "PKCS#12 file (as exported from Keychain Access)");
  install->add_option("--password-file", o->password_file, "file holding the PKCS#12 password");
  install->add_flag("--json", o->json, "print JSON");
  env.AddGlobalFlags(install);
  install->callback([o, &env] { PushCertInstall(env, *o); });

  CLI::App* plist = pc->add_subcommand("list", "installed push certificates and their expiry");
  plist->add_flag("--json", o->json, "print JSON");
  env.AddGlobalFlags(plist);
  plist->callback([o, &env] { PushCertList(env, *o); });
}

}  // namespace custos
