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

// store.cluster (issue 18): several cashierd on one PostgreSQL database. Only with the
// postgres engine; instanceId printable, short and non-empty; leaseSeconds within [1, 600],
// fractions allowed; the lease default is engine::lease_config's, the one place it lives.
namespace {
std::string pg_with_cluster(const std::string& cluster) {
  return R"({"engine": "postgres", "postgres": {"conninfo": "host=/tmp dbname=cashier"}, "cluster": )" + cluster + "}";
}
}  // namespace

TEST_CASE("store.cluster: only with PostgreSQL, defaults from the lease manager's") {
  files f;
  const auto on_sqlite = error_of(with_store(f, db_line, R"({"engine": "sqlite", "cluster": {}})"));
  CHECK(on_sqlite.key == "store.cluster");
  CHECK(on_sqlite.message.find("postgres") != std::string::npos);
  CHECK(error_of(with_store(f, db_line, R"({"cluster": {}})")).key == "store.cluster");  // sqlite by default

  auto absent = parse_config(with_store(f, "", R"({"engine": "postgres", "postgres": {"conninfo": "host=/tmp"}})"));
  REQUIRE_MESSAGE(absent.has_value(), to_string(absent.error()));
  CHECK_FALSE(absent->store.cluster);  // one instance owns every shard, as before
  auto empty = parse_config(with_store(f, "", pg_with_cluster("{}")));
  REQUIRE_MESSAGE(empty.has_value(), to_string(empty.error()));
  REQUIRE(empty->store.cluster);
  CHECK(empty->store.cluster->instance_id.empty());  // host:pid at start
  CHECK(empty->store.cluster->lease_seconds == 10);
  CHECK(std::chrono::duration<double>(cashier::engine::lease_config{}.lease).count() == 10);
  auto set = parse_config(with_store(f, "", pg_with_cluster(R"({"instanceId": "pay-1.eu:7", "leaseSeconds": 2.5})")));
  REQUIRE_MESSAGE(set.has_value(), to_string(set.error()));
  CHECK(set->store.cluster->instance_id == "pay-1.eu:7");
  CHECK(set->store.cluster->lease_seconds == 2.5);
}

TEST_CASE("store.cluster: instanceId and leaseSeconds are checked") {
  files f;
  for (const char* bad : {R"({"instanceId": ""})", R"({"instanceId": "a b"})", R"({"instanceId": "caf\u00e9"})",
                          R"({"instanceId": "tab\there"})", R"({"instanceId": 7})"}) {
    CAPTURE(bad);
    CHECK(error_of(with_store(f, "", pg_with_cluster(bad))).key == "store.cluster.instanceId");
  }
  CHECK(error_of(with_store(f, "", pg_with_cluster(R"({"instanceId": ")" + std::string(65, 'x') + R"("})"))).key ==
        "store.cluster.instanceId");
  CHECK(parse_config(with_store(f, "", pg_with_cluster(R"({"instanceId": ")" + std::string(64, 'x') + R"("})"))).has_value());
  for (const char* bad : {R"({"leaseSeconds": 0.5})", R"({"leaseSeconds": 601})", R"({"leaseSeconds": "10"})",
                          R"({"leaseSeconds": -3})"}) {
    CAPTURE(bad);
    CHECK(error_of(with_store(f, "", pg_with_cluster(bad))).key == "store.cluster.leaseSeconds");
  }
  CHECK(error_of(with_store(f, "", pg_with_cluster(R"({"owner": "x"})"))).key.starts_with("store.cluster"));
}
