// `custos ca init|show|renew|rekey` and `custos cert list|show|issue|revoke`: the administrator's
// view of the certificate authority (src/ca/authority.h). Inspection commands print `key: value`
// lines, or one JSON object with --json; PEM blocks, when asked for with --pem, come last.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "base/random.h"
#include "base/time.h"
#include "ca/authority.h"
#include "cli/commands.h"
#include "pki/crl.h"
#include "pki/csr.h"
#include "pki/x509.h"
#include "storage/storage.h"

namespace custos {

namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

struct Opened {
  Config config;
  std::unique_ptr<Storage> storage;
};

StatusOr<Opened> OpenStore(CliEnv& env) {
  Opened o;
  ASSIGN_OR_RETURN(o.config, env.LoadConfig());
  if (o.config.storage.driver == "sqlite" && !o.config.storage.sqlite_path.empty()) {
    std::error_code ec;
    std::filesystem::path parent =
        std::filesystem::path(o.config.storage.sqlite_path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (ec) {
      return UnavailableError("creating data folder " + parent.string() + ": " + ec.message());
    }
  }
  ASSIGN_OR_RETURN(o.storage, Storage::Open(o.config.storage, Clock::Real()));
  return o;
}

StatusOr<std::unique_ptr<Authority>> LoadAuthority(const Opened& o) {
  ASSIGN_OR_RETURN(std::string passphrase, o.config.CaPassphrase());
  return Authority::Create(o.config.ca, o.storage.get(), Clock::Real(), Random::Secure(),
                           passphrase);
}

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += sep;
    out += p;
  }
  return out;
}

Fields CaFields(Authority& ca, bool encrypted) {
  CaCertRecord root = ca.RootRecord();
  CaCertRecord issuing = ca.ActiveIssuerRecord();
  std::vector<std::string> trusted;
  for (const X509Ptr& c : ca.TrustedIssuers()) trusted.push_back(CertSha256Hex(c.get()));
  return {
      {"root_subject", root.subject},
      {"root_serial", root.serial_hex},
      {"root_sha256", root.sha256_hex},
      {"root_not_after", FormatRfc3339(root.not_after)},
      {"issuing_subject", issuing.subject},
      {"issuing_serial", issuing.serial_hex},
      {"issuing_sha256", issuing.sha256_hex},
      {"issuing_not_before", FormatRfc3339(issuing.not_before)},
      {"issuing_not_after", FormatRfc3339(issuing.not_after)},
      {"key_type", ca.KeyType()},
      {"keys_encrypted", encrypted ? "yes" : "no"},
      {"trusted_issuers", std::to_string(trusted.size())},
      {"trusted_issuer_sha256", Join(trusted, ",")},
  };
}

bool KeysEncrypted(Storage& storage, int64_t key_id) {
  bool encrypted = false;
  Status s = storage.Transact(
      [&](Stores& st) -> Status {
        ASSIGN_OR_RETURN(CaKeyRecord k, st.ca().GetKey(key_id));
        encrypted = k.encrypted;
        return OkStatus();
      },
      TxMode::kReadOnly);
  s.IgnoreError();
  return encrypted;
}

Fields CertFields(const CertificateRecord& r, const std::string& issuer_subject) {
  std::string sans = r.sans_json;
  if (auto parsed = SansFromJson(r.sans_json); parsed.ok()) sans = SansToText(*parsed);
  Fields f = {
      {"serial", r.serial_hex},
      {"subject", r.subject},
      {"sans", sans},
      {"not_before", FormatRfc3339(r.not_before)},
      {"not_after", FormatRfc3339(r.not_after)},
      {"status", r.status},
  };
  if (r.status == "revoked") {
    f.push_back({"revoked_at", r.revoked_at ? FormatRfc3339(*r.revoked_at) : ""});
    f.push_back({"revocation_reason", CrlReasonName(static_cast<int>(r.revocation_reason))});
  }
  f.push_back({"requester", r.requester});
  f.push_back({"requester_ref", r.requester_ref});
  f.push_back({"issuer", issuer_subject});
  f.push_back({"issuer_id", std::to_string(r.issuer_id)});
  f.push_back({"sha256", r.cert_sha256});
  f.push_back({"spki_sha256", r.spki_sha256});
  f.push_back({"renewal_of", r.renewal_of});
  f.push_back({"issued_at", FormatRfc3339(r.created_at)});
  return f;
}

struct ShowOptions {
  bool json = false;
  bool pem = false;
};

void AddCaGroup(CLI::App& root, CliEnv& env) {
  CLI::App* ca = root.add_subcommand("ca", "the certificate authority");
  ca->require_subcommand(1);

  // ca init
  CLI::App* init =
      ca->add_subcommand("init", "create the root and issuing CA (never replaces one)");
  env.AddGlobalFlags(init);
  auto init_opts = std::make_shared<ShowOptions>();
  init->add_flag("--json", init_opts->json, "print as JSON");
  init->callback([&env, init_opts] {
    auto o = OpenStore(env);
    if (!o.ok()) return env.Fail(o.status());
    auto passphrase = o->config.CaPassphrase();
    if (!passphrase.ok()) return env.Fail(passphrase.status());
    auto authority = Authority::Init(o->config.ca, o->storage.get(), Clock::Real(),
                                     Random::Secure(), *passphrase);
    if (!authority.ok()) return env.Fail(authority.status());
    if (passphrase->empty()) {
      std::cerr << "warning: no CA passphrase configured; the CA keys are stored unencrypted"
                << std::endl;
    }
    PrintFields(CaFields(**authority, !passphrase->empty()), init_opts->json);
  });

  // ca show
  CLI::App* show = ca->add_subcommand("show", "show the CA (root, active issuing CA, trust)");
  env.AddGlobalFlags(show);
  auto show_opts = std::make_shared<ShowOptions>();
  show->add_flag("--json", show_opts->json, "print as JSON");
  show->add_flag("--pem", show_opts->pem, "also print the served chain (chain_pem)");
  show->callback([&env, show_opts] {
    auto o = OpenStore(env);
    if (!o.ok()) return env.Fail(o.status());
    auto authority = LoadAuthority(*o);
    if (!authority.ok()) return env.Fail(authority.status());
    Fields f = CaFields(**authority,
                        KeysEncrypted(*o->storage, (*authority)->ActiveIssuerRecord().key_id));
    if (show_opts->pem) f.push_back({"chain_pem", (*authority)->ChainPem()});
    PrintFields(f, show_opts->json);
  });

  // ca renew / ca rekey
  for (bool rekey : {false, true}) {
    CLI::App* cmd = ca->add_subcommand(
        rekey ? "rekey" : "renew",
        rekey ? "new issuing key and certificate, same subject (RFC 3647 re-key)"
              : "new issuing certificate for the same key and subject (RFC 3647 renewal)");
    env.AddGlobalFlags(cmd);
    auto opts = std::make_shared<ShowOptions>();
    cmd->add_flag("--json", opts->json, "print as JSON");
    cmd->callback([&env, opts, rekey] {
      auto o = OpenStore(env);
      if (!o.ok()) return env.Fail(o.status());
      auto authority = LoadAuthority(*o);
      if (!authority.ok()) return env.Fail(authority.status());
      auto rec = rekey ? (*authority)->Rekey() : (*authority)->Renew();
      if (!rec.ok()) return env.Fail(rec.status());
      std::cerr << "note: a running `custos serve` keeps issuing from the previous certificate "
                   "until it reloads the CA (restart it); certificates already issued stay "
                   "valid either way"
                << std::endl;
      PrintFields(CaFields(**authority, KeysEncrypted(*o->storage, rec->key_id)), opts->json);
    });
  }
}

void AddCertGroup(CLI::App& root, CliEnv& env) {
  CLI::App* cert = root.add_subcommand("cert", "certificates issued by the CA");
  cert->require_subcommand(1);

  // cert list
  CLI::App* list = cert->add_subcommand("list", "list issued certificates, by serial");
  env.AddGlobalFlags(list);
  struct ListOptions {
    CertificateFilter filter;
    bool json = false;
  };
  auto lo = std::make_shared<ListOptions>();
  list->add_option("--status", lo->filter.status, "valid or revoked (default: any)");
  list->add_option("--requester", lo->filter.requester, "scep, acme, api, cli (default: any)");
  list->add_option("--limit", lo->filter.limit, "at most this many (default 100)");
  list->add_option("--after", lo->filter.after_serial, "page: serials greater than this");
  list->add_flag("--json", lo->json, "print a JSON array");
  list->callback([&env, lo] {
    auto o = OpenStore(env);
    if (!o.ok()) return env.Fail(o.status());
    std::vector<CertificateRecord> certs;
    Status s = o->storage->Transact(
        [&](Stores& st) -> Status {
          ASSIGN_OR_RETURN(certs, st.certs().List(lo->filter));
          return OkStatus();
        },
        TxMode::kReadOnly);
    if (!s.ok()) return env.Fail(s);
    if (lo->json) {
      nlohmann::ordered_json arr = nlohmann::ordered_json::array();
      for (const auto& r : certs) {
        arr.push_back({{"serial", r.serial_hex},
                       {"status", r.status},
                       {"not_after", FormatRfc3339(r.not_after)},
                       {"requester", r.requester},
                       {"subject", r.subject}});
      }
      std::cout << arr.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
      return;
    }
    for (const auto& r : certs) {
      std::cout << r.serial_hex << "  " << r.status << "  " << FormatRfc3339(r.not_after) << "  "
                << r.requester << "  " << r.subject << "\n";
    }
    std::cout.flush();
  });

  // cert show SERIAL
  CLI::App* show = cert->add_subcommand("show", "show one issued certificate");
  env.AddGlobalFlags(show);
  struct ShowCert {
    std::string serial;
    ShowOptions opts;
  };
  auto so = std::make_shared<ShowCert>();
  show->add_option("SERIAL", so->serial, "serial in hex (colons allowed)")->required();
  show->add_flag("--json", so->opts.json, "print as JSON");
  show->add_flag("--pem", so->opts.pem, "also print the certificate (pem)");
  show->callback([&env, so] {
    auto serial = NormalizeSerialHex(so->serial);
    if (!serial.ok()) return env.Fail(serial.status());
    auto o = OpenStore(env);
    if (!o.ok()) return env.Fail(o.status());
    CertificateRecord rec;
    std::string issuer;
    Status s = o->storage->Transact(
        [&](Stores& st) -> Status {
          auto r = st.certs().GetBySerial(*serial);
          if (!r.ok()) {
            return r.status().code() == StatusCode::kNotFound
                       ? NotFoundError("no certificate with serial " + *serial)
                       : r.status();
          }
          rec = std::move(r).value();
          if (auto ca = st.ca().GetCert(rec.issuer_id); ca.ok()) issuer = ca->subject;
          return OkStatus();
        },
        TxMode::kReadOnly);
    if (!s.ok()) return env.Fail(s);
    Fields f = CertFields(rec, issuer);
    if (so->opts.pem) {
      auto cert = ParseCertificate(rec.der);
      f.push_back({"pem", cert.ok() ? CertificatePem(cert->get()) : ""});
    }
    PrintFields(f, so->opts.json);
  });

  // cert issue CSR_FILE
  CLI::App* issue = cert->add_subcommand(
      "issue", "issue a certificate for a PKCS#10 request (requester \"cli\"); prints the PEM");
  env.AddGlobalFlags(issue);
  struct IssueOptions {
    std::string csr_file;
    std::string validity;
    std::string eku = "client";
  };
  auto io = std::make_shared<IssueOptions>();
  issue->add_option("CSR_FILE", io->csr_file, "PEM or DER certificate request")->required();
  issue->add_option("--validity", io->validity, "e.g. 90d (default ca.cert_validity)");
  issue->add_option("--eku", io->eku, "client, server or both (default client)");
  issue->callback([&env, io] {
    std::ifstream in(io->csr_file, std::ios::binary);
    if (!in) return env.Fail(NotFoundError("cannot read " + io->csr_file));
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto csr = ParseAndVerifyCsr(data);
    if (!csr.ok()) return env.Fail(csr.status());
    IssueRequest req;
    req.spki_der = csr->spki_der;
    req.subject_name = csr->subject_name.get();
    req.sans = csr->sans;
    req.requester = "cli";
    req.requester_ref = io->csr_file;
    if (io->eku == "server") {
      req.extended_key_usages = {kEkuServerAuth};
    } else if (io->eku == "both") {
      req.extended_key_usages = {kEkuClientAuth, kEkuServerAuth};
    } else if (io->eku != "client") {
      return env.Fail(InvalidArgumentError("--eku must be client, server or both"));
    }
    if (!io->validity.empty()) {
      auto d = ParseDuration(io->validity);
      if (!d.ok()) return env.Fail(d.status());
      req.validity = *d;
    }
    auto o = OpenStore(env);
    if (!o.ok()) return env.Fail(o.status());
    auto authority = LoadAuthority(*o);
    if (!authority.ok()) return env.Fail(authority.status());
    auto issued = (*authority)->Issue(req);
    if (!issued.ok()) return env.Fail(issued.status());
    std::cout << issued->pem << std::flush;
  });

  // cert revoke SERIAL --reason R
  CLI::App* revoke = cert->add_subcommand("revoke", "revoke a certificate and regenerate the CRL");
  env.AddGlobalFlags(revoke);
  struct RevokeOptions {
    std::string serial;
    std::string reason = "unspecified";
  };
  auto ro = std::make_shared<RevokeOptions>();
  revoke->add_option("SERIAL", ro->serial, "serial in hex (colons allowed)")->required();
  revoke->add_option("--reason", ro->reason,
                     "RFC 5280 reason: unspecified, keyCompromise, cACompromise, "
                     "affiliationChanged, superseded, cessationOfOperation, certificateHold, "
                     "privilegeWithdrawn, aACompromise");
  revoke->callback([&env, ro] {
    auto reason = ParseCrlReason(ro->reason);
    if (!reason.ok()) return env.Fail(reason.status());
    auto serial = NormalizeSerialHex(ro->serial);
    if (!serial.ok()) return env.Fail(serial.status());
    auto o = OpenStore(env);
    if (!o.ok()) return env.Fail(o.status());
    auto authority = LoadAuthority(*o);
    if (!authority.ok()) return env.Fail(authority.status());
    Status s = (*authority)->Revoke(*serial, *reason);
    if (!s.ok()) return env.Fail(s);
    std::cout << "revoked " << *serial << " (" << CrlReasonName(*reason) << ")" << std::endl;
  });
}

}  // namespace

void AddCaCommands(CLI::App& root, CliEnv& env) {
  AddCaGroup(root, env);
  AddCertGroup(root, env);
}

}  // namespace custos
