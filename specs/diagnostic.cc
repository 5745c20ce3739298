#include "specs/diagnostic.h"

#include <algorithm>

namespace vmk::specs {

std::string Diagnostic::ToString() const {
  std::string out = location.ToString() + ": ";
  if (!path.empty()) out += path + ": ";
  out += message;
  return out;
}

bool Diagnostic::operator==(const Diagnostic& other) const {
  return location.file == other.location.file && location.line == other.location.line &&
         location.column == other.location.column && path == other.path &&
         message == other.message;
}

std::vector<std::string> DiagnosticStrings(const std::vector<Diagnostic>& diagnostics) {
  std::vector<std::string> out;
  out.reserve(diagnostics.size());
  for (const Diagnostic& d : diagnostics) out.push_back(d.ToString());
  return out;
}

void SortByPosition(std::vector<Diagnostic>* diagnostics) {
  std::stable_sort(diagnostics->begin(), diagnostics->end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     if (a.location.line != b.location.line) {
                       return a.location.line < b.location.line;
                     }
                     return a.location.column < b.location.column;
                   });
}

}  // namespace vmk::specs
