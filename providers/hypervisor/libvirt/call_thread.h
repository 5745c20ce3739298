// CallThread: the thread that makes the libvirt calls of one connection, one at a time, in order
// (libvirt 9.0's client misbehaves with several calls in flight on a connection that keepalive
// closes: see RunBounded in libvirt_connection.h). One long-lived thread per connection rather
// than one thread per call: creating a thread per call cost more than the call itself on the
// test driver. The thread ends after kIdleExit without a call and is made again by the next
// one: a burst of calls (a failover placing VMs there) shares one thread, while a fleet of hosts
// that only see a heartbeat a second does not keep a thread each (1,000 idle threads cost
// 60 MiB of RSS). A call that never returns holds only this thread; its connection is then
// marked dead and replaced, and the thread ends once libvirt lets go and the connection is
// dropped.
//
// Nothing here knows libvirt: a task is any function. Internal to providers/hypervisor/libvirt.
//
// Thread-safety: Post and Busy may be called from any thread. The object may be destroyed on
// its own thread, by the last task dropping what owns it (the connection): the thread then only
// stops once the queue is empty.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>

#include "common/mutex.h"

namespace vmk::providers::libvirt_internal {

class CallThread {
 public:
  CallThread();
  ~CallThread();
  CallThread(const CallThread&) = delete;
  CallThread& operator=(const CallThread&) = delete;

  // Whether a call is running or waiting.
  bool Busy() const;

  // Queues `task`, starting the thread if none runs.
  void Post(std::function<void()> task);

  static constexpr auto kIdleExit = std::chrono::milliseconds(200);

 private:
  struct State {
    Mutex mu;
    std::condition_variable cv;
    std::deque<std::function<void()>> tasks GUARDED_BY(mu);
    bool started GUARDED_BY(mu) = false;
    bool running GUARDED_BY(mu) = false;  // a task is running
    bool stopping GUARDED_BY(mu) = false;
  };

  static void Run(State& state);

  std::shared_ptr<State> state_;
};

}  // namespace vmk::providers::libvirt_internal
