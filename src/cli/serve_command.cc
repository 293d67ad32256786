// `custos serve`: runs the server until SIGINT/SIGTERM. Prints the URLs it serves on standard
// output (one "listening on URL" line per listener) once they are bound.
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "server/server.h"

namespace custos {

void AddServeCommand(CLI::App& root, CliEnv& env) {
  struct Flags {
    std::string listen;
    std::string url;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* serve = root.add_subcommand("serve", "run the custos server");
  env.AddGlobalFlags(serve);
  serve->add_option("--listen", flags->listen, "plain HTTP listener HOST:PORT (server.listen)");
  serve->add_option("--url", flags->url, "public base URL (server.url)");
  serve->callback([&env, flags] {
    std::vector<std::pair<std::string, std::string>> extra;
    if (!flags->listen.empty()) extra.emplace_back("server.listen", flags->listen);
    if (!flags->url.empty()) extra.emplace_back("server.url", flags->url);
    auto config = env.LoadConfig(extra);
    if (!config.ok()) return env.Fail(config.status());
    auto server = Server::Create(*config);
    if (!server.ok()) return env.Fail(server.status());
    for (const auto& url : (*server)->ListenUrls()) {
      std::cout << "listening on " << url << "\n";
    }
    const std::string base = (*server)->ListenUrls().front();
    std::cout << "  health:   " << base << "/healthz\n"
              << "  metrics:  " << base << "/metrics\n"
              << "  CA chain: " << base << "/ca/chain\n"
              << "  CRL:      " << base << "/ca/crl\n"
              << "  SCEP:     " << base << config->scep.path << "\n"
              << "  public URL: " << (*server)->PublicUrl() << std::endl;
    Status s = (*server)->Run();
    if (!s.ok()) env.Fail(s);
  });
}

}  // namespace custos
