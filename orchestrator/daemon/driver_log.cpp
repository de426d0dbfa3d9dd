// The driver's log lines (see driver_log.hpp).
#include "orchestrator/daemon/driver_log.hpp"

#include <cstdint>

#include "orchestrator/daemon/log.hpp"

namespace cashier::daemon {

void log_notice(const engine::notice& n) {
  switch (n.kind) {
    case engine::notice_kind::call_deferred:
      if (n.refund_id != 0)
        return log_line(log_level::warn, "Alipay+ refund call deferred: over maxRequestsPerSecond", {{"refund", n.refund_id}});
      return log_line(log_level::warn, "Alipay+ call deferred: over maxRequestsPerSecond", {{"paymentId", n.payment_id}});
    case engine::notice_kind::cancel_deferred:
      return log_line(log_level::info, "cancel deferred until the pay answer", {{"paymentId", n.payment_id}});
    case engine::notice_kind::rate_lowered:
      return log_line(log_level::warn, "Alipay+ answered REQUEST_TRAFFIC_EXCEED_LIMIT: outbound rate lowered",
                      {{"ratePerSecond", n.value}});
    case engine::notice_kind::store_failed:
      return log_line(log_level::error, "store cannot commit: creates get 503 until it can");
    case engine::notice_kind::store_recovered:
      return log_line(log_level::info, "store commits again", {{"failures", static_cast<std::uint64_t>(n.value)}});
    case engine::notice_kind::hold_expired:
      return log_line(log_level::warn, "calls held for an ack started without its release", {{"paymentId", n.payment_id}});
  }
}

}  // namespace cashier::daemon
