#include "providers/hypervisor/libvirt/domain_document_cache.h"

#include <gtest/gtest.h>

namespace vmk::providers {
namespace {

std::string Definition(const std::string& name, int64_t generation, int cpus) {
  DomainConfig c;
  c.name = name;
  c.cpus = cpus;
  c.memoryMiB = 256;
  c.generation = generation;
  c.disks.push_back({"root", "/img/" + name + ".qcow2", "vda"});
  return GenerateDomainXml(c, DomainXmlFlavor::kTest);
}

TEST(DomainDocumentCacheTest, ATextSeenBeforeGivesItsParseAndAChangedOneIsParsedAgain) {
  DomainDocumentCache cache;
  auto first = cache.Read("a", Definition("a", 1, 2));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->config.cpus, 2);
  auto again = cache.Read("a", Definition("a", 1, 2));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->config.cpus, 2);
  auto edited = cache.Read("a", Definition("a", 1, 4));  // edited behind our back
  ASSERT_TRUE(edited.ok());
  EXPECT_EQ(edited->config.cpus, 4);
  auto mark = cache.LiveMark("a", R"(<owner xmlns="https://vmkeeper.dev/xmlns/owner/v1" vm="a" generation="7"/>)");
  ASSERT_TRUE(mark.ok());
  EXPECT_EQ(mark->generation, 7);
  mark = cache.LiveMark("a", R"(<owner xmlns="https://vmkeeper.dev/xmlns/owner/v1" vm="a" generation="8"/>)");
  ASSERT_TRUE(mark.ok());
  EXPECT_EQ(mark->generation, 8);
}

TEST(DomainDocumentCacheTest, ErrorsAreNotKeptAndRetainForgetsTheRest) {
  DomainDocumentCache cache;
  EXPECT_FALSE(cache.Read("a", "<domain><broken").ok());
  EXPECT_EQ(cache.size(), 0u);
  ASSERT_TRUE(cache.Read("a", Definition("a", 1, 1)).ok());
  ASSERT_TRUE(cache.Read("b", Definition("b", 1, 1)).ok());
  cache.Retain({"b"});
  EXPECT_EQ(cache.size(), 1u);
  // A name's entry holds only its own documents: another domain's text is parsed as itself.
  auto b = cache.Read("b", Definition("c", 1, 1));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->config.name, "c");
}

}  // namespace
}  // namespace vmk::providers
