// `custos inspect scep FILE`: decodes an SCEP PKIOperation message (RFC 8894) as custos' SCEP
// service would and prints message_type, transaction_id, nonces, digest and encryption algorithms,
// the signer certificate's subject and validity and whether the signature verifies. With
// --config or --data-dir and a CA in that store, the envelope is opened with custos' CA key and
// the CSR's subject, SANs, key and whether a challenge is present are shown (never the challenge).
// FILE is DER, base64 (as in a GET `message` parameter) or "-" for standard input.
// Exit status: 0 acceptable message, 2 refused (bad signature, bad algorithm, ...), 1 error.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>

#include "base/encoding.h"
#include "base/openssl_util.h"
#include "base/time.h"
#include "cli/cli_env.h"
#include "scep/ca_keys.h"
#include "scep/inspect.h"
#include "storage/storage.h"

namespace custos {
namespace {


struct InspectScepOptions {
  std::string file;
  bool json = false;
};

StatusOr<std::string> ReadInput(const std::string& path) {
  ASSIGN_OR_RETURN(std::string data, ReadInputFile(path));
  // DER starts with a SEQUENCE tag; anything else is tried as base64 (URL-decoded GET bodies).
  if (!data.empty() && static_cast<unsigned char>(data[0]) != 0x30) {
    if (auto der = Base64Decode(data); der.ok()) return *der;
  }
  return data;
}

// The CA keys, when the user pointed at a store that has a CA. Problems are reported as a field.
std::vector<scep::CaKeyPair> LoadCaKeys(CliEnv& env, std::string* note) {
  auto env_vars = ProcessEnvironment();
  bool store_given = !env.options.config_path.empty() || !env.options.data_dir.empty() ||
                     env_vars.count("CUSTOS_CONFIG") > 0;
  if (!store_given) return {};
  auto config = env.LoadConfig();
  if (!config.ok()) {
    *note = "configuration: " + config.status().message();
    return {};
  }
  if (config->storage.driver == "sqlite" &&
      !std::filesystem::exists(config->storage.sqlite_path)) {
    *note = "no store at " + config->storage.sqlite_path;
    return {};
  }
  auto storage = Storage::Open(config->storage, Clock::Real());
  if (!storage.ok()) {
    *note = "store: " + storage.status().message();
    return {};
  }
  auto passphrase = config->CaPassphrase();
  if (!passphrase.ok()) {
    *note = passphrase.status().message();
    return {};
  }
  auto keys = scep::LoadIssuingKeyPairs(**storage, *passphrase);
  if (!keys.ok()) {
    *note = keys.status().message();
    return {};
  }
  return std::move(*keys);
}

int Run(const InspectScepOptions& options, CliEnv& env) {
  auto data = ReadInput(options.file);
  if (!data.ok()) {
    env.Fail(data.status());
    return 1;
  }
  std::string note;
  std::vector<scep::CaKeyPair> keys = LoadCaKeys(env, &note);
  // Diagnostics read what the server would refuse too, so single DES is readable here.
  bool legacy = LoadLegacyProvider().ok();
  scep::Inspection inspection = scep::InspectPkiOperation(*data, keys, legacy);
  if (!note.empty()) inspection.fields.emplace_back("ca", note);
  PrintFields(inspection.fields, options.json);
  return inspection.decoded_ok ? 0 : 2;
}

}  // namespace

void AddInspectScepCommand(CLI::App& inspect, CliEnv& env) {
  auto options = std::make_shared<InspectScepOptions>();
  CLI::App* cmd = inspect.add_subcommand(
      "scep",
      "Decode an SCEP PKIOperation message (DER or base64): type, transaction, algorithms, "
      "signer, signature, and the CSR when custos' CA can open it; exit 0 ok, 2 refused, 1 error");
  cmd->add_option("FILE", options->file, "message file, or - for standard input")->required();
  cmd->add_flag("--json", options->json, "print one JSON object");
  env.AddGlobalFlags(cmd);
  cmd->callback([options, &env]() {
    int code = Run(*options, env);
    if (code != 0) env.exit_code = code;
  });
}

}  // namespace custos
