#include "providers/hypervisor/libvirt/domain_xml.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>

namespace vmk::providers {
namespace {

DomainConfig SampleConfig() {
  DomainConfig c;
  c.name = "wms01";
  c.cpus = 2;
  c.memoryMiB = 4096;
  c.generation = 7;
  c.disks = {{"root", "/var/lib/vmkeeper/images/wms.qcow2", "vda", ImageFormat::kQcow2},
             {"data", "/var/lib/vmkeeper/images/wms-data.img", "vdb", ImageFormat::kRaw}};
  return c;
}

TEST(DomainXmlTest, RoundTripKeepsManagedFieldsAndMark) {
  for (DomainXmlFlavor flavor : {DomainXmlFlavor::kTest, DomainXmlFlavor::kQemu}) {
    DomainConfig c = SampleConfig();
    std::string xml = GenerateDomainXml(c, flavor, "3e3fce45-4f53-4fa7-bb32-11f34168b82b");
    auto parsed = ParseDomainXml(xml);
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    EXPECT_TRUE(parsed->owned);
    EXPECT_EQ(parsed->uuid, "3e3fce45-4f53-4fa7-bb32-11f34168b82b");
    EXPECT_EQ(parsed->owner.vm, "wms01");
    EXPECT_EQ(parsed->config.generation, 7);
    EXPECT_TRUE(parsed->config.SameManagedConfig(c));
    ASSERT_EQ(parsed->config.disks.size(), 2u);
    EXPECT_EQ(parsed->config.disks[1].name, "data");
  }
}

// The driver type is the config's format, whatever the file is called, and reads back as it.
TEST(DomainXmlTest, DiskFormatIsTheDeclaredOneNotTheFileName) {
  DomainConfig c = SampleConfig();
  c.disks = {{"root", "/images/root.img", "vda", ImageFormat::kQcow2},
             {"data", "/images/data.qcow2", "vdb", ImageFormat::kRaw}};
  std::string xml = GenerateDomainXml(c, DomainXmlFlavor::kQemu);
  EXPECT_NE(xml.find("<driver name='qemu' type='qcow2'/>\n      <source file='/images/root.img'/>"),
            std::string::npos)
      << xml;
  EXPECT_NE(xml.find("<driver name='qemu' type='raw'/>\n      <source file='/images/data.qcow2'/>"),
            std::string::npos)
      << xml;
  auto parsed = ParseDomainXml(xml);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->config.disks[0].format, ImageFormat::kQcow2);
  EXPECT_EQ(parsed->config.disks[1].format, ImageFormat::kRaw);
  // A changed format is a changed definition.
  DomainConfig other = c;
  other.disks[0].format = ImageFormat::kRaw;
  EXPECT_FALSE(other.SameManagedConfig(c));
}

TEST(DomainXmlTest, GeneratesTypeAndDiskDrivers) {
  DomainConfig c = SampleConfig();
  std::string test_xml = GenerateDomainXml(c, DomainXmlFlavor::kTest);
  std::string qemu_xml = GenerateDomainXml(c, DomainXmlFlavor::kQemu);
  EXPECT_NE(test_xml.find("<domain type='test'>"), std::string::npos);
  EXPECT_NE(qemu_xml.find("<domain type='qemu'>"), std::string::npos);
  EXPECT_EQ(qemu_xml.find("kvm"), std::string::npos);
  EXPECT_NE(qemu_xml.find("<serial type='pty'>"), std::string::npos);
  EXPECT_NE(qemu_xml.find("type='qcow2'"), std::string::npos);
  EXPECT_NE(qemu_xml.find("type='raw'"), std::string::npos);
  EXPECT_EQ(test_xml.find("<uuid>"), std::string::npos);
  EXPECT_NE(test_xml.find("disks=\"root:vda,data:vdb\""), std::string::npos);
}

TEST(DomainXmlTest, EmptyTargetsGetDefaults) {
  DomainConfig c = SampleConfig();
  for (auto& d : c.disks) d.target.clear();
  auto parsed = ParseDomainXml(GenerateDomainXml(c, DomainXmlFlavor::kTest));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->config.disks[0].target, "vda");
  EXPECT_EQ(parsed->config.disks[1].target, "vdb");
  EXPECT_EQ(parsed->config.disks[1].name, "data");
  EXPECT_EQ(DefaultDiskTarget(25), "vdz");
  EXPECT_EQ(DefaultDiskTarget(26), "vdaa");
}

TEST(DomainXmlTest, EscapesAwkwardNamesAndPaths) {
  DomainConfig c = SampleConfig();
  c.disks = {{"a:b,c%d", "/images/it's <odd> & \"quoted\".qcow2", "vda"}};
  auto parsed = ParseDomainXml(GenerateDomainXml(c, DomainXmlFlavor::kQemu));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ASSERT_EQ(parsed->config.disks.size(), 1u);
  EXPECT_EQ(parsed->config.disks[0].name, "a:b,c%d");
  EXPECT_EQ(parsed->config.disks[0].source, "/images/it's <odd> & \"quoted\".qcow2");
}

// A target read from an edited domain may hold the owner mark's separators; the mark written
// from it must still read back (the fuzzer found "vda,addr=0x10" made it unreadable).
TEST(DomainXmlTest, AwkwardDiskTargetsKeepTheMarkReadable) {
  for (DomainXmlFlavor flavor : {DomainXmlFlavor::kTest, DomainXmlFlavor::kQemu}) {
    DomainConfig c = SampleConfig();
    c.disks = {{"root", "/images/a.qcow2", "vd,addr=0x10:a%b", ImageFormat::kQcow2}};
    auto parsed = ParseDomainXml(GenerateDomainXml(c, flavor));
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    EXPECT_TRUE(parsed->owned);
    ASSERT_EQ(parsed->owner.disk_targets.size(), 1u);
    EXPECT_EQ(parsed->owner.disk_targets[0].first, "root");
    EXPECT_EQ(parsed->owner.disk_targets[0].second, "vd,addr=0x10:a%b");
  }
}

TEST(DomainXmlTest, ForeignHandWrittenXmlIsNotOwned) {
  const char* xml = R"(<?xml version="1.0"?>
<!-- written by an admin -->
<domain type='kvm'>
  <name>legacy-db</name>
  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>
  <metadata>
    <app:info xmlns:app="http://example.org/app/1.0" owner="dba"/>
    <owner>someone else</owner>
  </metadata>
  <memory unit='GiB'>2</memory>
  <vcpu placement='static'>4</vcpu>
  <devices>
    <disk type='file' device='cdrom'><source file='/iso/x.iso'/><target dev='hdc'/></disk>
    <disk type='block' device='disk'><source dev='/dev/sdb'/><target dev='vda' bus='virtio'/></disk>
  </devices>
</domain>)";
  auto parsed = ParseDomainXml(xml);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_FALSE(parsed->owned);
  EXPECT_EQ(parsed->config.name, "legacy-db");
  EXPECT_EQ(parsed->config.cpus, 4);
  EXPECT_EQ(parsed->config.memoryMiB, 2048);
  EXPECT_EQ(parsed->config.generation, 0);
  ASSERT_EQ(parsed->config.disks.size(), 1u);  // the cdrom is not a managed disk
  EXPECT_EQ(parsed->config.disks[0].source, "/dev/sdb");
  EXPECT_EQ(parsed->config.disks[0].name, "vda");
}

TEST(DomainXmlTest, MarkInAnotherNamespaceIsNotOurs) {
  const char* xml = R"(<domain type='test'><name>x</name>
    <metadata><vmk:owner xmlns:vmk="https://example.org/not-vmkeeper" vm="x" generation="3"/></metadata>
  </domain>)";
  auto parsed = ParseDomainXml(xml);
  ASSERT_TRUE(parsed.ok());
  EXPECT_FALSE(parsed->owned);
}

TEST(DomainXmlTest, MarkWithAnyPrefixIsOurs) {
  // libvirt may re-serialise the element with the prefix it was given; only the URI matters.
  const char* xml = R"(<domain type='test'><name>x</name>
    <metadata><other:owner xmlns:other="https://vmkeeper.dev/xmlns/owner/v1" vm="x" generation="3" disks=""/></metadata>
    <memory>1048576</memory><vcpu>1</vcpu>
  </domain>)";
  auto parsed = ParseDomainXml(xml);
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(parsed->owned);
  EXPECT_EQ(parsed->config.generation, 3);
  EXPECT_EQ(parsed->config.memoryMiB, 1024);  // default unit KiB
}

TEST(DomainXmlTest, ParsesLibvirtMetadataElement) {
  auto mark = ParseOwnerMark(R"(<owner vm="wms01" generation="12" disks="root:vda"/>)");
  ASSERT_TRUE(mark.ok());
  EXPECT_EQ(mark->generation, 12);
  ASSERT_EQ(mark->disk_targets.size(), 1u);
  EXPECT_EQ(mark->disk_targets[0].first, "root");
  EXPECT_FALSE(ParseOwnerMark(R"(<owner generation="x12"/>)").ok());
}

TEST(DomainXmlTest, RejectsMalformedXml) {
  for (const char* bad : {"", "<domain>", "<domain><name>x</nam></domain>", "<foo/>",
                          "<domain><name>x</name></domain><domain/>", "<domain a=b/>",
                          "<domain><name>&bogus;</name></domain>", "<domain><vcpu>two</vcpu><name>x</name></domain>"}) {
    auto parsed = ParseDomainXml(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
    if (!parsed.ok()) {
      EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument) << bad;
    }
  }
}

TEST(DomainXmlTest, DecodesEntitiesAndCdata) {
  auto parsed = ParseDomainXml(
      "<domain><name>a&amp;b&#x41;&#66;</name><devices><disk device='disk'>"
      "<source file='/x&apos;y'/><target dev='vda'/></disk></devices>"
      "<description><![CDATA[<not markup>]]></description></domain>");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->config.name, "a&bAB");
  EXPECT_EQ(parsed->config.disks[0].source, "/x'y");
}

TEST(DomainXmlTest, MalformedXmlErrorsNameTheLine) {
  auto parsed =
      ParseDomainXml("<domain type='test'>\n  <name>x</name>\n  <vcpu>1</cpu>\n</domain>");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(parsed.status().message().find("line 3"), std::string::npos)
      << parsed.status().message();
  auto mark = ParseOwnerMark("<owner vm='x'\n generation='1'>");
  ASSERT_FALSE(mark.ok());
  EXPECT_EQ(mark.status().code(), StatusCode::kInvalidArgument);
}

TEST(DomainXmlTest, EntitiesOtherThanThePredefinedAreRefused) {
  // An external entity would read a host file into the config; an internal one is refused too,
  // as the reader never expands entities.
  for (const char* xml :
       {"<!DOCTYPE domain [<!ENTITY xxe SYSTEM 'file:///etc/hostname'>]>\n"
        "<domain type='test'><name>&xxe;</name></domain>",
        "<!DOCTYPE domain [<!ENTITY img '/var/lib/images/x.img'>]>\n"
        "<domain type='test'><name>x</name><devices><disk device='disk'>"
        "<source file='&img;'/><target dev='vda'/></disk></devices></domain>"}) {
    auto parsed = ParseDomainXml(xml);
    ASSERT_FALSE(parsed.ok()) << xml;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument) << xml;
  }
  // A DOCTYPE as such is fine.
  auto parsed = ParseDomainXml("<!DOCTYPE domain>\n<domain type='test'><name>x</name></domain>");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->config.name, "x");
}

TEST(DomainXmlTest, CommentsAndCdataInsideManagedFields) {
  auto parsed = ParseDomainXml(
      "<domain type='kvm'><name>web<!-- the first -->01</name><os><kernel>/k</kernel>"
      "<cmdline><![CDATA[console=ttyS0 x=<y> & z]]></cmdline></os>"
      "<vcpu><?hint x?>2</vcpu></domain>");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->config.name, "web01");
  EXPECT_EQ(parsed->config.boot.cmdline, "console=ttyS0 x=<y> & z");
  EXPECT_EQ(parsed->config.cpus, 2);
}

TEST(DomainXmlTest, DomainInANamespaceIsNotADomain) {
  // As for libvirt: its domain elements are in no namespace.
  auto parsed = ParseDomainXml("<domain xmlns='urn:other'><name>x</name></domain>");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
}

// A tiny QEMU guest as the end-to-end tests run it: direct kernel boot, serial log, user-mode
// networking with port forwards, plus bridge and network interfaces and a second user-mode one.
DomainConfig GuestConfig() {
  DomainConfig c;
  c.name = "web01";
  c.cpus = 1;
  c.memoryMiB = 192;
  c.generation = 3;
  c.disks = {{"root", "/var/lib/vmkeeper/images/web01.qcow2", "vda", ImageFormat::kQcow2}};
  c.boot = {"/srv/guest/vmlinux", "/srv/guest/initramfs.cpio.gz",
            "console=ttyS0 quiet panic=-1 vmname=web01"};
  c.console_log_file = "/srv/guest/logs/web01.serial.log";
  InterfaceConfig user{"net0", InterfaceConfig::Type::kUser, "",
                       {{"127.0.0.1", 18080, 80}, {"127.0.0.1", 18022, 22}}};
  InterfaceConfig bridge{"lan", InterfaceConfig::Type::kBridge, "br0", {}};
  InterfaceConfig network{"mgmt", InterfaceConfig::Type::kNetwork, "default", {}};
  InterfaceConfig outbound{"out", InterfaceConfig::Type::kUser, "", {}};
  c.interfaces = {user, bridge, network, outbound};
  return c;
}

// What libvirt 9.0's QEMU driver (Debian 12) gave back from `virsh dumpxml --inactive` after
// defining GenerateDomainXml(GuestConfig(), kQemu): it adds <boot dev='hd'/> next to the kernel,
// a <console> for the file serial, MACs and PCI addresses, and keeps <qemu:commandline>.
const char kQemuDriverDump[] = R"xml(<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>web01</name>
  <uuid>888246cd-56fb-4538-a699-1700a81b236d</uuid>
  <metadata>
    <vmk:owner xmlns:vmk="https://vmkeeper.dev/xmlns/owner/v1" vm="web01" generation="3" disks="root:vda" interfaces="net0:user,lan:bridge,mgmt:network,out:user"/>
  </metadata>
  <memory unit='KiB'>196608</memory>
  <currentMemory unit='KiB'>196608</currentMemory>
  <vcpu placement='static'>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type>
    <kernel>/srv/guest/vmlinux</kernel>
    <initrd>/srv/guest/initramfs.cpio.gz</initrd>
    <cmdline>console=ttyS0 quiet panic=-1 vmname=web01</cmdline>
    <boot dev='hd'/>
  </os>
  <features>
    <acpi/>
  </features>
  <cpu mode='custom' match='exact' check='none'>
    <model fallback='forbid'>qemu64</model>
  </cpu>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/vmkeeper/images/web01.qcow2'/>
      <target dev='vda' bus='virtio'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0'/>
    </disk>
    <controller type='usb' index='0' model='piix3-uhci'>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x2'/>
    </controller>
    <controller type='pci' index='0' model='pci-root'/>
    <interface type='bridge'>
      <mac address='52:54:00:61:28:43'/>
      <source bridge='br0'/>
      <model type='virtio'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/>
    </interface>
    <interface type='network'>
      <mac address='52:54:00:1f:84:4d'/>
      <source network='default'/>
      <model type='virtio'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>
    </interface>
    <serial type='file'>
      <source path='/srv/guest/logs/web01.serial.log' append='on'/>
      <target type='isa-serial' port='0'>
        <model name='isa-serial'/>
      </target>
    </serial>
    <console type='file'>
      <source path='/srv/guest/logs/web01.serial.log' append='on'/>
      <target type='serial' port='0'/>
    </console>
    <input type='mouse' bus='ps2'/>
    <input type='keyboard' bus='ps2'/>
    <audio id='1' type='none'/>
    <memballoon model='virtio'>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/>
    </memballoon>
  </devices>
  <qemu:commandline>
    <qemu:arg value='-netdev'/>
    <qemu:arg value='user,id=hostfwd0,hostfwd=tcp:127.0.0.1:18080-:80,hostfwd=tcp:127.0.0.1:18022-:22'/>
    <qemu:arg value='-device'/>
    <qemu:arg value='virtio-net-pci,netdev=hostfwd0,addr=0x10'/>
    <qemu:arg value='-netdev'/>
    <qemu:arg value='user,id=hostfwd1'/>
    <qemu:arg value='-device'/>
    <qemu:arg value='virtio-net-pci,netdev=hostfwd1,addr=0x11'/>
  </qemu:commandline>
</domain>
)xml";

void Replace(std::string* text, const std::string& from, const std::string& to) {
  size_t at = text->find(from);
  ASSERT_NE(at, std::string::npos) << from;
  text->replace(at, from.size(), to);
}

TEST(DomainXmlTest, GuestConfigRoundTripsInBothFlavors) {
  for (DomainXmlFlavor flavor : {DomainXmlFlavor::kTest, DomainXmlFlavor::kQemu}) {
    DomainConfig c = GuestConfig();
    auto parsed = ParseDomainXml(GenerateDomainXml(c, flavor));
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    EXPECT_TRUE(parsed->config.SameManagedConfig(c));
    EXPECT_EQ(parsed->config.boot.kernel, "/srv/guest/vmlinux");
    EXPECT_EQ(parsed->config.boot.initrd, "/srv/guest/initramfs.cpio.gz");
    EXPECT_EQ(parsed->config.boot.cmdline, "console=ttyS0 quiet panic=-1 vmname=web01");
    EXPECT_EQ(parsed->config.console_log_file, "/srv/guest/logs/web01.serial.log");
    ASSERT_EQ(parsed->config.interfaces.size(), 4u);
    EXPECT_EQ(parsed->config.interfaces[0].name, "net0");
    ASSERT_EQ(parsed->config.interfaces[0].port_forwards.size(), 2u);
    EXPECT_EQ(parsed->config.interfaces[0].port_forwards[1].host_port, 18022);
    EXPECT_EQ(parsed->config.interfaces[0].port_forwards[1].guest_port, 22);
    EXPECT_EQ(parsed->config.interfaces[1].name, "lan");
    EXPECT_EQ(parsed->config.interfaces[1].source, "br0");
    EXPECT_EQ(parsed->config.interfaces[2].type, InterfaceConfig::Type::kNetwork);
    EXPECT_EQ(parsed->config.interfaces[3].name, "out");
    EXPECT_TRUE(parsed->config.interfaces[3].port_forwards.empty());
  }
}

TEST(DomainXmlTest, QemuGuestXmlIsWhatTheReferenceGuestsUse) {
  std::string xml = GenerateDomainXml(GuestConfig(), DomainXmlFlavor::kQemu);
  EXPECT_NE(
      xml.find("<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"),
      std::string::npos);
  EXPECT_NE(xml.find("<kernel>/srv/guest/vmlinux</kernel>"), std::string::npos);
  EXPECT_NE(xml.find("<initrd>/srv/guest/initramfs.cpio.gz</initrd>"), std::string::npos);
  EXPECT_NE(xml.find("<cmdline>console=ttyS0 quiet panic=-1 vmname=web01</cmdline>"),
            std::string::npos);
  EXPECT_EQ(xml.find("<boot dev='hd'/>"), std::string::npos);
  EXPECT_NE(xml.find("<serial type='file'>\n"
                     "      <source path='/srv/guest/logs/web01.serial.log' append='on'/>\n"
                     "      <target port='0'/>\n"),
            std::string::npos);
  EXPECT_EQ(xml.find("type='pty'"), std::string::npos);
  EXPECT_NE(xml.find("<interface type='bridge'>\n      <source bridge='br0'/>\n"
                     "      <model type='virtio'/>\n"),
            std::string::npos);
  EXPECT_NE(xml.find("<interface type='network'>\n      <source network='default'/>\n"),
            std::string::npos);
  EXPECT_NE(xml.find("<qemu:arg value='-netdev'/>\n    <qemu:arg value='user,id=hostfwd0,"
                     "hostfwd=tcp:127.0.0.1:18080-:80,hostfwd=tcp:127.0.0.1:18022-:22'/>\n"
                     "    <qemu:arg value='-device'/>\n"
                     "    <qemu:arg value='virtio-net-pci,netdev=hostfwd0,addr=0x10'/>\n"),
            std::string::npos);
  EXPECT_NE(xml.find("<qemu:arg value='user,id=hostfwd1'/>"), std::string::npos);
  EXPECT_NE(xml.find("<qemu:arg value='virtio-net-pci,netdev=hostfwd1,addr=0x11'/>"),
            std::string::npos);
  EXPECT_NE(xml.find("interfaces=\"net0:user,lan:bridge,mgmt:network,out:user\""),
            std::string::npos);
  // The QEMU flavor keeps the forwards only in the command line, so removing it is drift.
  EXPECT_EQ(xml.find("hostfwd=\"net0="), std::string::npos);

  // The test driver drops <qemu:commandline>: its flavor has none and keeps the forwards in the
  // owner mark instead.
  std::string test_xml = GenerateDomainXml(GuestConfig(), DomainXmlFlavor::kTest);
  EXPECT_EQ(test_xml.find("qemu:"), std::string::npos);
  EXPECT_NE(test_xml.find("hostfwd=\"net0=127.0.0.1:18080:80,net0=127.0.0.1:18022:22\""),
            std::string::npos);
  EXPECT_NE(test_xml.find("<kernel>/srv/guest/vmlinux</kernel>"), std::string::npos);

  // Without a kernel, a log file or interfaces the definition is today's: disk boot, a pty.
  DomainConfig plain = SampleConfig();
  std::string plain_xml = GenerateDomainXml(plain, DomainXmlFlavor::kQemu);
  EXPECT_NE(plain_xml.find("<domain type='qemu'>"), std::string::npos);
  EXPECT_NE(plain_xml.find("<boot dev='hd'/>"), std::string::npos);
  EXPECT_NE(plain_xml.find("<serial type='pty'>"), std::string::npos);
  EXPECT_EQ(plain_xml.find("interfaces="), std::string::npos);
}

TEST(DomainXmlTest, QemuDriverDumpParsesBackToTheSameConfig) {
  auto parsed = ParseDomainXml(kQemuDriverDump);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_TRUE(parsed->owned);
  EXPECT_EQ(parsed->config.generation, 3);
  EXPECT_TRUE(parsed->config.SameManagedConfig(GuestConfig()));
}

TEST(DomainXmlTest, EditsOfTheQemuDumpShowAsDrift) {
  struct Edit {
    const char* what;
    std::string from;
    std::string to;
  };
  const Edit edits[] = {
      {"kernel changed", "<kernel>/srv/guest/vmlinux<", "<kernel>/srv/guest/other<"},
      {"initrd removed", "<initrd>/srv/guest/initramfs.cpio.gz</initrd>", ""},
      {"cmdline changed", "vmname=web01</cmdline>", "vmname=web02</cmdline>"},
      {"serial to pty", "<serial type='file'>", "<serial type='pty'>"},
      {"bridge changed", "<source bridge='br0'/>", "<source bridge='br1'/>"},
      {"network removed", "<interface type='network'>", "<interface type='direct'>"},
      {"forward port changed", "18080-:80", "18081-:80"},
      {"forward address changed", "tcp:127.0.0.1:18022", "tcp:0.0.0.0:18022"},
      {"device removed", "<qemu:arg value='virtio-net-pci,netdev=hostfwd1,addr=0x11'/>", ""},
      {"command line removed", "<qemu:commandline>", "<qemu:unused>"},
  };
  for (const Edit& edit : edits) {
    std::string xml = kQemuDriverDump;
    if (edit.from == "<qemu:commandline>") {
      Replace(&xml, "</qemu:commandline>", "</qemu:unused>");
    }
    Replace(&xml, edit.from, edit.to);
    auto parsed = ParseDomainXml(xml);
    ASSERT_TRUE(parsed.ok()) << edit.what << ": " << parsed.status().ToString();
    EXPECT_FALSE(parsed->config.SameManagedConfig(GuestConfig())) << edit.what;
  }
}

TEST(DomainXmlTest, InterfacesOfForeignDomainsReadWithoutNames) {
  auto parsed = ParseDomainXml(
      "<domain type='kvm'><name>other</name><devices>"
      "<interface type='direct'><source dev='eth0' mode='bridge'/></interface>"
      "<interface type='bridge'><source bridge='virbr0'/></interface>"
      "<serial type='pty'><target port='0'/></serial>"
      "</devices></domain>");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_FALSE(parsed->owned);
  ASSERT_EQ(parsed->config.interfaces.size(), 2u);
  EXPECT_EQ(parsed->config.interfaces[0].name, "");
  EXPECT_EQ(parsed->config.interfaces[0].type, InterfaceConfig::Type::kUser);
  EXPECT_EQ(parsed->config.interfaces[0].source, "libvirt:direct");
  EXPECT_EQ(parsed->config.interfaces[1].type, InterfaceConfig::Type::kBridge);
  EXPECT_EQ(parsed->config.interfaces[1].source, "virbr0");
  EXPECT_EQ(parsed->config.console_log_file, "");
  EXPECT_EQ(parsed->config.boot.kernel, "");
}

TEST(DomainXmlTest, BadInterfaceEntriesInTheMarkAreErrors) {
  for (const char* mark : {"interfaces=\"net0:slirp\"", "interfaces=\"net0\"",
                           "interfaces=\"net0:user\" hostfwd=\"net1=127.0.0.1:1:2\"",
                           "interfaces=\"net0:user\" hostfwd=\"net0=127.0.0.1:x:2\""}) {
    std::string xml = std::string("<domain type='test'><name>a</name><metadata><vmk:owner "
                                   "xmlns:vmk='") +
                      kOwnerNamespace + "' vm='a' " + mark + "/></metadata></domain>";
    EXPECT_EQ(ParseDomainXml(xml).status().code(), StatusCode::kInvalidArgument) << mark;
  }
}

TEST(DomainConfigTest, SameManagedConfigIgnoresGenerationOnly) {
  DomainConfig a = SampleConfig();
  DomainConfig b = a;
  b.generation = 99;
  EXPECT_TRUE(a.SameManagedConfig(b));
  b.memoryMiB = 1;
  EXPECT_FALSE(a.SameManagedConfig(b));
  b = a;
  b.disks[0].source = "/other";
  EXPECT_FALSE(a.SameManagedConfig(b));
  b = a;
  b.disks.pop_back();
  EXPECT_FALSE(a.SameManagedConfig(b));
  b = a;
  b.cpus = 3;
  EXPECT_FALSE(a.SameManagedConfig(b));

  DomainConfig guest = GuestConfig();
  DomainConfig other = guest;
  other.generation = 99;
  EXPECT_TRUE(guest.SameManagedConfig(other));
  other.boot.cmdline += " debug";
  EXPECT_FALSE(guest.SameManagedConfig(other));
  other = guest;
  other.console_log_file.clear();
  EXPECT_FALSE(guest.SameManagedConfig(other));
  other = guest;
  other.interfaces[0].name = "net9";
  EXPECT_FALSE(guest.SameManagedConfig(other));
  other = guest;
  other.interfaces[0].port_forwards[0].guest_port = 8080;
  EXPECT_FALSE(guest.SameManagedConfig(other));
  other = guest;
  other.interfaces[2].type = InterfaceConfig::Type::kBridge;
  EXPECT_FALSE(guest.SameManagedConfig(other));
  other = guest;
  std::swap(other.interfaces[1], other.interfaces[2]);
  EXPECT_FALSE(guest.SameManagedConfig(other));
}

TEST(HypervisorNamesTest, StatesAndEvents) {
  EXPECT_STREQ(DomainStateName(DomainState::kShutoff), "shutoff");
  EXPECT_STREQ(DomainStateName(DomainState::kRunning), "running");
  EXPECT_TRUE(IsActive(DomainState::kPaused));
  EXPECT_FALSE(IsActive(DomainState::kCrashed));
  EXPECT_STREQ(DomainEventTypeName(DomainEventType::kStarted), "started");
}

}  // namespace
}  // namespace vmk::providers
