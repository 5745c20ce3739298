// FakeProber: a scriptable Prober for unit tests. Nothing is contacted; each Probe() returns a
// result the test chose, and every call is counted and recorded.
//
// Results are chosen by target, most specific first:
//   1. (address, port): SetResult(address, port, ...) / Script(address, port, {...})
//   2. address alone, any port — the "per VM key" form: callers that probe a VM at an address
//      named after it (or tests that give each VM its own address) script a VM as a whole
//      with SetResult(address, ...) / Script(address, {...})
//   3. the default result (unhealthy "no probe result scripted for ADDRESS:PORT" unless set).
// Exec probes have port 0 and are keyed by address like the others.
// A script is a queue consumed one result per probe; when it runs dry, the sticky result of the
// same key applies (SetResult), else the next less specific key is consulted. A handler
// (SetHandler) overrides all of this, for tests that need to block or compute answers.
//
// Thread-safe. The handler runs without the fake's lock held, so it may block or call back into
// the fake; WaitForCalls lets a test wait (with a real-time deadline) for probes made on
// another thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/mutex.h"
#include "providers/probes/prober.h"

namespace vmk::providers {

class FakeProber : public Prober {
 public:
  using Handler = std::function<ProbeResult(const ProbeSpec&)>;

  FakeProber();

  ProbeResult Probe(const ProbeSpec& spec) override;

  // --- Scripting ------------------------------------------------------------------------------
  // Sticky result for every probe of address:port (or of address, any port).
  void SetResult(const std::string& address, int port, ProbeResult result);
  void SetResult(const std::string& address, ProbeResult result);
  // Shorthands: healthy "HTTP 200" / unhealthy with the given message.
  void SetHealthy(const std::string& address, int port);
  void SetUnhealthy(const std::string& address, int port, const std::string& message);
  // Results returned once each, in order, before the sticky result applies again.
  void Script(const std::string& address, int port, std::vector<ProbeResult> results);
  void Script(const std::string& address, std::vector<ProbeResult> results);
  // Result when nothing more specific is scripted.
  void SetDefaultResult(ProbeResult result);
  // Replaces all scripted behaviour; nullptr removes the handler.
  void SetHandler(Handler handler);
  // Forgets scripts, sticky results, the default, the handler, counts and history.
  void Reset();

  // --- Inspection -----------------------------------------------------------------------------
  // A call is counted and recorded when Probe() is entered, before its result is chosen.
  int Calls(const std::string& address, int port) const;  // probes of address:port
  int Calls(const std::string& address) const;            // probes of address, any port
  int TotalCalls() const;
  std::vector<ProbeSpec> History() const;  // every spec probed, in order
  std::optional<ProbeSpec> LastSpec() const;
  // Blocks until TotalCalls() >= n or `timeout` (real time) passes. True when reached.
  bool WaitForCalls(int n, std::chrono::milliseconds timeout) const;

 private:
  struct Target {
    std::deque<ProbeResult> script;
    std::optional<ProbeResult> sticky;
  };
  // Key: (address, port); port -1 stands for "any port".
  using Key = std::pair<std::string, int>;
  static constexpr int kAnyPort = -1;

  // Next result for `spec`, consuming a scripted one if there is any.
  ProbeResult NextResultLocked(const ProbeSpec& spec) REQUIRES(mu_);
  static std::optional<ProbeResult> TakeFrom(Target* target);

  mutable Mutex mu_;
  mutable std::condition_variable calls_changed_;
  std::map<Key, Target> targets_ GUARDED_BY(mu_);
  std::optional<ProbeResult> default_result_ GUARDED_BY(mu_);
  Handler handler_ GUARDED_BY(mu_);
  std::map<Key, int> calls_ GUARDED_BY(mu_);  // exact (address, port)
  std::vector<ProbeSpec> history_ GUARDED_BY(mu_);
};

}  // namespace vmk::providers
