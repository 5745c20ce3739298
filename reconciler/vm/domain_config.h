// The domain definition a VirtualMachine spec asks for: the translation from the spec's types to
// the hypervisor edge's DomainConfig. Pure function; thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "providers/hypervisor/hypervisor.h"
#include "specs/types.h"

namespace vmk::reconciler {

providers::DomainConfig DesiredDomainConfig(const std::string& name,
                                            const specs::VirtualMachineSpec& spec,
                                            int64_t generation);

}  // namespace vmk::reconciler
