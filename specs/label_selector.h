// LabelSelector: kubectl's equality-based label selectors ("service=wms,tier!=test,gpu,!spare"):
// comma-separated requirements, all of which must hold. `key=value` and `key==value`: the label
// is there with that value; `key!=value`: it is not (absent counts); `key`: it is there;
// `!key`: it is not. Set-based ones (`in`, `notin`) are not supported: an error says so.
// Plain data, thread-compatible.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace vmk::specs {

class LabelSelector {
 public:
  // InvalidArgument naming the requirement and what is wrong with it. "" selects everything.
  static StatusOr<LabelSelector> Parse(const std::string& text);

  bool Matches(const std::map<std::string, std::string>& labels) const;
  bool empty() const { return requirements_.empty(); }

 private:
  struct Requirement {
    enum class Op { kEquals, kNotEquals, kExists, kNotExists };
    std::string key;
    Op op = Op::kExists;
    std::string value;
  };
  std::vector<Requirement> requirements_;
};

}  // namespace vmk::specs
