// KeyLocks: one mutex per name, made on demand and dropped when nobody holds or waits for it.
// The work queue already runs one reconcile per key at a time; KeyLocks covers the writers of a
// VM's placement that run under other keys: a host's failover re-places its VMs while their own
// reconciles may be running, and both read the VM's status, decide, and write it back (without
// the lock, a VM reconcile that read the old host could write it back over the new placement).
// Thread-safe.
#pragma once

#include <condition_variable>
#include <map>
#include <string>

#include "common/mutex.h"

namespace vmk::reconciler {

class KeyLocks {
 public:
  // Holds the lock of one name until destroyed (or released by moving it away).
  class Guard {
   public:
    Guard() = default;
    Guard(KeyLocks* owner, std::string key) : owner_(owner), key_(std::move(key)) {}
    Guard(Guard&& other) noexcept : owner_(other.owner_), key_(std::move(other.key_)) {
      other.owner_ = nullptr;
    }
    Guard& operator=(Guard&& other) noexcept;
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    ~Guard() { Release(); }
    void Release();

   private:
    KeyLocks* owner_ = nullptr;
    std::string key_;
  };

  // Blocks until no other Guard holds `key`.
  Guard Lock(const std::string& key);
  // Names currently held or waited for (for tests: the map does not grow without bound).
  size_t Size() const;
  // How many are waiting for `key` (for tests that need to know a thread is blocked here).
  int Waiters(const std::string& key) const;

 private:
  void Unlock(const std::string& key) EXCLUDES(mu_);

  struct Entry {
    bool held = false;
    int waiters = 0;
  };
  mutable Mutex mu_;
  std::condition_variable released_;
  std::map<std::string, Entry> entries_ GUARDED_BY(mu_);
};

// Locks `key` when `locks` is non-null (contexts built by unit tests may leave it out).
inline KeyLocks::Guard LockIfAny(KeyLocks* locks, const std::string& key) {
  return locks ? locks->Lock(key) : KeyLocks::Guard();
}

}  // namespace vmk::reconciler
