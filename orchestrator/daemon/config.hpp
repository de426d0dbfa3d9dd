// cashierd's configuration: the JSON file of PRODUCT.md (comments allowed), parsed and validated
// into plain values. Every error names the offending key (`alipayplus.gateway: ...`) so
// `cashierd --check-config` can say exactly what to fix. Files named by the config (keys,
// certificates) are checked for readability here; their contents are loaded by the daemon.
//
// Each default is written once. The ones the payment machine also needs (expiry, grace, poll
// intervals, request timeout) come from state/machine/params.hpp's product_defaults; the others
// are the member initialisers below. The parser (config.cpp) falls back to the value already in
// the struct, never to a literal of its own.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/system/result.hpp>

#include "orchestrator/engine/shard_leases.hpp"
#include "state/machine/params.hpp"
#include "state/machine/refund.hpp"

namespace cashier::daemon {

/// A configuration problem: the dotted key and what is wrong with it.
struct config_error {
  std::string key;      ///< e.g. `alipayplus.gateway`, or `` for the file as a whole
  std::string message;  ///< e.g. `must be https:// unless the host is a loopback address`
};
/// "key: message".
std::string to_string(const config_error& e);
/// Lets boost::system::result<T, config_error>::value() throw (std::invalid_argument).
[[noreturn]] void throw_exception_from_error(const config_error& e, const boost::source_location& loc);

/// One Alipay+ public key accepted for verification (up to two during a rotation).
struct public_key_config {
  std::string path;         ///< SubjectPublicKeyInfo PEM file
  std::string key_version;  ///< the keyVersion Alipay+ signs with ("" = any)
};

// --- merchant identity (issue 14, item 5): who a merchant is towards Alipay+ --------------
/// One merchant record as Alipay+ sees it (order.merchant, consult's merchant). A create or
/// consult may only name a record of the authenticated merchant (its own or a sub-merchant's).
struct merchant_identity {
  std::string reference_merchant_id;  ///< `referenceMerchantId`, 1 to 64 characters
  std::string merchant_name;          ///< `merchantName`, 1 to 256 characters
  std::string merchant_mcc;           ///< `merchantMCC`, 1 to 64 characters
  std::string region;                 ///< `merchantAddress.region`, ISO 3166 alpha-2
  std::string city;                   ///< `merchantAddress.city`, 1 to 256 characters
};
// --- end of merchant identity ---------------------------------------------------------------

/// One merchant allowed to use the API.
struct merchant_config {
  std::string id;                         ///< merchant id, recorded with each payment
  std::string token;                      ///< Bearer token of the merchant API
  std::vector<std::string> notify_secrets;///< `whsec_<base64>`; two during a rotation
  std::string notify_url;                 ///< default webhook URL ("" = none)
  std::string ca_file;                    ///< CA bundle for the webhook URL ("" = system)
  merchant_identity identity = {};        ///< its own record towards Alipay+ (required)
  std::vector<merchant_identity> sub_merchants = {};  ///< a platform's sub-merchants (`subMerchants`)
  /// Hosts a payment's merchantNotifyUrl may name (`notifyHosts`; default: the host of
  /// notify_url); compared case-insensitively, no port.
  std::vector<std::string> notify_hosts;
  /// `allowPrivateNotifyAddresses`: webhooks may go to loopback/private/link-local addresses
  /// (development and tests only).
  bool allow_private_notify_addresses = false;
};

/// Which engine keeps the payments (`store.engine`).
enum class store_engine {
  sqlite,    ///< the embedded default: one file, `database`
  postgres,  ///< a PostgreSQL database, `store.postgres.conninfo` or `conninfoFile`
};

/// `store.cluster`: this process is one of several cashierd instances sharing one PostgreSQL
/// database (proto-docs/cluster.md). The lease timing scales from engine::lease_config's
/// defaults (cluster_member.hpp, lease_timing).
struct cluster_config {
  /// `instanceId`: the owner column of the shard table. "" = `<host>:<pid>` at start, unique
  /// per live process on a host; a configured one must be unique among the live instances.
  std::string instance_id;
  /// `leaseSeconds`: the lease L (renew every L/4; claim tick and margin L/10).
  double lease_seconds = std::chrono::duration<double>(engine::lease_config{}.lease).count();
};

/// The `store` section.
struct store_config {
  store_engine engine = store_engine::sqlite;  ///< `store.engine`
  /// libpq connection string (`store.postgres.conninfo`, or the content of `conninfoFile`). It
  /// may hold a password: never logged, never in an answer or an error message.
  std::string postgres_conninfo;
  std::string postgres_conninfo_file;  ///< `store.postgres.conninfoFile` ("" = inline conninfo)
  /// `store.cluster` (engine postgres only); nothing = one instance owns every shard (today's).
  std::optional<cluster_config> cluster;
};

/// product_defaults::inquiry_intervals in whole seconds (`payment.pollIntervalsSeconds`).
std::vector<std::int64_t> default_poll_intervals_seconds();

/// The whole configuration, with defaults applied.
struct config {
  std::string listen_host = "127.0.0.1";  ///< from `listen`
  std::uint16_t listen_port = 8080;       ///< from `listen`
  std::optional<std::string> tls_cert;    ///< `tls.cert`: HTTPS when set
  std::optional<std::string> tls_key;     ///< `tls.key`
  std::string public_url;                 ///< `publicUrl`: base of checkoutUrl ("" = from listen and tls)
  std::string database;                   ///< SQLite path (engine sqlite: required)
  store_config store;                     ///< `store`: the engine and its connection
  bool synchronous_full = true;           ///< `databaseSynchronous`: "FULL" (default) or "NORMAL"

  struct alipayplus_config {
    std::string gateway;                  ///< base URL, https:// unless loopback
    std::string client_id;                ///< our Client-Id
    std::string private_key;              ///< PEM path, PKCS#1 or PKCS#8
    std::vector<public_key_config> public_keys;  ///< Alipay+ keys, at most two
    std::string key_version = "1";        ///< keyVersion of our signatures
    std::string notify_url;               ///< sent as paymentNotifyUrl
    std::string notify_path;              ///< served path; default: the path of notify_url
    std::string ca_file;                  ///< private CA for the gateway ("" = system)
    std::int64_t request_timeout_ms = product_defaults::request_timeout.count();
    std::int64_t max_clock_skew_seconds = 600;
    double max_requests_per_second = 0;   ///< global outbound budget (0 = unlimited)
  } alipayplus;

  struct payment_config {
    std::int64_t default_expiry_minutes =
        std::chrono::duration_cast<std::chrono::minutes>(product_defaults::default_expiry).count();
    std::int64_t poll_grace_minutes =  ///< ≥ 10, enforced
        std::chrono::duration_cast<std::chrono::minutes>(product_defaults::poll_grace).count();
    std::vector<std::int64_t> poll_intervals_seconds = default_poll_intervals_seconds();
    std::int64_t create_wait_ms = 10000;
    /// How long a consultPayment answer is reused for the same (merchant, currency, amount
    /// band, region, terminal); 0 = never. Issue 14, item 11.
    std::int64_t consult_cache_seconds = 60;
  } payment;

  /// `refund.*`: the refund machine's resend schedule (its answer guard is set from
  /// alipayplus.requestTimeoutMs where the daemon starts).
  refund_params refund;

  std::vector<merchant_config> merchants;
  double time_scale = 1;                   ///< demos and tests only

  // Operations and connection limits (proto-docs/security.md).
  std::string ops_host = "127.0.0.1";      ///< from `opsListen`: /healthz, /readyz, /metrics, /admin/
  std::uint16_t ops_port = 9464;           ///< from `opsListen`
  std::string admin_token;                 ///< `adminToken` or the content of `adminTokenFile`; "" = admin disabled
  std::string admin_token_file;            ///< `adminTokenFile` ("" = none)
  std::size_t max_connections = 1024;      ///< `maxConnections`: per listener
  std::size_t max_connections_per_address = 64;  ///< `maxConnectionsPerAddress`: per listener and peer IP
  std::int64_t request_head_timeout_ms = 5000;   ///< `requestHeadTimeoutMs`: a new connection's first request head
  std::string source_path;                 ///< the file load_config read ("" = parsed from text)
};

/// Parses and validates a configuration document (JSON with comments).
boost::system::result<config, config_error> parse_config(std::string_view text);
/// Reads and parses the file at `path`.
boost::system::result<config, config_error> load_config(const std::string& path);
/// Every key the file accepts, dotted, `[]` for each element of an array
/// (`merchants[].token`); sections are listed too (`alipayplus`).
std::vector<std::string> config_keys();
/// True when `host` is the name `localhost` or an IP literal in 127.0.0.0/8 or ::1 (brackets
/// allowed); a DNS name such as `127.evil.example` is not.
bool is_loopback_host(std::string_view host);

/// The machine's schedules from the config: poll intervals, grace, default expiry, and the
/// answer guard (request timeout + product_defaults::answer_guard_margin); the rest stay at
/// machine_params' defaults.
machine_params machine_params_of(const config& cfg);

/// "host:port", with brackets around an IPv6 host: the form `listen` and `opsListen` take.
std::string host_port(const std::string& host, std::uint16_t port);

/// Files holding secrets that must not be readable by every user: the private key, the TLS
/// key, the admin token file, the PostgreSQL conninfo file and the config file itself (it holds
/// merchant tokens).
std::vector<std::pair<std::string, std::string>> secret_files(const config& cfg);

}  // namespace cashier::daemon
