// FenceSlots: how many fence agents may run at once. A fence agent can take its whole timeout
// (60 s by default) and runs on a reconcile worker: 100 hosts failing together (a rack's power)
// would otherwise hold every worker in a fence agent while the VM reconciles that start the
// failed-over VMs wait behind them. A host reconcile that finds no free slot does not wait for
// one: it says so (Fenced=False/Queued) and looks again shortly, leaving its worker to others.
// Thread-safe.
#pragma once

#include "common/mutex.h"

namespace vmk::reconciler {

class FenceSlots {
 public:
  explicit FenceSlots(int limit) : limit_(limit < 1 ? 1 : limit) {}

  // Held while a fence agent runs; empty when no slot was free.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept : owner_(other.owner_) { other.owner_ = nullptr; }
    Slot& operator=(Slot&& other) noexcept {
      if (this != &other) {
        Release();
        owner_ = other.owner_;
        other.owner_ = nullptr;
      }
      return *this;
    }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() { Release(); }
    explicit operator bool() const { return owner_ != nullptr; }

   private:
    friend class FenceSlots;
    explicit Slot(FenceSlots* owner) : owner_(owner) {}
    void Release() {
      if (owner_) owner_->Release();
      owner_ = nullptr;
    }
    FenceSlots* owner_ = nullptr;
  };

  Slot TryAcquire() {
    MutexLock l(&mu_);
    if (in_use_ >= limit_) return Slot();
    ++in_use_;
    return Slot(this);
  }
  int limit() const { return limit_; }
  int in_use() const {
    MutexLock l(&mu_);
    return in_use_;
  }

 private:
  void Release() {
    MutexLock l(&mu_);
    --in_use_;
  }

  const int limit_;
  mutable Mutex mu_;
  int in_use_ GUARDED_BY(mu_) = 0;
};

}  // namespace vmk::reconciler
