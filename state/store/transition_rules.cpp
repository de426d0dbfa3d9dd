// check_event (transition_rules.hpp).
#include "state/store/transition_rules.hpp"

namespace cashier::store {

void check_event(const event_record& e, const payment& after, std::optional<stored_state> from) {
  if (e.to_status != after.status || e.to_pending != after.pending) {
    throw constraint_failed("event to-state differs from the payment's new state");
  }
  if (!from) {
    if (e.from_status) throw constraint_failed("a creation event has no from-state");
    return;
  }
  if (!e.from_status || to_string(*e.from_status) != from->status ||
      to_string(e.from_pending) != from->pending) {
    throw constraint_failed("event from-state differs from the stored payment");
  }
}

}  // namespace cashier::store
