// Each config default has one value, whichever way a config is built: the documented default
// (proto-docs/operations.md's configuration reference, and the list PRODUCT.md gives) equals
// what the parser yields with the key absent, with its section absent or empty, and what a
// config built in code holds; and the machine's own defaults (state/machine/params.hpp) are the
// ones the daemon's default config hands it.
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "orchestrator/daemon/config.hpp"
#include "state/machine/params.hpp"

using namespace cashier;
using namespace cashier::daemon;
namespace fs = std::filesystem;

namespace {

/// A temp dir with placeholder key files, so the readability checks pass.
struct key_files {
  fs::path dir = fs::temp_directory_path() / ("cashier_defaults_test_" + std::to_string(::getpid()));
  key_files() {
    fs::create_directories(dir);
    for (auto n : {"priv.pem", "pub.pem"}) std::ofstream(dir / n) << "x";
  }
  ~key_files() { fs::remove_all(dir); }
};

/// The smallest valid config: every optional key left out; `extra` is added at the root.
std::string minimal(const key_files& f, const std::string& extra = "") {
  return R"({"database": "/tmp/x.db",
    "alipayplus": {"gateway": "https://open-sea-global.alipayplus.com", "clientId": "C",
      "privateKey": ")" + (f.dir / "priv.pem").string() + R"(",
      "alipayplusPublicKey": ")" + (f.dir / "pub.pem").string() + R"(",
      "notifyUrl": "https://acqp.example.com/notify"},
    "merchants": [{"id": "m1", "token": "tok_0123456789abcdef",
      "referenceMerchantId": "M1", "merchantName": "Shop", "merchantMCC": "5732",
      "merchantAddress": {"region": "JP", "city": "Tokyo"}}])" + extra + "}";
}

config parsed(const std::string& text) {
  auto r = parse_config(text);
  REQUIRE_MESSAGE(r.has_value(), to_string(r.error()));
  return *r;
}

std::string join_ints(const std::vector<std::int64_t>& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + std::to_string(v[i]);
  return out + "]";
}

/// Every key with a plain default, and how its value reads in the docs' notation.
const std::vector<std::pair<std::string, std::function<std::string(const config&)>>>& keys_with_defaults() {
  static const std::vector<std::pair<std::string, std::function<std::string(const config&)>>> keys{
      {"listen", [](const config& c) { return host_port(c.listen_host, c.listen_port); }},
      {"opsListen", [](const config& c) { return host_port(c.ops_host, c.ops_port); }},
      {"maxConnections", [](const config& c) { return std::to_string(c.max_connections); }},
      {"maxConnectionsPerAddress", [](const config& c) { return std::to_string(c.max_connections_per_address); }},
      {"requestHeadTimeoutMs", [](const config& c) { return std::to_string(c.request_head_timeout_ms); }},
      {"databaseSynchronous", [](const config& c) { return std::string(c.synchronous_full ? "\"FULL\"" : "\"NORMAL\""); }},
      {"alipayplus.keyVersion", [](const config& c) { return c.alipayplus.key_version; }},
      {"alipayplus.requestTimeoutMs", [](const config& c) { return std::to_string(c.alipayplus.request_timeout_ms); }},
      {"alipayplus.maxClockSkewSeconds", [](const config& c) { return std::to_string(c.alipayplus.max_clock_skew_seconds); }},
      {"alipayplus.maxRequestsPerSecond",
       [](const config& c) { return std::to_string(static_cast<long long>(c.alipayplus.max_requests_per_second)); }},
      {"payment.defaultExpiryMinutes", [](const config& c) { return std::to_string(c.payment.default_expiry_minutes); }},
      {"payment.pollGraceMinutes", [](const config& c) { return std::to_string(c.payment.poll_grace_minutes); }},
      {"payment.pollIntervalsSeconds", [](const config& c) { return join_ints(c.payment.poll_intervals_seconds); }},
      {"payment.createWaitMs", [](const config& c) { return std::to_string(c.payment.create_wait_ms); }},
      {"payment.consultCacheSeconds", [](const config& c) { return std::to_string(c.payment.consult_cache_seconds); }},
      {"timeScale", [](const config& c) { return std::to_string(static_cast<long long>(c.time_scale)); }},
  };
  return keys;
}

/// The first backticked span of the default column of each row of operations.md's
/// "Configuration reference" table, by key.
std::vector<std::pair<std::string, std::string>> documented_defaults() {
  std::ifstream in(std::string(CASHIER_SOURCE_DIR) + "/proto-docs/operations.md");
  REQUIRE(in);
  std::stringstream text;
  text << in.rdbuf();
  const auto all = text.str();
  const auto start = all.find("## Configuration reference");
  REQUIRE(start != std::string::npos);
  std::istringstream lines(all.substr(start));
  std::vector<std::pair<std::string, std::string>> out;
  const std::regex row(R"(^\| `([^`]+)` \| [^|]* \| ([^|]*) \|)");
  const std::regex span("`([^`]*)`");
  std::string line;
  bool in_table = false;
  while (std::getline(lines, line)) {
    if (line.starts_with("|")) in_table = true;
    else if (in_table) break;
    std::smatch m;
    if (!std::regex_search(line, m, row)) continue;
    const std::string cell = m[2];
    std::smatch d;
    if (std::regex_search(cell, d, span)) out.emplace_back(m[1], d[1]);
  }
  return out;
}

}  // namespace

TEST_CASE("operations.md's defaults are the parser's, with or without the section, and a built config's") {
  key_files f;
  const auto documented = documented_defaults();
  REQUIRE(documented.size() >= keys_with_defaults().size());
  const config absent = parsed(minimal(f));
  const config empty_sections = parsed(minimal(f, R"(, "payment": {})"));
  const config built{};
  for (const auto& [key, value_of] : keys_with_defaults()) {
    CAPTURE(key);
    std::string doc;
    for (const auto& [k, v] : documented)
      if (k == key) doc = v;
    REQUIRE_MESSAGE(!doc.empty(), "no backticked default for this key in operations.md");
    CHECK(value_of(absent) == doc);
    CHECK(value_of(empty_sections) == doc);
    CHECK(value_of(built) == doc);
  }
}

TEST_CASE("PRODUCT.md's list of defaults holds") {
  // PRODUCT.md (the contract, kept outside this repository), Config: "alipayplus.maxClockSkewSeconds
  // (default 600) ... Defaults: requestTimeoutMs 15000, createWaitMs 10000, defaultExpiryMinutes
  // 15, pollGraceMinutes 10, pollIntervalsSeconds [2, 4, 8, 15, 30, 60]", opsListen default
  // 127.0.0.1:9464, timeScale default 1.
  key_files f;
  for (const config& c : {parsed(minimal(f)), config{}}) {
    CHECK(c.alipayplus.max_clock_skew_seconds == 600);
    CHECK(c.alipayplus.request_timeout_ms == 15000);
    CHECK(c.payment.create_wait_ms == 10000);
    CHECK(c.payment.default_expiry_minutes == 15);
    CHECK(c.payment.poll_grace_minutes == 10);
    CHECK(c.payment.poll_intervals_seconds == std::vector<std::int64_t>{2, 4, 8, 15, 30, 60});
    CHECK(host_port(c.ops_host, c.ops_port) == "127.0.0.1:9464");
    CHECK(c.time_scale == 1);
  }
}

TEST_CASE("the machine's defaults are what the daemon's default config hands it") {
  key_files f;
  const machine_params machine{};
  for (const config& c : {parsed(minimal(f)), config{}}) {
    const machine_params from_config = machine_params_of(c);
    CHECK(from_config.inquiry_intervals == machine.inquiry_intervals);
    CHECK(from_config.poll_grace == machine.poll_grace);
    CHECK(from_config.default_expiry == machine.default_expiry);
    CHECK(from_config.answer_guard == machine.answer_guard);
    CHECK_FALSE(from_config.validate());
  }
  // A configured request timeout moves the answer guard with it.
  const auto slow = parsed(minimal(f).insert(minimal(f).find("\"notifyUrl\""), "\"requestTimeoutMs\": 30000, "));
  CHECK(machine_params_of(slow).answer_guard == std::chrono::seconds{35});
}
