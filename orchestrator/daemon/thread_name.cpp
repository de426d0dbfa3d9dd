// Thread names (see thread_name.hpp).
#include "orchestrator/daemon/thread_name.hpp"

#include <pthread.h>

#include <latch>
#include <memory>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

namespace cashier::daemon {

void name_this_thread(const char* name) {
  char shortened[16] = {};
  for (std::size_t i = 0; i + 1 < sizeof shortened && name[i] != '\0'; ++i) shortened[i] = name[i];
  pthread_setname_np(pthread_self(), shortened);
}

void name_pool_threads(boost::asio::thread_pool& pool, std::size_t threads, const char* name) {
  auto started = std::make_shared<std::latch>(static_cast<std::ptrdiff_t>(threads));
  for (std::size_t i = 0; i < threads; ++i) {
    boost::asio::post(pool, [started, name] {
      name_this_thread(name);
      started->arrive_and_wait();
    });
  }
}

}  // namespace cashier::daemon
