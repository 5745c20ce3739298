#include "cli/service_watchdog.h"

#include "common/log.h"

namespace vmk::cli {

ServiceWatchdog::ServiceWatchdog(Clock* clock, Duration period, std::function<bool()> alive,
                                 std::function<void()> pet)
    : clock_(clock), period_(period), alive_(std::move(alive)), pet_(std::move(pet)) {}

ServiceWatchdog::~ServiceWatchdog() { Stop(); }

void ServiceWatchdog::Start() {
  {
    MutexLock l(&mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this] { Run(); });
}

void ServiceWatchdog::Stop() {
  {
    MutexLock l(&mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void ServiceWatchdog::Run() {
  MutexLock l(&mu_);
  while (!stopping_) {
    // Half a period from the start of this check: a slow check does not stretch the interval.
    const MonoTime next = clock_->Now() + period_ / 2;
    l.Unlock();
    if (alive_()) {
      pet_();
    } else {
      log::Warning("liveness check failed: the service manager's watchdog is not petted");
    }
    l.Lock();
    while (!stopping_ && clock_->Now() < next) clock_->WaitUntil(l.native(), cv_, next);
  }
}

}  // namespace vmk::cli
