// The active Alipay+ keys and inbound signature verification (see key_ring.hpp).
#include "orchestrator/alipayplus/key_ring.hpp"

#include <algorithm>

#include <boost/json/value.hpp>

#include "orchestrator/alipayplus/signature_header.hpp"
#include "orchestrator/alipayplus/signer.hpp"

namespace cashier::aplus {

std::string_view to_string(verify_outcome outcome) {
  switch (outcome) {
    case verify_outcome::ok:
      return "ok";
    case verify_outcome::missing_header:
      return "missing_header";
    case verify_outcome::bad_header:
      return "bad_header";
    case verify_outcome::no_key:
      return "no_key";
    case verify_outcome::bad_signature:
      return "bad_signature";
  }
  return "unknown";  // unreachable: every enumerator is handled above
}

signing_result<void> verifier_keys::add(std::string key_version, public_key key) {
  if (entries_.size() >= capacity)
    return signing_error{"at most " + std::to_string(capacity) +
                         " Alipay+ public keys may be active"};
  if (find(key_version) != nullptr)
    return signing_error{"an Alipay+ public key with keyVersion \"" + key_version +
                         "\" is already active"};
  entries_.push_back(entry{std::move(key_version), std::move(key)});
  return {};
}

bool verifier_keys::remove(std::string_view key_version) {
  const auto it = std::find_if(entries_.begin(), entries_.end(),
                               [&](const entry& e) { return e.key_version == key_version; });
  if (it == entries_.end()) return false;
  entries_.erase(it);
  return true;
}

const public_key* verifier_keys::find(std::string_view key_version) const {
  for (const entry& e : entries_)
    if (e.key_version == key_version) return &e.key;
  return nullptr;
}

verify_outcome verify_with(const verifier_keys& keys, std::string_view signature_header,
                           std::string_view content) {
  if (signature_header.find_first_not_of(" \t") == std::string_view::npos)
    return verify_outcome::missing_header;
  const auto header = parse_signature_header(signature_header);
  if (!header) return verify_outcome::bad_header;
  if (keys.entries().empty()) return verify_outcome::no_key;
  const auto check = [&](const public_key& key) {
    return verify(key, content, header->signature_b64);
  };
  if (header->key_version) {
    if (const public_key* named = keys.find(*header->key_version))
      return check(*named) ? verify_outcome::ok : verify_outcome::bad_signature;
  }
  for (const auto& e : keys.entries())
    if (check(e.key)) return verify_outcome::ok;
  return verify_outcome::bad_signature;
}

signing_result<std::string> key_version_from_json(const boost::json::value& value) {
  using boost::system::in_place_value;  // signing_error is constructible from a string too
  if (const auto* s = value.if_string(); s != nullptr && !s->empty())
    return {in_place_value, std::string(s->data(), s->size())};
  if (const auto* i = value.if_int64(); i != nullptr && *i >= 0)
    return {in_place_value, std::to_string(*i)};
  if (const auto* u = value.if_uint64(); u != nullptr) return {in_place_value, std::to_string(*u)};
  return signing_error{"keyVersion must be a non-negative whole number or a non-empty string"};
}

}  // namespace cashier::aplus
