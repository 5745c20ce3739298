// Domain XML: the translation between vmkeeper's DomainConfig and libvirt domain XML.
//
// GenerateDomainXml writes a complete definition marked in its <metadata> as owned by vmkeeper:
//   <vmk:owner xmlns:vmk="https://vmkeeper.dev/xmlns/owner/v1" vm="NAME" generation="N"
//              disks="root:vda,data:vdb"/>
// The disks attribute maps the VM spec's disk names to targets, so the names can be read back.
// When the config has network interfaces, interfaces="net0:user,net1:bridge" lists their names
// and types in spec order (libvirt has no place for an interface's name), and for the test
// driver, which drops <qemu:commandline>, hostfwd="net0=127.0.0.1:18080:80,..." keeps the port
// forwards of user-mode interfaces.
//
// The QEMU flavor boots a kernel directly when the config names one (<os><kernel>, <initrd>,
// <cmdline>), appends the serial console to a file when console_log_file is set, attaches bridge
// and network interfaces as <interface> elements, and user-mode interfaces with port forwards as
// QEMU command-line arguments (-netdev user,hostfwd=... / -device virtio-net-pci), because
// Debian's libvirt 9.0 has the passt backend that <portForward> needs disabled.
// ParseDomainXml reads the managed fields and the owner mark back from any domain XML (ours,
// libvirt's normalised dump of ours, or a foreign hand-written one, which parses as not owned).
// Reading is libxml2's (through XmlDocument, see xml_document.h: nothing outside the document is
// fetched, entities other than the predefined ones are refused, errors name the line); the owner
// mark and <qemu:commandline> are found by namespace URI, whatever prefix a document gives them.
// Writing is plain text with XmlEscape, in the exact layout the tests pin down.
//
// Pure functions over strings, no libvirt types: thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "providers/hypervisor/hypervisor.h"

namespace vmk::providers {

inline constexpr char kOwnerNamespace[] = "https://vmkeeper.dev/xmlns/owner/v1";
inline constexpr char kOwnerPrefix[] = "vmk";

// "test" for libvirt's test driver; "qemu" (software emulation, never kvm) for everything else.
enum class DomainXmlFlavor { kTest, kQemu };

// `uuid` (may be empty) is kept on redefinition: libvirt refuses a new UUID for an existing name.
std::string GenerateDomainXml(const DomainConfig& config, DomainXmlFlavor flavor,
                              const std::string& uuid = "");

struct OwnerMark {
  std::string vm;
  int64_t generation = 0;
  std::vector<std::pair<std::string, std::string>> disk_targets;  // (disk name, target)
  // From interfaces= (name and type, in order) and hostfwd= (port forwards by name).
  std::vector<InterfaceConfig> interfaces;
};

struct ParsedDomainXml {
  std::string uuid;
  bool owned = false;   // an owner mark in our namespace was found
  OwnerMark owner;      // meaningful when owned
  DomainConfig config;  // name, cpus, memory, disks; generation from the mark (0 if not owned)
};

// InvalidArgument for malformed XML or a document that is not a <domain>.
StatusOr<ParsedDomainXml> ParseDomainXml(const std::string& xml);

// Parses the element virDomainGetMetadata returns for our namespace: <owner vm=... .../>.
StatusOr<OwnerMark> ParseOwnerMark(const std::string& xml);

// Escapes &, <, >, ' and " for use in XML text and attribute values.
std::string XmlEscape(const std::string& text);

}  // namespace vmk::providers
