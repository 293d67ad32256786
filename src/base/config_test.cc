#include "base/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace custos {
namespace {

std::string WriteTemp(const std::string& text) {
  char name[] = "/tmp/custos-config-XXXXXX";
  int fd = mkstemp(name);
  EXPECT_GE(fd, 0);
  close(fd);
  std::ofstream(name) << text;
  return name;
}

TEST(ConfigTest, Defaults) {
  auto c = Config::Load("", {});
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(c->Finalize().ok());
  EXPECT_EQ(c->server.listen, "127.0.0.1:8080");
  EXPECT_EQ(c->server.url, "http://127.0.0.1:8080");
  EXPECT_EQ(c->storage.driver, "sqlite");
  EXPECT_EQ(c->storage.sqlite_path, "./var/custos.db");
  EXPECT_EQ(c->ca.issuing_key_bits, 2048);
  EXPECT_EQ(c->ca.cert_validity.count(), 365 * 86400);
}

TEST(ConfigTest, PrecedenceFileThenEnvThenFlag) {
  std::string path = WriteTemp(
      "[server]\nlisten = \"127.0.0.1:9000\"\nurl = \"https://mdm.example.com/\"\n"
      "[ca]\ncert_validity = \"30d\"\n[storage]\npool_size = 3\n");
  auto c = Config::Load(path, {{"CUSTOS_SERVER_LISTEN", "127.0.0.1:9001"},
                               {"CUSTOS_STORAGE_POOL_SIZE", "5"},
                               {"UNRELATED", "x"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server.listen, "127.0.0.1:9001");  // env beats file
  EXPECT_EQ(c->storage.pool_size, 5);
  EXPECT_EQ(c->ca.cert_validity.count(), 30 * 86400);  // from file
  ASSERT_TRUE(c->Set("server", "listen", "127.0.0.1:9002").ok());  // flag beats env
  ASSERT_TRUE(c->Finalize().ok());
  EXPECT_EQ(c->server.listen, "127.0.0.1:9002");
  EXPECT_EQ(c->server.url, "https://mdm.example.com");  // trailing slash dropped
  EXPECT_EQ(c->sources["server.listen"], "flag");
  EXPECT_EQ(c->sources["storage.pool_size"], "env CUSTOS_STORAGE_POOL_SIZE");
  EXPECT_EQ(c->sources["ca.cert_validity"], "file:5");
  std::remove(path.c_str());
}

TEST(ConfigTest, ErrorsNameFileLineAndKey) {
  std::string path = WriteTemp("[server]\nlisten = \"x\"\nlisen = \"y\"\n");
  auto c = Config::Load(path, {});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find(path + ":3"), std::string::npos) << c.status();
  EXPECT_NE(c.status().message().find("lisen"), std::string::npos);
  std::remove(path.c_str());

  path = WriteTemp("[http]\nmax_body_bytes = \"big\"\n");
  c = Config::Load(path, {});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find(path + ":2"), std::string::npos) << c.status();
  EXPECT_NE(c.status().message().find("max_body_bytes"), std::string::npos);
  std::remove(path.c_str());

  path = WriteTemp("[server\nlisten=1\n");
  c = Config::Load(path, {});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find(path + ":1"), std::string::npos) << c.status();
  std::remove(path.c_str());

  c = Config::Load("", {{"CUSTOS_HTTP_ACCESS_LOG", "maybe"}});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("CUSTOS_HTTP_ACCESS_LOG"), std::string::npos);

  EXPECT_FALSE(Config::Load("/nonexistent/custos.toml", {}).ok());
}

TEST(ConfigTest, FinalizeValidates) {
  auto c = Config::Load("", {});
  ASSERT_TRUE(c->Set("storage", "driver", "mysql").ok());
  EXPECT_FALSE(c->Finalize().ok());
  c = Config::Load("", {});
  ASSERT_TRUE(c->Set("storage", "driver", "postgres").ok());
  EXPECT_FALSE(c->Finalize().ok());  // no DSN
  c = Config::Load("", {});
  ASSERT_TRUE(c->Set("ca", "issuing_key_bits", "1024").ok());
  EXPECT_FALSE(c->Finalize().ok());
  EXPECT_FALSE(c->Set("nosuch", "key", "1").ok());
  EXPECT_FALSE(c->SetAssignment("server.listen").ok());
  EXPECT_TRUE(c->SetAssignment("server.listen=127.0.0.1:1").ok());
}

TEST(ConfigTest, PrintRedactsSecrets) {
  auto c = Config::Load("", {{"CUSTOS_STORAGE_DSN", "postgres://u:hunter2@localhost/db"},
                             {"CUSTOS_CA_PASSPHRASE", "s3cret-pass"}});
  ASSERT_TRUE(c.ok());
  std::string toml = c->ToToml();
  std::string json = c->ToJson();
  for (const std::string& out : {toml, json}) {
    EXPECT_EQ(out.find("hunter2"), std::string::npos);
    EXPECT_EQ(out.find("s3cret-pass"), std::string::npos);
    EXPECT_NE(out.find("<redacted>"), std::string::npos);
  }
  EXPECT_NE(toml.find("[storage]"), std::string::npos);
  EXPECT_NE(toml.find("env CUSTOS_STORAGE_DSN"), std::string::npos);
}

TEST(ConfigTest, PassphraseFromFile) {
  std::string path = WriteTemp("pa55word\n");
  auto c = Config::Load("", {});
  ASSERT_TRUE(c->Set("ca", "passphrase_file", path).ok());
  EXPECT_EQ(*c->CaPassphrase(), "pa55word");
  std::remove(path.c_str());
  EXPECT_FALSE(c->CaPassphrase().ok());
}

}  // namespace
}  // namespace custos
