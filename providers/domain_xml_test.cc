#include "providers/domain_xml.h"

#include <gtest/gtest.h>

namespace vmk::providers {
namespace {

DomainConfig SampleConfig() {
  DomainConfig c;
  c.name = "wms01";
  c.cpus = 2;
  c.memoryMiB = 4096;
  c.generation = 7;
  c.disks = {{"root", "/var/lib/vmkeeper/images/wms.qcow2", "vda"},
             {"data", "/var/lib/vmkeeper/images/wms-data.img", "vdb"}};
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
