// The domain definition a VirtualMachine spec asks for: the translation from the spec's types to
// the hypervisor edge's DomainConfig. Pure function; thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "providers/hypervisor/hypervisor.h"
#include "reconciler/core/object_status.h"
#include "specs/types.h"

namespace vmk::reconciler {

// `disks` are the resolved disks (DiskResolver: the file each opens and its format), in the
// spec's order; a spec disk without one gets no source.
providers::DomainConfig DesiredDomainConfig(const std::string& name,
                                            const specs::VirtualMachineSpec& spec,
                                            int64_t generation,
                                            const std::vector<DiskRecord>& disks);

}  // namespace vmk::reconciler
