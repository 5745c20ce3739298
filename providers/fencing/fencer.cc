#include "providers/fencing/fencer.h"

namespace vmk::providers {

const char* PowerStateName(PowerState state) {
  switch (state) {
    case PowerState::kUnknown: return "unknown";
    case PowerState::kOn: return "on";
    case PowerState::kOff: return "off";
  }
  return "unknown";
}

StatusOr<PowerState> Fencer::PowerStatus(const FenceRequest& request) {
  return Status::FailedPrecondition("this fencer cannot ask the power state of " + request.host);
}

}  // namespace vmk::providers
