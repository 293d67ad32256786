// The custos server process: configuration in, a serving process out. Wiring only: it opens the
// storage, loads (or on first start creates) the CA, builds the router from each component's
// routes, starts the HTTP(S) listeners, and runs until SIGINT or SIGTERM. No protocol logic here.
#ifndef CUSTOS_SERVER_SERVER_H_
#define CUSTOS_SERVER_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "base/config.h"
#include "base/status.h"

namespace custos {

class Server {
 public:
  // Opens everything and binds the listeners (a busy port fails here), but serves nothing yet.
  // Errors name what failed: the database ("storage: ..."), the CA ("ca: ..."), a listener.
  static StatusOr<std::unique_ptr<Server>> Create(const Config& config);
  ~Server();

  // Starts serving and blocks until SIGINT or SIGTERM, then shuts down in order.
  Status Run();

  // The base URLs actually bound ("http://127.0.0.1:8080", "https://0.0.0.0:8443").
  std::vector<std::string> ListenUrls() const;
  // The public base URL devices are given (server.url; a derived one names the bound port).
  std::string PublicUrl() const;

  struct Parts;

 private:
  explicit Server(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace custos

#endif  // CUSTOS_SERVER_SERVER_H_
