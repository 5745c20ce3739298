#include "specs/label_selector.h"

#include <cctype>

namespace vmk::specs {

namespace {

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

// Label keys and values as Kubernetes allows them: [A-Za-z0-9] at both ends, and -_. and (in a
// key, one) '/' between. Values may be empty.
bool ValidText(const std::string& s, bool key) {
  if (s.empty()) return !key;
  if (!std::isalnum(static_cast<unsigned char>(s.front())) ||
      !std::isalnum(static_cast<unsigned char>(s.back()))) {
    return false;
  }
  int slashes = 0;
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') continue;
    if (key && c == '/' && ++slashes == 1) continue;
    return false;
  }
  return true;
}

}  // namespace

StatusOr<LabelSelector> LabelSelector::Parse(const std::string& text) {
  LabelSelector selector;
  if (Trim(text).empty()) return selector;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    const std::string part = Trim(text.substr(start, comma - start));
    start = comma + 1;
    auto bad = [&](const std::string& why) {
      return Status::InvalidArgument("label selector \"" + text + "\": requirement \"" + part +
                                     "\" " + why);
    };
    if (part.empty()) return bad("is empty");
    if (part.find(" in ") != std::string::npos || part.find(" notin ") != std::string::npos ||
        part.find('(') != std::string::npos) {
      return bad("is set-based (in, notin): only =, ==, !=, key and !key are supported");
    }
    Requirement r;
    size_t op;
    if ((op = part.find("!=")) != std::string::npos) {
      r.op = Requirement::Op::kNotEquals;
      r.key = Trim(part.substr(0, op));
      r.value = Trim(part.substr(op + 2));
    } else if ((op = part.find("==")) != std::string::npos) {
      r.op = Requirement::Op::kEquals;
      r.key = Trim(part.substr(0, op));
      r.value = Trim(part.substr(op + 2));
    } else if ((op = part.find('=')) != std::string::npos) {
      r.op = Requirement::Op::kEquals;
      r.key = Trim(part.substr(0, op));
      r.value = Trim(part.substr(op + 1));
    } else if (part[0] == '!') {
      r.op = Requirement::Op::kNotExists;
      r.key = Trim(part.substr(1));
    } else {
      r.op = Requirement::Op::kExists;
      r.key = part;
    }
    if (!ValidText(r.key, true)) return bad("has an invalid label key \"" + r.key + "\"");
    if (!ValidText(r.value, false)) return bad("has an invalid label value \"" + r.value + "\"");
    selector.requirements_.push_back(std::move(r));
    if (comma == text.size()) break;
  }
  return selector;
}

bool LabelSelector::Matches(const std::map<std::string, std::string>& labels) const {
  for (const Requirement& r : requirements_) {
    auto it = labels.find(r.key);
    const bool has = it != labels.end();
    switch (r.op) {
      case Requirement::Op::kEquals:
        if (!has || it->second != r.value) return false;
        break;
      case Requirement::Op::kNotEquals:
        if (has && it->second == r.value) return false;
        break;
      case Requirement::Op::kExists:
        if (!has) return false;
        break;
      case Requirement::Op::kNotExists:
        if (has) return false;
        break;
    }
  }
  return true;
}

}  // namespace vmk::specs
