// Tests of the `store` section of the config (issue 18): SQLite stays the default and needs
// `database`; `postgres` takes a conninfo inline or from a file (a secret file, checked for its
// mode like the others), validated without connecting, and never echoed in an error.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "orchestrator/daemon/config.hpp"

using namespace cashier::daemon;
namespace fs = std::filesystem;

namespace {

struct files {
  fs::path dir = fs::temp_directory_path() / ("cashier_store_config_test_" + std::to_string(::getpid()));
  files() {
    fs::create_directories(dir);
    for (auto n : {"priv.pem", "pub.pem"}) std::ofstream(dir / n) << "x";
  }
  ~files() { fs::remove_all(dir); }
  std::string p(const char* n) const { return (dir / n).string(); }
};

// A valid config with `database_line` (e.g. `"database": "/tmp/x.db",`) and `store` appended.
std::string with_store(const files& f, const std::string& database_line, const std::string& store) {
  return R"({
    "listen": "127.0.0.1:8443",
    )" + database_line + R"(
    "alipayplus": {"gateway": "https://open-sea-global.alipayplus.com", "clientId": "C",
      "privateKey": ")" + f.p("priv.pem") + R"(", "alipayplusPublicKey": ")" + f.p("pub.pem") + R"(",
      "notifyUrl": "https://acqp.example.com/alipayplus/notify"},
    "merchants": [{"id": "m1", "token": "tok_0123456789abcdef",
                   "referenceMerchantId": "M0001", "merchantName": "Shop", "merchantMCC": "5732",
                   "merchantAddress": {"region": "JP", "city": "Tokyo"}}])" +
         (store.empty() ? "" : ",\n    \"store\": " + store) + "\n  }";
}

const std::string db_line = R"("database": "/tmp/x.db",)";

config_error error_of(const std::string& text) {
  auto r = parse_config(text);
  REQUIRE_FALSE(r.has_value());
  return r.error();
}

}  // namespace

TEST_CASE("store: SQLite is the default and needs database, nothing else changes") {
  files f;
  auto plain = parse_config(with_store(f, db_line, ""));
  REQUIRE_MESSAGE(plain.has_value(), to_string(plain.error()));
  CHECK(plain->store.engine == store_engine::sqlite);
  CHECK(plain->database == "/tmp/x.db");
  auto named = parse_config(with_store(f, db_line, R"({"engine": "sqlite"})"));
  REQUIRE(named.has_value());
  CHECK(named->store.engine == store_engine::sqlite);
  CHECK(error_of(with_store(f, "", "")).key == "database");
  CHECK(error_of(with_store(f, db_line, R"({"engine": "sqlite", "postgres": {"conninfo": "host=x"}})")).key ==
        "store.postgres");
  CHECK(error_of(with_store(f, db_line, R"({"engine": "mysql"})")).key == "store.engine");
  CHECK(error_of(with_store(f, db_line, R"({"engin": "sqlite"})")).key == "store.engin");
}

TEST_CASE("store: postgres takes an inline conninfo and no database") {
  files f;
  auto r = parse_config(with_store(f, "", R"({"engine": "postgres", "postgres": {"conninfo": "host=/run/postgresql dbname=cashier"}})"));
  REQUIRE_MESSAGE(r.has_value(), to_string(r.error()));
  CHECK(r->store.engine == store_engine::postgres);
  CHECK(r->store.postgres_conninfo == "host=/run/postgresql dbname=cashier");
  CHECK(r->database.empty());
  auto uri = parse_config(with_store(f, "", R"({"engine": "postgres", "postgres": {"conninfo": "postgresql://cashier@db.internal/cashier"}})"));
  CHECK(uri.has_value());
  CHECK(error_of(with_store(f, db_line, R"({"engine": "postgres", "postgres": {"conninfo": "host=x"}})")).key ==
        "database");
  CHECK(error_of(with_store(f, "", R"({"engine": "postgres"})")).key == "store.postgres");
  CHECK(error_of(with_store(f, "", R"({"engine": "postgres", "postgres": {}})")).key == "store.postgres");
  CHECK(error_of(with_store(f, "", R"({"engine": "postgres", "postgres": {"conninfo": "host=x", "conninfoFile": "/x"}})"))
            .key == "store.postgres");
  CHECK(error_of(with_store(f, "", R"({"engine": "postgres", "postgres": {"conninfo": "host=x", "port": 5}})")).key ==
        "store.postgres.port");
}

TEST_CASE("store: a malformed conninfo is refused without quoting it (it may hold a password)") {
  files f;
  const auto e = error_of(
      with_store(f, "", R"({"engine": "postgres", "postgres": {"conninfo": "host=db password=hunter2 oops"}})"));
  CHECK(e.key == "store.postgres.conninfo");
  CHECK(to_string(e).find("hunter2") == std::string::npos);
  CHECK(to_string(e).find("oops") == std::string::npos);
  CHECK(error_of(with_store(f, "", R"({"engine": "postgres", "postgres": {"conninfo": "nosuchkey=1"}})")).key ==
        "store.postgres.conninfo");
}

TEST_CASE("store: conninfoFile is read, trimmed, and is a secret file") {
  files f;
  std::ofstream(f.dir / "pg.conninfo") << "host=db dbname=cashier password=hunter2\n";
  const std::string file = f.p("pg.conninfo");
  auto r = parse_config(with_store(f, "", R"({"engine": "postgres", "postgres": {"conninfoFile": ")" + file + R"("}})"));
  REQUIRE_MESSAGE(r.has_value(), to_string(r.error()));
  CHECK(r->store.postgres_conninfo == "host=db dbname=cashier password=hunter2");
  bool listed = false;
  for (const auto& [key, path] : secret_files(*r)) listed = listed || (key == "store.postgres.conninfoFile" && path == file);
  CHECK(listed);
  CHECK(error_of(with_store(f, "", R"({"engine": "postgres", "postgres": {"conninfoFile": ")" + f.p("missing") + R"("}})"))
            .key == "store.postgres.conninfoFile");
  std::ofstream(f.dir / "bad.conninfo") << "host=db password=hunter2 oops\n";
  const auto bad = error_of(
      with_store(f, "", R"({"engine": "postgres", "postgres": {"conninfoFile": ")" + f.p("bad.conninfo") + R"("}})"));
  CHECK(bad.key == "store.postgres.conninfoFile");
  CHECK(to_string(bad).find("hunter2") == std::string::npos);
}
