// Placement history: which hosts a VM may have a domain on. vmkeeper defines a VM's domain on a
// host only after a durable placement naming that host (VmReconciler::Place, a failover's
// relocation), so a record "placement/<host>/<vm>" written before that placement (unsynced; the
// placement's own synced write, or the relocation's Sync, makes both durable) covers every host
// that can hold a copy. Records are never removed: a VM deleted while its host was unreachable,
// then created again under the same name, still finds the host that may hold its old copy.
//
// Used when a host has never been listed by this controller (a wrong URI, a host not yet racked,
// or one down since the controller started): only the VMs it may hold a copy of wait for it,
// not every new VM of the fleet. Free functions over the store; thread-safe as the store is.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "reconciler/store/store.h"

namespace vmk::reconciler {

Status RecordPlacement(Store& store, const std::string& host, const std::string& vm);
// Whether `host` may hold a domain of `vm` (a placement there was ever recorded).
StatusOr<bool> MayHoldCopy(Store& store, const std::string& host, const std::string& vm);
// Records the placements a store written before placement history was kept holds (each VM's
// status.host), once: a marker makes later starts skip it. Synced.
Status BackfillPlacementHistory(Store& store, const std::vector<specs::Object>& vms);

}  // namespace vmk::reconciler
