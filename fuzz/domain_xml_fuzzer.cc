// libFuzzer target: the domain XML reader (providers/hypervisor/libvirt/domain_xml.h) on
// arbitrary bytes, as it reads any domain defined on a host (ours, libvirt's dump of ours, or
// one written by hand) and the owner mark virDomainGetMetadata returns. A document that parses
// as ours is also written back (GenerateDomainXml, both flavors) and read again: what we write
// must always be readable, and must keep the name, the generation and every managed field.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>

#include "providers/hypervisor/libvirt/domain_xml.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vmk::providers;
  const std::string xml(reinterpret_cast<const char*>(data), size);
  (void)ParseOwnerMark(xml);
  auto parsed = ParseDomainXml(xml);
  if (!parsed.ok() || !parsed->owned) return 0;
  for (DomainXmlFlavor flavor : {DomainXmlFlavor::kTest, DomainXmlFlavor::kQemu}) {
    const std::string written = GenerateDomainXml(parsed->config, flavor, parsed->uuid);
    auto again = ParseDomainXml(written);
    if (!again.ok()) {
      std::cerr << "domain_xml_fuzzer: our own XML does not parse: " << again.status().ToString()
                << "\n" << written << "\n";
      std::abort();
    }
    if (!again->owned || again->config.name != parsed->config.name ||
        again->config.generation != parsed->config.generation ||
        !again->config.SameManagedConfig(parsed->config)) {
      std::cerr << "domain_xml_fuzzer: name, owner, generation or a managed field lost\n" << written << "\n";
      std::abort();
    }
  }
  return 0;
}
