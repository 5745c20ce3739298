// RestoreFromStore: what a (re)starting controller rebuilds from the store before any reconcile:
// one registry entry per Host (not yet connected) and the placement book from the VMs' stored
// status. Shared by the Controller and the tests that restart a controller.
#pragma once

#include <cstddef>

#include "common/status.h"
#include "reconciler/observed/host_registry.h"
#include "reconciler/scheduling/placement_book.h"
#include "reconciler/store/store.h"

namespace vmk::reconciler {

struct RestoredCounts {
  size_t hosts = 0;
  size_t vms = 0;
};

StatusOr<RestoredCounts> RestoreFromStore(Store& store, HostRegistry& hosts, PlacementBook& book);

}  // namespace vmk::reconciler
