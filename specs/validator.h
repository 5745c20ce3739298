// Validator: the checks that need a whole set of objects rather than one document.
//
// Run after decoding, on everything an apply brings: the same object twice, two Hosts with one
// URI, and references that resolve nowhere (a VM's spec.snapshotPolicy, its
// spec.placement.requiredHosts[i] and preferredHosts[i]). A reference resolves when the set holds
// the object or the store already has it. Errors point at the precise field (Object's
// field_locations). Stateless; safe to call from any thread.
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
