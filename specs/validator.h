// Validator: the checks that the field table cannot express, run after decoding on everything
// an apply brings.
//
// Across objects: the same object twice, two Hosts with one URI, and references that resolve
// nowhere (a VM's spec.snapshotPolicy, spec.disks[i].volume.pool, spec.placement.requiredHosts[i]
// and preferredHosts[i]; a StoragePool's spec.hosts[i]); a reference resolves when the set holds
// the object or the store already has it. Across the fields of one VM: a disk is an image or a
// volume (exactly one; no format or sizeGiB beside a volume; an empty volume needs a size, a
// baseFormat a baseImage), an interface's bridge/network only with its type, portForwards only
// on user interfaces, host ports unique within the VM, at most 8 user interfaces, a non-empty
// exec probe command. Errors point at the precise field (Object's field_locations), or at its
// closest written ancestor when the field is missing. Stateless; safe to call from any thread.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "specs/diagnostic.h"
#include "specs/types.h"

namespace vmk::specs {

// `exists_in_store(kind, name)` tells whether the store holds that object; it may be called
// several times per reference-bearing object.
std::vector<Diagnostic> ValidateObjectSet(
    const std::vector<Object>& objects,
    const std::function<bool(Kind, const std::string&)>& exists_in_store);

}  // namespace vmk::specs
