// `custos inspect attestation FILE`: verifies an Apple Managed Device Attestation chain with the
// same verifier ACME and DeviceInformation use (attest/attestation.h) and prints the verdict and
// every attested property. FILE is a PEM chain, DER certificates, a CBOR attestation object (raw
// or base64/base64url) or a device-attest-01 JSON payload; "-" reads standard input.
// It does not open the store. Exit status: 0 valid, 2 invalid verdict, 1 error.
#include <CLI/CLI.hpp>

#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "attest/attestation.h"
#include "attest/attestation_object.h"
#include "base/encoding.h"
#include "base/time.h"
#include "cli/cli_env.h"

namespace custos {
namespace {


struct InspectAttestationOptions {
  std::string file;
  std::string at;
  std::string nonce_hex;
  std::string acme_token;
  std::vector<std::string> roots;
  std::string serial;
  std::string udid;
  bool json = false;
};


std::string Text(const std::optional<std::string>& v) {
  return v.has_value() ? attest::EscapeNonPrintable(*v) : "(absent)";
}
std::string Int(const std::optional<int64_t>& v) {
  return v.has_value() ? std::to_string(*v) : "(absent)";
}

std::vector<std::pair<std::string, std::string>> Fields(const attest::AttestationResult& r,
                                                        size_t chain_length) {
  std::vector<std::pair<std::string, std::string>> f;
  f.emplace_back("verdict", r.valid ? "valid" : "invalid (" + r.reason + ")");
  if (!r.valid) {
    f.emplace_back("failed_check", std::string(attest::AttestationCheckName(r.failed_check)));
  }
  f.emplace_back("verified_at", FormatRfc3339(r.verified_at));
  f.emplace_back("chain_length", std::to_string(chain_length));
  if (r.properties.has_value()) {
    const attest::AttestationProperties& p = *r.properties;
    f.emplace_back("serial", Text(p.serial_number));
    f.emplace_back("udid", Text(p.udid));
    f.emplace_back("software_update_device_id", Text(p.software_update_device_id));
    f.emplace_back("os_version", Text(p.os_version));
    f.emplace_back("sepos_version", Text(p.sepos_version));
    f.emplace_back("llb_version", Text(p.llb_version));
    f.emplace_back("freshness",
                   p.freshness_code.has_value() ? HexEncode(*p.freshness_code) : "(absent)");
    f.emplace_back("sip", Int(p.sip_status));
    f.emplace_back("secure_boot", Text(p.secure_boot));
    f.emplace_back("kexts", Int(p.third_party_kexts));
    std::string ekus;
    for (const std::string& oid : p.extended_key_usages) ekus += (ekus.empty() ? "" : ",") + oid;
    f.emplace_back("extended_key_usage", ekus.empty() ? "(none)" : ekus);
    std::string unknown;
    for (const attest::UnknownExtension& u : p.unknown_extensions) {
      unknown += (unknown.empty() ? "" : ", ") + u.oid + "=" + u.value_hex +
                 (u.critical ? " (critical)" : "");
    }
    f.emplace_back("unknown_extensions", unknown.empty() ? "(none)" : unknown);
    f.emplace_back("leaf_subject", p.leaf_subject);
    f.emplace_back("leaf_serial", p.leaf_serial_hex);
    f.emplace_back("leaf_not_before", FormatRfc3339(p.leaf_not_before));
    f.emplace_back("leaf_not_after", FormatRfc3339(p.leaf_not_after));
    f.emplace_back("key_sha256", HexEncode(p.leaf_key_sha256));
  }
  std::string findings;
  for (const std::string& s : r.findings) findings += (findings.empty() ? "" : "; ") + s;
  f.emplace_back("findings", findings.empty() ? "(none)" : findings);
  return f;
}

// Returns the exit code; errors are reported through env.Fail.
int Run(const InspectAttestationOptions& o, CliEnv& env) {
  auto fail = [&env](const Status& s) {
    env.Fail(s);
    return 1;
  };
  StatusOr<std::string> data = ReadInputFile(o.file);
  if (!data.ok()) return fail(data.status());
  StatusOr<std::vector<std::string>> chain = attest::DecodeAttestationChainAnyForm(*data);
  if (!chain.ok()) return fail(chain.status().WithContext(o.file));

  attest::AttestationVerifier::Options verifier_options;
  for (const std::string& root : o.roots) {
    StatusOr<std::string> pem = ReadInputFile(root);
    if (!pem.ok()) return fail(pem.status());
    verifier_options.extra_roots_pem.push_back(std::move(pem).value());
  }
  auto verifier = attest::AttestationVerifier::Create(std::move(verifier_options));
  if (!verifier.ok()) return fail(verifier.status());

  Time at = Clock::Real()->Now();
  if (!o.at.empty()) {
    StatusOr<Time> parsed = ParseRfc3339(o.at);
    if (!parsed.ok()) return fail(parsed.status().WithContext("--at"));
    at = *parsed;
  }

  attest::AttestationExpectations expected;
  if (!o.nonce_hex.empty() && !o.acme_token.empty()) {
    return fail(InvalidArgumentError("--nonce and --acme-token are exclusive"));
  }
  if (!o.nonce_hex.empty()) {
    StatusOr<std::string> nonce = HexDecode(o.nonce_hex);
    if (!nonce.ok()) return fail(nonce.status().WithContext("--nonce"));
    expected.freshness = {attest::FreshnessKind::kDeviceInformationNonce, *nonce};
  } else if (!o.acme_token.empty()) {
    expected.freshness = {attest::FreshnessKind::kAcmeToken, o.acme_token};
  }
  if (!o.serial.empty()) expected.serial_number = o.serial;
  if (!o.udid.empty()) expected.udid = o.udid;

  attest::AttestationResult result = (*verifier)->VerifyAt(*chain, expected, at);
  PrintFields(Fields(result, chain->size()), o.json);
  return result.valid ? 0 : 2;
}

}  // namespace

void AddInspectAttestationCommand(CLI::App& inspect, CliEnv& env) {
  auto options = std::make_shared<InspectAttestationOptions>();
  CLI::App* cmd = inspect.add_subcommand(
      "attestation",
      "Verify an Apple device attestation (PEM chain, DER, CBOR attObj, base64 or ACME payload) "
      "and print its properties; exit 0 valid, 2 invalid, 1 error");
  cmd->add_option("FILE", options->file, "attestation file, or - for standard input")->required();
  cmd->add_option("--at", options->at, "verification time, RFC 3339 (default: now)");
  cmd->add_option("--nonce", options->nonce_hex,
                  "expected DeviceInformation nonce, hex (compared verbatim, at most 32 bytes)");
  cmd->add_option("--acme-token", options->acme_token,
                  "expected ACME challenge token (freshness = SHA-256 of it)");
  cmd->add_option("--root", options->roots,
                  "extra trusted root PEM file, besides the bundled Apple root (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--serial", options->serial, "expected serial number");
  cmd->add_option("--udid", options->udid, "expected UDID");
  cmd->add_flag("--json", options->json, "print one JSON object");
  cmd->callback([options, &env]() {
    int code = Run(*options, env);
    if (code != 0) env.exit_code = code;
  });
}

}  // namespace custos
