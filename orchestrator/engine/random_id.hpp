// Unguessable identifiers made by cashierd: merchant event ids (webhook-id) and the Alipay+
// paymentRequestIds cashierd sends on a merchant's behalf. 128 bits from the OpenSSL generator,
// written in lower-case RFC 4648 base32 without padding: URL-safe, and saying nothing of how many
// payments or events exist (issue 14: ids must not reveal row counts).
#pragma once

#include <array>
#include <string>
#include <string_view>

namespace cashier::engine {

/// 128 bits from the OpenSSL generator. Throws std::runtime_error when it fails (never silently
/// weaker).
std::array<unsigned char, 16> random_128_bits();

/// `prefix` followed by 26 base32 characters of 128 random bits. Throws std::runtime_error when
/// the random generator fails (never silently weaker).
std::string random_id(std::string_view prefix);

}  // namespace cashier::engine
