// `cashierctl prune --before DATE [--yes]`: removes the old audit rows of final payments
// (store::payment_store::prune says which), the one cashierctl command that writes to the
// database. It counts first, shows what would go, asks for confirmation on the terminal unless
// --yes, then removes the rows in one transaction and prints what it removed. Retention is the
// operator's decision (guarantee 6): the daemon never prunes by itself.
#include <istream>
#include <string>

#include <boost/json/serialize.hpp>

#include "orchestrator/engine/payment_view.hpp"
#include "tools/cashierctl/commands.hpp"
#include "tools/cashierctl/format.hpp"

namespace cashier::ctl {
namespace {

boost::json::object report_json(const store::prune_report& r) {
  return {{"payments", r.payments},
          {"events", r.events},
          {"calls", r.calls},
          {"notifies", r.notifies},
          {"webhookAttempts", r.webhook_attempts}};
}

void print_report(const console& io, const store::prune_report& r, std::string_view verb) {
  text_table t({"rows", verb.empty() ? "" : std::string(verb)});
  t.add({{std::to_string(r.payments)}, {"final payments (each keeps its row, last event and merchant events)"}});
  t.add({{std::to_string(r.events)}, {"transition-log rows"}});
  t.add({{std::to_string(r.calls)}, {"Alipay+ call rows"}});
  t.add({{std::to_string(r.notifies)}, {"inbound notify rows"}});
  t.add({{std::to_string(r.webhook_attempts)}, {"webhook attempt rows"}});
  t.print(io.err, io.color, 2, false);
}

bool nothing_to_remove(const store::prune_report& r) {
  return r.events == 0 && r.calls == 0 && r.notifies == 0 && r.webhook_attempts == 0;
}

}  // namespace

exit_status cmd_prune(const console& io, store::payment_store& store, const prune_args& a) {
  const auto before_text = engine::iso8601(a.before);
  const auto planned = store.prune(a.before, false);
  if (!nothing_to_remove(planned) && !a.yes) {
    io.err << "Audit rows of payments final before " << before_text << ":\n";
    print_report(io, planned, "");
    io.err << "Delete them? This cannot be undone. Type yes to confirm: " << std::flush;
    std::string answer;
    if (a.in == nullptr || !std::getline(*a.in, answer) || (answer != "yes" && answer != "y"))
      return report_error(io, exit_status::failed, "NOT_CONFIRMED", "not confirmed; nothing was removed");
  }
  const auto removed = nothing_to_remove(planned) ? planned : store.prune(a.before, true);
  if (io.json) {
    io.out << boost::json::serialize(boost::json::object{{"before", before_text}, {"removed", report_json(removed)}})
           << "\n";
    return exit_status::ok;
  }
  io.out << "Removed the audit rows of " << removed.payments << " payments final before " << before_text << ": "
         << removed.events << " events, " << removed.calls << " calls, " << removed.notifies << " notifies, "
         << removed.webhook_attempts << " webhook attempts.\n";
  return exit_status::ok;
}

}  // namespace cashier::ctl
