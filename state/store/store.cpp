// Names of the store's enumerations (records.hpp, store.hpp), shared by every engine.
#include "state/store/store.hpp"

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
  }
  return "?";
}

}  // namespace cashier::store
