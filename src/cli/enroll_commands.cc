// `custos enroll ...`: the MDM enrollment profile (issue 4 "Enrollment profile", issue 5
// "Enrollment with an attested identity").
//   custos enroll profile [--unsigned] [--identity scep|acme] [--out FILE]
//       writes a new enrollment profile (its own one-time challenge / ClientIdentifier) to
//       standard output or FILE: a DER CMS SignedData, or the XML plist with --unsigned
//   custos enroll token [--ttl D]
//       prints a new one-time enrollment token for GET /mdm/enroll?token=... (enroll.require_token)
// The profile's URLs come from server.url (the public base URL). ACME ClientIdentifiers are
// created through the ACME service on the same store as the server, which accepts them.
#include <CLI/CLI.hpp>

#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "base/random.h"
#include "base/time.h"
#include "acme/service.h"
#include "ca/authority.h"
#include "cli/cli_env.h"
#include "cli/commands.h"
#include "mdm/profile.h"
#include "scep/service.h"
#include "storage/storage.h"

namespace custos {
namespace {

struct EnrollCliOptions {
  bool unsigned_profile = false;
  std::string identity;
  std::string out;
  std::string ttl;
};

// Storage, CA, SCEP service and profile service from the effective configuration.
struct EnrollStack {
  std::unique_ptr<Storage> storage;
  std::unique_ptr<Authority> ca;
  std::unique_ptr<scep::ScepService> scep;
  std::unique_ptr<mdm::ScepChallengeSource> challenges;
  std::unique_ptr<acme::AcmeService> acme;
  std::unique_ptr<mdm::FunctionClientIdentifierSource> client_identifiers;
  std::unique_ptr<mdm::ProfileService> profiles;
};

StatusOr<EnrollStack> OpenStack(CliEnv& env) {
  ASSIGN_OR_RETURN(Config config, env.LoadConfig());
  EnrollStack stack;
  ASSIGN_OR_RETURN(stack.storage, Storage::Open(config.storage, Clock::Real()));
  ASSIGN_OR_RETURN(std::string passphrase, config.CaPassphrase());
  ASSIGN_OR_RETURN(stack.ca, Authority::Create(config.ca, stack.storage.get(), Clock::Real(),
                                               Random::Secure(), passphrase));
  ASSIGN_OR_RETURN(stack.scep,
                   scep::ScepService::Create(config.scep, stack.ca.get(), stack.storage.get(),
                                             Clock::Real(), Random::Secure(), passphrase));
  stack.challenges = std::make_unique<mdm::ScepChallengeSource>(stack.scep.get());
  mdm::ProfileService::Deps deps;
  deps.ca = stack.ca.get();
  deps.storage = stack.storage.get();
  deps.clock = Clock::Real();
  deps.random = Random::Secure();
  deps.challenges = stack.challenges.get();
  // ACME ClientIdentifiers are stored by the ACME service, so the one serving /acme accepts them.
  acme::AcmeService::Options acme_options;
  acme_options.base_url = config.server.url;
  acme_options.validation_threads = 1;
  ASSIGN_OR_RETURN(stack.acme, acme::AcmeService::Create(acme_options, stack.ca.get(),
                                                         stack.storage.get(), Clock::Real(),
                                                         Random::Secure()));
  acme::AcmeService* acme_service = stack.acme.get();
  stack.client_identifiers = std::make_unique<mdm::FunctionClientIdentifierSource>(
      [acme_service](std::string_view bound_to) { return acme_service->NewClientIdentifier(bound_to); });
  deps.client_identifiers = stack.client_identifiers.get();
  ASSIGN_OR_RETURN(stack.profiles, mdm::ProfileService::Create(config, config.server.url, deps));
  return stack;
}

}  // namespace

void AddEnrollCommands(CLI::App& root, CliEnv& env) {
  auto options = std::make_shared<EnrollCliOptions>();
  CLI::App* enroll = root.add_subcommand("enroll", "MDM enrollment profiles and tokens");
  enroll->require_subcommand(1);

  CLI::App* profile = enroll->add_subcommand(
      "profile", "write a new enrollment profile (.mobileconfig) with its own one-time secret");
  profile->add_flag("--unsigned", options->unsigned_profile, "the plain XML plist, not CMS-signed");
  profile->add_option("--identity", options->identity,
                      "identity payload: scep or acme (default enroll.default_identity)");
  profile->add_option("--out", options->out, "write to FILE instead of standard output");
  env.AddGlobalFlags(profile);
  profile->callback([options, &env]() {
    mdm::ProfileService::Request req;
    req.sign = !options->unsigned_profile;
    if (!options->identity.empty()) {
      auto id = mdm::ParseEnrollIdentity(options->identity);
      if (!id.ok()) return env.Fail(id.status(), 2);
      req.identity = *id;
    }
    auto stack = OpenStack(env);
    if (!stack.ok()) return env.Fail(stack.status());
    auto out = stack->profiles->Generate(req);
    if (!out.ok()) return env.Fail(out.status());
    if (options->out.empty()) {
      std::cout.write(out->body.data(), static_cast<std::streamsize>(out->body.size()));
      std::cout.flush();
      return;
    }
    std::ofstream file(options->out, std::ios::binary | std::ios::trunc);
    if (!file.write(out->body.data(), static_cast<std::streamsize>(out->body.size())) ||
        !file.flush()) {
      return env.Fail(InternalError(options->out + ": cannot be written"));
    }
  });

  CLI::App* token = enroll->add_subcommand(
      "token", "print a new one-time enrollment token (for enroll.require_token)");
  token->add_option("--ttl", options->ttl, "lifetime, e.g. 1h or 7d (default enroll.token_ttl)");
  env.AddGlobalFlags(token);
  token->callback([options, &env]() {
    std::optional<Duration> ttl;
    if (!options->ttl.empty()) {
      auto d = ParseDuration(options->ttl);
      if (!d.ok()) return env.Fail(d.status(), 2);
      ttl = *d;
    }
    auto stack = OpenStack(env);
    if (!stack.ok()) return env.Fail(stack.status());
    auto t = stack->profiles->NewToken(ttl);
    if (!t.ok()) return env.Fail(t.status());
    std::cout << *t << std::endl;
  });
}

}  // namespace custos
