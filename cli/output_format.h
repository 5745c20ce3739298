// Output formatting of the vmkeeper CLI: kubectl-like tables, YAML and JSON renderings of
// manifests, event lists and `describe` pages. Pure functions over manifest JSON (as served by
// the REST API), so they are tested without a server. Thread-safe.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "reconciler/incidents/availability_report.h"
#include "reconciler/incidents/incident_tracker.h"
#include "reconciler/store/store.h"
#include "specs/types.h"

namespace vmk::cli {

// Left-aligned columns separated by three spaces; rows[0] is the header. Each line ends in '\n';
// trailing spaces are trimmed.
std::string FormatTable(const std::vector<std::vector<std::string>>& rows);

// `vmkeeper get` tables.
//   VirtualMachine: NAME HOST STATE READY RESTARTS (+ CPUS MEMORY GENERATION OBSERVED when wide);
//                   STATE reads Terminating while the VM is being deleted (its finalizer runs)
//   Host:           NAME URI READY VMS CPUS MEMORY   (+ HYPERVISOR SCHEDULABLE when wide)
//   SnapshotPolicy: NAME INTERVAL KEEP BEFORE-CHANGE BEFORE-FAILOVER (+ GENERATION when wide)
//   StoragePool:    NAME TYPE PATH HOST-SELECTOR HOSTS (+ GENERATION when wide); HOSTS reads
//                   <all> when the pool lists none
// CPUS and MEMORY of hosts read "allocated/capacity". Missing values print as <none>.
std::string FormatObjectTable(specs::Kind kind, const std::vector<specs::Json>& objects,
                              bool wide);

// A VM's snapshots (status.snapshots), oldest first: NAME TIME REASON HEALTHY GENERATION PHASE
// LAYERS (disk=frozen volume, ...); a failed one's message follows its phase.
std::string FormatSnapshots(const specs::Json& snapshots);

// Block-style YAML. Strings that YAML would read as something else ("true", "8443",
// "2026-01-01T00:00:00Z") are quoted; multi-line strings use literal blocks. Host manifests in
// `json` (alone, as List items or in an array) have their secret fencing options masked
// (specs::RedactManifestJson), as in ToJsonText and Describe.
std::string ToYaml(const specs::Json& json);
// Indented JSON followed by a newline.
std::string ToJsonText(const specs::Json& json);
// Wraps items as {"apiVersion":"vmkeeper/v1","kind":"List","items":[...]}.
specs::Json ListObject(const std::vector<specs::Json>& items);

// TIME TYPE REASON OBJECT MESSAGE (OBJECT left out when with_object is false).
std::string FormatEvents(const std::vector<reconciler::Event>& events, bool with_object);

// `vmkeeper incidents`: OBJECT TYPE OCCURRED DETECTED RECOVERED MTTR SOURCES, one row per
// incident. OBJECT is spelled as `--for` takes it (vm/wms01, host/hv01); RECOVERED and MTTR
// (recovered - occurred) read "-" while the incident is open, MTTR "?" when a time is unreadable.
std::string FormatIncidents(const std::vector<reconciler::Incident>& incidents);

// `vmkeeper availability`: one row per VM (availability, downtime, MTTR, MTBF, failures,
// unconfirmed reports, planned and unobserved time), then the total and any groups; a footnote
// when some of the window was not watched.
std::string FormatAvailability(const reconciler::AvailabilityReport& report);

// A duration for people: "0.4s", "4.2s" (tenths below a minute), "3m12s", "2h5m", "1d3h".
// Negative durations (clocks of different machines) print as "0.0s".
std::string FormatElapsed(std::chrono::milliseconds elapsed);

// `vmkeeper describe`: name, kind, labels, generation (and Terminating with the finalizers while
// the object is being deleted), status (without conditions), spec,
// a conditions table, the open incident and the recent events. `incidents` are the object's
// incidents; when null (a kind without incidents) the Incident section is left out, and when no
// incident in it is open the section reads "<none>".
std::string Describe(const specs::Json& object, const std::vector<reconciler::Event>& events,
                     const std::vector<reconciler::Incident>* incidents = nullptr);

// Whether the object has reached what was asked of it: status.observedGeneration (when present)
// has caught up with metadata.generation and its Ready condition is True (or, for a VM that
// should not run, its state is shutoff).
bool IsObjectReady(const specs::Json& object);

// 4096 -> "4Gi", 1536 -> "1536Mi".
std::string FormatMemoryMiB(int64_t mib);
// 86400 -> "1d", 7200 -> "2h", 90 -> "90s".
std::string FormatSeconds(int64_t seconds);

}  // namespace vmk::cli
