// PoolReconciler: the "pool" reconciler. A StoragePool is mounted by the admins on the hosts it
// selects (an NFS export, a libvirt dir pool defined on each host); vmkeeper never defines or
// starts one itself, since a pool defined over a missing mount would let volumes be created on
// a host's local disk, out of every other host's sight (docs/storage.md). It checks, through
// each selected host's connection, that the host sees the pool active at the declared path and
// type, and writes what it found:
//
//   status.hosts[]    one entry per selected host: ready, or why not (HostUnreachable,
//                     NotDefined, Inactive, PathMismatch, TypeMismatch), with sizes when ready
//   Ready condition   True when every selected host sees it; an event when a host stops or
//                     starts seeing it
//
// The scheduler reads status.hosts: a VM on a volume is placed only where its pool is seen.
// Looks again every kRecheck. Thread-safe for different names.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "reconciler/core/object_status.h"
#include "reconciler/core/reconcile_context.h"
#include "reconciler/core/reconciler.h"
#include "specs/types.h"

namespace vmk::reconciler {

inline constexpr std::string_view kPoolReconciler = "pool";
inline std::string PoolKey(const std::string& name) { return WorkKey(kPoolReconciler, name); }

class PoolReconciler : public Reconciler {
 public:
  static constexpr auto kRecheck = std::chrono::seconds(30);

  explicit PoolReconciler(ReconcileContext ctx) : ctx_(ctx) {}
  std::string_view Name() const override { return kPoolReconciler; }
  ReconcileResult Reconcile(const ReconcileRequest& request) override;

 private:
  PoolHostStatus Check(const std::string& pool, const specs::StoragePoolSpec& spec,
                       const std::string& host);

  ReconcileContext ctx_;
};

}  // namespace vmk::reconciler
