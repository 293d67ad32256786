// `custos inspect mdm-signature --header FILE --body FILE`: checks a captured `Mdm-Signature`
// header (base64 detached CMS, as Apple devices send with SignMessage) against the captured
// request body exactly as custos' device authentication does (mdm/device_auth.h) and prints, for
// an administrator debugging a refused device:
//   signature: valid | invalid (REASON)
//   digest:    the digest algorithm of the SignerInfo (sha1 on many real devices)
//   signer:    subject and serial of the embedded signer certificate
//   chain:     trusted | untrusted (REASON), against the CA in the configured store
//              (Authority::VerifyIssued: chains to the root or a still-trusted issuing
//              certificate, recorded by custos, unrevoked)
//   enrollment: the enrollment the certificate is associated with, or "unknown"
// The header file may hold the bare value or a whole "Mdm-Signature: ..." line.
// Exit status: 0 valid and trusted, 2 invalid or untrusted, 1 error (unreadable files).
#include <CLI/CLI.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/encoding.h"
#include "base/random.h"
#include "base/time.h"
#include "ca/authority.h"
#include "cli/cli_env.h"
#include "http/request.h"
#include "mdm/device_auth.h"
#include "pki/cms.h"
#include "pki/x509.h"
#include "storage/mdm_store.h"
#include "storage/storage.h"

namespace custos {
namespace {

struct InspectMdmSignatureOptions {
  std::string header_file;
  std::string body_file;
  bool json = false;
};

// The header value: the file's text without surrounding whitespace and without a leading
// "Mdm-Signature:" field name.
std::string HeaderValue(std::string text) {
  auto trim = [](std::string& s) {
    size_t b = s.find_first_not_of(" \t\r\n");
    size_t e = s.find_last_not_of(" \t\r\n");
    s = b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
  };
  trim(text);
  constexpr std::string_view kName = "mdm-signature:";
  if (text.size() >= kName.size() &&
      http::EqualsIgnoreCase(std::string_view(text).substr(0, kName.size()), kName)) {
    text.erase(0, kName.size());
    trim(text);
  }
  return text;
}

struct OpenedCa {
  std::unique_ptr<Storage> storage;
  std::unique_ptr<Authority> authority;
};

// custos' CA from the configured store; never creates a store or a CA.
StatusOr<OpenedCa> OpenCa(CliEnv& env) {
  ASSIGN_OR_RETURN(Config config, env.LoadConfig());
  if (config.storage.driver == "sqlite" &&
      !std::filesystem::exists(config.storage.sqlite_path)) {
    return NotFoundError("no store at " + config.storage.sqlite_path +
                         " (give --config or --data-dir)");
  }
  OpenedCa o;
  ASSIGN_OR_RETURN(o.storage, Storage::Open(config.storage, Clock::Real()));
  ASSIGN_OR_RETURN(std::string passphrase, config.CaPassphrase());
  ASSIGN_OR_RETURN(o.authority, Authority::Create(config.ca, o.storage.get(), Clock::Real(),
                                                  Random::Secure(), passphrase));
  return o;
}

// The enrollment the certificate is associated with (MdmStore certificate associations, made at
// Authenticate), or the one a renewal will be associated with; otherwise why not.
std::string EnrollmentFor(Storage* storage, const CertificateRecord* record, X509* cert) {
  std::string result = "unknown";
  std::string sha = CertSha256Hex(cert);
  Status s = storage->Transact(
      [&](Stores& stores) -> Status {
        auto a = stores.mdm().GetCertAssociation(sha);
        if (a.ok()) {
          result = a->device_id;
          return OkStatus();
        }
        if (a.status().code() != StatusCode::kNotFound) return a.status();
        if (record != nullptr && !record->renewal_of.empty()) {
          auto renewed = stores.mdm().GetCertAssociationBySerial(record->renewal_of);
          if (renewed.ok()) {
            result = renewed->device_id + " (renewal of " + record->renewal_of +
                     ", associated at its next request)";
            return OkStatus();
          }
          if (renewed.status().code() != StatusCode::kNotFound) return renewed.status();
        }
        result = "none (the certificate is not associated with any enrollment)";
        return OkStatus();
      },
      TxMode::kReadOnly);
  if (!s.ok()) return "unknown (" + s.message() + ")";
  return result;
}

int Run(const InspectMdmSignatureOptions& options, CliEnv& env) {
  auto header_text = ReadInputFile(options.header_file);
  if (!header_text.ok()) {
    env.Fail(header_text.status());
    return 1;
  }
  auto body = ReadInputFile(options.body_file, 16 * 1024 * 1024);
  if (!body.ok()) {
    env.Fail(body.status());
    return 1;
  }
  std::string header = HeaderValue(std::move(header_text).value());
  std::vector<std::pair<std::string, std::string>> fields;

  std::string digest;
  auto verified = mdm::VerifyMdmSignature(header, *body, &digest);
  fields.emplace_back("signature", verified.ok() ? "valid"
                                                 : "invalid (" + verified.status().message() + ")");

  // The signer, also when the signature does not verify (e.g. the body was captured wrongly).
  X509Ptr signer;
  if (verified.ok()) {
    signer = std::move(verified).value();
  } else if (auto der = Base64Decode(header); der.ok()) {
    if (auto parsed = ParseSignedData(*der); parsed.ok()) {
      if (digest.empty()) digest = parsed->digest_algorithm;
      signer = std::move(parsed->signer);
    }
  }
  fields.emplace_back("digest", digest.empty() ? "unknown" : digest);
  fields.emplace_back("body_bytes", std::to_string(body->size()));
  if (signer == nullptr) {
    fields.emplace_back("signer", "none (no signer certificate could be read)");
    fields.emplace_back("chain", "untrusted (no signer certificate)");
    fields.emplace_back("enrollment", "unknown");
    PrintFields(fields, options.json);
    return 2;
  }
  std::string subject = SubjectString(signer.get());
  fields.emplace_back("signer", (subject.empty() ? "(empty subject)" : subject) + " serial " +
                                    CertSerialHex(signer.get()));
  fields.emplace_back("signer_issuer", IssuerString(signer.get()));
  fields.emplace_back("signer_sha256", CertSha256Hex(signer.get()));

  bool trusted = false;
  std::string enrollment = "unknown";
  auto ca = OpenCa(env);
  if (!ca.ok()) {
    fields.emplace_back("chain", "untrusted (cannot check: " + ca.status().message() + ")");
  } else {
    auto record = ca->authority->VerifyIssued(signer.get(), Clock::Real()->Now());
    if (record.ok()) {
      trusted = true;
      fields.emplace_back("chain", "trusted");
      fields.emplace_back("certificate_status", record->status);
      if (!record->renewal_of.empty()) fields.emplace_back("renewal_of", record->renewal_of);
    } else {
      fields.emplace_back("chain", "untrusted (" + record.status().message() + ")");
    }
    enrollment = EnrollmentFor(ca->storage.get(), record.ok() ? &*record : nullptr,
                               signer.get());
  }
  fields.emplace_back("enrollment", enrollment);
  PrintFields(fields, options.json);
  return fields.front().second == "valid" && trusted ? 0 : 2;
}

}  // namespace

void AddInspectMdmSignatureCommand(CLI::App& inspect, CliEnv& env) {
  auto options = std::make_shared<InspectMdmSignatureOptions>();
  CLI::App* cmd = inspect.add_subcommand(
      "mdm-signature",
      "Verify a captured Mdm-Signature header against the request body: signature, digest, "
      "signer, chain to custos' CA and enrollment; exit 0 valid and trusted, 2 refused, 1 error");
  cmd->add_option("--header", options->header_file,
                  "file with the Mdm-Signature value (or the whole header line), - for stdin")
      ->required();
  cmd->add_option("--body", options->body_file, "file with the exact request body")->required();
  cmd->add_flag("--json", options->json, "print one JSON object");
  env.AddGlobalFlags(cmd);
  cmd->callback([options, &env]() {
    int code = Run(*options, env);
    if (code != 0) env.exit_code = code;
  });
}

}  // namespace custos
