// Names of the store's enumerations (records.hpp, store.hpp), shared by every engine.
#include "state/store/store.hpp"

#include <algorithm>

namespace cashier::store {

std::string_view to_string(outbox_state s) {
  switch (s) {
    case outbox_state::pending:
      return "pending";
    case outbox_state::delivered:
      return "delivered";
    case outbox_state::dead:
      return "dead";
  }
  return "?";
}

std::optional<outbox_state> parse_outbox_state(std::string_view text) {
  for (auto s : {outbox_state::pending, outbox_state::delivered, outbox_state::dead}) {
    if (to_string(s) == text) return s;
  }
  return std::nullopt;
}

std::string_view to_string(commit_status s) {
  switch (s) {
    case commit_status::committed:
      return "committed";
    case commit_status::conflict:
      return "conflict";
    case commit_status::duplicate:
      return "duplicate";
    case commit_status::rejected:
      return "rejected";
    case commit_status::not_owner:
      return "not_owner";
  }
  return "?";
}

named_payment resolve_payment_name(payment_store& s, std::string_view name,
                                   std::optional<std::string_view> merchant_id) {
  if (merchant_id) {
    // With the merchant: its paymentRequestId, or an Alipay+ id of one of its payments.
    if (auto p = s.find(*merchant_id, name)) return {name_resolution::found, std::move(p)};
    if (auto p = s.find(name); p && p->merchant_id == *merchant_id)
      return {name_resolution::found, std::move(p)};
    return {};
  }
  // Without: every payment answering to the name, whether as an Alipay+ id or as a merchant's
  // id; more than one distinct payment is ambiguous (never a guess).
  std::vector<payment> found = s.find_any_merchant(name, 2);
  if (auto p = s.find(name)) {
    const bool listed = std::any_of(found.begin(), found.end(), [&](const payment& q) { return q.id == p->id; });
    if (!listed) found.push_back(std::move(*p));
  }
  if (found.empty()) return {};
  if (found.size() > 1) return {name_resolution::ambiguous, std::nullopt};
  return {name_resolution::found, std::move(found.front())};
}

}  // namespace cashier::store
