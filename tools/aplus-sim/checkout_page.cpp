// The checkout page's HTML (see checkout_page.hpp).
#include "tools/aplus-sim/checkout_page.hpp"

#include <array>
#include <span>

namespace cashier::sim {
namespace {

constexpr std::array<std::string_view, 14> zero_decimal{"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF",
                                                        "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF"};
constexpr std::array<std::string_view, 7> three_decimal{"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"};

bool listed(std::string_view code, std::span<const std::string_view> list) {
  for (const auto c : list)
    if (c == code) return true;
  return false;
}

std::string page(std::string_view title, const std::string& body, std::string_view head = {}) {
  return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">" + std::string(head) +
         "<title>" + html_escape(title) +
         "</title>\n<style>body{font:16px/1.5 system-ui,sans-serif;color:#1a1f36;max-width:28em;margin:2em auto;"
         "padding:0 1.2em}h1{font-size:1.3em;color:#1677ff}"
         "button{font:inherit;font-weight:600;margin:.3em .4em .3em 0;padding:.5em 1.4em;border-radius:8px;"
         "border:1px solid #b6c2d9;background:#fff;cursor:pointer}button[value=pay]{background:#1677ff;"
         "color:#fff;border-color:#1677ff}</style></head>\n<body>\n" +
         body + "</body></html>\n";
}

std::string button(const truth& t, std::string_view action, std::string_view label) {
  return "<form method=\"post\" action=\"/checkout/" + html_escape(t.payment_id) + "/" + std::string(action) +
         "\" style=\"display:inline\"><button type=\"submit\" name=\"action\" value=\"" + std::string(action) +
         "\">" + std::string(label) + "</button></form>\n";
}

std::string state_line(const truth& t) {
  if (t.abandoned && t.status == order_status::in_process) return "abandoned by the payer";
  switch (t.status) {
    case order_status::in_process: return "waiting for the payer";
    case order_status::paid: return "paid";
    case order_status::failed: return "failed";
    case order_status::cancelled: return t.refunded ? "cancelled and refunded" : "cancelled";
  }
  return "?";
}

}  // namespace

int minor_unit_digits(const currency_code& currency) {
  if (listed(currency.view(), zero_decimal)) return 0;
  if (listed(currency.view(), three_decimal)) return 3;
  return 2;
}

std::string format_display_amount(const money& m) {
  const int digits = minor_unit_digits(m.currency);
  std::string units = format_minor_units(m.minor_units);
  if (digits == 0) return units;
  if (units.size() <= static_cast<std::size_t>(digits))
    units.insert(0, static_cast<std::size_t>(digits) + 1 - units.size(), '0');
  units.insert(units.size() - static_cast<std::size_t>(digits), 1, '.');
  return units;
}

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string checkout_page(const truth& t) {
  const auto& order = t.request.order;
  std::string body = "<h1>Alipay+ checkout (simulated)</h1>\n<p>" + html_escape(order.merchant.merchant_name) +
                     "</p>\n<p>" + html_escape(order.order_description) + "</p>\n<p><strong>" +
                     html_escape(t.request.payment_amount.currency.view()) + " " +
                     format_display_amount(t.request.payment_amount) + "</strong></p>\n<p>Payment " +
                     html_escape(t.payment_id) + ": <em>" + state_line(t) + "</em></p>\n";
  if (t.status == order_status::in_process && !t.abandoned)
    body += button(t, "pay", "Pay") + button(t, "fail", "Fail") + button(t, "abandon", "Abandon");
  return page("Alipay+ checkout", body);
}

std::string checkout_result_page(const truth& t, std::string_view message, bool send_back) {
  std::string body = "<h1>Alipay+ checkout (simulated)</h1>\n<p>" + html_escape(message) + "</p>\n";
  std::string head;
  if (t.request.payment_redirect_url && send_back) {
    const auto url = html_escape(*t.request.payment_redirect_url);
    body += "<p><a href=\"" + url + "\">Back to the merchant</a></p>\n";
    head = "<meta http-equiv=\"refresh\" content=\"1;url=" + url + "\">";
  }
  return page("Alipay+ checkout", body, head);
}

}  // namespace cashier::sim
