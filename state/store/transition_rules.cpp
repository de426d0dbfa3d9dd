// check_event and events_named (transition_rules.hpp).
#include "state/store/transition_rules.hpp"

#include <algorithm>

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

std::vector<std::string_view> events_named(const transition& t) {
  std::vector<std::string_view> events;
  for (const auto& d : t.deliveries) events.push_back(d.event_id);
  for (const auto& w : t.webhook_attempts) events.push_back(w.event_id);
  std::sort(events.begin(), events.end());
  events.erase(std::unique(events.begin(), events.end()), events.end());
  return events;
}

}  // namespace cashier::store
