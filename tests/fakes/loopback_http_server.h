// LoopbackHttpServer: a small HTTP/1.1 server on 127.0.0.1:<ephemeral port> for the tests of
// HTTP clients (the HTTP client itself, the HTTP probe, the webhook notifier). It takes one
// connection at a time, in order: reads one request (the head up to the blank line, then
// Content-Length bytes of body), records it, then replies as told: the next reply of the script
// given at construction, or the default one when the script is used up. Replies are raw bytes,
// so tests can answer what no real server would (garbage, a truncated status line, silence).
//
// Every blocking wait of the server thread also watches a stop pipe, so the destructor never
// hangs, whatever the reply was doing. Tests wait for the server with WaitForRequests (a real-
// time deadline on a condition), never with sleeps.
//
// Thread-safe: the accessors may be called from any thread while the server runs.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "common/mutex.h"

namespace vmk::fakes {

// One request as the server received it.
struct ReceivedRequest {
  std::string head;                            // request line and headers, as sent
  std::string request_line;                    // "POST /x HTTP/1.1"
  std::map<std::string, std::string> headers;  // names lower-cased, values trimmed
  std::string body;                            // exactly Content-Length bytes
};

// What the server does once it has read a request: send `bytes` (one at a time, `interval`
// apart, when interval > 0), then close the connection, or keep it open until the client
// closes it (or the server stops).
struct Reply {
  std::string bytes;
  std::chrono::milliseconds interval{0};
  bool close_after = true;

  // `raw` as it is, then close. "" closes without answering.
  static Reply Raw(std::string raw);
  // A well-formed answer with that status code and an empty body, then close.
  static Reply WithStatus(int code);
  // `raw`, then nothing more until the client closes: an answer that never ends.
  static Reply RawThenHang(std::string raw);
  // Never answers: reads nothing more and waits until the client closes. Like QEMU's forwarded
  // port before the guest listens, as far as a client can tell.
  static Reply NeverAnswer();
  // `raw` one byte at a time, `interval` apart, then close: each byte arrives quickly, the
  // whole slowly.
  static Reply Drip(std::string raw, std::chrono::milliseconds interval);
};

class LoopbackHttpServer {
 public:
  // Replies `reply` to every request.
  explicit LoopbackHttpServer(Reply reply = Reply::WithStatus(200));
  // Replies the `script` in order, then `then` to every later request.
  LoopbackHttpServer(std::vector<Reply> script, Reply then);
  ~LoopbackHttpServer();
  LoopbackHttpServer(const LoopbackHttpServer&) = delete;
  LoopbackHttpServer& operator=(const LoopbackHttpServer&) = delete;

  int port() const { return port_; }
  // "http://127.0.0.1:<port><path>".
  std::string Url(const std::string& path = "/") const;

  // Requests read so far, in order (recorded before they are answered).
  std::vector<ReceivedRequest> requests() const;
  // The last request read; empty when none was.
  ReceivedRequest last_request() const;
  // Connections accepted so far, including those that sent no (complete) request.
  int connections() const { return connections_.load(); }
  // Waits until at least `n` requests were read. False if `timeout` passes first.
  bool WaitForRequests(size_t n, std::chrono::milliseconds timeout) const;

 private:
  void Run();
  void Handle(int fd);
  bool ReadRequest(int fd, ReceivedRequest* out);
  // Waits for POLLIN on `fd`; false when the server is stopping or the wait fails.
  bool WaitReadable(int fd);
  // Waits up to `d` for the server to stop; true when it is stopping.
  bool StopWithin(std::chrono::milliseconds d);
  void Send(int fd, const Reply& reply);

  int listen_fd_ = -1;
  int stop_pipe_[2] = {-1, -1};
  int port_ = 0;
  std::atomic<int> connections_{0};
  mutable Mutex mu_;
  mutable std::condition_variable received_;
  std::deque<Reply> script_ GUARDED_BY(mu_);
  const Reply then_;
  std::vector<ReceivedRequest> requests_ GUARDED_BY(mu_);
  std::thread thread_;                     // last: started once everything above is ready
};

}  // namespace vmk::fakes
