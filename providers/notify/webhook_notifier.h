// WebhookNotifier: the production Notifier. It POSTs each Notification's JSON body
// (Content-Type: application/json, see providers/notifier.h for the contract) to an admin-
// configured URL, from one background sender thread, one notification at a time, in order.
//
// Delivery:
//   - Notify only appends to a bounded queue. When the queue is full the OLDEST queued
//     notification is dropped (warning log, counted by dropped()).
//   - One attempt = one request through the project's HTTP client (common/http/http_client.h,
//     on libcurl): resolve, connect, send, read the HTTP status line, all within
//     options.timeout (one deadline, real time). HTTP/1.1 with "Connection: close", no proxy,
//     redirects not followed; the answer's headers and body are not read.
//   - 2xx: sent. Transport errors (refused, reset, timeout, garbage answer), 408, 429 and 5xx are
//     retried with exponential backoff (initial_backoff, doubling, capped at max_backoff) up to
//     max_attempts attempts in all. Other codes (3xx redirects, 4xx such as 404) cannot succeed
//     by retrying: the notification is given up at once. A give-up is logged at warning level
//     and counted by failed().
//   - Backoff waits run on the injected Clock (Clock::WaitUntil), so tests drive them with a
//     FakeClock.
//   - Stop() (also run by the destructor) interrupts the sender wherever it is: in a backoff
//     wait, or in the middle of an HTTP attempt, DNS lookup included (it cancels the attempt's
//     http::Cancellation, which wakes the client's wait). It sends nothing more; what is still
//     queued or in flight is discarded and counted by dropped(). After Stop() returns, every
//     Notify so far is counted exactly once in sent() + failed() + dropped(); a Notify after
//     Stop() is discarded and counted too.
//
// Scope and limits:
//   - "http://host[:port][/path][?query]" and "https://..." URLs (host: name, IPv4, or [IPv6]);
//     the port defaults to 80 and 443. https verifies the endpoint's certificate and name against
//     the system's CA store (common/http/http_client.h); a failed handshake is a transport error,
//     retried like one. Create() refuses anything else with InvalidArgument.
//   - Host names are resolved before every attempt, on libcurl's threaded resolver: bounded by
//     options.timeout and interrupted by Stop() like the rest of the attempt. Numeric addresses
//     never touch DNS.
//   - Webhook URLs often carry a secret token in the path or query: logs and errors name only
//     host:port, never the path.
//
// Thread-safe: Notify, the counters and Stop may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/http/http_client.h"
#include "common/mutex.h"
#include "common/status.h"
#include "providers/notify/notifier.h"

namespace vmk::providers {

struct WebhookNotifierOptions {
  std::string url;                             // http[s]://host[:port][/path][?query]
  std::chrono::milliseconds timeout{5000};     // per attempt: connect + send + status line
  int max_attempts = 5;                        // attempts per notification, first one included
  Duration initial_backoff = std::chrono::seconds(1);  // before the 2nd attempt; then doubles
  Duration max_backoff = std::chrono::seconds(60);     // cap of the doubling
  size_t max_queue = 1000;                     // queued notifications, the in-flight one aside
};

class WebhookNotifier : public Notifier {
 public:
  // Validates `options` (URL as above; timeout > 0; max_attempts >= 1; 0 <= initial_backoff <=
  // max_backoff; max_queue >= 1) and starts the sender thread. `clock` times the backoff waits
  // and must outlive the notifier.
  static StatusOr<std::unique_ptr<WebhookNotifier>> Create(WebhookNotifierOptions options,
                                                          Clock* clock);

  ~WebhookNotifier() override;  // Stop()
  WebhookNotifier(const WebhookNotifier&) = delete;
  WebhookNotifier& operator=(const WebhookNotifier&) = delete;

  // Enqueues and returns at once; never blocks on the network.
  void Notify(Notification n) override;
  DeliveryCounts Counts() const override;

  // Interrupts the sender, discards what is left, joins. Idempotent; returns promptly, even
  // during an attempt or its DNS lookup.
  void Stop();

  // Counters since construction.
  uint64_t sent() const;     // answered with 2xx
  uint64_t failed() const;   // given up: max_attempts used, or a non-retryable answer
  uint64_t dropped() const;  // discarded unsent: queue overflow, or at/after Stop()
  uint64_t attempts() const; // HTTP attempts made, retries included

  // --- Test support (real-time timeouts: they wait for the sender thread to make progress) ---
  // Waits until the sender has begun at least `n` backoff waits since construction and is
  // blocked in one right now, registered with the Clock: a FakeClock::Advance made after this
  // returns true wakes it. False if `timeout` passes first.
  bool WaitUntilBackingOff(uint64_t n, std::chrono::milliseconds timeout) const;
  // Waits until the queue is empty and no notification is in flight (or Stop() was called).
  bool WaitUntilIdle(std::chrono::milliseconds timeout) const;

 private:
  struct Target {
    std::string host;         // as resolved: no brackets around IPv6 literals
    int port = 80;            // 443 for https
    std::string host_header;  // "host", "host:port", "[::1]:port": all that logs may name
    std::string request_target;  // "/path?query"
    std::string url;          // what is requested: scheme "://" host_header request_target
  };

  WebhookNotifier(WebhookNotifierOptions options, Target target, Clock* clock);

  static StatusOr<Target> ParseUrl(const std::string& url);

  void Run();
  // Delivers one notification: attempts, backoff waits, counters. `lock` holds mu_ on entry and
  // exit (the backoff waits wait on it); mu_ is released during HTTP attempts.
  void Deliver(const Notification& n, MutexLock& lock) REQUIRES(mu_);

  enum class AttemptOutcome { kSent, kRetryable, kPermanent, kInterrupted };
  // One HTTP POST, without mu_ held. `detail` says what happened, for logs.
  AttemptOutcome Attempt(const std::string& body, std::string* detail) const;

  const WebhookNotifierOptions options_;
  const Target target_;
  Clock* const clock_;
  // Cancelled by Stop(): interrupts the HTTP attempt in flight and fails any later one.
  http::Cancellation cancel_;

  mutable Mutex mu_;
  // Wakes the sender: a new notification, Stop(). Also the cv of backoff waits on clock_.
  std::condition_variable wake_;
  // Signalled on every change the test-support waits look for.
  mutable std::condition_variable progress_;
  std::deque<Notification> queue_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  bool in_flight_ GUARDED_BY(mu_) = false;
  bool backing_off_ GUARDED_BY(mu_) = false;
  uint64_t backoff_waits_ GUARDED_BY(mu_) = 0;
  uint64_t sent_ GUARDED_BY(mu_) = 0;
  uint64_t failed_ GUARDED_BY(mu_) = 0;
  uint64_t dropped_ GUARDED_BY(mu_) = 0;
  uint64_t attempts_ GUARDED_BY(mu_) = 0;

  Mutex stop_mu_ ACQUIRED_BEFORE(mu_);  // serialises Stop() callers around the join
  std::thread sender_;
};

}  // namespace vmk::providers
