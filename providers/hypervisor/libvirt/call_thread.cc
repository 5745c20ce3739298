#include "providers/hypervisor/libvirt/call_thread.h"

#include <thread>
#include <utility>

namespace vmk::providers::libvirt_internal {

CallThread::CallThread() : state_(std::make_shared<State>()) {}

CallThread::~CallThread() {
  {
    MutexLock l(&state_->mu);
    state_->stopping = true;
  }
  state_->cv.notify_one();
}

bool CallThread::Busy() const {
  MutexLock l(&state_->mu);
  return state_->running || !state_->tasks.empty();
}

void CallThread::Post(std::function<void()> task) {
  bool start = false;
  {
    MutexLock l(&state_->mu);
    state_->tasks.push_back(std::move(task));
    start = !std::exchange(state_->started, true);
  }
  if (start) {
    // Detached: the last task may drop the connection, whose destructor (this one) runs on
    // this very thread and only asks it to stop.
    std::thread([state = state_] { Run(*state); }).detach();
  } else {
    state_->cv.notify_one();
  }
}

void CallThread::Run(State& state) {
  MutexLock l(&state.mu);
  for (;;) {
    // Real time on purpose: this is the thread's own housekeeping, not controller logic.
    const auto idle_deadline = std::chrono::steady_clock::now() + kIdleExit;
    while (!state.stopping && state.tasks.empty() && l.WaitUntil(state.cv, idle_deadline)) {}
    if (state.tasks.empty()) {
      // Stopping with nothing left, or idle: the next Post starts a new thread.
      state.started = false;
      return;
    }
    std::function<void()> task = std::move(state.tasks.front());
    state.tasks.pop_front();
    state.running = true;
    l.Unlock();
    task();
    l.Lock();
    state.running = false;
    l.Unlock();
    // Destroyed before waiting again, outside the lock: it may hold the last reference to
    // the connection, whose destructor locks `state.mu`.
    task = nullptr;
    l.Lock();
  }
}

}  // namespace vmk::providers::libvirt_internal
