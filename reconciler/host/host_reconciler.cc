#include "reconciler/host/host_reconciler.h"

#include <algorithm>

#include "common/log.h"
#include "reconciler/host/heartbeat_reconciler.h"

namespace vmk::reconciler {

using specs::Condition;
using specs::Kind;

namespace {
// How often a failed host's failover is looked at again (the heartbeats say when it is back).
constexpr auto kReconnectInterval = std::chrono::seconds(5);
// A NotReady host waiting for its VMs' probes is looked at this often (their results also
// enqueue it at once).
constexpr auto kAwaitingDataPlaneRecheck = std::chrono::milliseconds(200);
// The power device is asked at most this often per host, with at most this timeout: it is
// evidence, asked while the host looks dead, and must not hold the decision long.
constexpr auto kPowerRecheck = std::chrono::seconds(2);
constexpr auto kPowerStatusTimeout = std::chrono::seconds(5);

ReconcileResult LookAgainSoon(ReconcileResult r) {
  if (r.status.ok() && !r.requeue_after) r.requeue_after = kReconnectInterval;
  return r;
}
}  // namespace

ReconcileResult HostReconciler::Reconcile(const ReconcileRequest& request) {
  const std::string& name = request.name;
  auto loaded = ctx_.store->Get(Kind::kHost, name);
  if (!loaded.ok()) return ReconcileResult::Error(loaded.status());
  if (!*loaded) return Removed(name);
  const specs::Object& object = **loaded;
  auto spec = specs::HostSpecFromJson(object.spec);
  if (!spec.ok()) return ReconcileResult::Error(spec.status());
  auto entry = ctx_.hosts->Upsert(name, *spec, object.metadata.labels);
  HostStatus status = HostStatus::FromJson(object.status);
  if (!entry->view().synced) NoteVmsHeldUp(name, &status);
  if (ctx_.health) {
    // While the heartbeats fail, the evidence decides (docs/failure-detection.md), and the main
    // connection is left alone: a reconnect to a hung daemon would hold this key, and with it
    // the decision, for the whole open timeout.
    HostHealthBook::Snapshot health = ctx_.health->Get(name);
    if ((status.failover.phase.empty() || status.failover.phase == "Fencing") &&
        health.state != HostHealthState::kReady && health.state != HostHealthState::kUnknown) {
      // A decision that may run the fence agent: never on a host that answers again. One
      // heartbeat, bounded by its timeout (and at once when an earlier one still hangs), says
      // so now rather than at its phase.
      const MonoTime sent = ctx_.clock->Now();
      providers::HeartbeatResult beat = entry->connection()->Heartbeat(
          std::chrono::duration_cast<std::chrono::milliseconds>(ctx_.health->options().timeout));
      if (beat.ok()) {
        ctx_.health->RecordSuccess(name, ctx_.clock->Now(), ctx_.clock->WallNow());
      } else {
        ctx_.health->RecordFailure(name, sent, beat.message, beat.outcome);
      }
      health = ctx_.health->Get(name);
    }
    if (health.state == HostHealthState::kSuspect || health.state == HostHealthState::kNotReady) {
      return Assess(object, *spec, *entry, std::move(status), health, request.cancel);
    }
  }
  // A failover recorded before a controller restart: until this host answers again, its
  // domains count as dead (it was fenced), whatever the fresh heartbeat book says.
  entry->SetFenced(status.failover.phase == "Relocating" || status.failover.phase == "Relocated");

  auto& conn = *entry->connection();
  const uint64_t listing_since = entry->ChangeMark();
  Observation observed = Observe(conn);
  observed.since = listing_since;
  if (!observed.failure.ok()) {
    return Unreachable(object, *spec, *entry, std::move(status), observed.failure);
  }
  if (ctx_.health) ctx_.health->RecordSuccess(name, ctx_.clock->Now(), ctx_.clock->WallNow());
  if (ctx_.signals) ctx_.signals->ClearOutage(name);
  if (!status.failover.phase.empty()) {
    Status s = Recovered(name, conn, &observed.domains, *entry, &status);
    if (!s.ok()) return ReconcileResult::Error(s);
  } else if (ctx_.incidents && ctx_.incidents->OpenIncident(Kind::kHost, name)) {
    // A failure that never got as far as a failover record (a controller killed between opening
    // the incidents and writing it, or an alert about a host that answers): it is over.
    auto resolved = ctx_.incidents->Resolve(Kind::kHost, name);
    if (!resolved.ok()) return ReconcileResult::Error(resolved.status());
  }
  const std::string hypervisor = observed.info.hypervisor;
  TakeListing(name, *spec, *entry, std::move(observed));
  return WriteReadyStatus(object, *entry, std::move(status), hypervisor);
}

ReconcileResult HostReconciler::Removed(const std::string& name) {
  auto entry = ctx_.hosts->Get(name);
  if (!entry) return ReconcileResult::Done();
  auto& conn = *entry->connection();
  if (conn.IsAlive() || conn.Connect().ok()) {
    auto domains = conn.ListDomains();
    if (domains.ok()) {
      for (const auto& d : *domains) {
        if (!d.owned) continue;
        // Apply refuses to delete a host that live VMs are placed on, so what is left here
        // belongs to VMs deleted together with the host, or is a stray copy.
        auto vm = ctx_.store->Get(Kind::kVirtualMachine, d.name);
        if (!vm.ok()) return ReconcileResult::Error(vm.status());
        if (*vm && VmStatus::FromJson((*vm)->status).host == name) continue;
        Status s = conn.DestroyDomain(d.name);
        if (s.ok()) s = conn.UndefineDomain(d.name);
        if (!s.ok()) return ReconcileResult::Error(s);
        ctx_.events->Normal(Kind::kVirtualMachine, d.name, "Deleted",
                            "stopped and removed from " + name + " (host removed)");
      }
    }
  } else {
    log::Warning("host removed while unreachable; its domains were not cleaned up",
                 {{"host", name}});
  }
  ctx_.hosts->Remove(name);
  if (ctx_.health) ctx_.health->Remove(name);
  if (ctx_.signals) ctx_.signals->Remove(name);
  if (ctx_.metrics) ctx_.metrics->RemoveHost(name);
  ctx_.events->Normal(Kind::kHost, name, "HostRemoved", "connection closed");
  return ReconcileResult::Done();
}

HostEvidence HostReconciler::GatherEvidence(const std::string& name, const specs::HostSpec& spec,
                                            const HostHealthBook::Snapshot& health) {
  HostEvidence e;
  e.management = health.state;
  e.last_beat = health.last_outcome;
  e.fence_on_management_loss = spec.managementOutage == "Fence";
  const MonoTime now = ctx_.clock->Now();
  const MonoTime since = health.failing_since;
  for (const auto& vm : ctx_.book->VmsOn(name)) {
    if (!ctx_.vm_health || !ctx_.prober) break;
    auto loaded = ctx_.store->Get(Kind::kVirtualMachine, vm);
    if (!loaded.ok() || !*loaded) continue;
    auto vm_spec = specs::VirtualMachineSpecFromJson((*loaded)->spec);
    if (!vm_spec.ok() || !vm_spec->health || !vm_spec->running) continue;
    if (vm_spec->health->managementOutage == "Fence") {
      ++e.data.opted_out;
      continue;
    }
    if (ctx_.vm_health->Configure(vm, ProbeSettingsOf(*vm_spec->health))) {
      // Its probe loop had not started (a controller that restarted during the outage starts
      // it when the VM is seen Ready, which its host cannot say now): start it, now.
      ProbeQueueOf(ctx_).Add(ProbeKey(vm));
    }
    auto snapshot = ctx_.vm_health->Get(vm);
    if (!snapshot) continue;
    ++e.data.probed;
    if (snapshot->health == providers::ProbeHealth::kUnhealthy) {
      ++e.data.unhealthy;
    } else if (snapshot->last_success && *snapshot->last_success >= since) {
      ++e.data.answered;
    } else if (snapshot->last_result_at && *snapshot->last_result_at >= since &&
               !snapshot->last_passed) {
      // Failed since: its guest did not answer at some moment of the outage (a probe sent just
      // before the heartbeats went quiet and failing after counts: a killed host's guest is
      // found gone by the probe in flight, not a period later).
      ++e.data.failed;
    } else if (now >= std::max(since, snapshot->started_at.value_or(since)) +
                          snapshot->settings.period + snapshot->settings.timeout) {
      // Its probe was asked for when the heartbeats began to fail and had a period and a
      // timeout to say something: silence is all it has to say.
      ++e.data.failed;
    }
  }
  if (ctx_.signals) {
    const HostSignalBook::Snapshot signals = ctx_.signals->Get(name);
    e.alert_firing = signals.alert_firing;
    e.power = signals.power;
  }
  // The power device is asked only when nothing else can tell: the daemon refuses (or the
  // heartbeats gave up) and no guest has said anything either way yet.
  const DataPlane data = SummariseDataPlane(e.data);
  const bool looks_dead = health.last_outcome == HeartbeatOutcome::kRefused ||
                          health.state == HostHealthState::kNotReady;
  if (looks_dead && (data == DataPlane::kNone || data == DataPlane::kPending)) e.power = AskPower(name, spec);
  return e;
}

providers::PowerState HostReconciler::AskPower(const std::string& name,
                                               const specs::HostSpec& spec) {
  if (!spec.fencing || !ctx_.fencer || !ctx_.signals) return providers::PowerState::kUnknown;
  const MonoTime now = ctx_.clock->Now();
  const HostSignalBook::Snapshot known = ctx_.signals->Get(name);
  if (known.power_asked_at && now - *known.power_asked_at < kPowerRecheck) return known.power;
  providers::FenceRequest request{
      name, spec.fencing->agent, spec.fencing->args,
      std::min<std::chrono::seconds>(std::chrono::seconds(spec.fencing->timeoutSeconds),
                                     kPowerStatusTimeout)};
  auto power = ctx_.fencer->PowerStatus(request);
  providers::PowerState state = power.ok() ? *power : providers::PowerState::kUnknown;
  ctx_.signals->SetPower(name, state, now, power.ok() ? "" : power.status().message());
  return state;
}

ReconcileResult HostReconciler::Assess(const specs::Object& object, const specs::HostSpec& spec,
                                       HostEntry& entry, HostStatus status,
                                       const HostHealthBook::Snapshot& health,
                                       const CancelToken& cancel) {
  const std::string& name = object.metadata.name;
  if (!status.failover.phase.empty() && status.failover.phase != "Fencing") {
    // A failover past its fence goes on: resumed, not decided again.
    return LookAgainSoon(failover_.Handle(object, spec, entry, std::move(status), cancel));
  }
  const HostEvidence evidence = GatherEvidence(name, spec, health);
  const HostDecision decision = DecideHost(evidence);
  if (!status.failover.phase.empty()) {
    // Not fenced yet (the agent failed, or a slot was not free): decided again before each
    // attempt, so that guests that answer by now are not fenced after all.
    const bool guests_answer =
        decision.verdict == HostVerdict::kManagementUnreachable ||
        (decision.verdict == HostVerdict::kSuspect &&
         SummariseDataPlane(evidence.data) == DataPlane::kAnswers);
    if (!guests_answer) {
      return LookAgainSoon(failover_.Handle(object, spec, entry, std::move(status), cancel));
    }
    if (Status s = CancelFailover(name, &status, decision); !s.ok()) {
      return ReconcileResult::Error(s);
    }
  }
  status.signals = SignalsOf(name, evidence, decision);
  switch (decision.verdict) {
    case HostVerdict::kDead:
    case HostVerdict::kFailed:
      EndManagementUnreachable(name, &status, "the host is failed over: " + decision.why);
      return LookAgainSoon(
          failover_.Handle(object, spec, entry, std::move(status), cancel, decision.why));
    case HostVerdict::kManagementUnreachable:
      return HoldManagementUnreachable(object, entry, std::move(status), decision);
    case HostVerdict::kAwaitingDataPlane:
    case HostVerdict::kSuspect:
    case HostVerdict::kHealthy:
      break;
  }
  if (health.state != HostHealthState::kNotReady) {
    // One failed heartbeat (or a few within the threshold's span) is not a verdict: the next
    // beats, or the probes asked for, bring this host back here.
    return ReconcileResult::After(ctx_.health->options().interval);
  }
  MarkUnreachable(name, entry);
  specs::SetCondition(&status.conditions,
                      MakeCondition(*ctx_.clock, "Ready", false, decision.reason, decision.why));
  if (Status s = WriteHostStatus(*ctx_.store, name, status, false, ctx_.metrics); !s.ok()) {
    return ReconcileResult::Error(s);
  }
  return ReconcileResult::After(kAwaitingDataPlaneRecheck);
}

ReconcileResult HostReconciler::HoldManagementUnreachable(const specs::Object& object,
                                                          HostEntry& entry, HostStatus status,
                                                          const HostDecision& decision) {
  const std::string& name = object.metadata.name;
  const specs::Condition* before = specs::FindCondition(status.conditions, "ManagementUnreachable");
  const bool first = !before || before->status != "True";
  MarkUnreachable(name, entry);
  specs::SetCondition(&status.conditions, MakeCondition(*ctx_.clock, "Ready", false,
                                                        "ManagementUnreachable", decision.why));
  specs::SetCondition(&status.conditions, MakeCondition(*ctx_.clock, "ManagementUnreachable",
                                                        true, "GuestsAnswer", decision.why));
  if (first) {
    ctx_.events->Warning(Kind::kHost, name, "ManagementUnreachable",
                         decision.why + "; not fenced, its VMs stay where they run");
  }
  specs::Json previous = object.status;
  specs::Json next = status.ToJson();
  if (first || previous != next) {
    if (Status s = WriteHostStatus(*ctx_.store, name, status, false, ctx_.metrics); !s.ok()) {
      return ReconcileResult::Error(s);
    }
  }
  // Looked at again at every heartbeat interval, and at once when a probe of its VMs reports.
  return ReconcileResult::After(ctx_.health->options().interval);
}

void HostReconciler::EndManagementUnreachable(const std::string& name, HostStatus* status,
                                              const std::string& why) {
  const specs::Condition* c = specs::FindCondition(status->conditions, "ManagementUnreachable");
  if (!c || c->status != "True") return;
  const bool answers = why.empty();
  specs::SetCondition(&status->conditions,
                      MakeCondition(*ctx_.clock, "ManagementUnreachable", false,
                                    answers ? "ManagementAnswers" : "FailedOver",
                                    answers ? "the management plane answers again" : why));
  if (answers) {
    ctx_.events->Normal(Kind::kHost, name, "ManagementReachable",
                        "the management plane answers again; its VMs never stopped");
  }
}

Status HostReconciler::CancelFailover(const std::string& name, HostStatus* status,
                                      const HostDecision& decision) {
  // The incidents opened with the failover close: the guests answer, so the VMs were not
  // down for their users (the time since the last good heartbeat is still counted down in
  // their availability: an incident cannot be withdrawn, only closed).
  if (ctx_.incidents) {
    for (const auto& vm : ctx_.book->VmsOn(name)) {
      (void)ctx_.incidents->AddAction(Kind::kVirtualMachine, vm,
                                      "failover cancelled: the guest answers", /*sync=*/false);
      VMK_RETURN_IF_ERROR(ctx_.incidents->Resolve(Kind::kVirtualMachine, vm).status());
    }
    VMK_RETURN_IF_ERROR(ctx_.incidents->Resolve(Kind::kHost, name).status());
  }
  status->failover = {};
  specs::SetCondition(&status->conditions,
                      MakeCondition(*ctx_.clock, "Fenced", false, "FailoverCancelled",
                                    "not fenced: " + decision.why));
  ctx_.events->Warning(Kind::kHost, name, "FailoverCancelled",
                       "not fenced after all: " + decision.why);
  return WriteHostStatus(*ctx_.store, name, *status, /*sync=*/true, ctx_.metrics);
}

void HostReconciler::NoteVmsHeldUp(const std::string& name, HostStatus* status) {
  // The VMs that wait for this host to be listed say so in their Scheduled condition
  // (VmReconciler::Schedule: "waiting for host(s) A, B to be listed: ..."); the host says which.
  auto vms = ctx_.store->List(Kind::kVirtualMachine);
  if (!vms.ok()) return;
  std::vector<std::string> held;
  const std::string prefix = "waiting for host(s) ";
  for (const auto& vm : *vms) {
    const VmStatus vm_status = VmStatus::FromJson(vm.status);
    const Condition* c = specs::FindCondition(vm_status.conditions, "Scheduled");
    if (!c || c->status != "False" || c->reason != "WaitingForHost") continue;
    if (c->message.rfind(prefix, 0) != 0) continue;
    const std::string hosts = c->message.substr(prefix.size(), c->message.find(" to be listed") -
                                                                   prefix.size());
    const std::string padded = ", " + hosts + ",";
    if (padded.find(", " + name + ",") != std::string::npos) held.push_back(vm.metadata.name);
  }
  const Condition* before = specs::FindCondition(status->conditions, "HoldingUpVms");
  if (held.empty()) {
    if (before && before->status == "True") {
      specs::SetCondition(&status->conditions,
                          MakeCondition(*ctx_.clock, "HoldingUpVms", false, "NoneWaiting",
                                        "no VM waits for this host"));
    }
    return;
  }
  std::string names;
  for (size_t i = 0; i < held.size() && i < 20; ++i) names += (i ? ", " : "") + held[i];
  if (held.size() > 20) names += ", ... (" + std::to_string(held.size()) + " in all)";
  specs::SetCondition(&status->conditions,
                      MakeCondition(*ctx_.clock, "HoldingUpVms", true, "NeverListed",
                                    std::to_string(held.size()) +
                                        " VM(s) placed here before wait for it to be listed (it "
                                        "may still run them): " + names));
}

void HostReconciler::MarkUnreachable(const std::string& name, HostEntry& entry) {
  if (entry.SetUnreachable()) {
    for (const auto& vm : ctx_.book->VmsOn(name)) ctx_.queue->Add(VmKey(vm));
  }
  if (ctx_.metrics) ctx_.metrics->SetHostUp(name, false);
}

HostSignals HostReconciler::SignalsOf(const std::string& name, const HostEvidence& e,
                                      const HostDecision& decision) {
  HostSignals s;
  s.management = providers::HeartbeatOutcomeName(e.last_beat);
  std::replace(s.management.begin(), s.management.end(), ' ', '-');  // one word per column
  if (e.data.probed == 0) {
    s.dataPlane = "no-probes";
  } else {
    s.dataPlane = std::to_string(e.data.answered) + "/" + std::to_string(e.data.probed) + "-answer";
    if (e.data.unhealthy > 0) s.dataPlane += "," + std::to_string(e.data.unhealthy) + "-unhealthy";
  }
  s.power = providers::PowerStateName(e.power);
  if (e.alert_firing && ctx_.signals) s.alert = ctx_.signals->Get(name).alert_name;
  s.verdict = HostVerdictName(decision.verdict);
  s.why = decision.why;
  return s;
}

HostReconciler::Observation HostReconciler::Observe(providers::Hypervisor& conn) {
  Observation o;
  o.failure = conn.IsAlive() ? Status::Ok() : conn.Connect();
  if (!o.failure.ok()) return o;
  auto domains = conn.ListDomains();
  if (!domains.ok()) {
    o.failure = domains.status();
    return o;
  }
  o.domains = std::move(*domains);
  auto info = conn.GetHostInfo();
  if (!info.ok()) {
    o.failure = info.status();
    return o;
  }
  o.info = std::move(*info);
  return o;
}

ReconcileResult HostReconciler::Unreachable(const specs::Object& object,
                                            const specs::HostSpec& spec, HostEntry& entry,
                                            HostStatus status, const Status& failure) {
  const std::string& name = object.metadata.name;
  // Not a heartbeat: the heartbeats alone judge the management plane (one channel, one
  // verdict). Ask for one now rather than at its phase.
  ctx_.queue->Add(HeartbeatKey(name));
  const bool first = !entry.view().sync_attempted;
  const bool was_reachable = entry.SetUnreachable();
  if (ctx_.metrics) ctx_.metrics->SetHostUp(name, false);
  if (was_reachable || first) {
    ctx_.events->Warning(Kind::kHost, name, "HostUnreachable",
                         "cannot reach " + spec.uri + ": " + failure.message());
  }
  if (was_reachable) {
    for (const auto& vm : ctx_.book->VmsOn(name)) ctx_.queue->Add(VmKey(vm));
  }
  specs::SetCondition(&status.conditions,
                      MakeCondition(*ctx_.clock, "Ready", false, "Unreachable", failure.message()));
  if (Status s = WriteHostStatus(*ctx_.store, name, status, false, ctx_.metrics); !s.ok()) {
    return ReconcileResult::Error(s);
  }
  return ReconcileResult::Error(failure);
}

Status HostReconciler::Recovered(const std::string& name, providers::Hypervisor& conn,
                                 std::vector<providers::DomainInfo>* domains, HostEntry& entry,
                                 HostStatus* status) {
  // Back after a failure: first remove the copies of VMs that now run elsewhere, then use it.
  VMK_ASSIGN_OR_RETURN(std::vector<std::string> removed, RemoveStaleCopies(name, conn, *domains));
  std::erase_if(*domains, [&](const providers::DomainInfo& d) {
    return std::find(removed.begin(), removed.end(), d.name) != removed.end();
  });
  ctx_.events->Normal(Kind::kHost, name, "HostRecovered",
                      "answers again; removed " + std::to_string(removed.size()) + " stale cop" +
                          (removed.size() == 1 ? "y" : "ies") + " of VMs that failed over");
  // The incident closes before the failover record does: a controller killed in between finds
  // the record and closes it again (both are idempotent), never an orphan incident.
  if (ctx_.incidents) VMK_RETURN_IF_ERROR(ctx_.incidents->Resolve(Kind::kHost, name).status());
  status->failover = {};
  specs::SetCondition(&status->conditions, MakeCondition(*ctx_.clock, "Fenced", false, "Recovered",
                                                         "host is back and clean"));
  VMK_RETURN_IF_ERROR(WriteHostStatus(*ctx_.store, name, *status, /*sync=*/true, ctx_.metrics));
  entry.SetFenced(false);
  return Status::Ok();
}

void HostReconciler::TakeListing(const std::string& name, const specs::HostSpec& spec,
                                 HostEntry& entry, Observation observation) {
  const bool was_reachable = entry.view().reachable;
  std::vector<std::string> to_check;
  for (const auto& d : observation.domains) {
    if (!d.owned) continue;
    auto placement = ctx_.book->Get(d.name);
    if (!placement || placement->host != name) to_check.push_back(d.name);
  }
  const providers::HostInfo& info = observation.info;
  entry.SetListing(std::move(observation.domains), info, observation.since);
  if (ctx_.metrics) ctx_.metrics->SetHostUp(name, true);
  if (!was_reachable) {
    ctx_.events->Normal(Kind::kHost, name, "HostReady",
                        "connected to " + spec.uri + " (" + info.hypervisor + ", " +
                            std::to_string(info.cpus) + " CPUs, " + std::to_string(info.memoryMiB) +
                            " MiB)");
    for (const auto& vm : ctx_.book->VmsOn(name)) ctx_.queue->Add(VmKey(vm));
  }
  for (const auto& vm : to_check) ctx_.queue->Add(VmKey(vm));
}

ReconcileResult HostReconciler::WriteReadyStatus(const specs::Object& object, HostEntry& entry,
                                                 HostStatus status, const std::string& hypervisor) {
  const std::string& name = object.metadata.name;
  const std::string now = FormatRfc3339(ctx_.clock->WallNow());
  specs::SetCondition(&status.conditions,
                      Condition{"Ready", "True", "Connected", "hypervisor answers", now});
  EndManagementUnreachable(name, &status, "");
  status.signals = {};
  if (const Condition* held = specs::FindCondition(status.conditions, "HoldingUpVms");
      held && held->status == "True") {
    specs::SetCondition(&status.conditions,
                        Condition{"HoldingUpVms", "False", "Listed",
                                  "listed: the VMs that waited for it are placed again", now});
  }
  status.capacity = entry.Capacity();
  status.allocated = ctx_.book->Allocated(name);
  status.vms = ctx_.book->CountOn(name);
  status.hypervisor = hypervisor;
  // lastSeen alone changes every pass: rewrite for it only once a minute, not 1,000 writes a pass.
  specs::Json before = object.status;
  WallTime last_seen;
  const bool fresh = ParseRfc3339(status.lastSeen, &last_seen) &&
                     ctx_.clock->WallNow() - last_seen < std::chrono::seconds(60);
  status.lastSeen = now;
  if (ctx_.metrics) {
    ctx_.metrics->SetHostReady(name, true);
    ctx_.metrics->SetHostFailoverBlocked(name, false);
  }
  specs::Json after = status.ToJson();
  if (before.is_object()) before.erase("lastSeen");
  specs::Json compared = after;
  compared.erase("lastSeen");
  if (fresh && before == compared) return ReconcileResult::Done();
  Status s = ctx_.store->PutStatus(Kind::kHost, name, after, false);
  if (!s.ok() && s.code() != StatusCode::kNotFound) return ReconcileResult::Error(s);
  return ReconcileResult::Done();
}

StatusOr<std::vector<std::string>> HostReconciler::RemoveStaleCopies(
    const std::string& host, providers::Hypervisor& conn,
    const std::vector<providers::DomainInfo>& domains) {
  std::vector<std::string> removed;
  for (const auto& d : domains) {
    if (!d.owned) continue;
    auto vm = ctx_.store->Get(Kind::kVirtualMachine, d.name);
    if (!vm.ok()) return vm.status();
    if (*vm && VmStatus::FromJson((*vm)->status).host == host) continue;
    Status s = conn.DestroyDomain(d.name);
    if (s.ok()) s = conn.UndefineDomain(d.name);
    if (!s.ok()) return s.WithContext("removing the stale copy of " + d.name + " from " + host);
    ctx_.events->Normal(Kind::kVirtualMachine, d.name, "StaleCopyRemoved",
                        "removed the copy left on " + host + " after it failed over");
    removed.push_back(d.name);
  }
  return removed;
}

}  // namespace vmk::reconciler
