#include "reconciler/controller/restore.h"

#include "reconciler/core/object_status.h"
#include "reconciler/core/placement_history.h"

namespace vmk::reconciler {

using specs::Kind;

StatusOr<RestoredCounts> RestoreFromStore(Store& store, HostRegistry& hosts, PlacementBook& book) {
  VMK_ASSIGN_OR_RETURN(std::vector<specs::Object> host_objects, store.List(Kind::kHost));
  for (const auto& host : host_objects) {
    auto spec = specs::HostSpecFromJson(host.spec);
    if (!spec.ok()) return spec.status().WithContext("Host/" + host.metadata.name);
    hosts.Upsert(host.metadata.name, *spec, host.metadata.labels);
  }
  VMK_ASSIGN_OR_RETURN(std::vector<specs::Object> vms, store.List(Kind::kVirtualMachine));
  for (const auto& vm : vms) {
    VmStatus status = VmStatus::FromJson(vm.status);
    auto spec = specs::VirtualMachineSpecFromJson(vm.spec);
    if (status.host.empty() || !spec.ok()) continue;
    book.Set(vm.metadata.name,
             Placement{status.host, spec->cpus, spec->memoryMiB, vm.metadata.labels});
  }
  // Placements made before placement history was kept (reconciler/core/placement_history.h).
  VMK_RETURN_IF_ERROR(BackfillPlacementHistory(store, vms));
  return RestoredCounts{host_objects.size(), vms.size()};
}

}  // namespace vmk::reconciler
