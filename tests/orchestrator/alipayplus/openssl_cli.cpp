// The openssl CLI test helper (see openssl_cli.hpp). Paths come from mkdtemp and fixed names,
// so they never need shell quoting beyond single quotes.
#include "tests/orchestrator/alipayplus/openssl_cli.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <stdexcept>

#include <doctest/doctest.h>

#include "orchestrator/alipayplus/base64.hpp"

namespace cashier::test {
namespace {

/// A temporary directory removed at exit.
class work_dir {
 public:
  work_dir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "cashier-signing-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~work_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

const work_dir& dir() {
  static const work_dir d;
  return d;
}

std::string quote(const std::string& path) { return "'" + path + "'"; }

cli_rsa_keys make_keys(int n) {
  const std::string p = "rsa" + std::to_string(n);
  cli_rsa_keys k{work_path(p + ".p8.pem"),  work_path(p + ".p1.pem"),
                 work_path(p + ".pub.pem"), work_path(p + ".rsapub.pem"),
                 work_path(p + ".crt.pem"), work_path(p + ".enc8.pem"),
                 work_path(p + ".enc1.pem")};
  const std::string in = " -in " + quote(k.pkcs8);
  const std::string steps[] = {
      "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " + quote(k.pkcs8),
      "openssl pkey" + in + " -traditional -out " + quote(k.pkcs1),
      "openssl pkey" + in + " -pubout -out " + quote(k.spki),
      "openssl rsa" + in + " -RSAPublicKey_out -out " + quote(k.pkcs1_pub),
      "openssl req -x509 -new -key " + quote(k.pkcs8) + " -subj /CN=test -days 2 -out " +
          quote(k.cert),
      "openssl pkey" + in + " -aes256 -passout pass:secret -out " + quote(k.enc_pkcs8),
      "openssl rsa" + in + " -aes256 -passout pass:secret -traditional -out " + quote(k.enc_pkcs1),
  };
  for (const auto& step : steps) REQUIRE_MESSAGE(run_shell(step) == 0, step);
  return k;
}

}  // namespace

int run_shell(const std::string& command) {
  const std::string log = quote(work_path("cli.log"));
  return std::system(("(" + command + ") >>" + log + " 2>&1").c_str());
}

std::string work_path(std::string_view name) { return dir().path() + "/" + std::string(name); }

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

const cli_rsa_keys& cli_keys(int n) {
  static std::mutex m;
  static std::optional<cli_rsa_keys> keys[2];
  const std::lock_guard lock(m);
  auto& slot = keys[n == 0 ? 0 : 1];
  if (!slot) slot = make_keys(n == 0 ? 0 : 1);
  return *slot;
}

std::string cli_sign_b64(const std::string& key_path, std::string_view content) {
  static int counter = 0;
  const std::string base = work_path("sign" + std::to_string(++counter));
  write_bytes(base + ".txt", content);
  const std::string cmd = "openssl dgst -sha256 -sign " + quote(key_path) + " -out " +
                          quote(base + ".sig") + " " + quote(base + ".txt");
  if (run_shell(cmd) != 0) return {};
  return aplus::base64_encode(read_bytes(base + ".sig"));
}

bool cli_verify(const std::string& pub_path, std::string_view content, std::string_view signature) {
  static int counter = 0;
  const std::string base = work_path("verify" + std::to_string(++counter));
  write_bytes(base + ".txt", content);
  write_bytes(base + ".sig", signature);
  const std::string cmd = "openssl dgst -sha256 -verify " + quote(pub_path) + " -signature " +
                          quote(base + ".sig") + " " + quote(base + ".txt");
  return run_shell(cmd) == 0;
}

}  // namespace cashier::test
