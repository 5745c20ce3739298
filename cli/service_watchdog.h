// ServiceWatchdog: pets the service manager's watchdog (systemd's WatchdogSec=) every half
// period, and only while a liveness check passes, so a daemon that is wedged stops petting and
// the manager kills and restarts it. The check runs on the watchdog's own thread, bounded by the
// caller (vmkeeperd's is a GET /healthz through its own listener: it proves the listener and the
// API's threads answer; it does not prove that every reconcile worker makes progress).
// A failed check is logged at warning and not petted; the next one is tried half a period later.
//
// Thread-safe: Start and Stop from one owner thread; the callbacks run on the watchdog thread.
#pragma once

#include <condition_variable>
#include <functional>
#include <thread>

#include "common/clock.h"
#include "common/mutex.h"

namespace vmk::cli {

class ServiceWatchdog {
 public:
  // `alive` returns whether the daemon is alive and should take at most a quarter of `period`;
  // `pet` tells the manager so. `clock` must outlive the watchdog.
  ServiceWatchdog(Clock* clock, Duration period, std::function<bool()> alive,
                  std::function<void()> pet);
  ~ServiceWatchdog();
  ServiceWatchdog(const ServiceWatchdog&) = delete;
  ServiceWatchdog& operator=(const ServiceWatchdog&) = delete;

  // Starts the thread: a first check at once, then one every half period.
  void Start();
  // Stops the thread and waits for it (a check in flight finishes first). Idempotent.
  void Stop();

 private:
  void Run();

  Clock* const clock_;
  const Duration period_;
  const std::function<bool()> alive_;
  const std::function<void()> pet_;
  Mutex mu_;
  std::condition_variable cv_;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace vmk::cli
