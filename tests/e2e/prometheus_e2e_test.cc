// End to end: a real Prometheus (Debian's package) scrapes a real vmkeeperd on loopback every
// second while failures with known downtime happen on its embedded test:/// host, and what
// Prometheus computes agrees with the incidents and with `vmkeeper availability`.
//
//   - web01 fails its exec health probe (the test removes the file the probe looks for) and is
//     held down until Prometheus has seen the open incident (and, with the rules, VMDown
//     pending); then the file is put back: one confirmed VmUnhealthy incident whose
//     occurred/recovered bracket the test's own break/restore times;
//   - db01 is stopped by the admins (`running: false`, applied) and started again: planned,
//     never down, never a failure;
//   - a VMDown alert about web02, which runs, is posted to /api/v1/alerts: one unconfirmed
//     report, no downtime, no failure, no open incident.
// Prometheus's figures (increase() of the up/down counters, the availability ratio, the
// recovery histogram's _sum/_count) are checked against the incidents' recovered - occurred
// and against `vmkeeper availability -o json`, within one scrape interval.
//
// The shipped rules and dashboard (charts/vmkeeper/files/prometheus-rules.yaml and
// grafana-dashboard.json; VMK_CHART_FILES=DIR reads them from DIR) are used when they exist; the test prints which mode ran. With the
// rules: every rule evaluates without error, the recording rules for availability, MTTR and
// MTBF give the same figures, VMDown is pending during the failure (its `for:` is a minute),
// the burn-rate alerts fire for web01 and the fleet and no alert ever names web02 or db01.
// The long-window group's `interval: 1m` is shortened to the test's 1 s in the copy Prometheus
// loads (expressions unchanged), or the test would wait a minute for its first evaluation.
// With the dashboard: every panel's query, Grafana's variables substituted, runs without
// error and returns data (snapshot panels excepted: no VM here has snapshots). Every metric
// name the rules and the dashboard read is in vmkeeperd's /metrics.
//
// About 30-40 s. Prometheus's output is kept in the scratch dir and printed on failure.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cctype>
#include <cmath>
#include <ctime>
#include <iterator>
#include <iostream>
#include <map>
#include <optional>
#include <regex>
#include <set>

#include "tests/e2e/daemon_harness.h"

namespace vmk::e2e {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using WallClock = std::chrono::system_clock;

constexpr char kPrometheusBinary[] = "/usr/bin/prometheus";
// Where the shipped rules and dashboard are read from; VMK_CHART_FILES overrides it (to try
// another branch's files without copying them into this tree).
fs::path ChartFiles() {
  const char* dir = std::getenv("VMK_CHART_FILES");
  return dir && *dir ? fs::path(dir) : fs::path(VMK_SOURCE_DIR) / "charts/vmkeeper/files";
}

// Families whose children do not appear with their host (docs/metrics.md: per-object children
// appear with the object) but with the first event; the dashboard's panel on them is empty and
// increase() misses that first event. Known gap, reported; remove the entry when it is fixed.
// Families allowed to have no child in this test (none: every per-object family has its children
// from the object's first status, at 0).
const std::map<std::string, std::string> kKnownChildless = {};

std::string UrlEncode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

double Seconds(WallClock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

// RFC 3339 with fractional seconds and a Z, as vmkeeper writes them, to Unix seconds.
std::optional<double> ParseTime(const std::string& text) {
  std::tm tm{};
  const char* rest = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest) return std::nullopt;
  double fraction = 0;
  if (*rest == '.') {
    char* end = nullptr;
    fraction = std::strtod(rest, &end);
    rest = end;
  }
  if (*rest != 'Z') return std::nullopt;
  return static_cast<double>(timegm(&tm)) + fraction;
}

std::string Now3339() {
  auto now = WallClock::now();
  std::time_t t = WallClock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  int ms = static_cast<int>(
      std::chrono::duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000);
  char out[80];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, ms);
  return out;
}

struct Sample {
  std::map<std::string, std::string> labels;
  double value = 0;
};

std::string Describe(const std::vector<Sample>& samples) {
  std::string out;
  for (const auto& s : samples) {
    out += "{";
    for (const auto& [k, v] : s.labels) out += k + "=\"" + v + "\",";
    out += "} " + std::to_string(s.value) + "\n";
  }
  return out.empty() ? "<empty>\n" : out;
}

class PrometheusE2eTest : public ::testing::Test {
 protected:
  PrometheusE2eTest() : scratch_("prometheus"), daemon_(scratch_.path() / "state") {}

  void SetUp() override {
    ASSERT_TRUE(fs::exists(kPrometheusBinary))
        << kPrometheusBinary << " is missing: Debian's prometheus package (scripts/install-deps.sh)";
    ASSERT_TRUE(daemon_.Start()) << daemon_.Log();
    daemon_port_ = std::stoi(daemon_.server().substr(daemon_.server().rfind(':') + 1));
    rules_ = fs::exists(ChartFiles() / "prometheus-rules.yaml");
    dashboard_ = fs::exists(ChartFiles() / "grafana-dashboard.json");
    std::cout << "[ mode     ] rules " << (rules_ ? "LOADED" : "ABSENT: raw metrics only") << " ("
              << (ChartFiles() / "prometheus-rules.yaml").string() << "); dashboard "
              << (dashboard_ ? "CHECKED" : "ABSENT: not checked") << "\n";
    ASSERT_NO_FATAL_FAILURE(StartPrometheus());
  }

  void TearDown() override {
    if (HasFailure()) {
      std::cerr << "---- incidents ----\n" << Cli({"incidents", "-o", "json"}).out;
      std::cerr << "---- events ----\n" << Cli({"events", "--limit", "200"}).out;
      std::string log = daemon_.Log();
      std::cerr << "---- vmkeeperd log (tail) ----\n"
                << log.substr(log.size() > 6000 ? log.size() - 6000 : 0) << "\n";
      std::string prom = ReadFile(prom_dir_ / "prometheus.log");
      std::cerr << "---- prometheus log (tail) ----\n"
                << prom.substr(prom.size() > 6000 ? prom.size() - 6000 : 0) << "\n";
    }
    if (prom_pid_ > 0) {
      kill(prom_pid_, SIGKILL);
      waitpid(prom_pid_, nullptr, 0);
    }
    daemon_.Kill();
  }

  void StartPrometheus() {
    prom_dir_ = scratch_.path() / "prometheus";
    fs::create_directories(prom_dir_ / "data");
    std::string config =
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: vmkeeper\n    static_configs:\n"
        "      - targets: ['127.0.0.1:" + std::to_string(daemon_port_) + "']\n";
    if (rules_) {
      // The shipped file, with its groups' own evaluation intervals shortened to the test's.
      std::string text = ReadFile(ChartFiles() / "prometheus-rules.yaml");
      std::regex interval(R"((\n\s+interval:\s*)[0-9]+[smh])");
      size_t changed = std::distance(std::sregex_iterator(text.begin(), text.end(), interval),
                                     std::sregex_iterator());
      text = std::regex_replace(text, interval, "$011s");
      std::cout << "[ mode     ] " << changed
                << " rule group interval(s) shortened to 1s in the loaded copy\n";
      WriteFile(prom_dir_ / "rules.yaml", text);
      config += "rule_files:\n  - " + (prom_dir_ / "rules.yaml").string() + "\n";
    }
    WriteFile(prom_dir_ / "prometheus.yml", config);
    prom_port_ = FreePort();
    prom_pid_ = fork();
    if (prom_pid_ == 0) {
      int log = open((prom_dir_ / "prometheus.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(log, 1);
      dup2(log, 2);
      execl(kPrometheusBinary, "prometheus",
            ("--config.file=" + (prom_dir_ / "prometheus.yml").string()).c_str(),
            ("--storage.tsdb.path=" + (prom_dir_ / "data").string()).c_str(),
            ("--web.listen-address=127.0.0.1:" + std::to_string(prom_port_)).c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    ASSERT_TRUE(WaitFor([&] { return HttpRequest(prom_port_, "GET", "/-/ready").status == 200; },
                        seconds(20)))
        << ReadFile(prom_dir_ / "prometheus.log");
  }

  CommandResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {BinDir() + "/vmkeeper", "--server", daemon_.server()});
    return RunCommand(args, scratch_.path());
  }

  // An instant query at now; nullopt (and *error) when Prometheus refuses or fails it.
  std::optional<std::vector<Sample>> Query(const std::string& expr, std::string* error = nullptr) {
    HttpResult r = HttpRequest(prom_port_, "GET", "/api/v1/query?query=" + UrlEncode(expr), "",
                               seconds(5));
    auto doc = json::parse(r.body, nullptr, false);
    if (r.status != 200 || doc.is_discarded() || doc.value("status", "") != "success") {
      if (error) *error = "HTTP " + std::to_string(r.status) + ": " + r.body;
      return std::nullopt;
    }
    std::vector<Sample> out;
    const json& data = doc["data"];
    auto number = [](const json& pair) { return std::stod(pair[1].get<std::string>()); };
    if (data.value("resultType", "") == "scalar") {
      out.push_back({{}, number(data["result"])});
      return out;
    }
    for (const auto& item : data["result"]) {
      Sample s;
      for (const auto& [k, v] : item["metric"].items()) s.labels[k] = v.get<std::string>();
      s.value = number(item["value"]);
      out.push_back(std::move(s));
    }
    return out;
  }

  // The samples of a range selector, as Prometheus's JSON (for failure messages).
  std::string Raw(const std::string& selector) {
    return HttpRequest(prom_port_, "GET", "/api/v1/query?query=" + UrlEncode(selector), "",
                       seconds(5)).body;
  }

  // The single value of `expr`, nullopt when it has none or several.
  std::optional<double> Value(const std::string& expr) {
    auto r = Query(expr);
    if (!r || r->size() != 1) return std::nullopt;
    return (*r)[0].value;
  }

  // Waits until `expr` has a single value that `ok` accepts; the last value seen goes to *last.
  bool WaitValue(const std::string& expr, const std::function<bool(double)>& ok,
                 milliseconds deadline, std::string* last) {
    return WaitFor([&] {
      auto r = Query(expr, last);
      if (!r) return false;
      *last = Describe(*r);
      return r->size() == 1 && ok((*r)[0].value);
    }, deadline);
  }

  json Incidents() {
    HttpResult r = HttpRequest(daemon_port_, "GET", "/api/v1/incidents");
    auto doc = json::parse(r.body, nullptr, false);
    if (r.status != 200 || doc.is_discarded()) return json::array();
    return doc.value("items", json::array());
  }
  std::vector<json> IncidentsOf(const std::string& vm) {
    std::vector<json> out;
    for (const auto& i : Incidents()) {
      if (i.value("kind", "") == "VirtualMachine" && i.value("name", "") == vm) out.push_back(i);
    }
    return out;
  }
  // `vmkeeper availability [args] -o json`.
  json Availability(std::vector<std::string> args) {
    args.insert(args.begin(), "availability");
    args.insert(args.end(), {"-o", "json"});
    auto r = Cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto doc = json::parse(r.out, nullptr, false);
    return doc.is_discarded() ? json::object() : doc;
  }
  static json Row(const json& report, const std::string& vm) {
    for (const auto& item : report.value("items", json::array())) {
      if (item.value("vm", "") == vm) return item;
    }
    return json::object();
  }

  std::string ReadyOf(const std::string& vm) {
    auto r = Cli({"get", "vm", vm, "-o", "json"});
    auto doc = json::parse(r.out, nullptr, false);
    if (r.exit_code != 0 || doc.is_discarded()) return "<absent>";
    for (const auto& c : doc.value("status", json::object()).value("conditions", json::array())) {
      if (c.value("type", "") == "Ready") return c.value("status", "") + "/" + c.value("reason", "");
    }
    return "<none>";
  }

  std::string Manifests(bool db01_running) {
    const std::string probe = (scratch_.path() / "web01.healthy").string();
    auto vm = [](const std::string& name, const std::string& service, const std::string& extra) {
      return "apiVersion: vmkeeper/v1\nkind: VirtualMachine\nmetadata:\n  name: " + name +
             "\n  labels: {service: " + service + "}\nspec:\n  cpus: 1\n  memoryMiB: 512\n"
             "  disks: [{name: root, image: /img/" + name + ".qcow2, format: qcow2}]\n" + extra +
             "---\n";
    };
    return "apiVersion: vmkeeper/v1\nkind: Host\nmetadata: {name: hv01}\n"
           "spec: {uri: \"test:///embedded/hv01\", capacity: {cpus: 16, memoryMiB: 65536}}\n---\n" +
           vm("web01", "web",
              "  health: {exec: {command: [/usr/bin/test, -e, " + probe + "]}, periodSeconds: 1,\n"
              "           timeoutSeconds: 1, failureThreshold: 2, startupGraceSeconds: 0}\n"
              "  restart: {limit: 20, windowSeconds: 600}\n") +
           vm("web02", "web", "") +
           vm("db01", "db", db01_running ? "" : "  running: false\n");
  }
  CommandResult Apply(bool db01_running) {
    fs::path file = scratch_.path() / "fleet.yaml";
    WriteFile(file, Manifests(db01_running));
    return Cli({"apply", "-f", file.string()});
  }

  // Every vmkeeper_* metric name in a PromQL expression (quoted strings left out), and every
  // recorded (level:metric:operation) name.
  static void MetricNames(const std::string& expr, std::set<std::string>* raw,
                          std::set<std::string>* recorded) {
    static const std::regex quoted(R"("(?:[^"\\]|\\.)*")");
    static const std::regex name(R"([a-zA-Z_:][a-zA-Z0-9_:]*)");
    std::string bare = std::regex_replace(expr, quoted, "\"\"");
    for (auto it = std::sregex_iterator(bare.begin(), bare.end(), name); it != std::sregex_iterator(); ++it) {
      const std::string n = it->str();
      if (n.find(':') != std::string::npos) {
        recorded->insert(n);
      } else if (n.rfind("vmkeeper_", 0) == 0) {
        raw->insert(n);
      }
    }
  }

  ScratchDir scratch_;
  Daemon daemon_;
  int daemon_port_ = 0;
  bool rules_ = false;
  bool dashboard_ = false;
  fs::path prom_dir_;
  int prom_port_ = 0;
  pid_t prom_pid_ = -1;
};

TEST_F(PrometheusE2eTest, PrometheusFiguresAgreeWithInjectedDowntimeIncidentsAndTheCli) {
  const auto test_start = std::chrono::steady_clock::now();
  const fs::path healthy = scratch_.path() / "web01.healthy";
  WriteFile(healthy, "ok\n");
  std::string last;
  // Prometheus scrapes vmkeeperd before the VMs exist, so that their counters are seen from 0.
  ASSERT_TRUE(WaitValue("up{job=\"vmkeeper\"}", [](double v) { return v == 1; }, seconds(30),
                        &last))
      << "Prometheus never scraped vmkeeperd: " << last;
  auto applied = Apply(/*db01_running=*/true);
  ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
  for (const char* vm : {"web01", "web02", "db01"}) {
    ASSERT_TRUE(WaitFor([&] { return ReadyOf(vm) == "True/Running"; }, seconds(30)))
        << vm << ": " << ReadyOf(vm);
  }
  // Some up time on record before the failures: ten scrapes of the three VMs.
  ASSERT_TRUE(WaitValue("min(count_over_time(vmkeeper_vm_ready{vm=~\"web01|web02|db01\"}[1h]))",
                        [](double v) { return v >= 10; }, seconds(40), &last))
      << last;

  // --- Inject: web01's probe fails; db01 stopped by the admins; an alert about web02. ---
  const double t_break = Seconds(WallClock::now());
  fs::remove(healthy);
  auto stopped = Apply(/*db01_running=*/false);
  ASSERT_EQ(stopped.exit_code, 0) << stopped.err;
  json alert = json::parse(ReadFile(SourceDir() + "/tests/data/alertmanager/webhook_vm_probe_failing.json"));
  alert["alerts"][0]["labels"]["alertname"] = "VMDown";
  alert["alerts"][0]["labels"]["vmkeeper_vm"] = "web02";
  alert["alerts"][0]["startsAt"] = Now3339();
  alert["commonLabels"]["alertname"] = "VMDown";
  alert["commonLabels"]["vmkeeper_vm"] = "web02";
  HttpResult posted = HttpRequest(daemon_port_, "POST", "/api/v1/alerts", alert.dump());
  ASSERT_EQ(posted.status / 100, 2) << posted.status << " " << posted.body;

  // Held down until Prometheus has seen the open incident (and, with the rules, VMDown pending:
  // its `for:` is a minute, longer than this test), and the planned stop.
  ASSERT_TRUE(WaitValue("vmkeeper_vm_incident_open{vm=\"web01\"}", [](double v) { return v == 1; },
                        seconds(30), &last))
      << "web01's incident never showed in Prometheus: " << last;
  if (rules_) {
    EXPECT_TRUE(WaitValue("ALERTS{alertname=\"VMDown\",vm=\"web01\",alertstate=\"pending\"}",
                          [](double v) { return v == 1; }, seconds(20), &last))
        << "VMDown not pending for web01 while its incident is open: " << last;
  }
  ASSERT_TRUE(WaitValue("vmkeeper_vm_expected_up{vm=\"db01\"}", [](double v) { return v == 0; },
                        seconds(30), &last))
      << "db01's planned stop never showed in Prometheus: " << last;
  const double t_restore = Seconds(WallClock::now());
  WriteFile(healthy, "ok\n");
  auto started = Apply(/*db01_running=*/true);
  ASSERT_EQ(started.exit_code, 0) << started.err;
  for (const char* vm : {"web01", "web02", "db01"}) {
    ASSERT_TRUE(WaitFor([&] { return ReadyOf(vm) == "True/Running"; }, seconds(30)))
        << vm << ": " << ReadyOf(vm);
  }
  std::cout << "[ injected ] web01 probe broken from " << std::fixed << t_break << " to "
            << t_restore << " (" << (t_restore - t_break) << " s)\n" << std::defaultfloat;

  // --- What vmkeeper recorded. ---
  std::vector<json> web01;
  ASSERT_TRUE(WaitFor([&] {
    web01 = IncidentsOf("web01");
    return web01.size() == 1 && !web01[0].value("recovered", "").empty();
  }, seconds(20))) << json(web01).dump(2);
  EXPECT_EQ(web01[0].value("type", ""), "VmUnhealthy");
  EXPECT_TRUE(web01[0].value("confirmed", false));
  const auto occurred = ParseTime(web01[0].value("occurred", ""));
  const auto recovered = ParseTime(web01[0].value("recovered", ""));
  ASSERT_TRUE(occurred && recovered) << web01[0].dump();
  const double downtime = *recovered - *occurred;  // the injected downtime, as vmkeeper saw it
  std::cout << "[ incident ] web01 " << web01[0].dump() << " -> " << downtime << " s\n";
  // It brackets what the test did. A probe failure's evidence is the last good probe
  // (ProbeTracker::FailureBegan): at most one period (1 s) and a probe's run before the break,
  // never after the first failed probe (a period and a probe's run after it). It recovers no
  // sooner than the restore, within a few periods.
  EXPECT_GE(*occurred, t_break - 1.3);
  EXPECT_LE(*occurred, t_break + 1.3);
  EXPECT_GE(*recovered, t_restore - 0.05);
  EXPECT_LE(*recovered, t_restore + 5.0);
  EXPECT_TRUE(IncidentsOf("db01").empty()) << "a planned stop is not an incident: "
                                           << json(IncidentsOf("db01")).dump(2);
  std::vector<json> web02;
  ASSERT_TRUE(WaitFor([&] {
    web02 = IncidentsOf("web02");
    return web02.size() == 1 && !web02[0].value("recovered", "").empty();
  }, seconds(20))) << json(web02).dump(2);
  EXPECT_FALSE(web02[0].value("confirmed", true)) << web02[0].dump();

  // --- The CLI's figures over the whole life (the window covers it). ---
  json report = Availability({"--window", "1h"});
  json cli01 = Row(report, "web01"), cli02 = Row(report, "web02"), clidb = Row(report, "db01");
  EXPECT_NEAR(cli01.value("downSeconds", -1.0), downtime, 0.01) << cli01.dump();
  EXPECT_EQ(cli01.value("failures", -1), 1);
  EXPECT_EQ(cli01.value("recoveries", -1), 1);
  EXPECT_NEAR(cli01["mttrSeconds"].is_number() ? cli01["mttrSeconds"].get<double>() : -1.0,
              downtime, 0.01) << cli01.dump();
  EXPECT_EQ(cli02.value("downSeconds", -1.0), 0.0) << cli02.dump();
  EXPECT_EQ(cli02.value("unconfirmed", -1), 1) << cli02.dump();
  EXPECT_EQ(cli02.value("failures", -1), 0);
  EXPECT_EQ(clidb.value("downSeconds", -1.0), 0.0) << clidb.dump();
  EXPECT_EQ(clidb.value("failures", -1), 0);
  EXPECT_GT(clidb.value("plannedSeconds", 0.0), 0.5) << clidb.dump();

  // --- Prometheus: raw counters, once it has scraped the recovery. ---
  EXPECT_TRUE(WaitValue("vmkeeper_vm_recovery_seconds_count{vm=\"web01\"}",
                        [](double v) { return v == 1; }, seconds(15), &last))
      << last;
  EXPECT_TRUE(WaitValue("vmkeeper_vm_incident_open{vm=\"web01\"}", [](double v) { return v == 0; },
                        seconds(15), &last))
      << last;
  auto near = [](double want, double tolerance) {
    return [=](double v) { return std::fabs(v - want) <= tolerance; };
  };
  // Exact once closed: the counter holds still.
  EXPECT_TRUE(WaitValue("vmkeeper_vm_down_seconds_total{vm=\"web01\"}", near(downtime, 0.01),
                        seconds(10), &last))
      << "want " << downtime << ", Prometheus has " << last;
  EXPECT_TRUE(WaitValue("vmkeeper_vm_recovery_seconds_sum{vm=\"web01\"}", near(downtime, 0.01),
                        seconds(10), &last))
      << "want " << downtime << ", Prometheus has " << last;
  EXPECT_TRUE(WaitValue("increase(vmkeeper_vm_recovery_seconds_sum{vm=\"web01\"}[1h]) / "
                        "increase(vmkeeper_vm_recovery_seconds_count{vm=\"web01\"}[1h])",
                        near(downtime, 0.01), seconds(10), &last))
      << "MTTR: want " << downtime << ", Prometheus has " << last;
  // increase() extrapolates to the window's edges: within one scrape interval.
  EXPECT_TRUE(WaitValue("increase(vmkeeper_vm_down_seconds_total{vm=\"web01\"}[1h])",
                        near(downtime, 1.0), seconds(10), &last))
      << "want " << downtime << ", Prometheus has " << last;
  EXPECT_EQ(Value("vmkeeper_vm_failures_total{vm=\"web01\",kind=\"VmUnhealthy\"}"), 1.0);
  EXPECT_EQ(Value("sum(vmkeeper_vm_failures_total{vm=\"web01\"})"), 1.0);
  EXPECT_EQ(Value("max_over_time(vmkeeper_vm_incident_open{vm=\"web01\"}[1h])"), 1.0);
  // The unconfirmed report: counted, never down, never open, no failure, no recovery.
  EXPECT_TRUE(WaitValue("vmkeeper_vm_unconfirmed_reports_total{vm=\"web02\"}",
                        [](double v) { return v == 1; }, seconds(10), &last))
      << last;
  EXPECT_EQ(Value("vmkeeper_vm_down_seconds_total{vm=\"web02\"}"), 0.0);
  EXPECT_EQ(Value("max_over_time(vmkeeper_vm_incident_open{vm=\"web02\"}[1h])"), 0.0);
  EXPECT_EQ(Value("sum(vmkeeper_vm_failures_total{vm=\"web02\"})"), 0.0);
  EXPECT_EQ(Value("vmkeeper_vm_recovery_seconds_count{vm=\"web02\"}"), 0.0);
  // The planned stop: seen, not down, not a failure.
  EXPECT_EQ(Value("min_over_time(vmkeeper_vm_expected_up{vm=\"db01\"}[1h])"), 0.0);
  EXPECT_EQ(Value("max_over_time(vmkeeper_vm_down_seconds_total{vm=\"db01\"}[1h])"), 0.0);
  EXPECT_EQ(Value("sum(vmkeeper_vm_failures_total{vm=\"db01\"})"), 0.0);
  EXPECT_EQ(Value("max_over_time(vmkeeper_vm_incident_open{vm=\"db01\"}[1h])"), 0.0);

  // The counters never went down (Prometheus would read a decrease as a reset and count the
  // whole value again in increase()).
  for (const char* family : {"vmkeeper_vm_up_seconds_total", "vmkeeper_vm_down_seconds_total",
                             "vmkeeper_vm_unobserved_seconds_total"}) {
    const std::string expr = std::string("sum(resets(") + family + "[1h]))";
    EXPECT_EQ(Value(expr), 0.0) << expr << "\n" << Raw(std::string(family) + "{vm=\"web01\"}[1h]");
  }
  // Prometheus's availability (docs/availability.md's formula) and up time against the CLI's,
  // asked one after the other: within one scrape interval at each end of the series. Polled:
  // when an incident is found (2 probe periods after it began) the time already exported as up
  // becomes down, and the up counter holds still until the CLI's up time has caught up with it
  // (docs/availability.md); until then Prometheus's up is ahead by up to that delay.
  const std::string ratio =
      "sum by (vm) (increase(vmkeeper_vm_up_seconds_total[1h])) / "
      "(sum by (vm) (increase(vmkeeper_vm_up_seconds_total[1h])) + "
      "sum by (vm) (increase(vmkeeper_vm_down_seconds_total[1h])))";
  std::string mismatch;
  const bool agreed = WaitFor([&] {
    mismatch.clear();
    report = Availability({"--window", "1h"});
    auto prom_ratio = Query(ratio);
    auto prom_up = Query("vmkeeper_vm_up_seconds_total");
    if (!prom_ratio || !prom_up) return false;
    for (const char* vm : {"web01", "web02", "db01"}) {
      json row = Row(report, vm);
      const double up = row.value("upSeconds", -1.0), down = row.value("downSeconds", -1.0);
      std::optional<double> p_ratio, p_up;
      auto of_vm = [&](const Sample& s) {
        auto it = s.labels.find("vm");
        return it != s.labels.end() && it->second == vm;
      };
      for (const auto& s : *prom_ratio) if (of_vm(s)) p_ratio = s.value;
      for (const auto& s : *prom_up) if (of_vm(s)) p_up = s.value;
      char line[512];
      std::snprintf(line, sizeof line,
                    "%s: CLI availability %.4f up %.2f s down %.2f s; Prometheus ratio %.4f "
                    "up %.2f s (tolerance %.4f)\n",
                    vm, row.value("availability", -1.0), up, down, p_ratio.value_or(-1),
                    p_up.value_or(-1), 2.0 / (up + down));
      mismatch += line;
      if (!p_ratio || !p_up || up + down <= 0) return false;
      if (std::fabs(*p_up - up) > 1.5) return false;
      if (std::fabs(*p_ratio - row.value("availability", -1.0)) > 2.0 / (up + down)) return false;
    }
    return true;
  }, seconds(15));
  EXPECT_TRUE(agreed) << "Prometheus vs the CLI:\n" << mismatch
                      << Raw("vmkeeper_vm_up_seconds_total{vm=\"web01\"}[1h]") << "\n"
                      << Raw("vmkeeper_vm_down_seconds_total{vm=\"web01\"}[1h]");
  std::cout << "[ figures  ]\n" << mismatch;
  EXPECT_NEAR(Row(report, "web01").value("availability", -1.0),
              Row(report, "web01").value("upSeconds", 0.0) /
                  (Row(report, "web01").value("upSeconds", 0.0) + downtime),
              1e-6);

  // --- Every metric the rules and the dashboard read is exported. ---
  HttpResult metrics = HttpRequest(daemon_port_, "GET", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  std::set<std::string> exported, families;  // names with samples; families (# TYPE)
  {
    std::istringstream lines(metrics.body);
    const std::regex sample(R"(^(vmkeeper_[a-zA-Z0-9_]+)[{ ])");
    const std::regex type(R"(^# TYPE (vmkeeper_[a-zA-Z0-9_]+) ([a-z]+)$)");
    std::smatch m;
    for (std::string line; std::getline(lines, line);) {
      if (std::regex_search(line, m, sample)) exported.insert(m[1]);
      if (std::regex_search(line, m, type)) {
        families.insert(m[1]);
        if (m[2] == "histogram") {
          for (const char* suffix : {"_bucket", "_sum", "_count"}) families.insert(m[1].str() + suffix);
        }
      }
    }
  }
  std::set<std::string> raw_used, recorded_used, recorded_by_rules;

  if (rules_) {
    // Every rule loaded and evaluated without error (the groups run every second here).
    json groups;
    ASSERT_TRUE(WaitFor([&] {
      HttpResult r = HttpRequest(prom_port_, "GET", "/api/v1/rules");
      auto doc = json::parse(r.body, nullptr, false);
      if (doc.is_discarded()) return false;
      groups = doc["data"]["groups"];
      for (const auto& g : groups) {
        for (const auto& rule : g["rules"]) {
          if (rule.value("lastEvaluation", "").rfind("0001", 0) == 0) return false;
        }
      }
      return !groups.empty();
    }, seconds(15))) << groups.dump(1).substr(0, 4000);
    int rules = 0;
    for (const auto& g : groups) {
      for (const auto& rule : g["rules"]) {
        ++rules;
        EXPECT_EQ(rule.value("health", ""), "ok")
            << rule.value("name", "") << ": " << rule.value("lastError", "");
        MetricNames(rule.value("query", ""), &raw_used, &recorded_used);
        if (rule.value("type", "") == "recording") recorded_by_rules.insert(rule.value("name", ""));
      }
    }
    std::cout << "[ rules    ] " << rules << " rules in " << groups.size() << " groups evaluated\n";

    // The recording rules give the CLI's figures (window 1d covers the test).
    json day = Availability({"--window", "1d", "--by", "service"});
    json d01 = Row(day, "web01");
    const double acc01 = d01.value("upSeconds", 0.0) + d01.value("downSeconds", 0.0);
    EXPECT_TRUE(WaitValue("vm:vmkeeper_vm_down_seconds:increase1d{vm=\"web01\"}",
                          near(downtime, 1.0), seconds(10), &last))
        << last;
    EXPECT_TRUE(WaitValue("vm:vmkeeper_vm_availability:ratio_rate1d{vm=\"web01\"}",
                          near(d01.value("availability", -1.0), 2.0 / acc01), seconds(10), &last))
        << d01.dump() << "\n" << last;
    EXPECT_TRUE(WaitValue("vm:vmkeeper_vm_mttr_seconds:mean1d{vm=\"web01\"}", near(downtime, 0.05),
                          seconds(10), &last))
        << last;
    EXPECT_TRUE(WaitValue("fleet:vmkeeper_vm_mttr_seconds:mean1d", near(downtime, 0.05),
                          seconds(10), &last))
        << last;
    EXPECT_TRUE(WaitValue("vm:vmkeeper_vm_failures:increase1d{vm=\"web01\"}",
                          [](double v) { return v >= 0.9 && v <= 1.5; }, seconds(10), &last))
        << last;
    // MTBF = up / failures: within a scrape interval at each end of the up series (and the
    // extrapolation of the failures' increase).
    if (d01.contains("mtbfSeconds") && d01["mtbfSeconds"].is_number()) {
      const double mtbf = d01["mtbfSeconds"].get<double>();
      EXPECT_TRUE(WaitValue("vm:vmkeeper_vm_mtbf_seconds:mean1d{vm=\"web01\"}",
                            near(mtbf, 2.0 + 0.15 * mtbf), seconds(10), &last))
          << d01.dump() << "\n" << last;
    }
    const json total = day.value("total", json::object());
    const double fleet_acc = total.value("upSeconds", 0.0) + total.value("downSeconds", 0.0);
    EXPECT_TRUE(WaitValue("fleet:vmkeeper_vm_availability:ratio_rate1d",
                          near(total.value("availability", -1.0), 6.0 / fleet_acc), seconds(10),
                          &last))
        << total.dump() << "\n" << last;
    for (const auto& g : day.value("groups", json::array())) {
      const std::string service = g.value("value", "");
      if (service.empty()) continue;
      const double acc = g.value("upSeconds", 0.0) + g.value("downSeconds", 0.0);
      EXPECT_TRUE(WaitValue("service:vmkeeper_vm_availability:ratio_rate1d{label_service=\"" +
                                service + "\"}",
                            near(g.value("availability", -1.0), 4.0 / acc), seconds(10), &last))
          << service << ": " << g.dump() << "\n" << last;
    }

    // Alerts. The burn-rate alerts have no `for:`: with seconds of downtime in a minute-old
    // fleet, web01 and the fleet burn far faster than any tier allows, so they fire.
    const double objective = Value("vmkeeper:availability_objective:ratio").value_or(-1);
    ASSERT_GT(objective, 0.5);
    if (1 - d01.value("availability", 1.0) > 3 * (1 - objective)) {
      EXPECT_TRUE(WaitValue("count(ALERTS{alertname=\"VMErrorBudgetBurn\",vm=\"web01\","
                            "alertstate=\"firing\"})",
                            [](double v) { return v >= 1; }, seconds(15), &last))
          << "web01 lost " << (1 - d01.value("availability", 1.0)) << " of its time: " << last;
    }
    if (1 - total.value("availability", 1.0) > 14.4 * (1 - objective)) {
      EXPECT_TRUE(WaitValue("count(ALERTS{alertname=\"FleetErrorBudgetBurn\",alertstate=\"firing\"})",
                            [](double v) { return v >= 1; }, seconds(15), &last))
          << last;
    }
    // VMDown goes once the incident is closed (it was pending, never firing: `for:` 1m).
    EXPECT_TRUE(WaitFor([&] {
      auto r = Query("ALERTS{alertname=\"VMDown\"}");
      return r && r->empty();
    }, seconds(10))) << Describe(Query("ALERTS{alertname=\"VMDown\"}").value_or(std::vector<Sample>{}));
    // Nothing else ever: no alert about web02 (unconfirmed) or db01 (planned), nor about the
    // host or the controller. One exception: ControllerNotReconciling's absent(up) is pending
    // in the second before Prometheus's first scrape of vmkeeperd (its `for:` is 10 minutes);
    // it must be gone now.
    auto ever = Query("max_over_time(ALERTS[1h])");
    ASSERT_TRUE(ever);
    const std::set<std::string> expected = {"VMDown/web01", "VMErrorBudgetBurn/web01",
                                            "FleetErrorBudgetBurn/"};
    for (const auto& s : *ever) {
      auto label = [&](const char* key) {
        auto it = s.labels.find(key);
        return it == s.labels.end() ? std::string() : it->second;
      };
      const std::string key = label("alertname") + "/" + label("vm");
      if (key == "ControllerNotReconciling/" && label("reason") == "TargetAbsent" &&
          label("alertstate") == "pending") {
        continue;
      }
      EXPECT_TRUE(expected.count(key)) << "unexpected alert " << Describe({s});
    }
    auto now_pending = Query("ALERTS{alertname=\"ControllerNotReconciling\"}");
    EXPECT_TRUE(now_pending && now_pending->empty())
        << Describe(now_pending.value_or(std::vector<Sample>{}));
    std::cout << "[ alerts   ] seen:\n" << Describe(*ever);
  } else {
    std::cout << "[ mode     ] no rules file: recording rules and alerts NOT checked\n";
  }

  if (dashboard_) {
    json dashboard = json::parse(ReadFile(ChartFiles() / "grafana-dashboard.json"));
    // Grafana's variables: a VM and a service that had everything happen; the test's length.
    const long range_s = std::chrono::duration_cast<seconds>(std::chrono::steady_clock::now() -
                                                             test_start).count() + 5;
    auto substitute = [&](std::string expr) {
      const std::vector<std::pair<std::string, std::string>> vars = {
          {"${__rate_interval}", "4s"}, {"$__rate_interval", "4s"},
          {"${__interval}", "1s"},      {"$__interval", "1s"},
          {"${__range}", std::to_string(range_s) + "s"}, {"$__range", std::to_string(range_s) + "s"},
          {"${service}", "web"},        {"$service", "web"},
          {"${vm}", "web01"},           {"$vm", "web01"}};
      for (const auto& [from, to] : vars) {
        for (size_t p = expr.find(from); p != std::string::npos; p = expr.find(from, p + to.size())) {
          expr.replace(p, from.size(), to);
        }
      }
      return expr;
    };
    std::vector<std::pair<std::string, std::string>> queries;  // where, expr
    std::function<void(const json&)> walk = [&](const json& panels) {
      for (const auto& p : panels) {
        if (p.contains("panels")) walk(p["panels"]);
        for (const auto& t : p.value("targets", json::array())) {
          if (t.contains("expr")) queries.push_back({"panel \"" + p.value("title", "") + "\"", t["expr"]});
        }
      }
    };
    walk(dashboard.value("panels", json::array()));
    // The variables' label_values(selector, label): their selector must return data too.
    for (const auto& v : dashboard["templating"].value("list", json::array())) {
      std::string q = v.contains("query") && v["query"].is_object() ? v["query"].value("query", "")
                      : v.value("query", json::string_t());
      std::smatch m;
      if (std::regex_search(q, m, std::regex(R"(^label_values\((.*),\s*[a-zA-Z_]+\)$)"))) {
        queries.push_back({"variable $" + v.value("name", ""), m[1].str()});
      }
    }
    ASSERT_GT(queries.size(), 10u);
    // Panels with nothing to show on this fleet: no VM here has a snapshot policy; and the
    // families whose children appear only with their first event (kKnownChildless).
    std::vector<std::string> no_data_here = {"vmkeeper_vm_last_snapshot_timestamp_seconds",
                                             "vmkeeper_vm_snapshot_interval_seconds"};
    for (const auto& [name, why] : kKnownChildless) no_data_here.push_back(name);
    int ran = 0, empty_allowed = 0;
    for (const auto& [where, raw] : queries) {
      MetricNames(raw, &raw_used, &recorded_used);
      const std::string expr = substitute(raw);
      EXPECT_EQ(expr.find('$'), std::string::npos) << where << ": a variable left in " << expr;
      bool allowed_empty = false;
      for (const auto& m : no_data_here) allowed_empty |= expr.find(m) != std::string::npos;
      std::string error;
      std::optional<std::vector<Sample>> result;
      // Recorded series appear after their group's first evaluations: poll a little.
      WaitFor([&] {
        result = Query(expr, &error);
        return !result || !result->empty() || allowed_empty;
      }, seconds(allowed_empty ? 0 : 10));
      ++ran;
      if (!result) {
        ADD_FAILURE() << where << ": " << expr << "\n  refused: " << error;
      } else if (result->empty()) {
        if (allowed_empty) {
          ++empty_allowed;
        } else {
          ADD_FAILURE() << where << ": " << expr << "\n  returned no data";
        }
      }
    }
    std::cout << "[ dashboard] " << ran << " queries ran, " << empty_allowed
              << " empty as allowed (snapshot panels: no snapshot policy here; kKnownChildless)\n";
  } else {
    std::cout << "[ mode     ] no dashboard file: its queries NOT checked\n";
  }

  // Histograms are read as _bucket/_sum/_count: those are the names /metrics has too. A family
  // may have no sample yet only where its children appear with an event (kKnownChildless).
  for (const auto& name : raw_used) {
    EXPECT_TRUE(families.count(name)) << name << " is read by the rules or the dashboard but is "
                                      << "no family of vmkeeperd's /metrics";
    if (!exported.count(name)) {
      EXPECT_TRUE(kKnownChildless.count(name))
          << name << " is read by the rules or the dashboard but has no sample in /metrics";
      std::cout << "[ KNOWN GAP] " << name << " has no sample in /metrics: " << kKnownChildless.at(name)
                << "\n";
    }
  }
  for (const auto& name : recorded_used) {
    if (rules_) {
      EXPECT_TRUE(recorded_by_rules.count(name))
          << name << " is read but no loaded rule records it";
    }
  }
  if (rules_ || dashboard_) {
    std::cout << "[ metrics  ] " << raw_used.size() << " vmkeeper_* names read by the rules and "
              << "the dashboard, all checked against /metrics; " << recorded_used.size()
              << " recorded names\n";
  }
  std::cout << "[ duration ] "
            << std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - test_start).count()
            << " ms\n";
}

}  // namespace
}  // namespace vmk::e2e
