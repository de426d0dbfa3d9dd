// The store thread (store_thread.hpp): starting it under its name, and joining it.
#include "orchestrator/daemon/store_thread.hpp"

#include "orchestrator/daemon/thread_name.hpp"

namespace cashier::daemon {

store_thread::store_thread(store::payment_store& store) : store_(store) {
  name_pool_threads(pool_, 1, "cashierd-store");
}

store_thread::~store_thread() { pool_.join(); }

}  // namespace cashier::daemon
