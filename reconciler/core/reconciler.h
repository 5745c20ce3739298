// Reconciler: one kind of work the control loop does, in the controller-runtime sense. The work
// queue holds keys "<reconciler>/<name>" (WorkKey); the loop looks the reconciler up by the
// first part (ReconcilerSet) and calls Reconcile with the name and a CancelToken.
//
// Contract (level-triggered): Reconcile re-reads what it needs (desired state from the store,
// observed state from the hosts), acts idempotently, and says what it wants next: nothing
// (Done), a retry with backoff (Error), or another look after a delay (After). It never gets
// the event that caused it. It looks at `request.cancel` between its steps and returns the
// token's error once it is done (shutdown, a lost leadership, the reconcile's deadline): a
// step that started finishes, and what it leaves is state the next reconcile resumes from.
//
// The reconcilers: "vm" (reconciler/vm/vm_reconciler.h), "probe" (probe_reconciler.h), "host"
// (reconciler/host/host_reconciler.h) and "heartbeat" (heartbeat_reconciler.h). A new one is a
// class implementing this interface, registered in ControlLoop (reconciler/controller/).
//
// Thread-safety: the work queue never hands one key to two workers, so Reconcile runs
// concurrently only for different names; implementations must allow that.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/cancellation.h"
#include "common/clock.h"
#include "common/status.h"

namespace vmk::reconciler {

// What a reconcile asks of its worker: nothing more (ok), a retry with backoff (error), or
// another look after a delay (requeue_after).
struct ReconcileResult {
  Status status;
  std::optional<Duration> requeue_after;
  // The requeue is periodic work (a scheduled snapshot): it waits in the queue's low lane
  // behind failures and applies reported meanwhile.
  bool requeue_low = false;

  static ReconcileResult Done() { return {}; }
  static ReconcileResult Error(Status s) { return {std::move(s), std::nullopt}; }
  static ReconcileResult After(Duration d) { return {Status::Ok(), d}; }
  static ReconcileResult Periodic(Duration d) { return {Status::Ok(), d, true}; }
};

struct ReconcileRequest {
  std::string name;    // the object (VM or host) the key names
  CancelToken cancel;  // done on shutdown, lost leadership or the reconcile's deadline
};

class Reconciler {
 public:
  virtual ~Reconciler() = default;
  // The first part of its work keys, and its label in metrics and logs: "vm", "host", ...
  virtual std::string_view Name() const = 0;
  virtual ReconcileResult Reconcile(const ReconcileRequest& request) = 0;
};

// "<reconciler>/<name>": the key of one reconcile in the work queue.
std::string WorkKey(std::string_view reconciler, std::string_view name);

// The registered reconcilers, by name. Registration happens before any key is looked up (in
// the ControlLoop's constructor); after that it is read-only and thread-safe.
class ReconcilerSet {
 public:
  // The reconciler must outlive the set; names must be unique and contain no '/'.
  void Register(Reconciler* reconciler);

  struct Target {
    Reconciler* reconciler = nullptr;
    std::string name;
  };
  // The reconciler and object name a key stands for; nullopt for a key no reconciler owns.
  std::optional<Target> Find(std::string_view key) const;
  const std::vector<Reconciler*>& all() const { return all_; }

 private:
  std::map<std::string, Reconciler*, std::less<>> by_name_;
  std::vector<Reconciler*> all_;
};

}  // namespace vmk::reconciler
