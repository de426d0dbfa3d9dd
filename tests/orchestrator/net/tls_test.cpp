// Tests of TLS context construction: good files load, bad ones give an error naming the file.
// The handshakes themselves are covered by the client/server tests.
#include "orchestrator/net/tls.hpp"

#include "tests/orchestrator/net/net_test_support.hpp"

#include <doctest/doctest.h>

using namespace cashier::net;
using cashier::net::test::keys_dir;

TEST_CASE("server context loads the dev certificate and key") {
  auto ctx = make_server_context(keys_dir() + "/server.pem", keys_dir() + "/server.key");
  REQUIRE(ctx.has_value());
  CHECK(*ctx != nullptr);
}

TEST_CASE("server context names a missing certificate file and the reason") {
  auto ctx = make_server_context(keys_dir() + "/nope.pem", keys_dir() + "/server.key");
  REQUIRE(ctx.has_error());
  CHECK(ctx.error().message == "cannot load certificate " + keys_dir() + "/nope.pem: No such file or directory");
}

TEST_CASE("server context rejects a file that is not a certificate") {
  auto ctx = make_server_context(keys_dir() + "/acqp_public.pem", keys_dir() + "/server.key");
  REQUIRE(ctx.has_error());
  CHECK(ctx.error().message.starts_with("cannot load certificate " + keys_dir() + "/acqp_public.pem: "));
  CHECK(ctx.error().message.size() > ("cannot load certificate " + keys_dir() + "/acqp_public.pem: ").size());
}

TEST_CASE("server context rejects a key that does not match the certificate") {
  auto ctx = make_server_context(keys_dir() + "/server.pem", keys_dir() + "/acqp_private.pem");
  REQUIRE(ctx.has_error());
  CHECK(ctx.error().message.starts_with("cannot load private key " + keys_dir() + "/acqp_private.pem: "));
}

TEST_CASE("client context loads a CA file or the system store, and names a bad CA file") {
  CHECK(make_client_context(keys_dir() + "/ca.pem").has_value());
  CHECK(make_client_context(std::nullopt).has_value());
  auto bad = make_client_context(keys_dir() + "/missing-ca.pem");
  REQUIRE(bad.has_error());
  CHECK(bad.error().message == "cannot load CA file " + keys_dir() + "/missing-ca.pem: No such file or directory");
}

TEST_CASE("tools/dev-keys is idempotent: a second run keeps every file") {
  const auto read = [](const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    REQUIRE(f != nullptr);
    std::string data(8192, '\0');
    data.resize(std::fread(data.data(), 1, data.size(), f));
    std::fclose(f);
    return data;
  };
  const std::string before = read(keys_dir() + "/ca.pem") + read(keys_dir() + "/aplus_private.pem");
  const std::string cmd = std::string("'") + CASHIER_SOURCE_DIR + "/tools/dev-keys' '" + keys_dir() + "' >/dev/null";
  REQUIRE(std::system(cmd.c_str()) == 0);
  CHECK(read(keys_dir() + "/ca.pem") + read(keys_dir() + "/aplus_private.pem") == before);
}
