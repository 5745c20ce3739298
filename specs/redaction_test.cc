#include "specs/redaction.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "specs/canonical.h"

namespace vmk::specs {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

Object Host(const Json& args) {
  Object o;
  o.kind = Kind::kHost;
  o.metadata.name = "hv01";
  o.spec = {{"uri", "qemu+ssh://hv01/system"},
            {"fencing", {{"agent", "fence_ipmilan"}, {"timeoutSeconds", 60}, {"args", args}}}};
  return o;
}

TEST(RedactionTest, SecretValuesAreMaskedFilesAndOtherOptionsStay) {
  Object host = Host({{"ip", "10.0.0.11"}, {"password", "pw-1"}, {"API_TOKEN", "tok-1"},
                      {"passwordFile", "/etc/vmkeeper/hv01.pw"}});
  Object shown = RedactObject(host);
  const Json& args = shown.spec["fencing"]["args"];
  EXPECT_EQ(args["password"], "***");
  EXPECT_EQ(args["API_TOKEN"], "***");
  EXPECT_EQ(args["ip"], "10.0.0.11");
  EXPECT_EQ(args["passwordFile"], "/etc/vmkeeper/hv01.pw");
  EXPECT_EQ(shown.spec["uri"], "qemu+ssh://hv01/system");
  // The original keeps the real values (the store's copy), and masking is idempotent.
  EXPECT_EQ(host.spec["fencing"]["args"]["password"], "pw-1");
  EXPECT_EQ(RedactObject(shown).spec, shown.spec);
  EXPECT_THAT(CanonicalYaml(shown, true), Not(HasSubstr("pw-1")));
}

TEST(RedactionTest, OtherKindsAndHostsWithoutFencingAreUnchanged) {
  Object vm;
  vm.kind = Kind::kVirtualMachine;
  vm.spec = {{"cpus", 2}, {"password", "not-a-fencing-option"}};
  EXPECT_EQ(RedactObject(vm).spec, vm.spec);
  Object bare = Host(Json::object());
  bare.spec.erase("fencing");
  EXPECT_EQ(RedactObject(bare).spec, bare.spec);
}

TEST(RedactionTest, ManifestJsonObjectsListsAndArraysAreMasked) {
  Json host = ObjectToJson(Host({{"password", "pw-2"}, {"login", "admin"}}));
  Json vm = {{"kind", "VirtualMachine"}, {"spec", {{"cpus", 1}}}};
  EXPECT_EQ(RedactManifestJson(host)["spec"]["fencing"]["args"]["password"], "***");
  EXPECT_EQ(RedactManifestJson(host)["spec"]["fencing"]["args"]["login"], "admin");
  Json list = {{"kind", "List"}, {"items", {host, vm}}};
  EXPECT_THAT(RedactManifestJson(list).dump(), Not(HasSubstr("pw-2")));
  EXPECT_EQ(RedactManifestJson(list)["items"][1], vm);
  EXPECT_THAT(RedactManifestJson(Json::array({host})).dump(), Not(HasSubstr("pw-2")));
  EXPECT_EQ(RedactManifestJson(Json("text")), Json("text"));
}

TEST(RedactionTest, DiffShowsAChangedSecretWithoutEitherValue) {
  Object live = Host({{"password", "old-pw"}, {"api_token", "same-tok"}, {"ip", "10.0.0.1"}});
  Object applied = Host({{"password", "new-pw"}, {"api_token", "same-tok"}, {"ip", "10.0.0.2"},
                         {"secret", "added"}});
  RedactForDiff(&live, &applied);
  EXPECT_EQ(live.spec["fencing"]["args"]["password"], "***");
  EXPECT_EQ(applied.spec["fencing"]["args"]["password"], kRedactedChanged);
  EXPECT_EQ(applied.spec["fencing"]["args"]["api_token"], "***");  // unchanged: no diff line
  EXPECT_EQ(applied.spec["fencing"]["args"]["secret"], "***");     // added: shown as added
  EXPECT_EQ(applied.spec["fencing"]["args"]["ip"], "10.0.0.2");
  for (const Object* o : {&live, &applied}) {
    std::string text = CanonicalYaml(*o, false);
    for (const char* secret : {"old-pw", "new-pw", "same-tok", "added"}) {
      EXPECT_THAT(text, Not(HasSubstr(secret)));
    }
  }
  // Created and pruned objects: one side only.
  Object created = Host({{"password", "pw-3"}});
  RedactForDiff(nullptr, &created);
  EXPECT_EQ(created.spec["fencing"]["args"]["password"], "***");
  Object pruned = Host({{"password", "pw-4"}});
  RedactForDiff(&pruned, nullptr);
  EXPECT_EQ(pruned.spec["fencing"]["args"]["password"], "***");
}

TEST(RedactionTest, InlineSecretValuesAreTheSecretOptionsValues) {
  Object host = Host({{"password", "pw-5"}, {"community", "c-5"}, {"ip", "10.0.0.5"},
                      {"passwordFile", "/etc/pw"}});
  EXPECT_THAT(InlineSecretValues(host), UnorderedElementsAre("pw-5", "c-5"));
  Object vm;
  EXPECT_TRUE(InlineSecretValues(vm).empty());
  FencingSpec fencing;
  fencing.args = {{"Passwd", "pw-6"}, {"plug", "3"}, {"passwordFile", "/etc/pw"}};
  EXPECT_THAT(InlineSecretValues(fencing), UnorderedElementsAre("pw-6"));
}

}  // namespace
}  // namespace vmk::specs
