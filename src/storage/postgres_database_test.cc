// PostgreSQL driver specifics: DSN handling and the start-up retry against an unreachable server.
#include "storage/postgres/postgres_database.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include "storage/storage.h"

namespace custos {
namespace {

using postgres::DsnWithConnectTimeout;
using postgres::RedactDsn;

TEST(RedactDsnTest, RemovesPasswords) {
  EXPECT_EQ(RedactDsn("postgresql://custos:s3cret@db.example:5432/custos"),
            "postgresql://custos:<redacted>@db.example:5432/custos");
  EXPECT_EQ(RedactDsn("postgres://u:p%40ss@h/db?sslmode=require&password=other"),
            "postgres://u:<redacted>@h/db?sslmode=require&password=<redacted>");
  EXPECT_EQ(RedactDsn("host=h user=u password=s3cret dbname=d"),
            "host=h user=u password=<redacted> dbname=d");
  EXPECT_EQ(RedactDsn("host=h password = 'with space\\' quote' dbname=d"),
            "host=h password = <redacted> dbname=d");
  EXPECT_EQ(RedactDsn("postgresql://custos@127.0.0.1:5432/custos_test"),
            "postgresql://custos@127.0.0.1:5432/custos_test");
  EXPECT_EQ(RedactDsn("host=h user=passwordless"), "host=h user=passwordless");
}

TEST(DsnWithConnectTimeoutTest, AddsTheParameterOnce) {
  EXPECT_EQ(DsnWithConnectTimeout("postgresql://u@h/db", 5), "postgresql://u@h/db?connect_timeout=5");
  EXPECT_EQ(DsnWithConnectTimeout("postgresql://u@h/db?sslmode=disable", 3),
            "postgresql://u@h/db?sslmode=disable&connect_timeout=3");
  EXPECT_EQ(DsnWithConnectTimeout("host=h dbname=d", 2), "host=h dbname=d connect_timeout=2");
  EXPECT_EQ(DsnWithConnectTimeout("host=h connect_timeout=30", 2), "host=h connect_timeout=30");
}

// A loopback port nobody listens on: bound once by us, then closed.
int ClosedLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return -1;
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

TEST(PostgresUnreachableTest, RetriesUntilConnectTimeoutThenUnavailable) {
  int port = ClosedLoopbackPort();
  ASSERT_GT(port, 0);
  StorageConfig config;
  config.driver = "postgres";
  config.dsn = "postgresql://custos:hunter2@127.0.0.1:" + std::to_string(port) + "/custos";
  config.connect_timeout = Duration(2);
  auto start = std::chrono::steady_clock::now();
  auto storage = Storage::Open(config, nullptr);
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(storage.ok());
  EXPECT_EQ(storage.status().code(), StatusCode::kUnavailable) << storage.status();
  EXPECT_GE(elapsed, std::chrono::milliseconds(1900));
  EXPECT_LE(elapsed, std::chrono::seconds(4));
  const std::string& message = storage.status().message();
  EXPECT_NE(message.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << message;
  EXPECT_NE(message.find("attempts"), std::string::npos) << message;
  EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
}

TEST(PostgresUnreachableTest, EmptyDsnIsInvalid) {
  StorageConfig config;
  config.driver = "postgres";
  EXPECT_EQ(Storage::Open(config, nullptr).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace custos
