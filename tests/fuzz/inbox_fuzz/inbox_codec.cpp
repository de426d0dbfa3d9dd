// Fuzz target: the cluster inbox's decoder (orchestrator/engine/inbox_codec.hpp) on arbitrary
// rows. The first byte picks the row's kind (one of the four, or the rest of the input's first
// line as a kind of its own); the rest is the body. Properties: nothing crashes or throws; a
// refusal says why; a decoded input is one that may travel (it encodes again), and encoding is a
// fixed point after one round (decode(encode(x)) encodes to the same bytes), so what the owner
// applies is exactly what the poster meant. The body is also read as a refund order's
// (decode_refund_inbox) and as a redeliver's (decode_redeliver_inbox), with the same properties.
// A broken property traps.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "orchestrator/engine/inbox_codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace cashier::engine;
  if (size == 0) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string kind;
  switch (data[0] % 5) {
    case 0: kind = "notify"; break;
    case 1: kind = "cancel"; break;
    case 2: kind = "inquiry"; break;
    case 3: kind = "early_answer"; break;
    default: {
      const auto nl = rest.find('\n');
      kind = std::string(rest.substr(0, nl));
      rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    }
  }
  // A refund order's body: refused with a reason, or a fixed point after one round.
  if (const auto order = decode_refund_inbox(rest); const auto* o = std::get_if<refund_order>(&order)) {
    auto with_payment = *o;
    with_payment.payment_id = 1;  // the row carries it
    const auto once = encode_refund_inbox(with_payment);
    const auto* m = std::get_if<inbox_message>(&once);
    if (m == nullptr || m->kind != "refund") __builtin_trap();
    const auto again = decode_refund_inbox(m->body);
    if (!std::holds_alternative<refund_order>(again)) __builtin_trap();
    auto o2 = std::get<refund_order>(again);
    o2.payment_id = 1;
    const auto twice = encode_refund_inbox(o2);
    const auto* m2 = std::get_if<inbox_message>(&twice);
    if (m2 == nullptr || m2->body != m->body) __builtin_trap();
  } else if (std::get<inbox_decode_error>(order).detail.empty()) {
    __builtin_trap();
  }
  // A redeliver's body: refused with a reason, or a fixed point after one round.
  if (const auto id = decode_redeliver_inbox(rest); const auto* e = std::get_if<std::string>(&id)) {
    const auto once = encode_redeliver_inbox(*e);
    const auto* m = std::get_if<inbox_message>(&once);
    if (m == nullptr || m->kind != "redeliver") __builtin_trap();
    const auto again = decode_redeliver_inbox(m->body);
    if (!std::holds_alternative<std::string>(again) || std::get<std::string>(again) != *e) __builtin_trap();
  } else if (std::get<inbox_decode_error>(id).detail.empty()) {
    __builtin_trap();
  }
  const auto decoded = decode_inbox(kind, rest);
  if (const auto* e = std::get_if<inbox_decode_error>(&decoded)) {
    if (e->detail.empty()) __builtin_trap();
    return 0;
  }
  auto in = std::get<input>(decoded);
  in.payment_id = 1;  // the row carries it
  const auto once = encode_inbox(in);
  const auto* m = std::get_if<inbox_message>(&once);
  if (m == nullptr || m->kind != kind) __builtin_trap();
  const auto again = decode_inbox(m->kind, m->body);
  if (!std::holds_alternative<input>(again)) __builtin_trap();
  auto in2 = std::get<input>(again);
  in2.payment_id = 1;
  const auto twice = encode_inbox(in2);
  const auto* m2 = std::get_if<inbox_message>(&twice);
  if (m2 == nullptr || m2->body != m->body) __builtin_trap();
  return 0;
}
