// Diagnostic: one problem found in a manifest, with where it is and which field it concerns.
//
// Rendered as "file:line:col: field.path: message", e.g.
//   "fleet/vms.yaml:12:10: spec.cpus: must be at least 1".
// Plain data, thread-compatible.
#pragma once

#include <string>
#include <vector>

#include "specs/types.h"

namespace vmk::specs {

struct Diagnostic {
  SourceLocation location;
  std::string path;  // field path ("spec.placement.requiredHosts[0]"); empty for the whole file
  std::string message;

  // "file:line:col: path: message"; the path part is left out when empty.
  std::string ToString() const;
  bool operator==(const Diagnostic& other) const;
};

// ToString() of each, in order.
std::vector<std::string> DiagnosticStrings(const std::vector<Diagnostic>& diagnostics);

// Orders diagnostics of one file by line and column, keeping the order of equal positions.
void SortByPosition(std::vector<Diagnostic>* diagnostics);

}  // namespace vmk::specs
