// Names of effects (see effects.hpp).
#include "state/machine/effects.hpp"

namespace cashier {

namespace {

/// A visitor made of lambdas, one per alternative.
template <class... Fs>
struct overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
overloaded(Fs...) -> overloaded<Fs...>;

}  // namespace

std::string_view to_string(merchant_event_type t) {
  switch (t) {
    case merchant_event_type::succeeded: return "succeeded";
    case merchant_event_type::failed: return "failed";
    case merchant_event_type::cancelled: return "cancelled";
    case merchant_event_type::cancel_failed: return "cancel_failed";
    case merchant_event_type::pending: return "pending";
  }
  return "?";
}

std::string_view to_string(anomaly_kind k) {
  switch (k) {
    case anomaly_kind::inquiry_failed: return "inquiry_failed";
    case anomaly_kind::amount_mismatch: return "amount_mismatch";
    case anomaly_kind::contradicting_result: return "contradicting_result";
    case anomaly_kind::result_during_cancel: return "result_during_cancel";
    case anomaly_kind::cancel_order_gone: return "cancel_order_gone";
    case anomaly_kind::cancel_abandoned: return "cancel_abandoned";
    case anomaly_kind::success_not_reversed: return "success_not_reversed";
    case anomaly_kind::cancel_refused: return "cancel_refused";
    case anomaly_kind::unresolved: return "unresolved";
    case anomaly_kind::impossible_state: return "impossible_state";
  }
  return "?";
}

std::string describe(const effect& e) {
  return std::visit(
      overloaded{
          [](const send_pay&) { return std::string("send pay"); },
          [](const send_inquiry&) { return std::string("send inquiry"); },
          [](const send_cancel&) { return std::string("send cancel"); },
          [](const emit_merchant_event& m) { return "emit " + std::string(to_string(m.type)); },
          [](const record_anomaly& a) { return "anomaly " + std::string(to_string(a.kind)); },
          [](const start_refund&) { return std::string("start refund"); },
      },
      e);
}

}  // namespace cashier
