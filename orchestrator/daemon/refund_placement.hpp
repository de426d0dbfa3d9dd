// Where a refund order goes (PRODUCT.md "Refunds", proto-docs/cluster.md "The inbox"): the one
// path of the merchant's POST /v1/payments/{id}/refunds and the operator's cashierctl refund.
// On the instance that drives the payment (always, outside cluster mode) the driver creates it
// (create_refund), retried a few times when another writer of the payment won the race. In
// cluster mode, on an instance that does not own the payment's shard, the order is checked
// read-only as the owner's create would check it (engine::answer_without_creating), posted to the
// inbox as a `refund` row, and awaited by re-reading the store (a store-thread job every
// refund_poll_interval) for up to the create wait: found, it is answered as the owner's create
// would answer it; not yet, it is `accepted` (the row stays; the owner creates it, and a retry
// with the same refundRequestId answers it). answer_to() is the answer both APIs send.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "orchestrator/daemon/driver.hpp"
#include "orchestrator/daemon/inbox_relay.hpp"
#include "orchestrator/daemon/store_thread.hpp"
#include "orchestrator/engine/refunds.hpp"
#include "orchestrator/net/http_types.hpp"

namespace cashier::daemon {

/// How a placement ended.
enum class placement_end {
  answered,       ///< `result` is the answer (created, repeat, or a refusal; never conflict)
  accepted,       ///< in the owner's inbox, not created within the wait: retry later
  not_posted,     ///< another instance drives the payment and the inbox took nothing: retry later
  kept_changing,  ///< lost the race with other writers every time: nothing recorded, retry
};

struct placed_refund {
  placement_end end = placement_end::kept_changing;
  engine::refund_order_result result;  ///< when answered
};

/// What a placement works with; all outlive it.
struct refund_placement_deps {
  store_thread& db;
  driver& drv;
  inbox_relay* inbox = nullptr;  ///< cluster mode only
  std::chrono::milliseconds wait;  ///< payment.createWaitMs
};

/// The HTTP answer to `placed`: 201 with the refund when final, 202 while PROCESSING, 200 for a
/// repeat, 409 REPEAT_REQ_INCONSISTENT, 400 REFUND_AMOUNT_EXCEED naming `amount_field` (the
/// amount's name in the API's body), 400 PAYMENT_NOT_REFUNDABLE, `not_found` (the API's own 404),
/// or 503 + Retry-After when nothing is known yet.
net::response answer_to(const placed_refund& placed, std::string_view amount_field, net::response not_found);

/// Places `order` for the payment whose Alipay+ request id is `alipay_request_id`.
boost::asio::awaitable<placed_refund> place_refund(refund_placement_deps deps, engine::refund_order order,
                                                   std::string alipay_request_id);

}  // namespace cashier::daemon
