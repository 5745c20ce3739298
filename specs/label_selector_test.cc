// Label selectors as kubectl reads them: every requirement must hold; bad ones are refused with
// the requirement named.
#include "specs/label_selector.h"

#include <gtest/gtest.h>

namespace vmk::specs {
namespace {

const std::map<std::string, std::string> kWms = {{"service", "wms"}, {"tier", "prod"}};
const std::map<std::string, std::string> kCe = {{"service", "ce"}};

bool Matches(const std::string& text, const std::map<std::string, std::string>& labels) {
  auto selector = LabelSelector::Parse(text);
  EXPECT_TRUE(selector.ok()) << text << ": " << selector.status().ToString();
  return selector.ok() && selector->Matches(labels);
}

TEST(LabelSelectorTest, EveryRequirementMustHold) {
  EXPECT_TRUE(Matches("", kWms));
  EXPECT_TRUE(Matches("service=wms", kWms));
  EXPECT_TRUE(Matches("service==wms, tier=prod", kWms));
  EXPECT_FALSE(Matches("service=wms,tier=test", kWms));
  EXPECT_FALSE(Matches("service=wms", kCe));
  EXPECT_TRUE(Matches("tier!=prod", kCe)) << "absent is not equal";
  EXPECT_FALSE(Matches("tier!=prod", kWms));
  EXPECT_TRUE(Matches("tier", kWms));
  EXPECT_FALSE(Matches("tier", kCe));
  EXPECT_TRUE(Matches("!tier", kCe));
  EXPECT_FALSE(Matches("!tier", kWms));
  EXPECT_TRUE(Matches("app.kubernetes.io/name=x", {{"app.kubernetes.io/name", "x"}}));
}

TEST(LabelSelectorTest, BadRequirementsAreNamed) {
  for (const char* bad : {"service=wms,,tier", "service in (wms,ce)", "=wms", "serv ice=wms",
                          "service=w ms", "-service=wms"}) {
    auto selector = LabelSelector::Parse(bad);
    ASSERT_FALSE(selector.ok()) << bad;
    EXPECT_EQ(selector.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(selector.status().message().find("label selector"), std::string::npos);
  }
  EXPECT_NE(LabelSelector::Parse("service in (wms)").status().message().find("set-based"),
            std::string::npos);
}

}  // namespace
}  // namespace vmk::specs
