// HostReconciler: keeps one Host's connection and observed state current (level-triggered).
//
// Each call connects if needed, lists the host's domains into the cache, writes the host's
// status (Ready, capacity, allocation) and enqueues the VMs that need a look: those placed there
// when the host changes reachability, and vmkeeper-owned domains found there that are not
// placed there (stray copies, orphans of deleted VMs). A Host whose object is gone has its
// leftover owned domains of deleted VMs removed, then its connection closed.
// Thread-safe for different keys.
#pragma once

#include <string>

#include "metrics/controller_metrics.h"
#include "reconciler/object_status.h"
#include "reconciler/reconcile_context.h"

namespace vmk::reconciler {

class HostReconciler {
 public:
  HostReconciler(ReconcileContext ctx, metrics::ControllerMetrics* metrics)
      : ctx_(ctx), metrics_(metrics) {}
  ReconcileResult Reconcile(const std::string& name);

 private:
  ReconcileResult Remove(const std::string& name);

  ReconcileContext ctx_;
  metrics::ControllerMetrics* const metrics_;
};

}  // namespace vmk::reconciler
