// Linux's own struct tcp_info (glibc's lacks the byte counters): this file must not include
// <netinet/tcp.h>, which is why the reaper is not in http_server.cc (boost::asio includes it).
#include "cli/connection_reaper.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <linux/tcp.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "common/log.h"

namespace vmk::cli {
namespace {

// A connection ended after sending this much asks for malloc_trim (RequestTrim).
constexpr uint64_t kTrimAfterBytes = 1024 * 1024;

// "addr:port" of a socket address; empty for other families.
std::string AddressText(const sockaddr_storage& address, int* port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address);
    inet_ntop(AF_INET, &v4->sin_addr, text, sizeof(text));
    *port = ntohs(v4->sin_port);
  } else if (address.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address);
    inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof(text));
    *port = ntohs(v6->sin6_port);
  } else {
    return "";
  }
  return std::string(text) + ":" + std::to_string(*port);
}

// Is `fd` a connection accepted on host:port? Fills its peer's "addr:port".
bool IsAcceptedOn(int fd, const std::string& numeric_host, int port, std::string* peer) {
  sockaddr_storage local{};
  socklen_t length = sizeof(local);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) != 0) return false;
  int local_port = -1;
  std::string local_text = AddressText(local, &local_port);
  if (local_text.empty() || local_port != port) return false;
  if (!numeric_host.empty() &&
      local_text.compare(0, local_text.rfind(':'), numeric_host) != 0) {
    return false;
  }
  int listening = 0;
  length = sizeof(listening);
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) != 0 || listening) {
    return false;
  }
  sockaddr_storage remote{};
  length = sizeof(remote);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&remote), &length) != 0) return false;
  int remote_port = -1;
  *peer = AddressText(remote, &remote_port);
  return !peer->empty();
}

}  // namespace

ConnectionReaper::ConnectionReaper(std::string host, int port, ConnectionLimits limits,
                                   Clock* clock)
    : host_(std::move(host)), port_(port), limits_(limits), clock_(clock) {}

ConnectionReaper::~ConnectionReaper() { Stop(); }

Status ConnectionReaper::Start() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) {
    return Status::FailedPrecondition(std::string("cannot list /proc/self/fd: ") +
                                      std::strerror(errno));
  }
  closedir(dir);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = false;
  }
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void ConnectionReaper::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

ConnectionReaper::Stats ConnectionReaper::stats() const {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  return stats_;
}

void ConnectionReaper::Run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    clock_->WaitUntil(lock, wake_, clock_->Now() + limits_.scan_interval);
    if (stopping_) break;
    lock.unlock();
    Scan();
    lock.lock();
  }
}

void ConnectionReaper::Scan() {
  // A numeric listen host narrows the match to that local address; a wildcard or a name
  // (resolved by cpprestsdk, maybe to several addresses) matches on the port alone.
  std::string numeric_host;
  {
    unsigned char buf[sizeof(in6_addr)];
    if ((inet_pton(AF_INET, host_.c_str(), buf) == 1 && host_ != "0.0.0.0") ||
        (inet_pton(AF_INET6, host_.c_str(), buf) == 1 && host_ != "::")) {
      numeric_host = host_;
    }
  }
  const MonoTime now = clock_->Now();
  for (auto& [fd, t] : tracked_) t.seen = false;

  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return;
  const int own = dirfd(dir);
  while (dirent* entry = readdir(dir)) {
    char* end = nullptr;
    long n = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || n == own) continue;
    const int fd = static_cast<int>(n);
    std::string peer;
    if (!IsAcceptedOn(fd, numeric_host, port_, &peer)) continue;
    tcp_info info{};
    socklen_t length = sizeof(info);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0 ||
        length < offsetof(tcp_info, tcpi_bytes_received) + sizeof(info.tcpi_bytes_received)) {
      continue;
    }
    const uint64_t received = info.tcpi_bytes_received;
    const uint64_t acked = info.tcpi_bytes_acked;
    auto it = tracked_.find(fd);
    if (it == tracked_.end() || it->second.peer != peer) {
      Tracked fresh;
      fresh.peer = peer;
      fresh.last_activity = now;
      fresh.pending_since = now;
      fresh.received = received;
      fresh.acked = acked;
      // Seen for the first time: if we already answered something, count what came before it
      // as answered.
      fresh.answered = acked > 1 ? received : 0;
      fresh.pending = received > fresh.answered;
      it = tracked_.insert_or_assign(fd, std::move(fresh)).first;
    } else {
      Tracked& t = it->second;
      if (acked > t.acked) {  // we sent (part of) an answer
        t.answered = received;
        t.pending = false;
        t.last_activity = now;
      } else if (received > t.received) {
        t.last_activity = now;
      }
      if (!t.pending && received > t.answered) {
        t.pending = true;
        t.pending_since = now;
      }
      t.received = received;
      t.acked = acked;
    }
    it->second.seen = true;
  }
  closedir(dir);
  for (auto it = tracked_.begin(); it != tracked_.end();) {
    it = it->second.seen ? std::next(it) : tracked_.erase(it);
  }

  // What to end, and why.
  Stats closed;
  auto end_connection = [&](int fd, Tracked& t, uint64_t* counter, const char* why) {
    std::string peer;
    // Still the same socket? (The descriptor may have been closed and reused since.)
    if (!IsAcceptedOn(fd, "", port_, &peer) || peer != t.peer) return;
    // shutdown(2) alone ends a stalled client, but Linux keeps delivering what a fast sender
    // keeps sending, and cpprestsdk keeps reading it (a 50 MiB request line was read in full).
    // connect(2) to AF_UNSPEC disconnects a TCP socket: a reset is sent, the queues are dropped
    // and the pending read fails at once. The descriptor stays cpprestsdk's to close.
    sockaddr unspecified{};
    unspecified.sa_family = AF_UNSPEC;
    if (connect(fd, &unspecified, sizeof(unspecified)) != 0) shutdown(fd, SHUT_RDWR);
    if (t.received - t.answered > kTrimAfterBytes) trim_scans_ = 5;
    ++*counter;
    log::Debug("connection closed", {{"peer", t.peer}, {"reason", why}});
    t.seen = false;  // not counted as open any more
  };
  for (auto& [fd, t] : tracked_) {
    if (t.pending && now - t.pending_since >= limits_.request_timeout) {
      end_connection(fd, t, &closed.request_timeouts, "request not received in time");
    } else if (!t.pending && now - t.last_activity >= limits_.idle_timeout) {
      end_connection(fd, t, &closed.idle_timeouts, "idle");
    } else if (t.pending && limits_.max_request_bytes > 0 &&
               t.received - t.answered > limits_.max_request_bytes) {
      end_connection(fd, t, &closed.too_many_bytes, "request too large");
    }
  }
  std::vector<std::pair<int, Tracked*>> open;
  for (auto& [fd, t] : tracked_) {
    if (t.seen) open.emplace_back(fd, &t);
  }
  if (open.size() > limits_.max_connections) {
    // Connections that never sent a byte first (the cheapest flood; a real client, TLS or not,
    // writes as soon as it has connected), then the other idle ones, the longest idle first,
    // then the longest unanswered. Without the first class, under a flood that reopens what
    // is closed, an answered keep-alive client, or one whose answer was being sent at the scan
    // (counted as idle), was older than the flood's fresh connections, or as old, and was ended
    // in their place (bench/api_bench.cc: 1 % of `get vms` reset).
    auto order = [](const Tracked& t) { return t.pending ? 2 : t.received == 0 ? 0 : 1; };
    std::sort(open.begin(), open.end(), [&order](const auto& a, const auto& b) {
      if (order(*a.second) != order(*b.second)) return order(*a.second) < order(*b.second);
      return a.second->pending ? a.second->pending_since < b.second->pending_since
                               : a.second->last_activity < b.second->last_activity;
    });
    const size_t excess = open.size() - limits_.max_connections;
    for (size_t i = 0; i < excess; ++i) {
      end_connection(open[i].first, *open[i].second, &closed.over_limit, "too many connections");
    }
  }
  for (auto it = tracked_.begin(); it != tracked_.end();) {
    it = it->second.seen ? std::next(it) : tracked_.erase(it);
  }

  const uint64_t ended =
      closed.request_timeouts + closed.idle_timeouts + closed.over_limit + closed.too_many_bytes;
  if (ended > 0) {
    log::Warning("closed client connections",
                 {{"requestTimeouts", std::to_string(closed.request_timeouts)},
                  {"idleTimeouts", std::to_string(closed.idle_timeouts)},
                  {"overConnectionLimit", std::to_string(closed.over_limit)},
                  {"requestTooLarge", std::to_string(closed.too_many_bytes)},
                  {"open", std::to_string(tracked_.size())}});
  }
  {
    std::lock_guard<std::mutex> lock(stats_mutex_);
    stats_.open = tracked_.size();
    stats_.request_timeouts += closed.request_timeouts;
    stats_.idle_timeouts += closed.idle_timeouts;
    stats_.over_limit += closed.over_limit;
    stats_.too_many_bytes += closed.too_many_bytes;
  }
  if (trim_scans_.load() > 0) {
    --trim_scans_;
    malloc_trim(0);
  }
}

}  // namespace vmk::cli
