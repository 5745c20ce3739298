// ConnectionReaper: the connection limits cpprestsdk's listener does not enforce, enforced on
// the sockets it accepted. cpprestsdk (2.10.18, the asio listener on Linux) ignores
// http_listener_config::timeout(), caps neither connections nor how long a client may take to
// send a request, and gives no hook before a request's head is complete (docs/http-edge.md has
// the file and line evidence). Its sockets are ordinary file descriptors of this process, so a
// thread looks at them every scan interval:
//
//   - it finds them in /proc/self/fd: TCP sockets whose local address is the listen address,
//     other than the listening socket;
//   - it reads the kernel's byte counters (TCP_INFO: bytes received, bytes sent and acked) to
//     tell a connection with an unanswered request (the client sent bytes since our last reply)
//     from an idle one;
//   - it ends a connection with connect(2) to AF_UNSPEC (Linux's disconnect of a TCP socket: a
//     reset to the client, the socket's queues dropped), never close(2): the descriptor stays
//     cpprestsdk's, its pending read fails as if the client had reset, and cpprestsdk cleans up
//     through its own path. A connection is ended when its request has been unanswered for longer than the
//     request timeout (slow or stalled headers and bodies alike), when it has been idle for
//     longer than the idle timeout, when its unanswered bytes pass the request byte cap, and,
//     when there are more than max_connections, those that never sent a byte first, then the
//     longest idle ones, then the longest unanswered.
//
// The descriptor's addresses are read again right before shutdown(2): a descriptor closed and
// reused between the two calls for a socket with the very same addresses is the only case in
// which the wrong connection could be ended. Linux only. Thread-safe: Start/Stop from one thread,
// stats() from any.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/status.h"

namespace vmk::cli {

struct ConnectionLimits {
  // A request (its head and its body) must have been received, and its answer begun, this long
  // after the client's first unanswered byte.
  std::chrono::milliseconds request_timeout{30000};
  // A connection with nothing unanswered and no traffic is closed after this long.
  std::chrono::milliseconds idle_timeout{60000};
  // Open connections; past it those that never sent a byte, then the longest idle, then the
  // longest unanswered are closed.
  size_t max_connections = 256;
  // Unanswered bytes a connection may have sent (head + body + slack); checked every scan.
  uint64_t max_request_bytes = 0;  // 0 = no cap
  std::chrono::milliseconds scan_interval{200};
};

class ConnectionReaper {
 public:
  struct Stats {
    uint64_t open = 0;              // at the last scan
    uint64_t request_timeouts = 0;  // closed: request not received in time
    uint64_t idle_timeouts = 0;     // closed: idle too long
    uint64_t over_limit = 0;        // closed: more than max_connections
    uint64_t too_many_bytes = 0;    // closed: unanswered bytes past max_request_bytes
  };

  // `host` and `port` are the listen address (a wildcard host matches every local address).
  // clock must outlive the reaper.
  ConnectionReaper(std::string host, int port, ConnectionLimits limits, Clock* clock);
  ~ConnectionReaper();  // Stops.

  ConnectionReaper(const ConnectionReaper&) = delete;
  ConnectionReaper& operator=(const ConnectionReaper&) = delete;

  // Starts the scanning thread; FailedPrecondition if /proc/self/fd cannot be read.
  Status Start();
  void Stop();
  Stats stats() const;
  // Asks for malloc_trim(0) at the next few scans (after a big request: the memory it took is
  // given back to the system once cpprestsdk has let go of it, which may be a little later).
  void RequestTrim() { trim_scans_ = 5; }

 private:
  struct Tracked {
    std::string peer;            // "addr:port" of the client, to recognise the same socket
    MonoTime last_activity;      // bytes moved either way, or first seen
    MonoTime pending_since;      // first scan that saw unanswered bytes
    uint64_t received = 0;       // TCP_INFO bytes received at the last scan
    uint64_t acked = 0;          // TCP_INFO bytes sent and acked at the last scan
    uint64_t answered = 0;       // bytes received when we last sent something
    bool pending = false;        // the client sent bytes we have not answered
    bool seen = false;           // in this scan
  };
  void Run();
  void Scan();

  const std::string host_;
  const int port_;
  const ConnectionLimits limits_;
  Clock* const clock_;

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // GUARDED_BY(mutex_)
  std::thread thread_;
  std::atomic<int> trim_scans_{0};

  std::map<int, Tracked> tracked_;  // by descriptor; only the scanning thread touches it

  mutable std::mutex stats_mutex_;
  Stats stats_;  // GUARDED_BY(stats_mutex_)
};

}  // namespace vmk::cli
