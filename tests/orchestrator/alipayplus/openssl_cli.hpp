// Test helper: the `openssl` command-line tool as an independent RSA implementation. It makes
// keys in every format the loaders must accept or reject, signs and verifies files, and keeps
// everything in a private temporary directory that is removed when the process ends.
#pragma once

#include <string>
#include <string_view>

namespace cashier::test {

/// Runs `command` with /bin/sh, stdout and stderr appended to the work directory's cli.log;
/// returns std::system's status: 0 on success.
int run_shell(const std::string& command);

/// The path of `name` inside this process's temporary work directory (created on first use).
std::string work_path(std::string_view name);

/// The bytes of the file at `path` (empty when it cannot be read).
std::string read_bytes(const std::string& path);

/// Writes `bytes` to the file at `path`, replacing it.
void write_bytes(const std::string& path, std::string_view bytes);

/// Paths of an RSA-2048 key pair made by `openssl genpkey`, in the formats the tests use.
struct cli_rsa_keys {
  std::string pkcs8;      ///< private key, PKCS#8 (`BEGIN PRIVATE KEY`)
  std::string pkcs1;      ///< the same private key, PKCS#1 (`BEGIN RSA PRIVATE KEY`)
  std::string spki;       ///< its public key, SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`)
  std::string pkcs1_pub;  ///< its public key, PKCS#1 (`BEGIN RSA PUBLIC KEY`)
  std::string cert;       ///< a self-signed certificate for the key
  std::string enc_pkcs8;  ///< the private key, encrypted PKCS#8 (passphrase "secret")
  std::string enc_pkcs1;  ///< the private key, encrypted traditional PEM (passphrase "secret")
};

/// Key pair number `n` (0 or 1), generated once per process and CHECKed to exist.
const cli_rsa_keys& cli_keys(int n = 0);

/// The CLI's signature (`openssl dgst -sha256 -sign`) of `content` with private key file
/// `key_path`, as standard Base64 (empty on failure).
std::string cli_sign_b64(const std::string& key_path, std::string_view content);

/// Whether `openssl dgst -sha256 -verify` accepts `signature` (raw bytes) over `content`
/// under public key file `pub_path`.
bool cli_verify(const std::string& pub_path, std::string_view content, std::string_view signature);

}  // namespace cashier::test
