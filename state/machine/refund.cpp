// The refund machine (refund.hpp): one dispatch per phase, every event handled in every phase,
// as the "Refund machine" table of proto-docs/state-machine.md lists it.
#include "state/machine/refund.hpp"

#include "state/machine/schedule.hpp"

namespace cashier {

namespace {

template <class... Fs>
struct overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
overloaded(Fs...) -> overloaded<Fs...>;

/// What an inquiry answer proves about the refund: its verdict, when transactions[] has one.
struct refund_proof {
  refund_status status = refund_status::processing;  ///< success, fail, or processing = no proof
  std::string code;                                   ///< the transaction's resultCode, when given
  std::string refund_id;                              ///< the transactionId (Alipay+'s refundId)
};

refund_proof proof_in(const refund& r, const inquiry_answer& a) {
  refund_proof out;
  if (a.result.status != 'S' || r.alipay_refund_request_id.empty()) return out;
  for (const payment_transaction& t : a.transactions) {
    if (t.type != "REFUND" || t.request_id != r.alipay_refund_request_id) continue;
    const char verdict = t.result ? t.result->status : 'U';
    if (t.status == "SUCCESS" || (t.status.empty() && verdict == 'S')) {
      out.status = refund_status::success;
    } else if (t.status == "FAIL" || (t.status.empty() && verdict == 'F')) {
      out.status = refund_status::fail;
    }
    out.code = t.result ? t.result->code : "";
    out.refund_id = t.id;
    return out;
  }
  return out;
}

/// Builds one decision; the helpers below are its only writers.
class refund_step {
 public:
  refund_step(const refund& r, time_point now, const refund_params& params, std::int32_t seq)
      : before_(r), now_(now), params_(params) {
    d_.next = r;
    d_.event_seq = seq;
  }

  refund_decision finish(std::string cause) {
    d_.cause = std::move(cause);
    d_.changed = !(d_.next == before_);
    if (d_.changed) d_.next.updated_at = now_;
    return std::move(d_);
  }

  /// Sends the stored request bytes and arms the answer guard.
  void send_refund_now() {
    d_.next.track = refund_track::send;
    d_.next.attempt = before_.track == refund_track::send ? before_.attempt + 1 : 1;
    d_.next.next_action_at = now_ + params_.answer_guard;
    d_.effects.emplace_back(send_refund{});
  }

  /// Sends the confirming inquiry and arms the answer guard.
  void send_inquiry_now() {
    d_.next.track = refund_track::confirm;
    d_.next.attempt = before_.track == refund_track::confirm ? before_.attempt + 1 : 1;
    d_.next.next_action_at = now_ + params_.answer_guard;
    d_.effects.emplace_back(send_refund_inquiry{});
  }

  /// Schedules the next resend after an unanswered one.
  void retry_later() { d_.next.next_action_at = now_ + refund_retry_delay(d_.next, params_); }

  /// Settles the refund and queues its merchant event.
  void settle(refund_status s, std::optional<aplus_result> result) {
    d_.next.status = s;
    d_.next.track = refund_track::send;
    d_.next.attempt = 0;
    d_.next.next_action_at = never;
    if (result) d_.next.result = std::move(result);
    const std::string code = s == refund_status::fail && d_.next.result ? d_.next.result->code : "";
    d_.effects.emplace_back(emit_refund_event{s, ++d_.event_seq, code});
  }

  void anomaly(anomaly_kind k, std::string detail) {
    d_.effects.emplace_back(record_anomaly{k, std::move(detail)});
  }

  refund& next() { return d_.next; }
  const refund& before() const { return before_; }

 private:
  refund before_;
  time_point now_;
  const refund_params& params_;
  refund_decision d_;
};

std::string result_text(const aplus_result& r) { return std::string(1, r.status) + "/" + r.code; }

/// A verdict on a final refund: nothing changes; a contradicting one is for the operator.
void on_final_verdict(refund_step& s, refund_status said, const std::string& code) {
  if (said != s.before().status) {
    s.anomaly(anomaly_kind::contradicting_result,
              "refund " + std::string(to_string(s.before().status)) + ", Alipay+ says " +
                  std::string(to_string(said)) + (code.empty() ? "" : " " + code));
  }
}

refund_decision on_refund_answer(refund_step& s, const refund_answer& a, refund_phase ph) {
  const std::string cause = "refund:" + result_text(a.result);
  // An S naming another amount proves nothing about our request: treat it as no answer.
  const bool mismatch = a.result.status == 'S' && a.amount && !(*a.amount == s.before().amount);
  if (mismatch) {
    s.anomaly(anomaly_kind::amount_mismatch,
              "refund S with amount " + format_minor_units(a.amount->minor_units) + " " +
                  a.amount->currency.str());
  }
  const bool definitive = !mismatch && (a.result.status == 'S' || a.result.status == 'F');
  const refund_status said = a.result.status == 'S' ? refund_status::success : refund_status::fail;
  switch (ph) {
    case refund_phase::processing_send:
    case refund_phase::processing_confirm:
      if (definitive) {
        if (!a.refund_id.empty()) s.next().refund_id = a.refund_id;
        if (!a.refund_time.empty()) s.next().refund_time = a.refund_time;
        s.settle(said, a.result);
      } else if (ph == refund_phase::processing_send) {
        s.retry_later();
      }
      break;
    case refund_phase::success:
    case refund_phase::fail:
      if (definitive) on_final_verdict(s, said, a.result.code);
      break;
  }
  return s.finish(cause);
}

refund_decision on_no_answer(refund_step& s, no_answer_reason why, refund_phase ph) {
  switch (ph) {
    case refund_phase::processing_send: s.retry_later(); break;
    case refund_phase::processing_confirm:
    case refund_phase::success:
    case refund_phase::fail: break;
  }
  return s.finish("refund:no_answer/" + std::string(to_string(why)));
}

refund_decision on_inquiry(refund_step& s, const inquiry_answer& a, refund_phase ph) {
  const refund_proof proof = proof_in(s.before(), a);
  const bool definitive = proof.status != refund_status::processing;
  std::optional<aplus_result> result;
  if (definitive) {
    const bool ok = proof.status == refund_status::success;
    result = aplus_result{proof.code.empty() ? (ok ? "SUCCESS" : "FAIL") : proof.code,
                          ok ? 'S' : 'F', "confirmed by inquiryPayment transactions[]"};
  }
  if (definitive && !is_final(s.before().status) && !proof.refund_id.empty()) {
    s.next().refund_id = proof.refund_id;
  }
  switch (ph) {
    case refund_phase::processing_send:
      if (definitive) s.settle(proof.status, result);
      break;
    case refund_phase::processing_confirm:
      if (definitive) {
        s.settle(proof.status, result);
      } else {
        s.send_refund_now();  // absent or still processing: keep resending the same bytes
      }
      break;
    case refund_phase::success:
    case refund_phase::fail:
      if (definitive) on_final_verdict(s, proof.status, proof.code);
      break;
  }
  return s.finish("inquiry:" + result_text(a.result) +
                  (definitive ? "/refund " + std::string(to_string(proof.status)) : ""));
}

refund_decision on_inquiry_no_answer(refund_step& s, no_answer_reason why, refund_phase ph) {
  switch (ph) {
    case refund_phase::processing_confirm: s.send_refund_now(); break;
    case refund_phase::processing_send:
    case refund_phase::success:
    case refund_phase::fail: break;
  }
  return s.finish("inquiry:no_answer/" + std::string(to_string(why)));
}

refund_decision on_timer(refund_step& s, time_point now, const refund_params& params,
                         refund_phase ph) {
  if (now < s.before().next_action_at) return s.finish("timer:early");
  switch (ph) {
    case refund_phase::processing_send:
      if (s.before().attempt >= params.confirm_after) {
        s.send_inquiry_now();
      } else {
        s.send_refund_now();
      }
      break;
    case refund_phase::processing_confirm: s.send_inquiry_now(); break;
    case refund_phase::success:
    case refund_phase::fail: s.next().next_action_at = never; break;
  }
  return s.finish("timer");
}

}  // namespace

std::optional<std::string> refund_params::validate() const {
  if (retry_base <= duration::zero()) return "refund.retryBaseMs must be positive";
  if (retry_cap < retry_base) return "refund.retryCapMs must be at least refund.retryBaseMs";
  if (confirm_after < 1) return "refund.confirmAfterSends must be at least 1";
  if (answer_guard <= duration::zero()) return "answer guard must be positive";
  return std::nullopt;
}

refund_phase refund_phase_of(const refund& r) {
  switch (r.status) {
    case refund_status::processing:
      switch (r.track) {
        case refund_track::send: return refund_phase::processing_send;
        case refund_track::confirm: return refund_phase::processing_confirm;
      }
      return refund_phase::processing_send;
    case refund_status::success: return refund_phase::success;
    case refund_status::fail: return refund_phase::fail;
  }
  return refund_phase::fail;
}

std::string_view to_string(refund_phase ph) {
  switch (ph) {
    case refund_phase::processing_send: return "PROCESSING/SEND";
    case refund_phase::processing_confirm: return "PROCESSING/CONFIRM";
    case refund_phase::success: return "SUCCESS";
    case refund_phase::fail: return "FAIL";
  }
  return "?";
}

std::string_view to_string(refund_status s) {
  switch (s) {
    case refund_status::processing: return "PROCESSING";
    case refund_status::success: return "SUCCESS";
    case refund_status::fail: return "FAIL";
  }
  return "?";
}

std::optional<refund_status> parse_refund_status(std::string_view text) {
  for (refund_status s : {refund_status::processing, refund_status::success, refund_status::fail}) {
    if (to_string(s) == text) return s;
  }
  return std::nullopt;
}

std::string_view to_string(refund_track t) {
  switch (t) {
    case refund_track::send: return "send";
    case refund_track::confirm: return "confirm";
  }
  return "?";
}

std::optional<refund_track> parse_refund_track(std::string_view text) {
  for (refund_track t : {refund_track::send, refund_track::confirm}) {
    if (to_string(t) == text) return t;
  }
  return std::nullopt;
}

std::string_view to_string(refund_origin o) {
  switch (o) {
    case refund_origin::merchant: return "merchant";
    case refund_origin::operator_: return "operator";
    case refund_origin::cancel: return "cancel";
  }
  return "?";
}

std::optional<refund_origin> parse_refund_origin(std::string_view text) {
  for (refund_origin o : {refund_origin::merchant, refund_origin::operator_, refund_origin::cancel}) {
    if (to_string(o) == text) return o;
  }
  return std::nullopt;
}

std::string_view refund_event_name(refund_status s) {
  switch (s) {
    case refund_status::success: return "refund.succeeded";
    case refund_status::fail: return "refund.failed";
    case refund_status::processing: return "";
  }
  return "";
}

std::string describe(const refund_effect& e) {
  return std::visit(
      overloaded{
          [](const send_refund&) { return std::string("send refund"); },
          [](const send_refund_inquiry&) { return std::string("send inquiry"); },
          [](const emit_refund_event& m) { return "emit " + std::string(refund_event_name(m.outcome)); },
          [](const record_anomaly& a) { return "anomaly " + std::string(to_string(a.kind)); },
      },
      e);
}

duration refund_retry_delay(const refund& r, const refund_params& params) {
  return backoff_delay(r.attempt, payment_seed(r.alipay_refund_request_id), params.retry_base,
                       params.retry_cap);
}

refund_decision step_refund(const refund& r, const refund_event& e, time_point now,
                            const refund_params& params, std::int32_t event_seq) {
  refund_step s(r, now, params, event_seq);
  const refund_phase ph = refund_phase_of(r);
  return std::visit(
      overloaded{
          [&](const refund_created&) {
            switch (ph) {
              case refund_phase::processing_send: s.send_refund_now(); break;
              case refund_phase::processing_confirm:
              case refund_phase::success:
              case refund_phase::fail: break;
            }
            return s.finish("created");
          },
          [&](const refund_answer& a) { return on_refund_answer(s, a, ph); },
          [&](const refund_no_answer& a) { return on_no_answer(s, a.reason, ph); },
          [&](const inquiry_answer& a) { return on_inquiry(s, a, ph); },
          [&](const inquiry_no_answer& a) { return on_inquiry_no_answer(s, a.reason, ph); },
          [&](const deadline_reached&) { return on_timer(s, now, params, ph); },
      },
      e);
}

}  // namespace cashier
