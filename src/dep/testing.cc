#include "dep/testing.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace custos::dep {

std::string TokenJson(std::string_view consumer_key, std::string_view expiry) {
  std::string ck(consumer_key);
  nlohmann::json j = {{"consumer_key", ck},        {"consumer_secret", "CS-" + ck},
                      {"access_token", "AT-" + ck}, {"access_secret", "AS-" + ck},
                      {"access_token_expiry", std::string(expiry)}};
  return j.dump();
}

StatusOr<std::string> MakeTokenFile(const testing_support::TempDir& dir, std::string_view cert_pem,
                                    std::string_view json) {
  static int counter = 0;
  std::string n = std::to_string(++counter);
  std::string cert = dir.File("recipient" + n + ".pem", std::string(cert_pem));
  std::string msg = dir.File("message" + n + ".txt",
                             "Content-Type: text/plain;charset=UTF-8\n"
                             "Content-Transfer-Encoding: 7bit\n\n"
                             "-----BEGIN MESSAGE-----\n" + std::string(json) +
                                 "\n-----END MESSAGE-----\n");
  std::string out = dir.path() + "/tokens" + n + ".p7m";
  int rc = 0;
  std::string output = testing_support::RunCommand("openssl smime -encrypt -aes256 -in " + msg +
                                                       " -out " + out + " " + cert,
                                                   &rc);
  if (rc != 0) return InternalError("openssl smime -encrypt: " + output);
  std::ifstream in(out, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace custos::dep
