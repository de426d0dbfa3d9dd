// The admin actions of cashierctl (see admin.hpp): resolve where the daemon listens, POST one
// request with the net layer's client on a private io_context, and turn the answer into an exit
// code and a message.
#include "tools/cashierctl/admin.hpp"

#include <exception>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include "orchestrator/net/http_client.hpp"
#include "tools/cashierctl/format.hpp"

namespace cashier::ctl {
namespace asio = boost::asio;
namespace json = boost::json;

std::string_view to_string(admin_action a) {
  switch (a) {
    case admin_action::cancel: return "cancel";
    case admin_action::inquire: return "inquire";
    case admin_action::redeliver: return "redeliver";
    case admin_action::refund: return "refund";
  }
  return "?";
}

namespace {

/// The origin of the daemon's ops listener: loopback for a wildcard, brackets for IPv6.
std::string origin_of(const daemon::config& cfg) {
  std::string host = cfg.ops_host;
  if (host == "0.0.0.0" || host.empty()) host = "127.0.0.1";
  if (host == "::") host = "::1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(cfg.ops_port);
}

bool is_origin(std::string_view text) {
  const auto url = boost::urls::parse_uri(text);
  if (!url) return false;
  const auto scheme = url->scheme_id();
  return (scheme == boost::urls::scheme::http || scheme == boost::urls::scheme::https) &&
         !url->host_address().empty() && !url->has_userinfo() && !url->has_query() &&
         !url->has_fragment() && (url->path().empty() || url->path() == "/");
}

}  // namespace

boost::system::result<admin_target, std::string> resolve_admin_target(
    const std::optional<daemon::config>& cfg, const std::optional<std::string>& admin_url,
    const std::optional<std::string>& ca_file, const std::optional<std::string>& token) {
  const auto fail = [](std::string message) {
    return boost::system::result<admin_target, std::string>(boost::system::in_place_error,
                                                            std::move(message));
  };
  admin_target t{.origin = {}, .ca_file = ca_file};
  if (admin_url) {
    if (!is_origin(*admin_url))
      return fail("--admin-url must be http://host:port or https://host:port, not '" +
                  printable(*admin_url) + "'");
    t.origin = *admin_url;
    if (t.origin.ends_with('/')) t.origin.pop_back();
  } else if (cfg) {
    t.origin = origin_of(*cfg);
  } else {
    return fail("actions need --config FILE or --admin-url URL to find the daemon");
  }
  t.token = token ? *token : cfg ? cfg->admin_token : std::string();
  if (t.token.empty())
    return fail("actions need the admin token: adminToken or adminTokenFile in --config FILE, "
                "--admin-token-file FILE, or CASHIER_ADMIN_TOKEN");
  return t;
}

std::string admin_path(admin_action action, std::string_view id,
                       std::optional<std::string_view> merchant) {
  const auto encoded = boost::urls::encode(id, boost::urls::unreserved_chars);
  const std::string query =
      merchant ? "?merchant=" + boost::urls::encode(*merchant, boost::urls::unreserved_chars) : "";
  switch (action) {
    case admin_action::cancel: return "/admin/payments/" + encoded + "/cancel" + query;
    case admin_action::inquire: return "/admin/payments/" + encoded + "/inquire" + query;
    case admin_action::redeliver: return "/admin/events/" + encoded + "/redeliver";
    case admin_action::refund: return "/admin/payments/" + encoded + "/refund" + query;
  }
  return {};
}

namespace {

using answer = boost::system::result<net::response, net::net_error>;

asio::awaitable<void> send_into(net::http_client client, net::request req,
                                std::optional<answer>* out) {
  *out = co_await client.send(std::move(req));
}

/// POSTs `body` to `path`; the response, or why there is none.
boost::system::result<net::response, std::string> post(const admin_target& t,
                                                       const std::string& path,
                                                       std::chrono::milliseconds timeout,
                                                       std::string body) {
  net::client_options options;
  options.timeout = timeout;
  options.max_connections = 1;
  if (t.origin.starts_with("https://")) {
    auto ctx = net::make_client_context(t.ca_file);
    if (!ctx) return ctx.error().message;
    options.tls = *ctx;
  }
  asio::io_context ioc;
  auto client = net::http_client::create(ioc.get_executor(), t.origin, std::move(options));
  if (!client) return client.error().message;
  net::request req{.method = "POST",
                   .target = path,
                   .headers = {{"Content-Type", "application/json"}},
                   .body = body.empty() ? std::string("{}") : std::move(body)};
  if (!t.token.empty()) req.headers.push_back({"Authorization", "Bearer " + t.token});
  std::optional<answer> got;
  std::exception_ptr failure;
  // Stop once the answer is in: a pooled keep-alive connection would otherwise keep run() busy.
  asio::co_spawn(ioc, send_into(std::move(*client), std::move(req), &got),
                 [&](std::exception_ptr e) {
                   failure = e;
                   ioc.stop();
                 });
  ioc.run();
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
  }
  if (!got) return std::string("no answer");
  if (!*got) return (*got).error().message;
  return std::move(**got);
}

/// The human line for an accepted action.
std::string accepted_text(admin_action action, std::string_view id, const json::value& body) {
  const auto* o = body.if_object();
  const auto field = [&](std::string_view key) -> std::string {
    const auto* v = o ? o->if_contains(key) : nullptr;
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
  };
  switch (action) {
    case admin_action::redeliver: return "redelivery of " + printable(id) + " queued";
    case admin_action::refund: {
      std::string text = "refund of " + printable(id) + " " + printable(field("refundRequestId"));
      if (const auto status = field("status"); !status.empty()) text += ": " + printable(status);
      return text;
    }
    case admin_action::cancel:
    case admin_action::inquire: {
      std::string text = std::string(to_string(action)) + " of " + printable(id) + " accepted";
      if (const auto status = field("status"); !status.empty()) {
        const auto pending = field("pendingAction");
        text += ": now " + printable(status) + (pending.empty() ? "" : "/" + printable(pending));
      }
      return text;
    }
  }
  return {};
}

exit_status report_answer(const console& io, admin_action action, std::string_view id,
                          const net::response& r) {
  boost::system::error_code ec;
  const auto body = json::parse(r.body, ec);
  const bool accepted = r.status == 202 || (action == admin_action::refund && (r.status == 200 || r.status == 201));
  if (accepted) {
    if (io.json)
      io.out << (ec ? json::serialize(json::object{}) : json::serialize(body)) << '\n';
    else
      io.out << accepted_text(action, id, ec ? json::value{} : body) << '\n';
    return exit_status::ok;
  }
  std::string code = "HTTP_" + std::to_string(r.status);
  std::string message = "HTTP " + std::to_string(r.status);
  const auto* error = !ec && body.is_object() ? body.get_object().if_contains("error") : nullptr;
  if (error && error->is_object()) {
    if (const auto* c = error->get_object().if_contains("code"); c && c->is_string())
      code = c->get_string();
    if (const auto* m = error->get_object().if_contains("message"); m && m->is_string())
      message = m->get_string();
  }
  return report_error(
      io, exit_status::failed, code,
      std::string(to_string(action)) + " " + printable(id) + ": " + printable(message));
}

}  // namespace

exit_status cmd_admin(const console& io, const admin_target& target, admin_action action,
                      std::string_view id, std::chrono::milliseconds timeout,
                      std::optional<std::string_view> merchant, std::string body) {
  const auto r = post(target, admin_path(action, id, merchant), timeout, std::move(body));
  if (!r)
    return report_error(io, exit_status::failed, "UNREACHABLE",
                        "cannot reach cashierd at " + target.origin + ": " + r.error());
  return report_answer(io, action, id, *r);
}

}  // namespace cashier::ctl
