// StoreWrapper: a Store that forwards every call to another one (LevelDB's EnvWrapper). A
// decorator (kill points in the simulation, injected write failures) derives from it and
// overrides only what it changes. The target is not owned and must outlive the wrapper.
// Thread-safety: that of the target.
#pragma once

#include "reconciler/store/store.h"

namespace vmk::reconciler {

class StoreWrapper : public Store {
 public:
  explicit StoreWrapper(Store* target) : target_(target) {}

  Store* target() const { return target_; }

  StatusOr<std::optional<specs::Object>> Get(specs::Kind kind, const std::string& name) override {
    return target_->Get(kind, name);
  }
  StatusOr<std::vector<specs::Object>> List(specs::Kind kind) override {
    return target_->List(kind);
  }
  StatusOr<std::vector<std::string>> ListNames(specs::Kind kind) override {
    return target_->ListNames(kind);
  }
  StatusOr<int64_t> CommitApply(const ApplyBatch& batch) override {
    return target_->CommitApply(batch);
  }
  StatusOr<int64_t> PutStatusIf(const StatusWrite& write) override {
    return target_->PutStatusIf(write);
  }
  int64_t Revision() override { return target_->Revision(); }
  StatusOr<ChangeBatch> Changes(const ChangesRequest& request) override {
    return target_->Changes(request);
  }
  StatusOr<int64_t> AppendEvent(Event event) override {
    return target_->AppendEvent(std::move(event));
  }
  StatusOr<std::vector<Event>> ListEvents(std::optional<ObjectRef> object, int64_t after_seq,
                                          size_t limit) override {
    return target_->ListEvents(object, after_seq, limit);
  }
  Status Sync() override { return target_->Sync(); }
  Status PutHistory(const std::string& key, const specs::Json& value, bool sync) override {
    return target_->PutHistory(key, value, sync);
  }
  StatusOr<std::vector<std::pair<std::string, specs::Json>>> ListHistory(
      const std::string& prefix) override {
    return target_->ListHistory(prefix);
  }

 private:
  Store* const target_;
};

}  // namespace vmk::reconciler
