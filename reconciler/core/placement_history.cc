#include "reconciler/core/placement_history.h"

#include "reconciler/core/object_status.h"

namespace vmk::reconciler {

namespace {
constexpr char kBackfilledKey[] = "placement-history/backfilled";

std::string Key(const std::string& host, const std::string& vm) {
  return "placement/" + host + "/" + vm;
}
}  // namespace

Status RecordPlacement(Store& store, const std::string& host, const std::string& vm) {
  return store.PutHistory(Key(host, vm), specs::Json::object(), /*sync=*/false);
}

StatusOr<bool> MayHoldCopy(Store& store, const std::string& host, const std::string& vm) {
  const std::string key = Key(host, vm);
  VMK_ASSIGN_OR_RETURN(auto records, store.ListHistory(key));
  for (const auto& [k, value] : records) {
    if (k == key) return true;  // not a longer name sharing the prefix
  }
  return false;
}

Status BackfillPlacementHistory(Store& store, const std::vector<specs::Object>& vms) {
  VMK_ASSIGN_OR_RETURN(auto marker, store.ListHistory(kBackfilledKey));
  for (const auto& [key, value] : marker) {
    if (key == kBackfilledKey) return Status::Ok();
  }
  for (const auto& vm : vms) {
    const VmStatus status = VmStatus::FromJson(vm.status);
    if (!status.host.empty()) VMK_RETURN_IF_ERROR(RecordPlacement(store, status.host, vm.metadata.name));
  }
  return store.PutHistory(kBackfilledKey, specs::Json::object(), /*sync=*/true);
}

}  // namespace vmk::reconciler
