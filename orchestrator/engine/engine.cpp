// The engine (see engine.hpp): load, step, record, group-commit.
#include "orchestrator/engine/engine.hpp"

#include <map>
#include <type_traits>
#include <variant>

#include "orchestrator/engine/payment_view.hpp"
#include "orchestrator/engine/random_id.hpp"

namespace cashier::engine {

std::string random_event_id() { return random_id("evt_"); }

// {"type","timestamp","data":{"payment","sequence","eventId"[,"cancelResult"]}}, written as
// text: this runs in every commit that emits an event, and a JSON tree of the payment cost most
// of the commit. payment.cancel_failed adds cancelResult {resultStatus "F", resultCode}: the
// Alipay+ code that refused the cancel (CANCEL_WINDOW_EXCEED when none was sent).
std::string webhook_payload(const payment& p, merchant_event_type type, std::int32_t seq,
                            std::string_view event_id, time_point now,
                            std::string_view cancel_code) {
  std::string out = R"({"type":)";
  append_json_string(out, "payment." + std::string(to_string(type)));
  out += R"(,"timestamp":)";
  append_json_string(out, iso8601(now));
  out += R"(,"data":{"payment":)";
  out += payment_json(p);
  out += R"(,"sequence":)";
  out += std::to_string(seq);
  out += R"(,"eventId":)";
  append_json_string(out, event_id);
  if (type == merchant_event_type::cancel_failed) {
    out += R"(,"cancelResult":{"resultStatus":"F","resultCode":)";
    append_json_string(out, cancel_code);
    out += "}";
  }
  out += "}}";
  return out;
}

engine::engine(store::payment_store& store, engine_config config)
    : store_(store), config_(std::move(config)) {}

namespace {

/// Where an input stands while the batch is being built.
struct pending_item {
  output out;
  std::optional<std::size_t> transition;  // index into the batch of transitions
  bool log_only = false;                  // its transition carries no payment
};

/// Adds the decision's merchant events and anomalies to `t`.
void add_effect_records(store::transition& t, const payment& next, const decision& d,
                        const engine_config& config, time_point now) {
  const auto& webhook_url = config.webhook_url;
  for (const auto& e : d.effects) {
    if (const auto* ev = std::get_if<emit_merchant_event>(&e)) {
      store::outbox_record r;
      r.event_id = config.new_event_id ? config.new_event_id(next, ev->seq) : random_event_id();
      r.seq = ev->seq;
      r.type = "payment." + std::string(to_string(ev->type));
      r.payload = webhook_payload(next, ev->type, ev->seq, r.event_id, now, ev->code);
      r.target_url = webhook_url ? webhook_url(next) : std::string();
      r.next_attempt_at = now;
      r.state = r.target_url.empty() ? store::outbox_state::delivered : store::outbox_state::pending;
      r.created_at = now;
      t.outbox.push_back(std::move(r));
    } else if (const auto* an = std::get_if<record_anomaly>(&e)) {
      t.anomalies.push_back({0, next.id, std::string(to_string(an->kind)), an->detail, now});
    }
  }
}

/// start_refund (issue 16): a full refund of what is left of the payment's amount, created in the
/// payment's own transition (the store's triggers check it there); the driver arms it and sends it
/// when its deadline (now) fires. Nothing is created when nothing is left to refund.
void add_cancel_refund(store::transition& t, store::payment_store& st, const payment& next,
                       std::int64_t next_version, const engine_config& config, time_point now) {
  if (!config.build_refund_request) {
    t.anomalies.push_back({0, next.id, "refund_not_started", "no refund path configured", now});
    return;
  }
  const std::int64_t left = next.amount.minor_units - st.refunded_or_pending(next.id);
  if (left <= 0) return;
  refund r;
  r.payment_row = next.id;
  r.refund_request_id = "cancel-" + std::to_string(next_version);
  r.alipay_refund_request_id = config.new_refund_request_id ? config.new_refund_request_id() : random_id("rf_");
  r.origin = refund_origin::cancel;
  r.amount = money{left, next.amount.currency};
  r.reason = "cancel after the cancel window";  // fixed text: the merchant's reason stays in cancelReason
  r.merchant_request = R"({"cancel":")" + std::to_string(next_version) + R"("})";
  r.created_at = r.updated_at = now;
  r.next_action_at = now;
  r.request = config.build_refund_request(next, r);
  t.refunds.push_back(store::refund_write{std::move(r), 0});
}

bool has_records(const store::transition& t) {
  return !t.calls.empty() || !t.notifies.empty() || !t.anomalies.empty() || !t.outbox.empty() ||
         !t.refunds.empty();
}

/// Stamps a payment id on records of a log-only transition (the store cannot infer it).
void stamp(store::transition& t, std::int64_t payment_id) {
  for (auto& c : t.calls) c.payment_id = payment_id;
  for (auto& n : t.notifies) n.payment_id = payment_id;
  for (auto& a : t.anomalies) a.payment_id = payment_id;
}

}  // namespace

std::vector<output> engine::apply(std::span<const input> batch, time_point now, const fence* f) {
  std::vector<pending_item> items(batch.size());
  std::vector<store::transition> transitions;
  transitions.reserve(batch.size());
  // Later inputs for the same payment step on the earlier ones' result (chained versions).
  std::map<std::int64_t, payment> working;

  for (std::size_t i = 0; i < batch.size(); ++i) {
    const auto& in = batch[i];
    auto& item = items[i];
    store::transition t;
    t.calls = in.calls;
    t.notifies = in.notifies;
    t.anomalies = in.anomalies;

    std::optional<payment> current;
    if (in.create) {
      current = *in.create;
    } else if (in.payment_id != 0) {
      if (auto it = working.find(in.payment_id); it != working.end()) current = it->second;
      else current = store_.load(in.payment_id);
    }
    if (!current) {
      item.out.result = in.payment_id == 0 && !in.create ? outcome::unchanged : outcome::not_found;
      if (has_records(t)) {
        stamp(t, 0);
        item.transition = transitions.size();
        item.log_only = true;
        transitions.push_back(std::move(t));
      }
      continue;
    }

    item.out.made = step(*current, in.ev, now, config_.params);
    const auto& d = item.out.made;
    add_effect_records(t, d.next, d, config_, now);
    for (const auto& e : d.effects) {
      if (std::holds_alternative<start_refund>(e) && !in.create)
        add_cancel_refund(t, store_, d.next, current->version + 1, config_, now);
    }
    if (d.changed || in.create) {
      t.expected_version = in.create ? 0 : current->version;
      if (!in.create) t.before = *current;  // the row as read: the store writes only what changed
      t.after = d.next;
      t.event = store::event_record{};
      t.event->at = now;
      if (!in.create) t.event->from_status = d.from.status;
      t.event->from_pending = in.create ? pending_action::none : d.from.pending;
      t.event->to_status = d.to.status;
      t.event->to_pending = d.to.pending;
      t.event->cause = d.cause;
      item.out.result = outcome::applied;
      if (!in.create) {
        payment chained = d.next;
        chained.version = current->version + 1;
        working[in.payment_id] = chained;
      }
    } else {
      item.out.result = outcome::unchanged;
      item.out.after = *current;
      if (!has_records(t)) continue;
      stamp(t, current->id);
      item.log_only = true;
    }
    item.transition = transitions.size();
    transitions.push_back(std::move(t));
  }

  // Fenced: inbox rows are deleted with the transition that applied them (or, for an input that
  // wrote nothing, with the batch), in the same transaction.
  std::vector<store::inbox_applied> applied;
  if (f != nullptr) {
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (batch[i].inbox_id == 0) continue;
      const auto& in = batch[i];
      std::optional<payment> p = in.create ? in.create : std::optional<payment>{};
      if (!p && items[i].transition && transitions[*items[i].transition].after)
        p = transitions[*items[i].transition].after;
      if (!p && in.payment_id != 0) p = store_.load(in.payment_id);
      if (!p) continue;  // no such payment: the row stays for an operator to see
      applied.push_back({in.inbox_id, store::shard_of(*p, f->store.shard_count()), items[i].transition});
    }
  }
  const auto outcomes = f != nullptr ? (transitions.empty() && applied.empty()
                                            ? std::vector<store::commit_outcome>{}
                                            : f->store.commit_fenced(transitions, f->epochs, applied))
                                     : transitions.empty() ? std::vector<store::commit_outcome>{}
                                                           : store_.commit(transitions);

  std::vector<output> result;
  result.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto& item = items[i];
    if (item.transition && !item.log_only) {
      const auto& oc = outcomes[*item.transition];
      switch (oc.status) {
        case store::commit_status::committed:
          item.out.after = *transitions[*item.transition].after;
          item.out.after.id = oc.payment_id;
          item.out.after.version = oc.version;
          break;
        case store::commit_status::conflict:
          item.out.result = outcome::conflict;
          break;
        case store::commit_status::duplicate:
          item.out.result = outcome::duplicate;
          if (auto existing = store_.load(oc.payment_id)) item.out.after = std::move(*existing);
          break;
        case store::commit_status::rejected:
          item.out.result = outcome::rejected;
          item.out.detail = oc.detail;
          break;
        case store::commit_status::not_owner:
          item.out.result = outcome::not_owner;
          break;
      }
      if (item.out.result != outcome::applied) item.out.made.effects.clear();
    }
    // A refund created in this commit (add_cancel_refund), log-only commits included: the
    // store says its id, the transition its payment and first deadline.
    if (item.transition) {
      const auto& t = transitions[*item.transition];
      const auto& oc = outcomes[*item.transition];
      if (oc.status == store::commit_status::committed && oc.refund_id != 0 && !t.refunds.empty() &&
          t.refunds.back().expected_version == 0) {
        item.out.started_refund =
            store::refund_deadline{oc.refund_id, oc.payment_id != 0 ? oc.payment_id : t.refunds.back().after.payment_row,
                                   t.refunds.back().after.next_action_at};
      }
    }
    result.push_back(std::move(item.out));
  }
  return result;
}

output engine::apply_one(const input& in, time_point now) {
  return std::move(apply(std::span<const input>(&in, 1), now).front());
}

}  // namespace cashier::engine
