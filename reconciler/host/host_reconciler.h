// HostReconciler: the "host" reconciler. Keeps one Host's connection and observed state current
// (level-triggered), in steps:
//   removed     the Host object is gone: the owned domains of deleted VMs left there are
//               removed, then its connection closed;
//   assess      its heartbeats fail (Suspect, NotReady): the evidence of every channel is
//               gathered (heartbeats, its VMs' probes, alerts, the power device when nothing
//               else can tell) and DecideHost (health/host_verdict.h) says what it is: dead or
//               failed (HostFailover: fence, then relocate its VMs; a failover under way is
//               resumed), ManagementUnreachable (its guests answer: not fenced, its VMs stay),
//               or not yet known (looked at again soon). The main connection is not touched;
//   observe     connect if needed, list its domains and read its capacity; a failure makes it
//               Unreachable and asks for a heartbeat now (the heartbeats alone judge it);
//   recovered   back after a failover: the copies it still has of VMs now placed elsewhere are
//               destroyed and undefined before it is used again; its incident closes;
//   listing     the cache is replaced by the listing and the VMs that need a look enqueued
//               (those placed there when it changes reachability, owned domains not placed
//               there: strays and orphans);
//   status      Ready, capacity, allocation (lastSeen rewritten at most once a minute).
// Thread-safe for different names.
#pragma once

#include <string>
#include <vector>

#include "reconciler/core/object_status.h"
#include "reconciler/core/reconcile_context.h"
#include "reconciler/core/reconciler.h"
#include "reconciler/health/host_verdict.h"
#include "reconciler/host/host_failover.h"

namespace vmk::reconciler {

class HostReconciler : public Reconciler {
 public:
  explicit HostReconciler(ReconcileContext ctx) : ctx_(ctx), failover_(ctx) {}
  std::string_view Name() const override { return kHostReconciler; }
  ReconcileResult Reconcile(const ReconcileRequest& request) override;

 private:
  // What one listing of the host found.
  struct Observation {
    Status failure;  // ok when listed
    std::vector<providers::DomainInfo> domains;
    providers::HostInfo info;
    uint64_t since = 0;  // HostEntry::ChangeMark() before the listing was read
  };

  ReconcileResult Removed(const std::string& name);
  // A host whose heartbeats fail: the decision and what follows from it.
  ReconcileResult Assess(const specs::Object& object, const specs::HostSpec& spec,
                         HostEntry& entry, HostStatus status,
                         const HostHealthBook::Snapshot& health, const CancelToken& cancel);
  HostEvidence GatherEvidence(const std::string& name, const specs::HostSpec& spec,
                              const HostHealthBook::Snapshot& health);
  // The fence device's `status`, asked at most every kPowerRecheck (cached in ctx_.signals).
  providers::PowerState AskPower(const std::string& name, const specs::HostSpec& spec);
  // Its guests answer: not fenced; condition, event (notified), metric; looked at again soon.
  ReconcileResult HoldManagementUnreachable(const specs::Object& object, HostEntry& entry,
                                            HostStatus status, const HostDecision& decision);
  // Ends a ManagementUnreachable condition: the host answers again (`why` empty) or is failed
  // over after all (`why` says on what evidence).
  void EndManagementUnreachable(const std::string& name, HostStatus* status,
                                const std::string& why);
  // A failover not fenced yet, called off: its guests answer after all (incidents closed,
  // record cleared, FailoverCancelled).
  Status CancelFailover(const std::string& name, HostStatus* status, const HostDecision& decision);
  // A host never listed: condition HoldingUpVms names the VMs that wait for it (they may have a
  // copy there; reconciler/core/placement_history.h).
  void NoteVmsHeldUp(const std::string& name, HostStatus* status);
  // Its cache is no longer trusted; its VMs are enqueued when that is news.
  void MarkUnreachable(const std::string& name, HostEntry& entry);
  HostSignals SignalsOf(const std::string& name, const HostEvidence& evidence,
                        const HostDecision& decision);
  Observation Observe(providers::Hypervisor& conn);
  ReconcileResult Unreachable(const specs::Object& object, const specs::HostSpec& spec,
                              HostEntry& entry, HostStatus status, const Status& failure);
  // Back after a failure: stale copies removed, incident closed, failover record cleared.
  Status Recovered(const std::string& name, providers::Hypervisor& conn,
                   std::vector<providers::DomainInfo>* domains, HostEntry& entry,
                   HostStatus* status);
  void TakeListing(const std::string& name, const specs::HostSpec& spec, HostEntry& entry,
                   Observation observation);
  ReconcileResult WriteReadyStatus(const specs::Object& object, HostEntry& entry,
                                   HostStatus status, const std::string& hypervisor);
  // Destroys and undefines what a returning host still has of VMs placed elsewhere; returns the
  // names removed.
  StatusOr<std::vector<std::string>> RemoveStaleCopies(const std::string& host,
                                                       providers::Hypervisor& conn,
                                                       const std::vector<providers::DomainInfo>& domains);

  ReconcileContext ctx_;
  HostFailover failover_;
};

}  // namespace vmk::reconciler
