// Seeding IN_PROCESS payments through the daemon's create path and the engine (see seed.hpp).
#include "tools/cashier-bench/seed.hpp"

#include <fstream>

#include <boost/json/parse.hpp>

#include "orchestrator/engine/clock.hpp"
#include "orchestrator/daemon/create_request.hpp"
#include "orchestrator/engine/engine.hpp"
#include "state/store/sqlite_store.hpp"
#include "tools/cashier-bench/payloads.hpp"
#include "tools/cashier-bench/stats.hpp"

namespace cashier::bench {
namespace {

constexpr std::int64_t group = 512;

/// The `created` input of payment `id`, built as merchant_api::create builds it.
engine::input create_input(const std::string& id, const seed_options& o, time_point now) {
  const auto body = create_body(id);
  const auto parsed = daemon::parse_create_request(boost::json::parse(body), now);
  if (!parsed) throw std::runtime_error("seed: the bench create body is refused: " + aplus::to_string(parsed.errors()));
  const daemon::create_context ctx{o.merchant_id, o.notify_url, std::chrono::minutes(15), now};
  engine::input in;
  in.create = daemon::build_payment(*parsed, body, ctx);
  in.ev = created{};
  return in;
}

/// The pay answer U PAYMENT_IN_PROCESS for the payment stored as `p`.
engine::input pay_answer_input(const payment& p) {
  pay_answer ev;
  ev.result = aplus_result{"PAYMENT_IN_PROCESS", 'U', "payment in process"};
  ev.facts.payment_id = seeded_payment_id(p.payment_request_id);
  ev.normal_url = "http://127.0.0.1/checkout/" + ev.facts.payment_id;
  ev.payment_data = R"({"amount":"10.00","currency":"USD"})";
  engine::input in;
  in.payment_id = p.id;
  in.ev = std::move(ev);
  return in;
}

/// Applies `batch`; every input must be applied.
std::vector<engine::output> apply_all(engine::engine& eng, const std::vector<engine::input>& batch, time_point now) {
  auto outs = eng.apply(batch, now);
  for (const auto& out : outs)
    if (out.result != engine::outcome::applied)
      throw std::runtime_error("seed: a payment was not applied (does the database hold it already?)");
  return outs;
}

}  // namespace

int run_seed(const seed_options& o) {
  const auto start = bench_clock::now();
  try {
    auto store = store::open_sqlite_store(o.database);
    machine_params params;
    params.inquiry_intervals = {std::chrono::seconds(o.poll_seconds)};
    engine::engine eng(*store, engine::engine_config{params, nullptr});
    for (std::int64_t done = 0; done < o.count;) {
      const auto n = std::min(group, o.count - done);
      const auto now = wall_now();
      std::vector<engine::input> creates;
      for (std::int64_t i = 0; i < n; ++i)
        creates.push_back(create_input(payment_request_id(o.prefix, o.first + done + i), o, now));
      std::vector<engine::input> answers;
      for (const auto& out : apply_all(eng, creates, now)) answers.push_back(pay_answer_input(out.after));
      apply_all(eng, answers, now);
      done += n;
    }
  } catch (const std::exception& e) {
    note(e.what());
    return 1;
  }
  print_result({{"mode", "seed"}, {"payments", o.count}, {"seconds", seconds_since(start)}});
  return 0;
}

int run_check_acked(const std::string& database, const std::string& acked_file) {
  std::ifstream in(acked_file);
  if (!in) {
    note("check-acked: cannot read " + acked_file);
    return 2;
  }
  std::int64_t checked = 0, missing = 0;
  try {
    auto store = store::open_sqlite_store(database, {.read_only = true});
    for (std::string id; std::getline(in, id);) {
      if (id.empty()) continue;
      ++checked;
      const auto p = store->find(id);
      bool recorded = false;
      if (p && p->status == payment_status::success)
        for (const auto& n : store->notifies_of(p->id)) recorded = recorded || n.verification == "ok";
      if (!recorded) {
        if (++missing <= 5) note("check-acked: acked but not committed: " + id);
      }
    }
  } catch (const std::exception& e) {
    note(std::string("check-acked: ") + e.what());
    return 1;
  }
  print_result({{"mode", "check-acked"}, {"checked", checked}, {"missing", missing}});
  return missing == 0 ? 0 : 1;
}

}  // namespace cashier::bench
