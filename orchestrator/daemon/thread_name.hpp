// Thread names, so that `top -H`, `perf` and tools/bench tell cashierd's threads apart: the
// reactor keeps the process's name (cashierd), the others are cashierd-net, cashierd-sign,
// cashierd-stats and wal-checkpoint (state/store names its own).
#pragma once

#include <cstddef>

namespace boost::asio {
class thread_pool;
}

namespace cashier::daemon {

/// Names the calling thread; Linux keeps the first 15 bytes.
void name_this_thread(const char* name);

/// Names each of the `threads` threads of `pool` (it must have that many): one task per thread,
/// each waiting until all have started, so that no thread runs two of them. Returns at once.
void name_pool_threads(boost::asio::thread_pool& pool, std::size_t threads, const char* name);

}  // namespace cashier::daemon
