// Clang's thread-safety annotations (https://clang.llvm.org/docs/ThreadSafetyAnalysis.html):
// which mutex guards which member, which functions need it held or take it. Under clang they
// expand to the attributes the analysis (-Wthread-safety) checks at compile time; under other
// compilers to nothing. The mutex they are written against is vmk::Mutex (common/mutex.h):
// std::mutex carries no annotations, so the analysis sees nothing locked through it.
//
//   class Queue {
//     void Add(int v) EXCLUDES(mu_);
//     void DropOldestLocked() REQUIRES(mu_);
//     Mutex mu_;
//     std::deque<int> items_ GUARDED_BY(mu_);
//   };
#pragma once

#if defined(__clang__)
#define VMK_THREAD_ANNOTATION_(x) __attribute__((x))
#else
#define VMK_THREAD_ANNOTATION_(x)
#endif

// A class whose objects are capabilities (a mutex); `x` names the kind in messages.
#define CAPABILITY(x) VMK_THREAD_ANNOTATION_(capability(x))
// An RAII class that holds a capability for its scope (MutexLock).
#define SCOPED_CAPABILITY VMK_THREAD_ANNOTATION_(scoped_lockable)

// A member that may be read or written only with the capability held.
#define GUARDED_BY(x) VMK_THREAD_ANNOTATION_(guarded_by(x))
// A pointer member whose pointee may be used only with the capability held.
#define PT_GUARDED_BY(x) VMK_THREAD_ANNOTATION_(pt_guarded_by(x))

// Lock order: this mutex is taken before / after the ones named. Checked only with
// -Wthread-safety-beta; written down either way.
#define ACQUIRED_BEFORE(...) VMK_THREAD_ANNOTATION_(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) VMK_THREAD_ANNOTATION_(acquired_after(__VA_ARGS__))

// The caller must hold the capabilities (exclusively / shared) when calling.
#define REQUIRES(...) VMK_THREAD_ANNOTATION_(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) VMK_THREAD_ANNOTATION_(requires_shared_capability(__VA_ARGS__))

// The function takes / releases the capabilities (none named: the object itself).
#define ACQUIRE(...) VMK_THREAD_ANNOTATION_(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) VMK_THREAD_ANNOTATION_(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) VMK_THREAD_ANNOTATION_(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) VMK_THREAD_ANNOTATION_(release_shared_capability(__VA_ARGS__))
// Takes the capability when it returns the first argument (true / false).
#define TRY_ACQUIRE(...) VMK_THREAD_ANNOTATION_(try_acquire_capability(__VA_ARGS__))
#define TRY_ACQUIRE_SHARED(...) VMK_THREAD_ANNOTATION_(try_acquire_shared_capability(__VA_ARGS__))

// The caller must not hold the capabilities (the function takes them itself).
#define EXCLUDES(...) VMK_THREAD_ANNOTATION_(locks_excluded(__VA_ARGS__))

// The function checks at run time that the capability is held; the analysis takes it as held.
#define ASSERT_CAPABILITY(x) VMK_THREAD_ANNOTATION_(assert_capability(x))
#define ASSERT_SHARED_CAPABILITY(x) VMK_THREAD_ANNOTATION_(assert_shared_capability(x))

// The function returns (a reference to) the capability `x`.
#define RETURN_CAPABILITY(x) VMK_THREAD_ANNOTATION_(lock_returned(x))

// Turns the analysis off for one function. Only where it cannot follow the locking, with a
// comment saying why.
#define NO_THREAD_SAFETY_ANALYSIS VMK_THREAD_ANNOTATION_(no_thread_safety_analysis)
