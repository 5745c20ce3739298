#include "reconciler/core/scheduling_request.h"

#include "reconciler/core/object_status.h"

namespace vmk::reconciler {

StatusOr<SchedulingRequest> MakeSchedulingRequest(Store& store, const std::string& vm,
                                                  const std::map<std::string, std::string>& labels,
                                                  const specs::VirtualMachineSpec* spec) {
  SchedulingRequest request{vm, labels, spec, {}, {}};
  for (const specs::DiskSpec& disk : spec->disks) {
    if (!disk.volume || request.pools.count(disk.volume->pool) != 0) continue;
    auto object = store.Get(specs::Kind::kStoragePool, disk.volume->pool);
    if (!object.ok()) return object.status();
    if (!*object) continue;
    auto pool = specs::StoragePoolSpecFromJson((*object)->spec);
    if (!pool.ok()) return pool.status();
    request.pools.emplace(disk.volume->pool, std::move(*pool));
    for (const std::string& host : HostsNotSeeingPool((*object)->status)) {
      request.pool_not_seen_on[disk.volume->pool].insert(host);
    }
  }
  return request;
}

}  // namespace vmk::reconciler
