// HostReconciler: the "host" reconciler. Keeps one Host's connection and observed state current
// (level-triggered), in steps:
//   removed     the Host object is gone: the owned domains of deleted VMs left there are
//               removed, then its connection closed;
//   failed      its heartbeats made it NotReady: unless a fresh connection answers a listing,
//               its failover (HostFailover: fence, then relocate its VMs) goes on;
//   observe     connect if needed, list its domains and read its capacity; a failure counts as
//               a failed heartbeat (the one crossing the threshold fails it over at once) and
//               makes it Unreachable;
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
  // A NotReady host: nullopt when a fresh connection answers (the pass goes on as usual).
  std::optional<ReconcileResult> RetryFailed(const specs::Object& object,
                                             const specs::HostSpec& spec, HostEntry& entry,
                                             HostStatus& status, const CancelToken& cancel);
  Observation Observe(providers::Hypervisor& conn);
  ReconcileResult Unreachable(const specs::Object& object, const specs::HostSpec& spec,
                              HostEntry& entry, HostStatus status, const Status& failure,
                              const CancelToken& cancel);
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
