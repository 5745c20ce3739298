#include "reconciler/controller/controller.h"

#include <atomic>
#include <condition_variable>
#include <thread>
#include <vector>

#include "common/cancellation.h"
#include "common/log.h"
#include "common/mutex.h"
#include "reconciler/store/store_watcher.h"
#include "specs/redaction.h"

namespace vmk::reconciler {

using specs::Kind;

class ControllerImpl {
 public:
  ControllerImpl(Store* store, providers::HypervisorFactory* factory, Clock* clock,
                 ControllerOptions options)
      : options_(options), loop_(store, factory, clock, options) {}

  ~ControllerImpl() { Stop(); }

  Status Start() {
    VMK_RETURN_IF_ERROR(loop_.Restore());
    // The time since the last controller's last sign of life was not watched.
    VMK_RETURN_IF_ERROR(loop_.ledger().Start());
    // From the revision the restore saw: nothing applied after it is missed.
    watcher_ = std::make_unique<StoreWatcher>(
        &loop_.store(), loop_.store().Revision(), /*objects_only=*/true,
        [this](const std::vector<Change>& changes) { loop_.OnStoreChanges(changes); },
        [this] { loop_.EnqueueAll(); });
    log::Info("controller starting", {{"workers", std::to_string(options_.workers)}});
    running_ = true;
    const CancelToken token = cancel_.Token();
    for (int i = 0; i < std::max(1, options_.workers); ++i) {
      threads_.emplace_back([this, token] { while (loop_.ProcessNext(loop_.queue(), token)) {} });
    }
    if (options_.separate_probe_queue) {
      for (int i = 0; i < kProbeWorkers; ++i) {
        threads_.emplace_back(
            [this, token] { while (loop_.ProcessNext(loop_.probe_queue(), token)) {} });
      }
    }
    loop_.EnqueueAll();
    threads_.emplace_back([this] { ResyncLoop(); });
    return Status::Ok();
  }

  void Stop() {
    if (!running_.exchange(false)) return;
    // Reconciles in flight stop between their steps; the queues hand out nothing more.
    cancel_.Cancel("the controller is stopping");
    watcher_->Stop();
    loop_.queue().ShutDown();
    loop_.probe_queue().ShutDown();
    {
      MutexLock l(&resync_mu_);
      resync_cv_.notify_all();
    }
    for (auto& t : threads_) t.join();
    threads_.clear();
    // A clean stop: the gap until the next start begins now, not at the last periodic mark.
    if (Status s = loop_.ledger().Alive(/*sync=*/true); !s.ok()) {
      log::Warning("cannot record the controller's stop", {{"error", s.ToString()}});
    }
    loop_.CloseHosts();
    log::Info("controller stopped");
  }

  bool Ready() { return running_ && loop_.AllHostsAttempted(); }
  ControlLoop& loop() { return loop_; }

  // Read-your-writes: once an apply or delete returns, its change has reached the work queue
  // (through the store's change feed), as it did when the applier enqueued by itself.
  void AwaitOwnWrite() {
    if (!running_) return;
    const int64_t revision = loop_.store().Revision();
    if (!watcher_->WaitFor(revision, kOwnWriteWait)) {
      log::Warning("the store watch is late: an apply reaches the reconcilers late",
                   {{"revision", std::to_string(revision)}});
    }
  }

 private:
  // Probes run on workers of their own (see ControlLoopOptions::separate_probe_queue).
  static constexpr int kProbeWorkers = 2;
  static constexpr auto kOwnWriteWait = std::chrono::seconds(5);
  static constexpr auto kAliveInterval = std::chrono::seconds(5);

  // The periodic resync, and the controller's sign of life for availability accounting (a gap
  // after a crash is at most one kAliveInterval longer than the controller was really gone).
  void ResyncLoop() {
    MutexLock l(&resync_mu_);
    Clock& clock = loop_.clock();
    MonoTime next = clock.Now() + options_.resync_period;
    MonoTime next_alive = clock.Now() + kAliveInterval;
    while (running_) {
      clock.WaitUntil(l.native(), resync_cv_, std::min(next, next_alive));
      if (!running_) break;
      const MonoTime now = clock.Now();
      if (now >= next_alive) {
        next_alive = now + kAliveInterval;
        l.Unlock();
        if (Status s = loop_.ledger().Alive(/*sync=*/false); !s.ok()) {
          log::Warning("cannot record the controller's sign of life", {{"error", s.ToString()}});
        }
        l.Lock();
      }
      if (now < next) continue;
      next = now + options_.resync_period;
      l.Unlock();
      loop_.EnqueueAll();
      l.Lock();
    }
  }

  const ControllerOptions options_;
  ControlLoop loop_;
  CancelSource cancel_;
  std::unique_ptr<StoreWatcher> watcher_;
  std::atomic<bool> running_{false};
  std::vector<std::thread> threads_;
  // Guards no data (running_ is atomic): the resync loop waits on it, and Stop() takes it to
  // wake the loop without losing the wake-up between the loop's check and its wait.
  Mutex resync_mu_;
  std::condition_variable resync_cv_;
};

Controller::Controller(Store* store, providers::HypervisorFactory* factory, Clock* clock,
                       ControllerOptions options)
    : impl_(std::make_unique<ControllerImpl>(store, factory, clock, std::move(options))) {}

Controller::~Controller() = default;

Status Controller::Start() { return impl_->Start(); }
void Controller::Stop() { impl_->Stop(); }

StatusOr<ApplyOutcome> Controller::Apply(const std::vector<ManifestFile>& files,
                                         const ApplyOptions& options) {
  auto outcome = impl_->loop().applier().Apply(files, options);
  if (outcome.ok() && outcome->revision > 0) impl_->AwaitOwnWrite();
  return outcome;
}

StatusOr<DiffOutcome> Controller::Diff(const std::vector<ManifestFile>& files, bool prune) {
  return impl_->loop().applier().Diff(files, prune);
}

// List and Get serve the API: secrets are masked here, the store keeps them.
StatusOr<std::vector<specs::Object>> Controller::List(Kind kind) {
  VMK_ASSIGN_OR_RETURN(std::vector<specs::Object> objects, impl_->loop().store().List(kind));
  for (specs::Object& object : objects) object = specs::RedactObject(object);
  return objects;
}

StatusOr<std::optional<specs::Object>> Controller::Get(Kind kind, const std::string& name) {
  VMK_ASSIGN_OR_RETURN(std::optional<specs::Object> object, impl_->loop().store().Get(kind, name));
  if (object) object = specs::RedactObject(*object);
  return object;
}

Status Controller::Delete(Kind kind, const std::string& name) {
  Status deleted = impl_->loop().applier().Delete(kind, name);
  if (deleted.ok()) impl_->AwaitOwnWrite();
  return deleted;
}

StatusOr<std::string> Controller::RequestSnapshot(const std::string& vm,
                                                 const std::string& name) {
  return impl_->loop().RequestSnapshot(vm, name);
}

StatusOr<RollbackPlan> Controller::RequestRollback(const std::string& vm, const std::string& to,
                                                  bool dry_run) {
  return impl_->loop().RequestRollback(vm, to, dry_run);
}

StatusOr<std::vector<Event>> Controller::Events(std::optional<ObjectRef> object, int64_t after_seq,
                                                size_t limit) {
  return impl_->loop().store().ListEvents(object, after_seq, limit);
}

bool Controller::Ready() { return impl_->Ready(); }

StatusOr<std::vector<Incident>> Controller::Incidents(std::optional<ObjectRef> object) {
  return impl_->loop().incidents().List(object);
}

StatusOr<AvailabilityReport> Controller::Availability(const AvailabilityQuery& query) {
  return impl_->loop().Availability(query);
}

StatusOr<AlertIntakeOutcome> Controller::IngestAlerts(const std::string& body) {
  return impl_->loop().IngestAlerts(body);
}

void Controller::ResyncNow() { impl_->loop().EnqueueAll(); }

std::string Controller::MetricsText() { return impl_->loop().MetricsText(); }

providers::Hypervisor* Controller::HostConnectionForTest(const std::string& host) {
  auto entry = impl_->loop().hosts().Get(host);
  return entry ? entry->connection().get() : nullptr;
}

bool Controller::WaitIdle(std::chrono::milliseconds timeout) {
  return impl_->loop().queue().WaitIdle(timeout);
}

}  // namespace vmk::reconciler
