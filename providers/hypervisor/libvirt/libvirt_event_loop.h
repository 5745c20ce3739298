// LibvirtEventLoop: the process-wide libvirt event loop. libvirt delivers domain events, close
// callbacks and keepalive only while some thread runs virEventRunDefaultImpl, and the default
// implementation must be registered (virEventRegisterDefaultImpl) before the first connection
// is opened. This class registers it once per process and runs one thread for it.
//
// Also installs, once, a no-op libvirt error handler so that libvirt never prints to stderr
// (errors are read per thread with virGetLastError and returned as Status).
//
// Thread-safe. Start() is idempotent; Stop() wakes the loop and joins the thread (for tests and
// shutdown); Start() after Stop() runs it again.
#pragma once

#include <atomic>
#include <thread>

#include "common/mutex.h"
#include "common/status.h"

namespace vmk::providers {

class LibvirtEventLoop {
 public:
  static LibvirtEventLoop* Get();

  // virInitialize + error handler + virEventRegisterDefaultImpl, once per process. Called by
  // Start(); call it directly before opening connections if no events are wanted.
  static Status InitializeLibvirt();

  Status Start();
  void Stop();
  bool running() const;

  LibvirtEventLoop(const LibvirtEventLoop&) = delete;
  LibvirtEventLoop& operator=(const LibvirtEventLoop&) = delete;

 private:
  LibvirtEventLoop() = default;
  ~LibvirtEventLoop() = default;  // never destroyed: the loop may serve connections at exit
  void Run();

  mutable Mutex mu_;
  std::thread thread_ GUARDED_BY(mu_);
  std::atomic<bool> stop_{false};
};

}  // namespace vmk::providers
