// End to end: /metrics of a real vmkeeperd holds exactly the families docs/metrics.md lists,
// each with its documented type, from start-up (before anything was applied).
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "tests/e2e/daemon_harness.h"

namespace vmk::e2e {
namespace {

// Family -> type, from the table of docs/metrics.md ("| `vmkeeper_x` | counter | ...").
std::map<std::string, std::string> DocumentedFamilies() {
  std::map<std::string, std::string> families;
  std::istringstream doc(ReadFile(SourceDir() + "/docs/metrics.md"));
  const std::regex row(R"(^\| `(vmkeeper_[a-z_]+)` \| (counter|gauge|histogram) \|)");
  std::smatch m;
  for (std::string line; std::getline(doc, line);) {
    if (std::regex_search(line, m, row)) families[m[1]] = m[2];
  }
  return families;
}

// Family -> type, from the "# TYPE name type" lines of an exposition.
std::map<std::string, std::string> ExposedFamilies(const std::string& text) {
  std::map<std::string, std::string> families;
  std::istringstream lines(text);
  const std::regex type_line(R"(^# TYPE (vmkeeper_[a-z_]+) ([a-z]+)$)");
  std::smatch m;
  for (std::string line; std::getline(lines, line);) {
    if (std::regex_search(line, m, type_line)) families[m[1]] = m[2];
  }
  return families;
}

TEST(MetricsE2eTest, EveryDocumentedFamilyIsExposedFromStartAndNothingElse) {
  ScratchDir scratch("metrics");
  Daemon daemon(scratch.path() / "state");
  // With a notifier, so that its families are there too (nothing listens: nothing is sent).
  ASSERT_TRUE(daemon.Start({"--notify-url", "http://127.0.0.1:" + std::to_string(FreePort()) + "/hook"}))
      << daemon.Log();
  const auto documented = DocumentedFamilies();
  ASSERT_GE(documented.size(), 10u) << "the table of docs/metrics.md was not found";
  HttpResult metrics = HttpRequest(std::stoi(daemon.server().substr(daemon.server().rfind(':') + 1)),
                                   "GET", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  const auto exposed = ExposedFamilies(metrics.body);
  for (const auto& [family, type] : documented) {
    auto it = exposed.find(family);
    if (it == exposed.end()) {
      ADD_FAILURE() << family << " is documented but not exposed";
    } else {
      EXPECT_EQ(it->second, type) << family;
    }
  }
  for (const auto& [family, type] : exposed) {
    EXPECT_TRUE(documented.count(family)) << family << " is exposed but not in docs/metrics.md";
  }
  // Children known in advance are there at 0.
  EXPECT_NE(metrics.body.find("vmkeeper_reconcile_total{kind=\"heartbeat\",result=\"error\"} 0"),
            std::string::npos);
  EXPECT_NE(metrics.body.find("vmkeeper_workqueue_depth{queue=\"probe\"} 0"), std::string::npos);
  EXPECT_NE(metrics.body.find("vmkeeper_notifications_total{result=\"dropped\"} 0"),
            std::string::npos);
  daemon.Kill();
}

}  // namespace
}  // namespace vmk::e2e
