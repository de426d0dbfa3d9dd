// Names of event enumerations (see events.hpp).
#include "state/machine/events.hpp"

#include <algorithm>
#include <cstdint>

namespace cashier {

std::string_view to_string(no_answer_reason r) {
  switch (r) {
    case no_answer_reason::timeout: return "timeout";
    case no_answer_reason::transport_error: return "transport_error";
    case no_answer_reason::server_error: return "server_error";
    case no_answer_reason::unsigned_answer: return "unsigned_answer";
    case no_answer_reason::bad_signature: return "bad_signature";
    case no_answer_reason::garbled: return "garbled";
  }
  return "?";
}

std::string_view to_string(requester r) {
  switch (r) {
    case requester::merchant: return "merchant";
    case requester::operator_: return "operator";
    case requester::system: return "system";
  }
  return "?";
}

bool is_successful_reversal(const payment_transaction& t) {
  if (t.type != "CANCEL" && t.type != "REFUND") return false;
  // Either field may carry the outcome; a FAIL or PROCESSING in one of them is no proof.
  if (t.result && t.result->status != 'S') return false;
  if (!t.status.empty() && t.status != "SUCCESS") return false;
  return !t.status.empty() || t.result;
}

bool reverses_in_full(const std::vector<payment_transaction>& transactions, const money& amount) {
  std::int64_t refunded = 0;
  for (const auto& t : transactions) {
    if (!is_successful_reversal(t)) continue;
    if (t.type == "CANCEL") return true;
    // Amounts come from the network: a wrong currency or a negative value adds nothing, and
    // the sum stops at the amount (no overflow).
    if (!t.amount || t.amount->currency != amount.currency || t.amount->minor_units <= 0) continue;
    refunded += std::min(t.amount->minor_units, amount.minor_units - refunded);
    if (refunded >= amount.minor_units) return true;
  }
  return false;
}

}  // namespace cashier
