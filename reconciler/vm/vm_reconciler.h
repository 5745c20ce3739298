// VmReconciler: makes one VirtualMachine's domain match its spec (level-triggered).
//
// Each call re-reads the desired object and the observed domain, then: places the VM (the chosen
// host is written to the store, synced, before anything is defined there), removes stray copies
// of it from other hosts, (re)defines the domain when its managed configuration differs from the
// spec, starts or stops it as declared, and writes status. A VM whose object is gone is
// destroyed and undefined wherever it is found. Stateless between calls; thread-safe for
// different keys (the work queue never gives one key to two workers).
#pragma once

#include <optional>
#include <string>

#include "reconciler/core/object_status.h"
#include "reconciler/core/reconcile_context.h"

namespace vmk::reconciler {

class VmReconciler {
 public:
  explicit VmReconciler(ReconcileContext ctx) : ctx_(ctx) {}
  ReconcileResult Reconcile(const std::string& name);
  // One health probe of a VM that declares spec.health and runs; on a change of verdict it
  // records an event and enqueues the VM. Asks to run again after the probe period.
  ReconcileResult Probe(const std::string& name);

 private:
  struct Copy {
    std::shared_ptr<HostEntry> host;
    providers::DomainInfo domain;
  };
  std::vector<Copy> FindOwnedCopies(const std::string& name);
  ReconcileResult RemoveEverywhere(const std::string& name, const std::vector<Copy>& copies);
  // Reads the domain from the host and refreshes the cache. nullopt = no such domain.
  StatusOr<std::optional<providers::DomainInfo>> Observe(HostEntry& host, const std::string& name,
                                                          bool force);
  Status WriteStatus(const specs::Object& object, const VmStatus& status, bool sync);
  // Whether a failure restart may happen now under spec.restart (limit within the window, and
  // an exponential backoff between restarts); records it in status when it may.
  struct RestartVerdict {
    bool allowed = false;
    bool gave_up = false;          // the limit is reached
    std::optional<Duration> wait;  // try again after this
  };
  // Writes the status holding the restart that MayRestart counted, synced, before the restart.
  Status RecordRestartIntent(const specs::Object& object, const VmStatus& status);
  RestartVerdict MayRestart(const std::string& name, const specs::VirtualMachineSpec& spec,
                            VmStatus* status);
  enum class PlaceResult { kPlaced, kWait, kUnschedulable };
  PlaceResult Place(const specs::Object& object, const specs::VirtualMachineSpec& spec,
                    const std::vector<Copy>& copies, VmStatus* status, Status* error);

  ReconcileContext ctx_;
};

// The domain definition a VM spec asks for.
providers::DomainConfig DesiredDomainConfig(const std::string& name,
                                            const specs::VirtualMachineSpec& spec,
                                            int64_t generation);

}  // namespace vmk::reconciler
