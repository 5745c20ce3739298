// Output formatting of the vmkeeper CLI: kubectl-like tables, YAML and JSON renderings of
// manifests, event lists and `describe` pages. Pure functions over manifest JSON (as served by
// the REST API), so they are tested without a server. Thread-safe.
#pragma once

#include <string>
#include <vector>

#include "reconciler/store.h"
#include "specs/types.h"

namespace vmk::cli {

// Left-aligned columns separated by three spaces; rows[0] is the header. Each line ends in '\n';
// trailing spaces are trimmed.
std::string FormatTable(const std::vector<std::vector<std::string>>& rows);

// `vmkeeper get` tables.
//   VirtualMachine: NAME HOST STATE READY RESTARTS (+ CPUS MEMORY GENERATION OBSERVED when wide)
//   Host:           NAME URI READY VMS CPUS MEMORY   (+ HYPERVISOR SCHEDULABLE when wide)
//   SnapshotPolicy: NAME INTERVAL KEEP BEFORE-CHANGE BEFORE-FAILOVER (+ GENERATION when wide)
// CPUS and MEMORY of hosts read "allocated/capacity". Missing values print as <none>.
std::string FormatObjectTable(specs::Kind kind, const std::vector<specs::Json>& objects,
                              bool wide);

// Block-style YAML. Strings that YAML would read as something else ("true", "8443",
// "2026-01-01T00:00:00Z") are quoted; multi-line strings use literal blocks.
std::string ToYaml(const specs::Json& json);
// Indented JSON followed by a newline.
std::string ToJsonText(const specs::Json& json);
// Wraps items as {"apiVersion":"vmkeeper/v1","kind":"List","items":[...]}.
specs::Json ListObject(const std::vector<specs::Json>& items);

// TIME TYPE REASON OBJECT MESSAGE (OBJECT left out when with_object is false).
std::string FormatEvents(const std::vector<reconciler::Event>& events, bool with_object);

// `vmkeeper describe`: name, kind, labels, generation, status (without conditions), spec,
// a conditions table and the recent events.
std::string Describe(const specs::Json& object, const std::vector<reconciler::Event>& events);

// Whether the object has reached what was asked of it: status.observedGeneration (when present)
// has caught up with metadata.generation and its Ready condition is True (or, for a VM that
// should not run, its state is shutoff).
bool IsObjectReady(const specs::Json& object);

// 4096 -> "4Gi", 1536 -> "1536Mi".
std::string FormatMemoryMiB(int64_t mib);
// 86400 -> "1d", 7200 -> "2h", 90 -> "90s".
std::string FormatSeconds(int64_t seconds);

}  // namespace vmk::cli
