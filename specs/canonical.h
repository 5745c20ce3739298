// Canonical form of objects: what diff shows and what decides metadata.generation.
//
// The canonical spec is the decoder's output (every default filled in, keys sorted), so two
// manifests that mean the same thing (other key order, defaults written out or left out) have
// equal specs. CanonicalYaml renders a whole object deterministically for unified diffs, and
// decodes back to the same object. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "specs/types.h"

namespace vmk::specs {

// YAML text with keys in a fixed order: apiVersion, kind, metadata (name, labels, generation),
// spec (keys sorted, recursively), then status (keys sorted) when include_status and non-empty.
// Labels are left out when empty, generation when 0. Ends with a newline.
std::string CanonicalYaml(const Object& object, bool include_status);

// Any JSON value as block YAML with sorted keys, by the same rules as CanonicalYaml (strings
// that would read back as something else are quoted). Ends with a newline.
std::string JsonToYaml(const Json& value);

// Equality of canonical specs. null and {} are equal (an object without a spec).
bool SpecEquals(const Json& a, const Json& b);

bool LabelsEqual(const Object& a, const Object& b);

// The generation `applied` gets when stored over `stored`: 1 when new, the stored generation
// when the spec is unchanged (labels do not count), the stored generation + 1 when it changed.
int64_t NextGeneration(const std::optional<Object>& stored, const Object& applied);

}  // namespace vmk::specs
