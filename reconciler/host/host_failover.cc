#include "reconciler/host/host_failover.h"

#include <algorithm>

#include "common/secrets.h"
#include "reconciler/core/placement_history.h"
#include "reconciler/core/scheduling_request.h"
#include "specs/redaction.h"

namespace vmk::reconciler {

namespace {
// A host waiting for a fence slot looks again this soon (a fence takes seconds).
constexpr auto kFenceSlotRetry = std::chrono::milliseconds(250);
}  // namespace

using specs::Condition;
using specs::Kind;

ReconcileResult HostFailover::Handle(const specs::Object& object, const specs::HostSpec& spec,
                                     HostEntry& entry, HostStatus status,
                                     const CancelToken& cancel, const std::string& why) {
  const std::string& name = object.metadata.name;
  const auto health = ctx_.health->Get(name);
  if (entry.SetUnreachable()) {
    for (const auto& vm : ctx_.book->VmsOn(name)) ctx_.queue->Add(VmKey(vm));
  }
  if (ctx_.metrics) ctx_.metrics->SetHostUp(name, false);
  specs::SetCondition(&status.conditions,
                      MakeCondition(*ctx_.clock, "Ready", false, "NotReady",
                                    std::to_string(health.consecutive_failures) +
                                        " heartbeats failed: " + health.last_error));
  const std::vector<std::string> vms = ctx_.book->VmsOn(name);
  if (status.failover.phase.empty()) {
    if (auto ended = Begin(name, vms, why, &status)) return *ended;
  }
  if (status.failover.phase == "Fencing") {
    // A fence is one step: started, it finishes; a cancelled pass does not start it.
    if (Status cancelled = cancel.Err(); !cancelled.ok()) return ReconcileResult::Error(cancelled);
    if (auto ended = Fence(name, spec, vms, &status)) return *ended;
  }
  entry.SetFenced(true);
  if (status.failover.phase == "Relocating") {
    ReconcileResult r = Relocate(name, cancel);
    if (!r.status.ok()) return r;
    status.failover.phase = "Relocated";
    if (Status s = WriteHostStatus(*ctx_.store, name, status, /*sync=*/true, ctx_.metrics); !s.ok()) {
      return ReconcileResult::Error(s);
    }
    ctx_.events->Normal(Kind::kHost, name, "FailoverComplete",
                        "its VMs were placed on other hosts");
    return ReconcileResult::Done();
  }
  Status s = WriteHostStatus(*ctx_.store, name, status, false, ctx_.metrics);
  return s.ok() ? ReconcileResult::Done() : ReconcileResult::Error(s);
}

void HostFailover::CountBlocked(const std::vector<std::string>& vms) {
  if (!ctx_.metrics) return;
  for (const auto& vm : vms) ctx_.metrics->vms().CountFailover(vm, metrics::FailoverResult::kBlocked);
}

std::optional<ReconcileResult> HostFailover::Begin(const std::string& name,
                                                   const std::vector<std::string>& vms,
                                                   const std::string& why, HostStatus* status) {
  const WallTime wall_now = ctx_.clock->WallNow();
  const auto health = ctx_.health->Get(name);
  if (vms.empty()) {
    Status s = WriteHostStatus(*ctx_.store, name, *status, false, ctx_.metrics);
    return s.ok() ? ReconcileResult::Done() : ReconcileResult::Error(s);
  }
  if (ctx_.incidents) {
    // The host's incident holds the earliest evidence from any source (an alert's startsAt may
    // come before the last good heartbeat); its VMs' incidents start there too. Opened before
    // the failover record and made durable by its synced write (one sync, not one per VM); a
    // controller killed before that write opens them again (Open joins).
    WallTime occurred = health.ever_good ? health.last_good : wall_now;
    auto host_incident = ctx_.incidents->Open(Kind::kHost, name, "HostFailure", occurred,
                                              "heartbeat", /*sync=*/false);
    if (!host_incident.ok()) return ReconcileResult::Error(host_incident.status());
    ParseRfc3339(host_incident->occurred, &occurred);
    for (const auto& vm : vms) {
      auto i = ctx_.incidents->Open(Kind::kVirtualMachine, vm, "HostFailure", occurred, "heartbeat",
                                    /*sync=*/false);
      if (!i.ok()) return ReconcileResult::Error(i.status());
    }
  }
  status->failover = {"Fencing", FormatRfc3339(wall_now), ""};
  if (Status s = WriteHostStatus(*ctx_.store, name, *status, /*sync=*/true, ctx_.metrics); !s.ok()) {
    return ReconcileResult::Error(s);
  }
  std::string last_good = health.ever_good ? FormatRfc3339(health.last_good) : "never";
  ctx_.events->Warning(Kind::kHost, name, "HostFailed",
                       (why.empty() ? std::string("host does not answer") : why) +
                           " (last good heartbeat " + last_good + "): failing over " +
                           std::to_string(vms.size()) + " VM" + (vms.size() == 1 ? "" : "s"));
  return std::nullopt;
}

std::optional<ReconcileResult> HostFailover::Fence(const std::string& name,
                                                   const specs::HostSpec& spec,
                                                   const std::vector<std::string>& vms,
                                                   HostStatus* status) {
  const Condition* before = specs::FindCondition(status->conditions, "Fenced");
  if (spec.fencing) {
    FenceSlots::Slot slot;
    if (ctx_.fence_slots) {
      slot = ctx_.fence_slots->TryAcquire();
      if (!slot) {
        if (!before || before->reason != "Queued") {
          ctx_.events->Normal(Kind::kHost, name, "FencingQueued",
                              std::to_string(ctx_.fence_slots->limit()) +
                                  " fence agents are running already; this host is next");
        }
        specs::SetCondition(&status->conditions,
                            MakeCondition(*ctx_.clock, "Fenced", false, "Queued",
                                          "waiting for a fence slot (" +
                                              std::to_string(ctx_.fence_slots->limit()) +
                                              " at once)"));
        Status s = WriteHostStatus(*ctx_.store, name, *status, false, ctx_.metrics);
        return s.ok() ? ReconcileResult::After(kFenceSlotRetry) : ReconcileResult::Error(s);
      }
    }
    providers::FenceRequest request{name, spec.fencing->agent, spec.fencing->args,
                                    std::chrono::seconds(spec.fencing->timeoutSeconds)};
    Status fenced = ctx_.fencer ? ctx_.fencer->Fence(request)
                                : Status::FailedPrecondition("no fencer is configured");
    // Its message goes to an event, a condition, a notification and the log: the host's inline
    // secrets are masked whatever fencer wrote it (FenceAgentFencer masks them already).
    fenced = Status(fenced.code(),
                    RedactSecrets(fenced.message(), specs::InlineSecretValues(*spec.fencing)));
    if (ctx_.metrics) ctx_.metrics->CountFencing(name, fenced.ok());
    if (!fenced.ok()) {
      // Nothing fails over: a VM must never run twice. Loudly, and retried with backoff.
      if (!before || before->reason != "FencingFailed" || before->message != fenced.message()) {
        ctx_.events->Warning(
            Kind::kHost, name, "FencingFailed",
            "fencing with " + spec.fencing->agent + " failed, no failover: " + fenced.message());
        CountBlocked(vms);
      }
      specs::SetCondition(&status->conditions, MakeCondition(*ctx_.clock, "Fenced", false,
                                                             "FencingFailed", fenced.message()));
      if (Status s = WriteHostStatus(*ctx_.store, name, *status, false, ctx_.metrics); !s.ok())
        return ReconcileResult::Error(s);
      return ReconcileResult::Error(fenced.WithContext("fencing " + name));
    }
    status->failover.fencedBy = spec.fencing->agent;
    specs::SetCondition(&status->conditions,
                        MakeCondition(*ctx_.clock, "Fenced", true, "FenceAgent",
                                      "powered off by " + spec.fencing->agent));
    ctx_.events->Normal(Kind::kHost, name, "HostFenced", "powered off by " + spec.fencing->agent);
  } else if (spec.acknowledgeUnsafe) {
    status->failover.fencedBy = "acknowledgeUnsafe";
    specs::SetCondition(&status->conditions,
                        MakeCondition(*ctx_.clock, "Fenced", true, "AcknowledgedUnsafe",
                                      "no fencing; failover allowed by spec.acknowledgeUnsafe"));
    ctx_.events->Warning(Kind::kHost, name, "FailoverWithoutFencing",
                         "failing over without fencing, as spec.acknowledgeUnsafe allows");
  } else {
    if (!before || before->reason != "NoFencing") {
      ctx_.events->Warning(Kind::kHost, name, "FailoverBlocked",
                           "no fencing configured and spec.acknowledgeUnsafe is false: its VMs "
                           "stay until the host answers again");
      CountBlocked(vms);
    }
    specs::SetCondition(&status->conditions,
                        MakeCondition(*ctx_.clock, "Fenced", false, "NoFencing",
                                      "no spec.fencing and spec.acknowledgeUnsafe is false"));
    Status s = WriteHostStatus(*ctx_.store, name, *status, false, ctx_.metrics);
    return s.ok() ? ReconcileResult::Done() : ReconcileResult::Error(s);
  }
  if (ctx_.incidents) {
    // Made durable by the synced write of the Relocating record below.
    for (const auto& vm : vms) {
      (void)ctx_.incidents->AddAction(Kind::kVirtualMachine, vm, "fenced " + name, /*sync=*/false);
    }
  }
  status->failover.phase = "Relocating";
  if (Status s = WriteHostStatus(*ctx_.store, name, *status, /*sync=*/true, ctx_.metrics); !s.ok()) {
    return ReconcileResult::Error(s);
  }
  return std::nullopt;
}

ReconcileResult HostFailover::Relocate(const std::string& host, const CancelToken& cancel) {
  struct Moving {
    std::string name;
    std::map<std::string, std::string> labels;
    specs::VirtualMachineSpec spec;
  };
  std::vector<Moving> moving;
  for (const auto& vm : ctx_.book->VmsOn(host)) {
    auto loaded = ctx_.store->Get(Kind::kVirtualMachine, vm);
    if (!loaded.ok()) return ReconcileResult::Error(loaded.status());
    if (!*loaded) continue;
    auto spec = specs::VirtualMachineSpecFromJson((*loaded)->spec);
    if (!spec.ok()) return ReconcileResult::Error(spec.status());
    moving.push_back({vm, std::move((*loaded)->metadata.labels), std::move(*spec)});
  }
  // Highest priority first: when capacity is short, the lowest are the ones left unplaced.
  std::sort(moving.begin(), moving.end(), [](const Moving& a, const Moving& b) {
    if (a.spec.placement.priority != b.spec.placement.priority) {
      return a.spec.placement.priority > b.spec.placement.priority;
    }
    return a.name < b.name;
  });
  const std::string now = FormatRfc3339(ctx_.clock->WallNow());
  // A new placement must be durable before anything is defined there, i.e. before its VM is
  // enqueued. Placements are written unsynced and made durable a chunk at a time by one
  // Store::Sync: one sync per chunk instead of one per VM, while the first VMs already start.
  constexpr size_t kPlacementsPerSync = 32;
  std::vector<std::string> placed;
  auto make_durable_and_enqueue = [&]() -> Status {
    if (placed.empty()) return Status::Ok();
    VMK_RETURN_IF_ERROR(ctx_.store->Sync());
    for (const auto& vm : placed) ctx_.queue->Add(VmKey(vm));
    placed.clear();
    return Status::Ok();
  };
  for (auto& m : moving) {
    // What is placed already still starts when the pass stops early (cancelled or failed).
    Status s = cancel.Err();
    if (s.ok()) s = PlaceElsewhere(host, m.name, m.labels, m.spec, now, &placed);
    if (s.ok() && placed.size() == kPlacementsPerSync) s = make_durable_and_enqueue();
    if (!s.ok()) {
      (void)make_durable_and_enqueue();
      return ReconcileResult::Error(s);
    }
  }
  Status synced = make_durable_and_enqueue();
  return synced.ok() ? ReconcileResult::Done() : ReconcileResult::Error(synced);
}

namespace {

// Whether the VM's crash state is to be kept before it starts elsewhere: volume disks and a
// SnapshotPolicy with beforeFailover.
StatusOr<bool> WantsSnapshotBeforeFailover(Store& store, const specs::VirtualMachineSpec& spec) {
  bool volumes = false;
  for (const auto& d : spec.disks) volumes = volumes || d.volume.has_value();
  if (!volumes || spec.snapshotPolicy.empty()) return false;
  auto policy = store.Get(Kind::kSnapshotPolicy, spec.snapshotPolicy);
  if (!policy.ok()) return policy.status();
  if (!*policy) return false;
  auto parsed = specs::SnapshotPolicySpecFromJson((*policy)->spec);
  if (!parsed.ok()) return parsed.status();
  return parsed->beforeFailover;
}

}  // namespace

Status HostFailover::PlaceElsewhere(const std::string& host, const std::string& vm,
                                    const std::map<std::string, std::string>& labels,
                                    const specs::VirtualMachineSpec& spec, const std::string& now,
                                    std::vector<std::string>* placed) {
  // The VM's own reconcile may be running: wait for it, then decide on its latest status.
  KeyLocks::Guard guard = LockIfAny(ctx_.vm_locks, vm);
  auto fresh = ctx_.store->Get(Kind::kVirtualMachine, vm);
  if (!fresh.ok()) return fresh.status();
  if (!*fresh) return Status::Ok();  // deleted meanwhile
  // Being deleted: never started elsewhere. Its host is fenced now, which is what its
  // deletion waited for to delete its volumes.
  if ((*fresh)->metadata.terminating()) {
    ctx_.queue->Add(VmKey(vm));
    return Status::Ok();
  }
  VmStatus vm_status = VmStatus::FromJson((*fresh)->status);
  if (vm_status.host != host) return Status::Ok();  // moved before a restart of the controller
  // The disks as the failed host left them are frozen by the VM's reconcile before it starts
  // the VM elsewhere (the host is fenced or seen stopped: nothing writes them now).
  VMK_ASSIGN_OR_RETURN(bool keep_crash_state, WantsSnapshotBeforeFailover(*ctx_.store, spec));
  if (keep_crash_state) vm_status.snapshotBeforeStart = "before-failover";
  VMK_ASSIGN_OR_RETURN(SchedulingRequest request,
                       MakeSchedulingRequest(*ctx_.store, vm, labels, &spec));
  auto chosen = ctx_.book->ScheduleAndBook(request, ctx_.hosts->Candidates(vm));
  if (chosen.ok()) {
    // Before the placement: the host may hold the VM from now on (made durable by the
    // relocation's Sync, with the placement).
    VMK_RETURN_IF_ERROR(RecordPlacement(*ctx_.store, *chosen, vm));
    vm_status.host = *chosen;
    vm_status.state = "relocating";
    specs::SetCondition(&vm_status.conditions,
                        Condition{"Scheduled", "True", "FailedOver",
                                  "moved from failed host " + host + " to " + *chosen, now});
    ctx_.events->Warning(Kind::kVirtualMachine, vm, "FailedOver",
                         "host " + host + " failed; placed on " + *chosen);
    if (ctx_.metrics) ctx_.metrics->vms().CountFailover(vm, metrics::FailoverResult::kSuccess);
    if (ctx_.incidents) {
      (void)ctx_.incidents->AddAction(Kind::kVirtualMachine, vm, "placed on " + *chosen,
                                      /*sync=*/false);
    }
  } else {
    ctx_.book->Remove(vm);
    vm_status.host.clear();
    vm_status.state = "unplaced";
    specs::SetCondition(
        &vm_status.conditions,
        Condition{"Scheduled", "False", "Unschedulable",
                  "host " + host + " failed and " + chosen.status().message(), now});
    ctx_.events->Warning(Kind::kVirtualMachine, vm, "FailedScheduling",
                         "host " + host + " failed and " + chosen.status().message());
    if (ctx_.metrics) ctx_.metrics->vms().CountFailover(vm, metrics::FailoverResult::kFailure);
  }
  // Over the status just read, under the VM's lock: a writer elsewhere (another replica) that
  // moved it meanwhile makes this pass fail and run again, never two placements.
  Status s = ctx_.store
                 ->PutStatusIf(StatusWrite{Kind::kVirtualMachine, vm, vm_status.ToJson(),
                                           /*sync=*/false, (*fresh)->status_revision})
                 .status();
  if (!s.ok() && s.code() != StatusCode::kNotFound) return s;
  placed->push_back(vm);
  return Status::Ok();
}

}  // namespace vmk::reconciler
