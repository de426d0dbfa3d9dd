// The usual `overloaded` helper for std::visit over the event and effect variants.
#pragma once

namespace cashier {

/// A visitor made of lambdas, one per alternative.
template <class... Fs>
struct overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
overloaded(Fs...) -> overloaded<Fs...>;

}  // namespace cashier
