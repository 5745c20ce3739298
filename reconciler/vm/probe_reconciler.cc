#include "reconciler/vm/probe_reconciler.h"

#include <algorithm>

#include "reconciler/core/object_status.h"

namespace vmk::reconciler {

using specs::Kind;

namespace {
const char* ProbeTypeLabel(providers::ProbeSpec::Type type) {
  switch (type) {
    case providers::ProbeSpec::Type::kHttp: return "http";
    case providers::ProbeSpec::Type::kTcp: return "tcp";
    case providers::ProbeSpec::Type::kExec: return "exec";
  }
  return "unknown";
}
}  // namespace

ReconcileResult ProbeReconciler::Reconcile(const ReconcileRequest& request) {
  const std::string& name = request.name;
  if (!ctx_.vm_health || !ctx_.prober) return ReconcileResult::Done();
  auto loaded = ctx_.store->Get(Kind::kVirtualMachine, name);
  if (!loaded.ok()) return ReconcileResult::Error(loaded.status());
  if (!*loaded || (*loaded)->metadata.terminating()) {  // a VM being deleted is not probed
    ctx_.vm_health->Remove(name);
    return ReconcileResult::Done();
  }
  auto spec = specs::VirtualMachineSpecFromJson((*loaded)->spec);
  if (!spec.ok()) return ReconcileResult::Error(spec.status());
  if (!spec->health || !spec->running) {
    ctx_.vm_health->Remove(name);
    return ReconcileResult::Done();
  }
  const providers::ProbeSettings settings = ProbeSettingsOf(*spec->health);
  ctx_.vm_health->Configure(name, settings);
  const VmStatus status = VmStatus::FromJson((*loaded)->status);
  // "unknown": its host's management plane does not answer. The guest may well run: its probe
  // is then the evidence failure detection needs most (docs/failure-detection.md).
  if (status.state != "running" && status.state != "unknown") {
    return ReconcileResult::After(settings.period);  // nothing to probe while it does not run
  }
  if (!ctx_.vm_health->BeginProbeIfDue(name)) {
    auto snapshot = ctx_.vm_health->Get(name);
    Duration wait = snapshot && snapshot->next_probe ? *snapshot->next_probe - ctx_.clock->Now()
                                                     : settings.period;
    return ReconcileResult::After(std::max<Duration>(wait, std::chrono::milliseconds(10)));
  }
  ProbeNow(name, *spec->health);
  if (ctx_.health && !status.host.empty() &&
      ctx_.health->Get(status.host).state != HostHealthState::kReady) {
    // Its host's fate is being decided on evidence like this result: decide again now.
    ctx_.queue->Add(HostKey(status.host));
  }
  return ReconcileResult::After(settings.period);
}

void ProbeReconciler::ProbeNow(const std::string& name, const specs::HealthSpec& health) {
  const providers::ProbeSpec probe = ProbeSpecOf(health, name);
  const MonoTime start = ctx_.clock->Now();
  providers::ProbeResult result = ctx_.prober->Probe(probe);
  if (ctx_.metrics) {
    ctx_.metrics->ObserveProbe(name, ProbeTypeLabel(probe.type), result.healthy,
                               std::chrono::duration<double>(ctx_.clock->Now() - start).count());
  }
  providers::ProbeUpdate update = ctx_.vm_health->Record(name, result);
  if (!update.changed()) return;
  if (update.current == providers::ProbeHealth::kUnhealthy) {
    ctx_.events->Warning(Kind::kVirtualMachine, name, "Unhealthy",
                         "health probe failed " + std::to_string(health.failureThreshold) +
                             " times: " + result.message);
  } else if (update.current == providers::ProbeHealth::kHealthy &&
             update.previous == providers::ProbeHealth::kUnhealthy) {
    ctx_.events->Normal(Kind::kVirtualMachine, name, "Healthy", "health probe passes again");
  }
  ctx_.queue->Add(VmKey(name));
}

}  // namespace vmk::reconciler
