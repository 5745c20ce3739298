// The scheduler's question for one VM, with what it needs from the store: the StoragePools its
// volume disks name, and the hosts their status says do not see them. Used by every caller of the scheduler (placement, failover, the diff's
// preview), so a VM is placed only where its storage is, whichever path places it.
#pragma once

#include <map>
#include <string>

#include "common/status.h"
#include "reconciler/scheduling/scheduler.h"
#include "reconciler/store/store.h"
#include "specs/types.h"

namespace vmk::reconciler {

// `spec` must outlive the request. A pool that is not in the store is left out (the scheduler
// then names it as not declared); a store error is returned.
StatusOr<SchedulingRequest> MakeSchedulingRequest(Store& store, const std::string& vm,
                                                  const std::map<std::string, std::string>& labels,
                                                  const specs::VirtualMachineSpec* spec);

}  // namespace vmk::reconciler
