// `cashierctl list`: payments newest first, as an aligned table or a JSON array of payment
// objects (see commands.hpp).
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include "orchestrator/engine/payment_view.hpp"
#include "tools/cashierctl/commands.hpp"
#include "tools/cashierctl/format.hpp"

namespace cashier::ctl {

namespace {

void print_json(const session& s, const std::vector<payment>& payments) {
  boost::json::array list;
  for (const auto& p : payments) list.push_back(engine::payment_to_json(p));
  const boost::json::object doc{
      {"now", engine::iso8601(s.now)}, {"count", payments.size()}, {"payments", std::move(list)}};
  s.io.out << boost::json::serialize(doc) << '\n';
}

void print_table(const session& s, const std::vector<payment>& payments) {
  text_table t({"PAYMENT REQUEST ID", "STATE", "AMOUNT", "MERCHANT", "CREATED", "UPDATED",
                "NEXT ACTION", "RESULT"});
  for (const auto& p : payments) {
    t.add({{p.payment_request_id},
           {state_text(p.status, p.pending), state_tint(p.status, p.pending)},
           {amount_text(p.amount)},
           {p.merchant_id},
           {relative_time(p.created_at, s.now)},
           {relative_time(p.updated_at, s.now)},
           {relative_time(p.next_action_at, s.now)},
           {p.result ? std::string(1, p.result->status) + "/" + p.result->code : "-", tint::dim}});
  }
  t.print(s.io.out, s.io.color);
  s.io.out << payments.size() << (payments.size() == 1 ? " payment\n" : " payments\n");
}

}  // namespace

exit_status cmd_list(const session& s, const list_args& a) {
  const auto payments = s.store.list(
      {.status = a.status, .since = a.since, .limit = a.limit, .merchant_id = a.merchant_id});
  if (s.io.json)
    print_json(s, payments);
  else
    print_table(s, payments);
  return exit_status::ok;
}

}  // namespace cashier::ctl
