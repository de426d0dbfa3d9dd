// The store's refund records: a refund written inside a transition (created or moved by the
// refund machine) and a refund's recovery entry. Refund rows themselves are the machine's
// `refund` (state/machine/refund.hpp); the store keeps them in the `refunds` table, whose
// triggers hold the money rule: the refunds of a payment that are not FAIL never sum above its
// amount, checked inside the transaction that creates one.
#pragma once

#include <cstdint>

#include "state/machine/refund.hpp"
#include "state/machine/time.hpp"

namespace cashier::store {

/// A refund to insert (expected_version 0) or to update by compare-and-set.
struct refund_write {
  refund after;                      ///< the refund after the change (payment_row set)
  std::int64_t expected_version = 0; ///< the version read; 0 = insert a new refund
};

/// A recovery entry: an open (PROCESSING) refund and when it wants to be woken. Refund wake-ups
/// are keyed by the refund's own id, apart from payments', so the two never collide.
struct refund_deadline {
  std::int64_t refund_id = 0;   ///< the refund
  std::int64_t payment_id = 0;  ///< its payment
  time_point next_action_at{};  ///< its next deadline
  friend bool operator==(const refund_deadline&, const refund_deadline&) = default;
};

/// The detail of a `rejected` outcome whose refund would take a payment's refunds past its amount.
inline constexpr std::string_view refund_amount_exceed = "refund_amount_exceed";
/// The detail of a `rejected` outcome whose refund names a payment that is not SUCCESS with
/// nothing pending (or does not exist).
inline constexpr std::string_view payment_not_refundable = "payment_not_refundable";

}  // namespace cashier::store
