#include "providers/hypervisor/libvirt/libvirt_event_loop.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "common/log.h"

namespace vmk::providers {
namespace {

void QuietErrorHandler(void* /*user_data*/, virErrorPtr /*error*/) {}

// A 0 ms timer fires at once: it makes virEventRunDefaultImpl return so the loop sees stop_.
void WakeTimer(int timer, void* /*opaque*/) { virEventRemoveTimeout(timer); }

}  // namespace

LibvirtEventLoop* LibvirtEventLoop::Get() {
  // Leaked on purpose: libvirt may call into the loop from its own threads until exit.
  static LibvirtEventLoop* loop = new LibvirtEventLoop();
  return loop;
}

Status LibvirtEventLoop::InitializeLibvirt() {
  static const Status result = [] {
    if (virInitialize() < 0) return Status::Internal("virInitialize failed");
    virSetErrorFunc(nullptr, QuietErrorHandler);
    if (virEventRegisterDefaultImpl() < 0) {
      return Status::Internal("virEventRegisterDefaultImpl failed");
    }
    return Status::Ok();
  }();
  return result;
}

Status LibvirtEventLoop::Start() {
  VMK_RETURN_IF_ERROR(InitializeLibvirt());
  MutexLock lock(&mu_);
  if (thread_.joinable()) return Status::Ok();
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void LibvirtEventLoop::Stop() {
  MutexLock lock(&mu_);
  if (!thread_.joinable()) return;
  stop_ = true;
  if (virEventAddTimeout(0, WakeTimer, nullptr, nullptr) < 0) {
    log::Warning("libvirt event loop: could not add wake-up timer");
  }
  thread_.join();
  thread_ = std::thread();
}

bool LibvirtEventLoop::running() const {
  MutexLock lock(&mu_);
  return thread_.joinable();
}

void LibvirtEventLoop::Run() {
  while (!stop_) {
    if (virEventRunDefaultImpl() < 0) {
      virErrorPtr err = virGetLastError();
      log::Warning("libvirt event loop iteration failed",
                   {{"error", err && err->message ? err->message : "unknown"}});
    }
  }
}

}  // namespace vmk::providers
