// Child processes, /proc memory and a blocking loopback HTTP GET (see child.hpp).
#include "tools/scale-bench/child.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace cashier::scale {
namespace {

using steady = std::chrono::steady_clock;

/// A socket closed when it goes out of scope.
struct socket_guard {
  int fd = -1;
  ~socket_guard() {
    if (fd >= 0) ::close(fd);
  }
};

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

/// Waits until `fd` is ready for `events` or `give_up` passes.
bool ready(int fd, short events, steady::time_point give_up) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(give_up - steady::now());
  if (left.count() <= 0) return false;
  pollfd p{fd, events, 0};
  return ::poll(&p, 1, static_cast<int>(left.count())) == 1;
}

/// Status and body of a complete HTTP/1.1 response in `raw`, or nothing yet.
std::optional<http_answer> parse_answer(const std::string& raw) {
  const auto end = raw.find("\r\n\r\n");
  if (end == std::string::npos || raw.size() < 12) return std::nullopt;
  http_answer a;
  a.status = std::atoi(raw.c_str() + 9);
  std::size_t length = 0;
  for (auto pos = raw.find("\r\n"); pos < end; pos = raw.find("\r\n", pos + 2)) {
    const auto line = raw.substr(pos + 2, raw.find("\r\n", pos + 2) - pos - 2);
    if (strncasecmp(line.c_str(), "content-length:", 15) == 0)
      length = static_cast<std::size_t>(std::atoll(line.c_str() + 15));
  }
  if (raw.size() < end + 4 + length) return std::nullopt;
  a.body = raw.substr(end + 4, length);
  return a;
}

}  // namespace

child::child(const std::vector<std::string>& argv, const std::string& log_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int rc = posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
}

child::~child() {
  if (pid_ > 0 && !status_) stop(std::chrono::seconds(5));
}

bool child::alive() {
  if (status_) return false;
  int st = 0;
  if (::waitpid(pid_, &st, WNOHANG) == pid_) status_ = st;
  return !status_;
}

int child::stop(std::chrono::milliseconds grace) {
  if (alive()) {
    ::kill(pid_, SIGTERM);
    if (!wait_for([this] { return !alive(); }, grace, std::chrono::milliseconds(5))) {
      ::kill(pid_, SIGKILL);
      int st = 0;
      ::waitpid(pid_, &st, 0);
      status_ = st;
    }
  }
  return WIFEXITED(*status_) ? WEXITSTATUS(*status_) : 128 + WTERMSIG(*status_);
}

std::optional<std::int64_t> child::rss_bytes() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("VmRSS:")) return std::atoll(line.c_str() + 6) * 1024;
  return std::nullopt;
}

std::optional<double> child::cpu_seconds() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return std::nullopt;
  // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i)
    if (i >= 14) ticks += std::atof(field.c_str());
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

http_answer http_get(std::uint16_t port, const std::string& path, std::chrono::milliseconds timeout) {
  const auto give_up = steady::now() + timeout;
  socket_guard s{::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
  if (s.fd < 0) return {};
  const auto addr = loopback(port);
  if (::connect(s.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno != EINPROGRESS || !ready(s.fd, POLLOUT, give_up)) return {};
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) return {};
  }
  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  for (std::size_t sent = 0; sent < req.size();) {
    if (!ready(s.fd, POLLOUT, give_up)) return {};
    const auto n = ::send(s.fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return {};
    sent += static_cast<std::size_t>(n);
  }
  std::string raw;
  char buf[65536];
  while (ready(s.fd, POLLIN, give_up)) {
    const auto n = ::recv(s.fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    raw.append(buf, static_cast<std::size_t>(n));
    if (auto a = parse_answer(raw)) return *a;
  }
  return parse_answer(raw).value_or(http_answer{});
}

std::uint16_t free_port() {
  socket_guard s{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  auto addr = loopback(0);
  socklen_t len = sizeof addr;
  if (s.fd < 0 || ::bind(s.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(s.fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error("no free port on 127.0.0.1");
  return ntohs(addr.sin_port);
}

}  // namespace cashier::scale
