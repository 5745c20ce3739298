// Mutex and MutexLock: std::mutex and a scoped lock over it, annotated for clang's thread-safety
// analysis (common/thread_annotations.h), which checks that every GUARDED_BY member is used with
// its mutex held. The mutexes of the daemon, the CLI and the test doubles are all Mutexes
// (LevelDB's port::Mutex and MutexLock).
//
//   MutexLock l(&mu_);                       // held until the end of the scope
//   while (!ready_) l.Wait(cv_);             // condition waits: a loop the analysis can see
//   l.Unlock(); Notify(); l.Lock();          // dropped around a call that must not run under it
//   clock_->WaitUntil(l.native(), cv_, t);   // APIs written for std::unique_lock<std::mutex>
//
// Condition waits are written as loops over the guarded state (above), not as
// cv.wait(lock, predicate): the analysis checks a lambda on its own, where the lock is not
// held. A predicate that is worth a name is a lambda annotated REQUIRES(mu_), called in the
// loop.
//
// A function that is called with the lock held (REQUIRES) and must drop it around a call uses
// MutexUnlock: the caller's MutexLock is out of the analysis' sight there.
//
// Thread-safe, like std::mutex; a MutexLock belongs to the thread that made it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "common/thread_annotations.h"

namespace vmk {

class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  bool TryLock() TRY_ACQUIRE(true) { return mu_.try_lock(); }

  // Tells the analysis that the calling thread holds the mutex where it cannot see it (checks
  // nothing at run time: std::mutex does not know its owner).
  void AssertHeld() const ASSERT_CAPABILITY(this) {}

 private:
  friend class MutexLock;
  std::mutex mu_;
};

// Holds a Mutex from construction to the end of the scope, like std::unique_lock (which it
// wraps, for condition variables).
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ACQUIRE(mu) : lock_(mu->mu_) {}
  // Releases the mutex if this scope still holds it.
  ~MutexLock() RELEASE() {}

  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  // Drop and take the mutex again within the scope.
  void Unlock() RELEASE() { lock_.unlock(); }
  void Lock() ACQUIRE() { lock_.lock(); }

  // cv.wait on this lock: returns when notified, or spuriously. Call it in a loop that checks
  // the guarded state.
  void Wait(std::condition_variable& cv) { cv.wait(lock_); }
  // cv.wait_until on this lock: false once `deadline` has passed. A timed wait for a condition:
  //   while (!done_ && l.WaitUntil(cv_, deadline)) {}
  //   return done_;
  bool WaitUntil(std::condition_variable& cv, std::chrono::steady_clock::time_point deadline) {
    return cv.wait_until(lock_, deadline) == std::cv_status::no_timeout;
  }

  // The std::unique_lock that holds the mutex, for APIs written for std types (Clock::WaitUntil,
  // std::condition_variable). Waits through it leave the mutex held on return, as the analysis
  // assumes; unlocking through it would mislead the analysis.
  std::unique_lock<std::mutex>& native() { return lock_; }

 private:
  std::unique_lock<std::mutex> lock_;
};

// Releases a Mutex that the calling function holds (REQUIRES) for the rest of the scope, and
// takes it again at the end of the scope (Chromium's AutoUnlock). For clang the destructor
// "releases" this scope, which gives the mutex back to the function.
class SCOPED_CAPABILITY MutexUnlock {
 public:
  explicit MutexUnlock(Mutex* mu) RELEASE(mu) : mu_(mu) { mu_->Unlock(); }
  ~MutexUnlock() RELEASE() { mu_->Lock(); }

  MutexUnlock(const MutexUnlock&) = delete;
  MutexUnlock& operator=(const MutexUnlock&) = delete;

 private:
  Mutex* const mu_;
};

}  // namespace vmk
