// A deterministic simulation of refunds end to end below the HTTP layer: the real refund engine
// and machine over a real SQLite store, talking through the real Alipay+ codec to aplus-sim's
// refund ledger (the simulated Alipay+'s own business rules), across a lossy network (requests
// lost, answers lost after Alipay+ acted, U answers, garbled answers) and crashes between the
// commit and the send (the in-memory engine is thrown away and rebuilt from the store). The
// merchant asks random partial refunds of paid payments, some past the amount, some repeated
// with the same or another body. At the end every refund must be final and:
//   1. the refunds not FAIL of a payment sum to at most its amount (cashierd);
//   2. the simulated Alipay+'s refunded sum of each payment equals cashierd's SUCCESS sum;
//   3. Alipay+ never saw two bodies under one refundRequestId;
//   4. one merchant event per refund outcome, of the right type, with per-payment sequence
//      numbers 1, 2, ... shared with the payment's own event(s);
//   5. every SUCCESS refund carries the refundId Alipay+ gave it.
#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <set>

#include <boost/json/parse.hpp>

#include "orchestrator/alipayplus/codec.hpp"
#include "orchestrator/alipayplus/refund_codec.hpp"
#include "orchestrator/engine/refunds.hpp"
#include "tests/sim/rng.hpp"
#include "tests/state/store/store_fixture.hpp"
#include "tools/aplus-sim/ledger.hpp"

using namespace cashier;
using namespace std::chrono_literals;

namespace {

struct figures {
  int payments = 0, orders = 0, created = 0, exceeded = 0, repeats = 0, inconsistent = 0;
  int succeeded = 0, failed = 0, sends = 0, inquiries = 0, lost = 0, crashes = 0;
};

std::string pay_body(const std::string& id, std::int64_t value) {
  const std::string v = std::to_string(value);
  return R"({"paymentRequestId":")" + id +
         R"(","order":{"referenceOrderId":"o","orderDescription":"d","orderAmount":{"currency":"USD","value":")" + v +
         R"("},"merchant":{"referenceMerchantId":"M1","merchantName":"Shop","merchantMCC":"5812"},)"
         R"("env":{"terminalType":"WEB"}},"paymentAmount":{"currency":"USD","value":")" + v +
         R"("},"paymentMethod":{"paymentMethodType":"CONNECT_WALLET"},)"
         R"("paymentFactor":{"isInStorePayment":"false","isCashierPayment":"true","presentmentMode":"UNIFIED"},)"
         R"("paymentExpiryTime":"2030-01-01T00:00:00+08:00","settlementStrategy":{"settlementCurrency":"USD"}})";
}

inquiry_answer inquiry_event(const aplus::inquiry_payment_response& r) {
  inquiry_answer ev;
  ev.result = r.result;
  if (r.payment_result) ev.payment_result = *r.payment_result;
  if (r.payment_amount) ev.amount = static_cast<const money&>(*r.payment_amount);
  for (const auto& t : r.transactions ? *r.transactions : std::vector<aplus::transaction>{}) {
    payment_transaction pt{t.transaction_type.value_or(""), t.transaction_request_id.value_or(""),
                           t.transaction_status.value_or(""), std::nullopt};
    if (t.transaction_result) pt.result = static_cast<const aplus_result&>(*t.transaction_result);
    pt.id = t.transaction_id.value_or("");
    ev.transactions.push_back(std::move(pt));
  }
  return ev;
}

class world {
 public:
  explicit world(std::uint64_t seed)
      : rng_(seed), books_("https://sim.test", "SIM-"),
        store_(store::open_sqlite_store(dir_.file("sim.db"), {.synchronous = store::sync_mode::normal})) {
    rebuild();
  }

  figures run(int payments) {
    for (int i = 0; i < payments; ++i) make_paid_payment(i);
    // The merchant's orders, interleaved with the refunds' own life.
    for (int step = 0; step < payments * 6; ++step) {
      if (rng_.chance(0.4)) merchant_order();
      else fire_next_deadline();
    }
    // Everything settles: keep firing deadlines (bounded) until no refund is open.
    for (int guard = 0; guard < 100000 && fire_next_deadline(); ++guard) {
    }
    return fig_;
  }

  void check() {
    CHECK(store_->open_refund_deadlines().empty());
    for (const auto& [id, alipay_id] : payments_) {
      const payment p = *store_->load(id);
      const auto refunds = store_->refunds_of(id);
      std::int64_t live = 0, succeeded = 0;
      int finals = 0;
      for (const refund& r : refunds) {
        CHECK(is_final(r.status));
        finals += is_final(r.status) ? 1 : 0;
        if (r.status != refund_status::fail) live += r.amount.minor_units;
        if (r.status == refund_status::success) {
          succeeded += r.amount.minor_units;
          CHECK_FALSE(r.refund_id.empty());
        }
      }
      INFO("payment " << alipay_id);
      CHECK(live <= p.amount.minor_units);                                          // 1
      const sim::truth* t = books_.find(alipay_id);
      REQUIRE(t != nullptr);
      CHECK(sim::refunded_minor(*t) == succeeded);                                   // 2
      CHECK(t->inconsistent_refunds == 0);                                           // 3
      for (const auto& sr : t->refunds) {
        if (!sr.succeeded) continue;
        const auto mine = store_->find_refund_by_alipay_id(sr.refund_request_id);
        REQUIRE(mine);
        CHECK(mine->refund_id == sr.refund_id);                                      // 5
      }
      // 4: one event per outcome, sequence 1 (payment.succeeded), 2, 3, ...
      const auto outbox = store_->outbox_of(id);
      CHECK(static_cast<int>(outbox.size()) == finals);
      CHECK(p.event_seq == finals + 1);
      std::set<std::string> seen;
      for (std::size_t k = 0; k < outbox.size(); ++k) {
        CHECK(outbox[k].seq == static_cast<std::int32_t>(k) + 2);
        const auto body = boost::json::parse(outbox[k].payload).as_object();
        const std::string key(body.at("data").at("refund").at("refundRequestId").as_string());
        CHECK(seen.insert(key).second);
        const auto r = store_->find_refund(id, key);
        REQUIRE(r);
        CHECK(outbox[k].type == refund_event_name(r->status));
      }
    }
  }

 private:
  void rebuild() {
    eng_ = std::make_unique<engine::refund_engine>(
        *store_, engine::refund_engine_config{
                     .params = {},
                     .build_request =
                         [](const payment& p, const refund& r) {
                           aplus::refund_request req;
                           req.payment_request_id = std::string(store::alipay_request_id(p));
                           req.payment_id = p.payment_id;
                           req.refund_request_id = r.alipay_refund_request_id;
                           req.refund_amount.minor_units = r.amount.minor_units;
                           req.refund_amount.currency = r.amount.currency;
                           if (!r.reason.empty()) req.refund_reason = r.reason;
                           return aplus::encode_refund_request(req);
                         },
                     .new_request_id = {},
                     .webhook_url = {},
                     .new_event_id = {},
                 });
  }

  void make_paid_payment(int i) {
    const std::string alipay_id = "ap-" + std::to_string(i);
    const std::int64_t amount = rng_.uniform(100, 5000);
    const auto answer = books_.pay(pay_body(alipay_id, amount), now_);
    REQUIRE(books_.payer_acts(alipay_id, sim::payer_action::pay, now_ + 1s));
    payment p = store::test::sample_payment("order-" + std::to_string(i));
    p.alipay_payment_request_id = alipay_id;
    p.amount = store::test::usd(amount);
    const payment stored = store::test::insert(*store_, p);
    payment after = stored;
    after.status = payment_status::success;
    after.pending = pending_action::none;
    after.next_action_at = never;
    after.event_seq = 1;
    after.payment_id = *answer.answer.payment_id;
    REQUIRE(store_->commit_one(store::test::change(stored, after, "pay:S")).status == store::commit_status::committed);
    payments_[stored.id] = alipay_id;
    ++fig_.payments;
  }

  void merchant_order() {
    auto it = payments_.begin();
    std::advance(it, rng_.uniform(0, static_cast<std::int64_t>(payments_.size()) - 1));
    const payment p = *store_->load(it->first);
    const int key = static_cast<int>(rng_.uniform(1, 5));
    // A key asked before is mostly repeated with its body, now and then with another one.
    auto [known, fresh] = asked_.try_emplace({p.id, key}, rng_.uniform(1, p.amount.minor_units * 2 / 3));
    const std::int64_t sent_value = !fresh && rng_.chance(0.15) ? known->second + 1 : known->second;
    engine::refund_order o{p.id, "r" + std::to_string(key), store::test::usd(sent_value), "",
                           refund_origin::merchant, "v=" + std::to_string(sent_value)};
    ++fig_.orders;
    const auto res = eng_->create(o, now_);
    switch (res.status) {
      case engine::refund_order_status::created: ++fig_.created; break;
      case engine::refund_order_status::amount_exceed: ++fig_.exceeded; break;
      case engine::refund_order_status::repeat: ++fig_.repeats; break;
      case engine::refund_order_status::inconsistent: ++fig_.inconsistent; break;
      case engine::refund_order_status::not_refundable:
      case engine::refund_order_status::not_found:
      case engine::refund_order_status::conflict: FAIL("unexpected order status " << to_string(res.status)); break;
    }
    if (res.status == engine::refund_order_status::created) execute(res.r.id, res.effects);
  }

  /// Fires the earliest open refund deadline; false when none is open.
  bool fire_next_deadline() {
    const auto open = store_->open_refund_deadlines();
    if (open.empty()) return false;
    now_ = std::max(now_, open.front().next_action_at);
    const auto out = eng_->apply(open.front().refund_id, deadline_reached{}, {}, now_);
    execute(open.front().refund_id, out.made.effects);
    return true;
  }

  /// Executes the effects of a committed decision, unless the process "crashes" first.
  void execute(std::int64_t refund_id, const std::vector<refund_effect>& effects) {
    for (const refund_effect& e : effects) {
      const bool sends = std::holds_alternative<send_refund>(e) || std::holds_alternative<send_refund_inquiry>(e);
      if (!sends) continue;
      if (rng_.chance(0.05)) {  // killed between the commit and the send: rebuild from the store
        ++fig_.crashes;
        rebuild();
        return;
      }
      const refund r = *store_->load_refund(refund_id);
      const payment p = *store_->load(r.payment_row);
      now_ += std::chrono::milliseconds(rng_.uniform(5, 500));
      const refund_event answer =
          std::holds_alternative<send_refund>(e) ? call_refund(r) : call_inquiry(p);
      const auto out = eng_->apply(refund_id, answer, {}, now_);
      execute(refund_id, out.made.effects);
      return;
    }
  }

  refund_event call_refund(const refund& r) {
    ++fig_.sends;
    if (rng_.chance(0.15)) {  // the request never arrives
      ++fig_.lost;
      return refund_no_answer{no_answer_reason::timeout};
    }
    const auto out = books_.refund(r.request, now_);
    const double fate = rng_.unit();
    if (fate < 0.15) return refund_no_answer{no_answer_reason::timeout};       // answer lost
    if (fate < 0.25) return refund_answer{{"UNKNOWN_EXCEPTION", 'U', ""}, "", "", std::nullopt};
    std::string body = aplus::encode(out.answer);
    if (fate < 0.30) body.resize(body.size() / 2);                              // garbled
    const auto decoded = aplus::decode_refund_response(body);
    if (!decoded) return refund_no_answer{no_answer_reason::garbled};
    return refund_answer{decoded->result, decoded->refund_id.value_or(""), decoded->refund_time.value_or(""),
                         decoded->refund_amount ? std::optional<money>(static_cast<const money&>(*decoded->refund_amount))
                                                : std::nullopt};
  }

  refund_event call_inquiry(const payment& p) {
    ++fig_.inquiries;
    if (rng_.chance(0.2)) return inquiry_no_answer{no_answer_reason::timeout};
    const auto out = books_.inquire(R"({"paymentRequestId":")" + std::string(store::alipay_request_id(p)) + R"("})");
    const auto decoded = aplus::decode_inquiry_payment_response(aplus::encode(out.answer));
    if (!decoded) return inquiry_no_answer{no_answer_reason::garbled};
    return inquiry_event(*decoded);
  }

  sim::rng rng_;
  store::test::temp_dir dir_;
  sim::ledger books_;
  std::unique_ptr<store::payment_store> store_;
  std::unique_ptr<engine::refund_engine> eng_;
  std::map<std::int64_t, std::string> payments_;  // store id -> Alipay+ paymentRequestId
  std::map<std::pair<std::int64_t, int>, std::int64_t> asked_;  // (payment, key) -> first value asked
  time_point now_ = from_epoch_ms(1'700'000'000'000);
  figures fig_;
};

}  // namespace

TEST_CASE("refund simulation: faults and crashes, every refund final, every figure agrees") {
  figures total;
  for (std::uint64_t seed = 1; seed <= 40; ++seed) {
    INFO("seed " << seed);
    world w(seed);
    const figures f = w.run(12);
    w.check();
    total.payments += f.payments;
    total.orders += f.orders;
    total.created += f.created;
    total.exceeded += f.exceeded;
    total.repeats += f.repeats;
    total.inconsistent += f.inconsistent;
    total.sends += f.sends;
    total.inquiries += f.inquiries;
    total.lost += f.lost;
    total.crashes += f.crashes;
  }
  MESSAGE("40 seeds: " << total.payments << " payments, " << total.orders << " refund orders: " << total.created
                       << " created, " << total.exceeded << " past the amount, " << total.repeats << " repeats, "
                       << total.inconsistent << " inconsistent; " << total.sends << " refund sends ("
                       << total.lost << " lost before Alipay+), " << total.inquiries << " confirming inquiries, "
                       << total.crashes << " crashes between commit and send");
  CHECK(total.created > 0);
  CHECK(total.crashes > 0);
  CHECK(total.inquiries > 0);
}
