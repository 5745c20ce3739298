#include "providers/hypervisor/libvirt/call_thread.h"

#include <thread>
#include <utility>

namespace vmk::providers::libvirt_internal {

CallThread::CallThread() : state_(std::make_shared<State>()) {}

CallThread::~CallThread() {
  {
    std::lock_guard<std::mutex> l(state_->mu);
    state_->stopping = true;
  }
  state_->cv.notify_one();
}

bool CallThread::Busy() const {
  std::lock_guard<std::mutex> l(state_->mu);
  return state_->running || !state_->tasks.empty();
}

void CallThread::Post(std::function<void()> task) {
  bool start = false;
  {
    std::lock_guard<std::mutex> l(state_->mu);
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
  std::unique_lock<std::mutex> l(state.mu);
  for (;;) {
    // Real time on purpose: this is the thread's own housekeeping, not controller logic.
    state.cv.wait_for(l, kIdleExit, [&] { return state.stopping || !state.tasks.empty(); });
    if (state.tasks.empty()) {
      // Stopping with nothing left, or idle: the next Post starts a new thread.
      state.started = false;
      return;
    }
    std::function<void()> task = std::move(state.tasks.front());
    state.tasks.pop_front();
    state.running = true;
    l.unlock();
    task();
    l.lock();
    state.running = false;
    l.unlock();
    // Destroyed before waiting again, outside the lock: it may hold the last reference to
    // the connection, whose destructor locks `state.mu`.
    task = nullptr;
    l.lock();
  }
}

}  // namespace vmk::providers::libvirt_internal
