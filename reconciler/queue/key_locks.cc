#include "reconciler/queue/key_locks.h"

namespace vmk::reconciler {

KeyLocks::Guard& KeyLocks::Guard::operator=(Guard&& other) noexcept {
  if (this != &other) {
    Release();
    owner_ = other.owner_;
    key_ = std::move(other.key_);
    other.owner_ = nullptr;
  }
  return *this;
}

void KeyLocks::Guard::Release() {
  if (owner_ != nullptr) owner_->Unlock(key_);
  owner_ = nullptr;
}

KeyLocks::Guard KeyLocks::Lock(const std::string& key) {
  MutexLock l(&mu_);
  Entry& entry = entries_[key];
  ++entry.waiters;
  // std::map references stay valid while other keys come and go.
  while (entry.held) l.Wait(released_);
  --entry.waiters;
  entry.held = true;
  return Guard(this, key);
}

void KeyLocks::Unlock(const std::string& key) {
  {
    MutexLock l(&mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return;
    it->second.held = false;
    if (it->second.waiters == 0) entries_.erase(it);
  }
  // One condition for all keys: waiters of other keys wake and wait again. Contention is rare
  // (a failover against the reconciles of its own VMs), so this stays simpler than a
  // condition per key.
  released_.notify_all();
}

int KeyLocks::Waiters(const std::string& key) const {
  MutexLock l(&mu_);
  auto it = entries_.find(key);
  return it == entries_.end() ? 0 : it->second.waiters;
}

size_t KeyLocks::Size() const {
  MutexLock l(&mu_);
  return entries_.size();
}

}  // namespace vmk::reconciler
