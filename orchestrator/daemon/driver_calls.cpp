// The Alipay+ calls the scheduler starts (start_call, start_refund_call), each a coroutine on the
// reactor: it calls the gateway, and hands the answer (or no answer, when the call threw) back to
// the scheduler, which queues it for the next group commit. See driver_core.hpp.
#include <exception>
#include <utility>

#include <boost/asio/co_spawn.hpp>

#include "orchestrator/daemon/crash_point.hpp"
#include "orchestrator/daemon/driver_core.hpp"
#include "orchestrator/daemon/log.hpp"

namespace cashier::daemon {
namespace asio = boost::asio;
using engine::call_kind;

namespace {
/// The gateway call of `kind`. It lives outside the coroutine on purpose: GCC 12 mishandles the
/// awaitable temporaries of a conditional expression under co_await (proto-docs/coding-rules.md).
asio::awaitable<call_result> start(gateway& gw, call_kind kind, const payment& p) {
  return kind == call_kind::pay ? gw.pay(p) : kind == call_kind::inquiry ? gw.inquiry(p) : gw.cancel(p);
}
}  // namespace

void driver_core::start_call(call_kind kind, payment p) {
  const auto id = p.id;
  asio::co_spawn(
      io,
      [self = shared_from_this(), kind, p = std::move(p)]() -> asio::awaitable<void> {
        if (self->fence && !self->fence->may_call(p)) {
          // Not trusted any more: nothing leaves; the new owner resends after the guard.
          engine::input in;
          in.payment_id = p.id;
          in.ev = engine::no_answer_of(kind, no_answer_reason::timeout);
          self->sched.call_ended(kind, std::move(in), self->now());
          self->run();
          co_return;
        }
        call_result r = co_await start(self->gw, kind, p);
        reach(crash_point::call_answered);
        engine::input in;
        in.payment_id = p.id;
        in.ev = std::move(r.ev);
        in.calls.push_back(std::move(r.call));
        self->sched.call_ended(kind, std::move(in), self->now());
        self->run();
      },
      [self = shared_from_this(), id, kind](std::exception_ptr e) {
        if (!e) return;
        log_line(log_level::error, "Alipay+ call failed", {{"paymentId", id}, {"error", what_of(e)}});
        // The machine treats it as no answer, which also re-arms the payment's deadline.
        engine::input in;
        in.payment_id = id;
        in.ev = engine::no_answer_of(kind, no_answer_reason::transport_error);
        self->sched.call_ended(kind, std::move(in), self->now());
        self->run();
      });
}

/// The refund call (its stored bytes) or its confirming inquiry; no answer if it throws.
void driver_core::start_refund_call(engine::refund_call kind, std::int64_t id) {
  asio::co_spawn(
      io,
      [self = shared_from_this(), kind, id]() -> asio::awaitable<void> {
        engine::refund_input in{id, refund_no_answer{no_answer_reason::transport_error}, {}};
        // The refund and its payment as stored, read on the store thread.
        auto read = [id](store::payment_store& s) {
          auto r = s.load_refund(id);
          auto p = r ? s.load(r->payment_row) : std::nullopt;
          return std::pair{std::move(r), std::move(p)};
        };
        const auto [r, p] = co_await self->db.call(std::move(read));
        if (r && p && kind == engine::refund_call::refund) {
          auto res = co_await self->rgw->refund(*p, *r);
          in.ev = std::move(res.ev);
          if (!res.call.api.empty()) in.calls.push_back(std::move(res.call));
        } else if (r && p) {
          auto res = co_await self->gw.inquiry(*p);
          in.ev = inquiry_no_answer{no_answer_reason::transport_error};
          if (const auto* a = std::get_if<inquiry_answer>(&res.ev)) in.ev = *a;
          if (const auto* n = std::get_if<inquiry_no_answer>(&res.ev)) in.ev = *n;
          if (!res.call.api.empty()) {
            res.call.refund_id = id;
            in.calls.push_back(std::move(res.call));
          }
        }
        reach(crash_point::call_answered);
        self->sched.refund_call_ended(std::move(in), self->now());
        self->run();
      },
      [self = shared_from_this(), id, kind](std::exception_ptr e) {
        if (!e) return;
        log_line(log_level::warn, "Alipay+ refund call failed", {{"refund", id}, {"error", what_of(e)}});
        engine::refund_input in{id, refund_no_answer{no_answer_reason::transport_error}, {}};
        if (kind == engine::refund_call::inquiry) in.ev = inquiry_no_answer{no_answer_reason::transport_error};
        self->sched.refund_call_ended(std::move(in), self->now());
        self->run();
      });
}

}  // namespace cashier::daemon
