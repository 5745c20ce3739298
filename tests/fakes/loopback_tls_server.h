// LoopbackTlsServer: a small HTTPS server on 127.0.0.1:<ephemeral port> for the tests of the
// CLI's TLS client, written with OpenSSL's API. One connection at a time, in order: TLS handshake
// (a failed one is counted and the connection dropped), one request read (head, then
// Content-Length bytes of body) and recorded, the fixed `reply` (raw HTTP bytes) sent, the
// connection closed. With a client CA it asks for a client certificate, refuses a handshake
// without one signed by that CA, and records the subject CN of the one it got.
//
// Every blocking read has a deadline and the destructor shuts the open connection down, so it
// never hangs. Tests wait with WaitForRequests / WaitForFailedHandshakes (a deadline on a
// condition), never with sleeps.
//
// Thread-safe: the accessors may be called from any thread while the server runs.
#pragma once

#include <chrono>
#include <condition_variable>
#include <string>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "tests/fakes/loopback_http_server.h"

namespace vmk::fakes {

struct TlsServerOptions {
  std::string certificate_file;  // PEM, the server's
  std::string key_file;
  std::string client_ca_file;  // non-empty: a client certificate signed by it is required
  std::string reply;           // raw HTTP answer to every request
};

// A request read over TLS, and who sent it.
struct ReceivedTlsRequest {
  ReceivedRequest request;
  std::string client_common_name;  // empty without a client certificate
};

class LoopbackTlsServer {
 public:
  explicit LoopbackTlsServer(TlsServerOptions options);
  ~LoopbackTlsServer();
  LoopbackTlsServer(const LoopbackTlsServer&) = delete;
  LoopbackTlsServer& operator=(const LoopbackTlsServer&) = delete;

  int port() const { return port_; }
  std::vector<ReceivedTlsRequest> requests() const;
  int failed_handshakes() const;
  bool WaitForRequests(size_t n, std::chrono::milliseconds timeout) const;
  bool WaitForFailedHandshakes(int n, std::chrono::milliseconds timeout) const;

 private:
  void Run();
  void Handle(int fd);

  const TlsServerOptions options_;
  void* ctx_ = nullptr;  // SSL_CTX*
  int listen_fd_ = -1;
  int stop_pipe_[2] = {-1, -1};
  int port_ = 0;
  mutable Mutex mu_;
  mutable std::condition_variable changed_;
  std::vector<ReceivedTlsRequest> requests_ GUARDED_BY(mu_);
  int failed_handshakes_ GUARDED_BY(mu_) = 0;
  int open_fd_ GUARDED_BY(mu_) = -1;  // the connection being served, for the destructor
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: started once everything above is ready
};

}  // namespace vmk::fakes
