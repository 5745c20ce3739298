// libFuzzer target: the domain XML reader (providers/hypervisor/libvirt/domain_xml.h) on
// arbitrary bytes, as it reads any domain defined on a host (ours, libvirt's dump of ours, or
// one written by hand) and the owner mark virDomainGetMetadata returns. A document that parses
// as ours is also written back (GenerateDomainXml, both flavors) and read again: what we write
// must always be readable and keep the name and generation, and writing what we read back from
// our own XML must give the same XML (a fixed point after one round).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>

#include "providers/hypervisor/libvirt/domain_xml.h"

namespace {

[[noreturn]] void Fail(const std::string& what, const std::string& xml) {
  std::cerr << "domain_xml_fuzzer: " << what << "\n" << xml << "\n";
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vmk::providers;
  const std::string xml(reinterpret_cast<const char*>(data), size);
  (void)ParseOwnerMark(xml);
  auto parsed = ParseDomainXml(xml);
  if (!parsed.ok() || !parsed->owned) return 0;
  // vmkeeper writes configs that come from a validated spec only. A port forward the reader could
  // not make sense of reads as port 0 (drift, by design) with the rule as its address, which no
  // spec has (ports 1..65535, an IPv4 address): such a config is not written back.
  for (const InterfaceConfig& itf : parsed->config.interfaces) {
    for (const PortForwardConfig& f : itf.port_forwards) {
      if (f.host_port < 1 || f.host_port > 65535 || f.guest_port < 1 || f.guest_port > 65535 ||
          f.host_address.find_first_not_of("0123456789.") != std::string::npos) {
        return 0;
      }
    }
  }
  for (DomainXmlFlavor flavor : {DomainXmlFlavor::kTest, DomainXmlFlavor::kQemu}) {
    // What we write must read back as ours with the same name and generation. A foreign or
    // edited document may hold what no config of ours has (an <interface type='direct'>, which
    // reads as drift), so the managed fields are compared from the second round on: writing
    // what we read back from our own XML must change nothing.
    const std::string written = GenerateDomainXml(parsed->config, flavor, parsed->uuid);
    auto again = ParseDomainXml(written);
    if (!again.ok()) Fail("our own XML does not parse: " + again.status().ToString(), written);
    if (!again->owned || again->config.name != parsed->config.name ||
        again->config.generation != parsed->config.generation) {
      Fail("name, owner mark or generation lost", written);
    }
    const std::string rewritten = GenerateDomainXml(again->config, flavor, again->uuid);
    auto third = ParseDomainXml(rewritten);
    if (!third.ok()) Fail("our own XML does not parse: " + third.status().ToString(), rewritten);
    if (!third->config.SameManagedConfig(again->config) || rewritten != written) {
      Fail("writing what we read back from our own XML changed it", written + "\n---\n" + rewritten);
    }
  }
  return 0;
}
