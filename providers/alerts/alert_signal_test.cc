// Alertmanager webhook parsing: the captured sample payloads (tests/data/alertmanager), label
// configuration, and every way a payload can be malformed.
#include "providers/alerts/alert_signal.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

namespace vmk::providers {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;

// The samples live in the source tree.
std::filesystem::path DataDir() {
  return std::filesystem::path(VMK_SOURCE_DIR) / "tests" / "data" / "alertmanager";
}

std::string ReadSample(const std::string& name) {
  std::ifstream in(DataDir() / name, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << (DataDir() / name);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Seconds since the epoch, worked out independently of the code under test.
WallTime At(int64_t epoch_seconds, int64_t nanos = 0) {
  return WallTime(std::chrono::duration_cast<WallTime::duration>(
      std::chrono::seconds(epoch_seconds) + std::chrono::nanoseconds(nanos)));
}
constexpr int64_t k20261127T130000Z = 1795784400;

// One firing alert naming hv01 through `instance`, as Alertmanager sends it.
Json FiringAlert() {
  return Json{
      {"status", "firing"},
      {"labels", {{"alertname", "HostDown"}, {"instance", "hv01:9100"}, {"severity", "page"}}},
      {"annotations", {{"summary", "host hv01 is down"}}},
      {"startsAt", "2026-11-27T13:00:00Z"},
      {"endsAt", "0001-01-01T00:00:00Z"},
      {"generatorURL", "http://prometheus:9090/graph"},
      {"fingerprint", "00000000000000aa"},
  };
}

std::string Payload(const Json& alerts) {
  return Json{{"receiver", "vmkeeper"}, {"status", "firing"}, {"alerts", alerts},
              {"version", "4"},         {"groupKey", "{}:{}"}, {"truncatedAlerts", 0}}
      .dump();
}

std::string PayloadOf(const Json& alert) { return Payload(Json::array({alert})); }

AlertParseResult ParseOk(const std::string& body, const AlertLabelNames& names = {}) {
  auto result = ParseAlertmanagerWebhook(body, names);
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  if (!result.ok()) return {};
  return *std::move(result);
}

// --- the captured samples -----------------------------------------------------------------------

TEST(AlertSignalSampleTest, FiringManualSample) {
  AlertParseResult r = ParseOk(ReadSample("sample_webhook_firing_manual.json"));
  ASSERT_EQ(r.signals.size(), 1u);
  EXPECT_TRUE(r.skipped.empty());
  const AlertSignal& s = r.signals[0];
  EXPECT_EQ(s.target, AlertSignal::Target::kHost);
  EXPECT_EQ(s.name, "hv01");
  EXPECT_TRUE(s.firing);
  EXPECT_EQ(s.starts_at, At(k20261127T130000Z));
  EXPECT_FALSE(s.ends_at.has_value());
  EXPECT_EQ(s.alert_name, "HostDown");
  EXPECT_EQ(s.fingerprint, "6490716d90c7da90");
  EXPECT_EQ(s.summary, "host hv01 is down");
}

TEST(AlertSignalSampleTest, ResolvedManualSampleSetsEndsAt) {
  AlertParseResult r = ParseOk(ReadSample("sample_webhook_resolved_manual.json"));
  ASSERT_EQ(r.signals.size(), 1u);
  const AlertSignal& s = r.signals[0];
  EXPECT_EQ(s.target, AlertSignal::Target::kHost);
  EXPECT_EQ(s.name, "hv01");
  EXPECT_FALSE(s.firing);
  EXPECT_EQ(s.starts_at, At(k20261127T130000Z));
  ASSERT_TRUE(s.ends_at.has_value());
  EXPECT_EQ(*s.ends_at, At(1795785774, 618'000'000));  // 2026-11-27T13:22:54.618Z
  EXPECT_EQ(s.fingerprint, "6490716d90c7da90");
}

TEST(AlertSignalSampleTest, FiringFromPrometheusSample) {
  AlertParseResult r = ParseOk(ReadSample("sample_webhook_firing_from_prometheus.json"));
  ASSERT_EQ(r.signals.size(), 1u);
  const AlertSignal& s = r.signals[0];
  EXPECT_EQ(s.target, AlertSignal::Target::kHost);
  EXPECT_EQ(s.name, "hv02");
  EXPECT_TRUE(s.firing);
  EXPECT_EQ(s.starts_at, At(1795785754, 346'000'000));  // 2026-11-27T13:22:34.346Z
  EXPECT_FALSE(s.ends_at.has_value());
  EXPECT_EQ(s.alert_name, "HostDown");
  EXPECT_EQ(s.fingerprint, "151c459844056f5f");
  EXPECT_EQ(s.summary, "host hv02 is down");
}

TEST(AlertSignalSampleTest, SeveralAlertsInOnePayload) {
  AlertParseResult r = ParseOk(ReadSample("webhook_several_alerts.json"));
  EXPECT_TRUE(r.skipped.empty());
  ASSERT_EQ(r.signals.size(), 3u);

  // Nanoseconds survive: Alertmanager sometimes sends them.
  EXPECT_EQ(r.signals[0].name, "hv01");
  EXPECT_EQ(r.signals[0].starts_at, At(k20261127T130000Z, 123'456'789));
  EXPECT_EQ(r.signals[0].fingerprint, "1a2b3c4d5e6f7081");

  // The configured host label wins over `instance`; the offset is honoured; no summary, so the
  // description.
  EXPECT_EQ(r.signals[1].target, AlertSignal::Target::kHost);
  EXPECT_EQ(r.signals[1].name, "hv02");
  EXPECT_EQ(r.signals[1].starts_at, At(1795784490));  // 15:01:30+02:00 = 13:01:30Z
  EXPECT_EQ(r.signals[1].summary, "hv02 stopped answering scrapes");

  // Empty annotations: the alert name stands in for the summary.
  EXPECT_EQ(r.signals[2].name, "hv04");
  EXPECT_FALSE(r.signals[2].firing);
  EXPECT_EQ(r.signals[2].starts_at, At(1795780800));
  ASSERT_TRUE(r.signals[2].ends_at.has_value());
  EXPECT_EQ(*r.signals[2].ends_at, At(1795782600, 500'000'000));
  EXPECT_EQ(r.signals[2].summary, "HostDown");
}

TEST(AlertSignalSampleTest, AlertNamingAVirtualMachine) {
  AlertParseResult r = ParseOk(ReadSample("webhook_vm_probe_failing.json"));
  EXPECT_TRUE(r.skipped.empty());
  ASSERT_EQ(r.signals.size(), 1u);
  const AlertSignal& s = r.signals[0];
  EXPECT_EQ(s.target, AlertSignal::Target::kVirtualMachine);
  EXPECT_EQ(s.name, "wms01");
  EXPECT_EQ(s.alert_name, "ServiceProbeFailing");
  EXPECT_EQ(s.summary, "wms01 health probe failing");
  EXPECT_EQ(s.starts_at, At(1795784700, 250'000'000));
  EXPECT_EQ(s.fingerprint, "9f8e7d6c5b4a3921");
}

TEST(AlertSignalSampleTest, AlertsNamingNothingKnownAreSkippedWithAReason) {
  AlertParseResult r = ParseOk(ReadSample("webhook_unrelated.json"));
  EXPECT_TRUE(r.signals.empty());
  ASSERT_EQ(r.skipped.size(), 2u);
  EXPECT_THAT(r.skipped[0], HasSubstr("alerts[0]"));
  EXPECT_THAT(r.skipped[0], HasSubstr("Watchdog"));
  EXPECT_THAT(r.skipped[0], HasSubstr("e2d1c0b9a8f7e6d5"));
  EXPECT_THAT(r.skipped[0], HasSubstr("names a host or VM"));
  // An IP address is not a vmkeeper name.
  EXPECT_THAT(r.skipped[1], HasSubstr("alerts[1]"));
  EXPECT_THAT(r.skipped[1], HasSubstr("\"10.0.0.7\""));
  EXPECT_THAT(r.skipped[1], HasSubstr("not a vmkeeper name"));
}

// --- targets and label configuration ------------------------------------------------------------

TEST(AlertSignalTargetTest, VmLabelWinsOverHostLabel) {
  Json alert = FiringAlert();
  alert["labels"]["vmkeeper_host"] = "hv01";
  alert["labels"]["vmkeeper_vm"] = "ce01";
  AlertParseResult r = ParseOk(PayloadOf(alert));
  ASSERT_EQ(r.signals.size(), 1u);
  EXPECT_EQ(r.signals[0].target, AlertSignal::Target::kVirtualMachine);
  EXPECT_EQ(r.signals[0].name, "ce01");
}

TEST(AlertSignalTargetTest, ConfiguredLabelNames) {
  AlertLabelNames names;
  names.host = "node";
  names.vm = "guest";
  Json vm_alert = FiringAlert();
  vm_alert["labels"]["guest"] = "bdii01";
  vm_alert["labels"]["vmkeeper_vm"] = "ignored";  // the default name means nothing now
  Json host_alert = FiringAlert();
  host_alert["labels"]["node"] = "hv07";
  AlertParseResult r = ParseOk(Payload(Json::array({vm_alert, host_alert})), names);
  ASSERT_EQ(r.signals.size(), 2u);
  EXPECT_EQ(r.signals[0].target, AlertSignal::Target::kVirtualMachine);
  EXPECT_EQ(r.signals[0].name, "bdii01");
  EXPECT_EQ(r.signals[1].target, AlertSignal::Target::kHost);
  EXPECT_EQ(r.signals[1].name, "hv07");
}

TEST(AlertSignalTargetTest, InstanceFallbackCanBeTurnedOff) {
  AlertLabelNames names;
  names.host_from_instance = false;
  AlertParseResult r = ParseOk(ReadSample("sample_webhook_firing_manual.json"), names);
  EXPECT_TRUE(r.signals.empty());
  ASSERT_EQ(r.skipped.size(), 1u);
  EXPECT_THAT(r.skipped[0], HasSubstr("vmkeeper_host"));
  EXPECT_THAT(r.skipped[0], Not(HasSubstr("instance")));
}

TEST(AlertSignalTargetTest, InstanceWithoutPortNamesTheHost) {
  Json alert = FiringAlert();
  alert["labels"]["instance"] = "hv05";
  AlertParseResult r = ParseOk(PayloadOf(alert));
  ASSERT_EQ(r.signals.size(), 1u);
  EXPECT_EQ(r.signals[0].name, "hv05");
}

TEST(AlertSignalTargetTest, EmptyLabelValueCountsAsAbsent) {
  Json alert = FiringAlert();
  alert["labels"]["vmkeeper_vm"] = "";
  alert["labels"]["vmkeeper_host"] = "";
  AlertParseResult r = ParseOk(PayloadOf(alert));
  ASSERT_EQ(r.signals.size(), 1u);
  EXPECT_EQ(r.signals[0].target, AlertSignal::Target::kHost);
  EXPECT_EQ(r.signals[0].name, "hv01");  // from instance
}

TEST(AlertSignalTargetTest, InvalidNamesAreSkippedNotGuessed) {
  for (const char* bad : {"WMS01", "wms_01", "-wms", "wms-", "1wms", "wms01.example.org",
                          "hv01:abc"}) {
    Json alert = FiringAlert();
    alert["labels"]["vmkeeper_vm"] = bad;
    AlertParseResult r = ParseOk(PayloadOf(alert));
    EXPECT_TRUE(r.signals.empty()) << bad;
    ASSERT_EQ(r.skipped.size(), 1u) << bad;
    EXPECT_THAT(r.skipped[0], HasSubstr("\"vmkeeper_vm\"")) << bad;
    EXPECT_THAT(r.skipped[0], HasSubstr(std::string("\"") + bad + "\"")) << bad;
  }
  Json long_name = FiringAlert();
  long_name["labels"]["vmkeeper_host"] = std::string(64, 'a');
  EXPECT_EQ(ParseOk(PayloadOf(long_name)).skipped.size(), 1u);
  long_name["labels"]["vmkeeper_host"] = std::string(63, 'a');
  EXPECT_EQ(ParseOk(PayloadOf(long_name)).signals.size(), 1u);
}

// --- fields -------------------------------------------------------------------------------------

TEST(AlertSignalFieldTest, TimesWithFractionsAndOffsets) {
  struct Case {
    const char* text;
    WallTime want;
  };
  const Case cases[] = {
      {"2026-11-27T13:00:00Z", At(k20261127T130000Z)},
      {"2026-11-27T13:00:00.5Z", At(k20261127T130000Z, 500'000'000)},
      {"2026-11-27T13:00:00.123456789Z", At(k20261127T130000Z, 123'456'789)},
      {"2026-11-27T14:00:00+01:00", At(k20261127T130000Z)},
      {"2026-11-27T08:30:00.25-04:30", At(k20261127T130000Z, 250'000'000)},
      {"2026-11-27t13:00:00z", At(k20261127T130000Z)},
  };
  for (const Case& c : cases) {
    Json alert = FiringAlert();
    alert["startsAt"] = c.text;
    AlertParseResult r = ParseOk(PayloadOf(alert));
    ASSERT_EQ(r.signals.size(), 1u) << c.text;
    EXPECT_EQ(r.signals[0].starts_at, c.want) << c.text;
  }
}

TEST(AlertSignalFieldTest, FiringEndsAtIsNeverEvidenceOfRecovery) {
  Json alert = FiringAlert();
  alert["endsAt"] = "2026-11-27T13:04:00Z";  // Prometheus' forecast of expiry while firing
  AlertParseResult r = ParseOk(PayloadOf(alert));
  ASSERT_EQ(r.signals.size(), 1u);
  EXPECT_FALSE(r.signals[0].ends_at.has_value());

  alert.erase("endsAt");
  r = ParseOk(PayloadOf(alert));
  ASSERT_EQ(r.signals.size(), 1u);
  EXPECT_FALSE(r.signals[0].ends_at.has_value());
}

TEST(AlertSignalFieldTest, SummaryFallsBackToDescriptionThenAlertName) {
  Json alert = FiringAlert();
  alert["annotations"] = {{"description", "scrapes fail"}};
  EXPECT_EQ(ParseOk(PayloadOf(alert)).signals.at(0).summary, "scrapes fail");
  alert.erase("annotations");
  EXPECT_EQ(ParseOk(PayloadOf(alert)).signals.at(0).summary, "HostDown");
  alert["annotations"] = nullptr;
  EXPECT_EQ(ParseOk(PayloadOf(alert)).signals.at(0).summary, "HostDown");
}

TEST(AlertSignalFieldTest, MissingFingerprintIsAlertmanagersOwn) {
  // The label set and its fingerprint are prometheus/common's test vector
  // (model.TestMetricToFingerprint: 5799056148416392346 = 0x507a62d79ee76c9a). Such an alert
  // names no target, so its fingerprint is read from the skip reason.
  Json alert = FiringAlert();
  alert.erase("fingerprint");
  alert["labels"] = {{"name", "garland, briggs"}, {"fear", "love is not enough"}};
  AlertParseResult r = ParseOk(PayloadOf(alert));
  ASSERT_EQ(r.skipped.size(), 1u);
  EXPECT_THAT(r.skipped[0], HasSubstr("\"507a62d79ee76c9a\""));
}

TEST(AlertSignalFieldTest, ComputedFingerprintIsStableAndDependsOnLabels) {
  Json alert = FiringAlert();
  alert.erase("fingerprint");
  std::string first = ParseOk(PayloadOf(alert)).signals.at(0).fingerprint;
  EXPECT_EQ(first.size(), 16u);
  EXPECT_EQ(first.find_first_not_of("0123456789abcdef"), std::string::npos) << first;

  // Same labels written in another order: same fingerprint.
  std::string reordered = R"({"version":"4","alerts":[{"status":"firing",
      "labels":{"severity":"page","instance":"hv01:9100","alertname":"HostDown"},
      "startsAt":"2026-11-27T13:00:00Z","fingerprint":""}]})";
  EXPECT_EQ(ParseOk(reordered).signals.at(0).fingerprint, first);

  alert["labels"]["severity"] = "critical";
  EXPECT_NE(ParseOk(PayloadOf(alert)).signals.at(0).fingerprint, first);
}

TEST(AlertSignalFieldTest, EmptyAlertListIsValid) {
  AlertParseResult r = ParseOk(Payload(Json::array()));
  EXPECT_TRUE(r.signals.empty());
  EXPECT_TRUE(r.skipped.empty());
}

TEST(AlertSignalFieldTest, AtMostAThousandAlerts) {
  Json alerts = Json::array();
  for (std::size_t i = 0; i < kMaxAlertsPerWebhook; ++i) alerts.push_back(FiringAlert());
  EXPECT_EQ(ParseOk(Payload(alerts)).signals.size(), kMaxAlertsPerWebhook);

  alerts.push_back(FiringAlert());
  auto r = ParseAlertmanagerWebhook(Payload(alerts), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("at most 1000"));
  EXPECT_THAT(r.status().message(), HasSubstr("got 1001"));
}

// --- malformed payloads -------------------------------------------------------------------------

struct BadPayload {
  std::string name;
  std::string body;
  std::string message;  // a part of the error message naming the problem
};

std::string WithAlertField(const std::string& field, const Json& value) {
  Json alert = FiringAlert();
  alert[field] = value;
  return PayloadOf(alert);
}

std::string WithoutAlertField(const std::string& field) {
  Json alert = FiringAlert();
  alert.erase(field);
  return PayloadOf(alert);
}

std::string WithTopField(const std::string& field, const Json& value) {
  Json doc = Json::parse(PayloadOf(FiringAlert()));
  if (value.is_discarded()) {
    doc.erase(field);
  } else {
    doc[field] = value;
  }
  return doc.dump();
}

std::string Resolved(const Json& ends_at) {
  Json alert = FiringAlert();
  alert["status"] = "resolved";
  alert["endsAt"] = ends_at;
  return PayloadOf(alert);
}

TEST(AlertSignalMalformedTest, EachProblemIsInvalidArgumentNamingIt) {
  const Json kAbsent = Json(Json::value_t::discarded);
  Json labels_with_number = FiringAlert()["labels"];
  labels_with_number["severity"] = 3;
  Json second_bad = Json::array({FiringAlert(), FiringAlert()});
  second_bad[1]["startsAt"] = "soon";

  const BadPayload cases[] = {
      {"not JSON", "this is not json", "not valid JSON"},
      {"empty body", "", "not valid JSON"},
      {"truncated JSON", PayloadOf(FiringAlert()).substr(0, 40), "not valid JSON"},
      {"invalid UTF-8", "{\"version\":\"4\",\"alerts\":[],\"receiver\":\"\xff\"}", "not valid JSON"},
      {"array at top", "[]", "must be a JSON object"},
      {"version 3", WithTopField("version", "3"), "version: must be \"4\""},
      {"version as number", WithTopField("version", 4), "version: must be \"4\""},
      {"version absent", WithTopField("version", kAbsent), "version: is required"},
      {"alerts not array", WithTopField("alerts", Json{{"a", 1}}), "alerts: must be an array"},
      {"alerts absent", WithTopField("alerts", kAbsent), "alerts: is required"},
      {"alert not object", Payload(Json::array({"firing"})), "alerts[0]: must be an object"},
      {"status pending", WithAlertField("status", "pending"), "alerts[0].status"},
      {"status absent", WithoutAlertField("status"), "alerts[0].status"},
      {"labels absent", WithoutAlertField("labels"), "alerts[0].labels: is required"},
      {"labels array", WithAlertField("labels", Json::array()), "alerts[0].labels: must be an object"},
      {"label not string", WithAlertField("labels", labels_with_number),
       "alerts[0].labels.severity: must be a string"},
      {"annotations string", WithAlertField("annotations", "x"), "alerts[0].annotations"},
      {"startsAt absent", WithoutAlertField("startsAt"), "alerts[0].startsAt: is required"},
      {"startsAt number", WithAlertField("startsAt", 1795784400), "alerts[0].startsAt"},
      {"startsAt words", WithAlertField("startsAt", "yesterday"), "alerts[0].startsAt"},
      {"startsAt no zone", WithAlertField("startsAt", "2026-11-27T13:00:00"), "alerts[0].startsAt"},
      {"startsAt month 13", WithAlertField("startsAt", "2026-13-27T13:00:00Z"), "alerts[0].startsAt"},
      {"startsAt Feb 30", WithAlertField("startsAt", "2026-02-30T13:00:00Z"), "alerts[0].startsAt"},
      {"startsAt hour 24", WithAlertField("startsAt", "2026-11-27T24:00:00Z"), "alerts[0].startsAt"},
      {"startsAt short field", WithAlertField("startsAt", "2026-1-27T13:00:00Z"), "alerts[0].startsAt"},
      {"startsAt short offset", WithAlertField("startsAt", "2026-11-27T13:00:00+5:00"),
       "alerts[0].startsAt"},
      {"startsAt empty fraction", WithAlertField("startsAt", "2026-11-27T13:00:00.Z"),
       "alerts[0].startsAt"},
      {"startsAt trailing text", WithAlertField("startsAt", "2026-11-27T13:00:00Zjunk"),
       "alerts[0].startsAt"},
      {"endsAt bad", WithAlertField("endsAt", "never"), "alerts[0].endsAt"},
      {"resolved without endsAt", Resolved(nullptr), "alerts[0].endsAt: must be set"},
      {"resolved with zero endsAt", Resolved("0001-01-01T00:00:00Z"), "alerts[0].endsAt: must be set"},
      {"fingerprint number", WithAlertField("fingerprint", 42), "alerts[0].fingerprint"},
      {"second alert bad", Payload(second_bad), "alerts[1].startsAt"},
  };
  for (const BadPayload& c : cases) {
    auto r = ParseAlertmanagerWebhook(c.body, {});
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c.name;
    EXPECT_THAT(r.status().message(), HasSubstr(c.message)) << c.name;
  }
}

TEST(AlertSignalMalformedTest, OneBadAlertRejectsTheWholePayload) {
  // A notification is accepted or rejected whole, so a 4xx answer never hides a half-taken one.
  Json alerts = Json::array({FiringAlert(), FiringAlert()});
  alerts[1]["status"] = "unknown";
  EXPECT_FALSE(ParseAlertmanagerWebhook(Payload(alerts), {}).ok());
}

}  // namespace
}  // namespace vmk::providers
