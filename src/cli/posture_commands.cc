// `custos device attest|posture ...`: DeviceInformation attestation and device posture from the
// command line (issue 5; posture/posture.h, api/posture_api.h for the JSON).
//   custos device attest ID [--force] [--no-push] [--json]
//   custos device posture ID [--json]
//
// Like the other admin commands these work on the storage directly (the server's --config /
// --data-dir), so they need no API key and work while the server is down. `attest` records the
// request and queues the command; it pushes from this process (one synchronous APNs push) unless
// --no-push. The running server verifies the answer when the device reports it (or, if it was
// down, at its next policy pass: requests and results are durable).
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <string>

#include "acme/service.h"
#include "api/posture_api.h"
#include "api/push_api.h"
#include "attest/attestation.h"
#include "base/random.h"
#include "cli/cli_env.h"
#include "mdm/service.h"
#include "posture/posture.h"
#include "push/service.h"
#include "storage/storage.h"

namespace custos {
namespace {

struct PostureCliOptions {
  std::string device_id;
  bool force = false;
  bool no_push = false;
  bool json = false;
};

struct PostureStack {
  Config config;
  std::unique_ptr<Storage> storage;
  std::unique_ptr<mdm::MdmService> mdm;
  std::unique_ptr<attest::AttestationVerifier> verifier;
  std::unique_ptr<posture::PostureService> posture;
};

StatusOr<PostureStack> OpenPostureStack(CliEnv& env) {
  PostureStack stack;
  ASSIGN_OR_RETURN(stack.config, env.LoadConfig());
  ASSIGN_OR_RETURN(stack.storage, Storage::Open(stack.config.storage, Clock::Real()));
  mdm::MdmServiceOptions options;
  options.command_expiry = stack.config.mdm.command_expiry;
  // Enqueueing never touches bootstrap tokens: a throw-away key (see mdm_commands.cc).
  options.bootstrap_token_key = Random::Secure()->Bytes(32);
  ASSIGN_OR_RETURN(stack.mdm, mdm::MdmService::Create(options, stack.storage.get(), Clock::Real(),
                                                      Random::Secure()));
  // The same trust anchors as the server: Apple's root plus [acme] extra_attestation_roots.
  attest::AttestationVerifier::Options vo;
  ASSIGN_OR_RETURN(vo.extra_roots_pem, acme::ReadPemFiles(stack.config.acme.extra_attestation_roots));
  ASSIGN_OR_RETURN(stack.verifier, attest::AttestationVerifier::Create(vo));
  ASSIGN_OR_RETURN(stack.posture,
                   posture::PostureService::Create(
                       posture::PostureOptions::FromConfig(stack.config.posture),
                       stack.storage.get(), stack.mdm.get(), stack.verifier.get(), Clock::Real(),
                       Random::Secure()));
  return stack;
}

void DeviceAttest(CliEnv& env, const PostureCliOptions& o) {
  auto stack = OpenPostureStack(env);
  if (!stack.ok()) return env.Fail(stack.status());
  auto made = stack->posture->RequestAttestation(o.device_id, "cli", o.force, /*no_push=*/true);
  if (!made.ok()) return env.Fail(made.status());
  nlohmann::json out = api::AttestationRequestToJson(*made);
  if (!o.no_push) {
    std::string passphrase = stack->config.CaPassphrase().value_or("");
    push::PushServiceOptions po;
    po.passphrase = passphrase;
    auto push_service = push::PushService::CreateWithApns(
        stack->storage.get(), push::ApnsOptions::FromConfig(stack->config.push), po);
    if (!push_service.ok()) {
      out["push_error"] = push_service.status().ToString();
    } else {
      auto pushed = (*push_service)->PushNow({made->device_id}, std::chrono::seconds(30));
      if (!pushed.ok()) {
        out["push_error"] = pushed.status().ToString();
      } else {
        nlohmann::json status = nlohmann::json::object();
        api::AddNanoMdmPushResults(*pushed, status);
        out["push"] = std::move(status);
      }
    }
  }
  if (o.json) {
    std::cout << out.dump(2) << std::endl;
    return;
  }
  std::cout << "command_uuid: " << made->command_uuid << "\ndevice_id: " << made->device_id
            << "\nnonce: " << made->nonce_hex << "\nrequested_at: "
            << FormatRfc3339(made->requested_at) << "\nforced: " << (made->forced ? "true" : "false")
            << '\n';
  if (out.contains("push_error")) {
    std::cout << "push: " << out["push_error"].get<std::string>() << '\n';
  } else if (out.contains("push")) {
    for (const auto& [id, r] : out["push"].items()) {
      std::cout << "push: " << (r.contains("push_error") ? r["push_error"].get<std::string>() : "sent")
                << '\n';
    }
  }
}

std::string Text(const nlohmann::json& j) {
  if (j.is_null()) return "-";
  if (j.is_string()) return j.get<std::string>();
  return j.dump();
}

void DevicePosture(CliEnv& env, const PostureCliOptions& o) {
  auto stack = OpenPostureStack(env);
  if (!stack.ok()) return env.Fail(stack.status());
  auto p = stack->posture->GetPosture(o.device_id);
  if (!p.ok()) return env.Fail(p.status());
  if (o.json) {
    std::cout << p->dump(2) << std::endl;
    return;
  }
  const nlohmann::json& j = *p;
  std::cout << "device_id: " << Text(j["device_id"]) << "\nserial_number: " << Text(j["serial_number"])
            << "\nreported_os_version: " << Text(j["reported_os_version"])
            << "\ntrust_level: " << Text(j["trust_level"]) << '\n';
  for (const auto& r : j["reasons"]) std::cout << "reason: " << Text(r) << '\n';
  std::cout << "hardware_attested_identity: " << Text(j["hardware_attested_identity"])
            << "\nlast_fresh_attestation_at: " << Text(j["last_fresh_attestation_at"]) << '\n';
  if (j["latest_verdict"].is_object()) {
    std::cout << "latest_verdict: " << Text(j["latest_verdict"]["verdict"]) << " ("
              << Text(j["latest_verdict"]["reason"]) << ")\n";
  } else {
    std::cout << "latest_verdict: -\n";
  }
  if (j["attested"].is_object()) {
    for (const char* key : {"serial_number", "udid", "os_version", "sepos_version", "llb_version",
                            "software_update_device_id", "sip_status", "secure_boot",
                            "third_party_kexts"}) {
      if (j["attested"].contains(key)) {
        std::cout << "attested." << key << ": " << Text(j["attested"][key]) << '\n';
      }
    }
  }
  std::cout << "pending_request: "
            << (j["pending_request"].is_object() ? Text(j["pending_request"]["command_uuid"]) : "-")
            << "\nnext_attestation_due_at: " << Text(j["next_attestation_due_at"]) << '\n';
}

}  // namespace

void AddPostureCommands(CLI::App& root, CliEnv& env) {
  auto o = std::make_shared<PostureCliOptions>();
  // `device` is created by AddMdmCommands (mdm_commands.cc); add it when that is absent.
  CLI::App* device = nullptr;
  try {
    device = root.get_subcommand("device");
  } catch (const CLI::Error&) {
    device = root.add_subcommand("device", "MDM enrollments (devices and user channels)");
    device->require_subcommand(1);
  }

  CLI::App* attest = device->add_subcommand(
      "attest", "request a fresh DeviceInformation attestation (32-byte nonce) and push");
  attest->add_option("id", o->device_id, "device ID (UDID)")->required();
  attest->add_flag("--force", o->force, "send even inside the attestation rate limit");
  attest->add_flag("--no-push", o->no_push, "queue only");
  attest->add_flag("--json", o->json, "print the admin API's JSON");
  env.AddGlobalFlags(attest);
  attest->callback([o, &env] { DeviceAttest(env, *o); });

  CLI::App* posture = device->add_subcommand(
      "posture", "attested properties, verdicts and trust level of a device");
  posture->add_option("id", o->device_id, "device ID (UDID)")->required();
  posture->add_flag("--json", o->json, "print the admin API's JSON");
  env.AddGlobalFlags(posture);
  posture->callback([o, &env] { DevicePosture(env, *o); });
}

}  // namespace custos
