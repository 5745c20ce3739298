#include "reconciler/core/placement_history.h"

namespace vmk::reconciler {

namespace {
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

}  // namespace vmk::reconciler
