// Whole vmkeeper commands against the real REST server (HttpServer + ApiRouter) over loopback,
// backed by a FakeControlPlane: output, exit codes and what reaches the control plane.
#include "cli/cli_app.h"

#include "common/rfc3339.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli/api_router.h"
#include "tests/fakes/fake_control_plane.h"
#include "cli/http_server.h"

namespace vmk::cli {
namespace {

namespace fs = std::filesystem;
using specs::Json;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class CliAppTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpServerOptions options;
    options.listen = "127.0.0.1:0";
    server_ = std::make_unique<HttpServer>(
        options, [this](const HttpRequest& r) { return router_.Handle(r); }, RealClock::Get());
    ASSERT_TRUE(server_->Start().ok());
    dir_ = fs::temp_directory_path() /
           ("vmk-cli-test-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "fleet" / "sub");
    Write("fleet/hosts.yaml", "kind: Host\n");
    Write("fleet/sub/vms.yml", "kind: VirtualMachine\n");
    Write("fleet/notes.txt", "ignored\n");
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Write(const std::string& rel, const std::string& text) {
    std::ofstream(dir_ / rel) << text;
  }

  // Runs `vmkeeper ARGS` with --server pointing at the test server (unless server_env is set).
  int Run(std::vector<std::string> args, bool tty = false) {
    out_.str("");
    err_.str("");
    std::vector<std::string> argv = {"vmkeeper"};
    if (!use_env_server_) {
      argv.push_back("--server");
      argv.push_back("http://" + server_->address());
    }
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<const char*> raw;
    for (const auto& a : argv) raw.push_back(a.c_str());
    CliEnvironment env;
    env.out = &out_;
    env.err = &err_;
    env.in = &in_;
    env.server_env = server_env_;
    env.out_is_tty = tty;
    env.clock = RealClock::Get();
    env.poll_interval = std::chrono::milliseconds(10);
    env.request_timeout = std::chrono::seconds(10);
    return RunVmkeeperCli(static_cast<int>(raw.size()), raw.data(), env);
  }

  std::string Path(const std::string& rel) const { return (dir_ / rel).string(); }

  FakeControlPlane fake_;
  ApiRouter router_{&fake_};
  std::unique_ptr<HttpServer> server_;
  fs::path dir_;
  std::ostringstream out_, err_;
  std::istringstream in_;
  bool use_env_server_ = false;
  std::optional<std::string> server_env_;
};

TEST_F(CliAppTest, ApplyPrintsOneLinePerObject) {
  fake_.apply_outcome.results = {{specs::Kind::kHost, "hv01", "created"},
                                 {specs::Kind::kVirtualMachine, "wms01", "configured"},
                                 {specs::Kind::kVirtualMachine, "old", "pruned"},
                                 {specs::Kind::kSnapshotPolicy, "nightly", "unchanged"}};
  EXPECT_EQ(Run({"apply", "-f", Path("fleet"), "--prune"}), 0) << err_.str();
  EXPECT_EQ(out_.str(),
            "host/hv01 created\n"
            "virtualmachine/wms01 configured\n"
            "virtualmachine/old pruned\n"
            "snapshotpolicy/nightly unchanged\n");
  ASSERT_EQ(fake_.last_files.size(), 2u) << "a directory sends its manifests, sorted";
  EXPECT_EQ(fake_.last_files[0].name, Path("fleet/hosts.yaml"));
  EXPECT_EQ(fake_.last_files[0].content, "kind: Host\n");
  EXPECT_EQ(fake_.last_files[1].name, Path("fleet/sub/vms.yml"));
  EXPECT_TRUE(fake_.last_apply_options.prune);
  EXPECT_FALSE(fake_.last_apply_options.dry_run);
}

TEST_F(CliAppTest, ApplyDryRunSaysSo) {
  fake_.apply_outcome.results = {{specs::Kind::kVirtualMachine, "wms01", "created"}};
  EXPECT_EQ(Run({"apply", "-f", Path("fleet/hosts.yaml"), "--dry-run"}), 0);
  EXPECT_EQ(out_.str(), "virtualmachine/wms01 created (dry run)\n");
  EXPECT_TRUE(fake_.last_apply_options.dry_run);
}

TEST_F(CliAppTest, ApplyFromStdin) {
  in_.str("kind: Host\n");
  EXPECT_EQ(Run({"apply", "-f", "-"}), 0) << err_.str();
  ASSERT_EQ(fake_.last_files.size(), 1u);
  EXPECT_EQ(fake_.last_files[0].content, "kind: Host\n");
}

TEST_F(CliAppTest, ApplyValidationErrorsGoToStderrOnePerLine) {
  fake_.apply_outcome.errors = {"a.yaml:3:7: spec.cpus: must be at least 1",
                                "a.yaml:9:1: kind: must be one of Host, VirtualMachine"};
  EXPECT_EQ(Run({"apply", "-f", Path("fleet")}), 1);
  EXPECT_EQ(out_.str(), "");
  EXPECT_EQ(err_.str(),
            "a.yaml:3:7: spec.cpus: must be at least 1\n"
            "a.yaml:9:1: kind: must be one of Host, VirtualMachine\n"
            "error: 2 validation errors; nothing was applied\n");
}

TEST_F(CliAppTest, ApplyMissingFileIsAClearError) {
  EXPECT_EQ(Run({"apply", "-f", Path("nope.yaml")}), 1);
  EXPECT_THAT(err_.str(), StartsWith("error: " + Path("nope.yaml")));
  EXPECT_EQ(fake_.apply_calls, 0);
}

TEST_F(CliAppTest, UnreachableServer) {
  std::string address = server_->address();
  server_->Stop();
  EXPECT_EQ(Run({"get", "vms"}), 1);
  EXPECT_EQ(err_.str(), "error: cannot reach vmkeeperd at http://" + address +
                            ": connection refused\n");
  EXPECT_EQ(Run({"diff", "-f", Path("fleet")}), 2);
}

TEST_F(CliAppTest, ServerFromEnvironment) {
  use_env_server_ = true;
  server_env_ = "http://" + server_->address();
  fake_.Put(MakeVm("wms01", "hv02", "running", "True"));
  EXPECT_EQ(Run({"get", "vms"}), 0) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("wms01"));
}

TEST_F(CliAppTest, DiffExitCodes) {
  fake_.diff_outcome.changed = false;
  EXPECT_EQ(Run({"diff", "-f", Path("fleet")}), 0);
  EXPECT_EQ(out_.str(), "");

  fake_.diff_outcome.changed = true;
  fake_.diff_outcome.diff = "--- virtualmachine/wms01\n+++ virtualmachine/wms01\n-cpus: 2\n+cpus: 4\n";
  fake_.diff_outcome.actions = {"redefine wms01 on hv01", "start wms01 on hv02"};
  EXPECT_EQ(Run({"diff", "-f", Path("fleet"), "--prune"}), 1);
  EXPECT_EQ(out_.str(),
            "--- virtualmachine/wms01\n+++ virtualmachine/wms01\n-cpus: 2\n+cpus: 4\n"
            "\n"
            "Actions:\n"
            "  redefine wms01 on hv01\n"
            "  start wms01 on hv02\n");
  EXPECT_TRUE(fake_.last_diff_prune);

  fake_.diff_outcome.errors = {"a.yaml:1:1: kind: is required"};
  EXPECT_EQ(Run({"diff", "-f", Path("fleet")}), 2);
  EXPECT_THAT(err_.str(), StartsWith("a.yaml:1:1: kind: is required\n"));

  fake_.diff_outcome.errors.clear();
  fake_.fail_with = Status::Internal("boom");
  EXPECT_EQ(Run({"diff", "-f", Path("fleet")}), 2);
}

TEST_F(CliAppTest, GetTableYamlJson) {
  fake_.Put(MakeVm("wms01", "hv02", "running", "True"));
  EXPECT_EQ(Run({"get", "vms"}), 0);
  EXPECT_EQ(out_.str(),
            "NAME    HOST   STATE     READY   RESTARTS\n"
            "wms01   hv02   running   True    0\n");

  EXPECT_EQ(Run({"get", "vm", "wms01", "-o", "json"}), 0);
  Json one = Json::parse(out_.str());
  EXPECT_EQ(one["metadata"]["name"], "wms01");
  EXPECT_EQ(one["status"]["host"], "hv02");

  EXPECT_EQ(Run({"get", "virtualmachines", "-o", "yaml"}), 0);
  EXPECT_THAT(out_.str(), StartsWith("apiVersion: vmkeeper/v1\nitems:\n  - apiVersion: vmkeeper/v1\n"));
  EXPECT_THAT(out_.str(), HasSubstr("kind: List\n"));

  EXPECT_EQ(Run({"get", "vms", "-o", "wide"}), 0);
  EXPECT_THAT(out_.str(), HasSubstr("GENERATION"));
}

TEST_F(CliAppTest, GetAndDescribeStoragePools) {
  specs::Object pool;
  pool.kind = specs::Kind::kStoragePool;
  pool.metadata.name = "shared";
  pool.metadata.generation = 1;
  pool.spec = {{"type", "dir"},
               {"path", "/srv/pools/shared"},
               {"hostSelector", Json::object()},
               {"hosts", {"hv01"}}};
  fake_.Put(pool);
  for (const char* spelling : {"pools", "pool", "storagepools", "storagepool"}) {
    EXPECT_EQ(Run({"get", spelling}), 0) << spelling << ": " << err_.str();
    EXPECT_EQ(out_.str(),
              "NAME     TYPE   PATH                HOST-SELECTOR   HOSTS\n"
              "shared   dir    /srv/pools/shared   <none>          hv01\n")
        << spelling;
  }
  EXPECT_EQ(Run({"get", "pool", "shared", "-o", "json"}), 0) << err_.str();
  EXPECT_EQ(Json::parse(out_.str())["spec"]["path"], "/srv/pools/shared");
  EXPECT_EQ(Run({"delete", "pool", "shared"}), 0) << err_.str();
  EXPECT_EQ(out_.str(), "storagepool/shared deleted\n");
}

TEST_F(CliAppTest, GetErrors) {
  EXPECT_EQ(Run({"get", "hosts"}), 0);
  EXPECT_EQ(err_.str(), "No resources found.\n");
  EXPECT_EQ(Run({"get", "vm", "ghost"}), 1);
  EXPECT_EQ(err_.str(), "error: virtualmachine \"ghost\" not found\n");
  EXPECT_EQ(Run({"get", "pods"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("unknown resource type \"pods\""));
  EXPECT_EQ(Run({"get", "vms", "-o", "xml"}), 2);
}

TEST_F(CliAppTest, DescribeShowsConditionsAndEventsOfThatObject) {
  fake_.Put(MakeVm("wms01", "hv02", "running", "True"));
  fake_.events = {{1, "2026-11-27T14:20:54.123Z", specs::Kind::kVirtualMachine, "wms01", "Normal",
                   "Started", "started on hv02"},
                  {2, "2026-11-27T14:20:55.123Z", specs::Kind::kVirtualMachine, "ce01", "Normal",
                   "Started", "started on hv01"}};
  EXPECT_EQ(Run({"describe", "vm", "wms01"}), 0) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("Name:         wms01\n"));
  EXPECT_THAT(out_.str(), HasSubstr("Ready   True"));
  EXPECT_THAT(out_.str(), HasSubstr("started on hv02"));
  EXPECT_THAT(out_.str(), ::testing::Not(HasSubstr("started on hv01")));
  EXPECT_EQ(Run({"describe", "host", "nope"}), 1);
  EXPECT_EQ(err_.str(), "error: host \"nope\" not found\n");
}

TEST_F(CliAppTest, Delete) {
  fake_.Put(MakeVm("wms01", "hv02", "running", "True"));
  EXPECT_EQ(Run({"delete", "vm", "wms01"}), 0);
  EXPECT_EQ(out_.str(), "virtualmachine/wms01 deleted\n");
  EXPECT_EQ(Run({"delete", "vm", "wms01"}), 1);
  EXPECT_EQ(err_.str(), "error: virtualmachine \"wms01\" not found\n");
  fake_.delete_status = Status::FailedPrecondition("host hv01 still has 2 VMs placed on it");
  EXPECT_EQ(Run({"delete", "host", "hv01"}), 1);
  EXPECT_EQ(err_.str(), "error: host hv01 still has 2 VMs placed on it\n");
}

TEST_F(CliAppTest, SnapshotAsksTheServerAndWaitsForTheRecord) {
  auto vm = MakeVm("wms01", "hv01", "running", "True");
  fake_.Put(vm);
  EXPECT_EQ(Run({"snapshot", "wms01", "--name", "pre-upgrade"}), 0) << err_.str();
  EXPECT_EQ(out_.str(), "snapshot pre-upgrade of vm/wms01 requested\n");
  ASSERT_EQ(fake_.snapshot_requests.size(), 1u);
  EXPECT_EQ(fake_.snapshot_requests[0], std::make_pair(std::string("wms01"),
                                                       std::string("pre-upgrade")));
  // --wait: the record appears, Taken, a little later.
  int gets = 0;
  fake_.on_get = [&](specs::Kind, const std::string&, auto* objects) {
    if (++gets < 3) return;
    auto& o = (*objects)[{specs::Kind::kVirtualMachine, "wms01"}];
    o.status["snapshots"] = Json::array({Json{{"name", "later"}, {"phase", "Taken"}}});
  };
  EXPECT_EQ(Run({"snapshot", "wms01", "--name", "later", "--wait"}), 0) << err_.str();
  EXPECT_EQ(out_.str(), "snapshot later of vm/wms01 requested\nsnapshot later taken\n");
  fake_.on_get = [&](specs::Kind, const std::string&, auto* objects) {
    auto& o = (*objects)[{specs::Kind::kVirtualMachine, "wms01"}];
    o.status["snapshots"] =
        Json::array({Json{{"name", "bad"}, {"phase", "Failed"}, {"message", "QEMU said no"}}});
  };
  EXPECT_EQ(Run({"snapshot", "wms01", "--name", "bad", "--wait"}), 1);
  EXPECT_EQ(err_.str(), "error: snapshot bad failed: QEMU said no\n");
  fake_.fail_with = Status::AlreadyExists("VM wms01 has a snapshot bad");
  EXPECT_EQ(Run({"snapshot", "wms01", "--name", "bad"}), 1);
  EXPECT_EQ(err_.str(), "error: VM wms01 has a snapshot bad\n");
}

TEST_F(CliAppTest, RollbackShowsThePlanAndAsksForIt) {
  fake_.rollback_plan.target = "s1";
  fake_.rollback_plan.target_time = "2026-12-05T01:00:00.000Z";
  fake_.rollback_plan.target_healthy = true;
  fake_.rollback_plan.restore = {{"root", "wms01.root.0.qcow2"}};
  fake_.rollback_plan.keep = {{"root", "wms01.root.3.qcow2"}};
  EXPECT_EQ(Run({"rollback", "wms01", "--dry-run"}), 0) << err_.str();
  EXPECT_EQ(out_.str(),
            "vm/wms01: back to snapshot s1 (2026-12-05T01:00:00.000Z, healthy)\n"
            "  disk root: from wms01.root.0.qcow2; its state now (wms01.root.3.qcow2) kept as a "
            "before-rollback snapshot\n"
            "dry run: nothing was changed\n");
  EXPECT_EQ(Run({"rollback", "wms01", "--to", "s1"}), 0) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("rollback requested"));
  ASSERT_EQ(fake_.rollback_requests.size(), 2u);
  EXPECT_TRUE(fake_.rollback_requests[0].dry_run);
  EXPECT_EQ(fake_.rollback_requests[1].to, "s1");
  EXPECT_FALSE(fake_.rollback_requests[1].dry_run);
  fake_.fail_with = Status::FailedPrecondition("wms01 has no snapshot taken while healthy");
  EXPECT_EQ(Run({"rollback", "wms01"}), 1);
  EXPECT_EQ(err_.str(), "error: wms01 has no snapshot taken while healthy\n");
}

TEST_F(CliAppTest, SnapshotsListsTheRecordsOfTheVm) {
  auto vm = MakeVm("wms01", "hv01", "running", "True");
  fake_.Put(vm);
  EXPECT_EQ(Run({"snapshots", "wms01"}), 0);
  EXPECT_EQ(err_.str(), "No snapshots of vm/wms01.\n");
  vm.status["snapshots"] = Json::array(
      {Json{{"name", "s1"}, {"time", "2026-12-05T01:00:00.000Z"}, {"reason", "scheduled"},
            {"healthy", true}, {"generation", 3}, {"phase", "Taken"},
            {"layers", Json::array({Json{{"disk", "root"}, {"volume", "wms01.root.0.qcow2"}}})}},
       Json{{"name", "m1"}, {"time", "2026-12-05T01:10:00.000Z"}, {"reason", "manual"},
            {"healthy", false}, {"generation", 3}, {"phase", "Failed"},
            {"message", "no space"}, {"layers", Json::array()}}});
  fake_.Put(vm);
  EXPECT_EQ(Run({"snapshots", "wms01"}), 0);
  EXPECT_EQ(out_.str(),
            "NAME   TIME                       REASON      HEALTHY   GENERATION   PHASE               LAYERS\n"
            "s1     2026-12-05T01:00:00.000Z   scheduled   yes       3            Taken               root=wms01.root.0.qcow2\n"
            "m1     2026-12-05T01:10:00.000Z   manual      no        3            Failed (no space)\n");
  EXPECT_EQ(Run({"snapshots", "wms01", "-o", "json"}), 0);
  EXPECT_EQ(Json::parse(out_.str()).size(), 2u);
  EXPECT_EQ(Run({"snapshots", "nope"}), 1);
}

TEST_F(CliAppTest, Events) {
  fake_.events = {{1, "2026-11-27T14:20:54.123Z", specs::Kind::kHost, "hv01", "Warning",
                   "Unreachable", "keepalive timed out"},
                  {2, "2026-11-27T14:20:55.123Z", specs::Kind::kVirtualMachine, "wms01", "Normal",
                   "Started", "started on hv02"}};
  EXPECT_EQ(Run({"events"}), 0);
  EXPECT_EQ(out_.str(),
            "TIME                       TYPE      REASON        OBJECT                 MESSAGE\n"
            "2026-11-27T14:20:54.123Z   Warning   Unreachable   host/hv01              "
            "keepalive timed out\n"
            "2026-11-27T14:20:55.123Z   Normal    Started       virtualmachine/wms01   "
            "started on hv02\n");
  EXPECT_EQ(fake_.last_events_limit, 50u);
  EXPECT_EQ(Run({"events", "--for", "vm/wms01", "--limit", "5"}), 0);
  EXPECT_THAT(out_.str(), ::testing::Not(HasSubstr("hv01 ")));
  ASSERT_TRUE(fake_.last_events_object.has_value());
  EXPECT_EQ(fake_.last_events_object->kind, specs::Kind::kVirtualMachine);
  EXPECT_EQ(fake_.last_events_limit, 5u);
  EXPECT_EQ(Run({"events", "--for", "wms01"}), 2);
}

class CliAvailabilityTest : public CliAppTest {
 protected:
  void SetUp() override {
    CliAppTest::SetUp();
    using std::chrono::seconds;
    reconciler::AvailabilityReport& r = fake_.availability_report;
    ASSERT_TRUE(ParseRfc3339("2026-11-01T00:00:00.000Z", &r.from));
    ASSERT_TRUE(ParseRfc3339("2026-12-01T00:00:00.000Z", &r.to));
    reconciler::VmAvailability wms;
    wms.vm = "wms01";
    wms.labels = {{"service", "wms"}};
    wms.accounted = true;
    wms.incident_open = true;
    wms.figures.observed = seconds(30 * 86400);
    wms.figures.downtime = seconds(259);  // 99.99 % of a 30-day month
    wms.figures.planned = seconds(0);
    wms.figures.unobserved = seconds(3600);
    wms.figures.downtime_unobserved = seconds(60);
    wms.figures.failures = 2;
    wms.figures.recoveries = 1;
    wms.figures.recovery_total = seconds(199);
    reconciler::VmAvailability ce;
    ce.vm = "ce01";
    ce.accounted = false;
    r.vms = {ce, wms};
    r.total = wms.figures;
    r.total.unconfirmed = 1;
  }
};

TEST_F(CliAvailabilityTest, TableWithTotalsAndWhatWasNotWatched) {
  EXPECT_EQ(Run({"availability"}), 0) << err_.str();
  const std::string text = out_.str();
  EXPECT_THAT(text, HasSubstr("Window: 2026-11-01T00:00:00.000Z to 2026-12-01T00:00:00.000Z\n"));
  EXPECT_THAT(text, HasSubstr("VM              AVAILABILITY   DOWNTIME   MTTR    MTBF     "
                              "FAILURES   UNCONFIRMED   PLANNED   UNOBSERVED\n"));
  EXPECT_THAT(text, HasSubstr("ce01            -              -"));
  // (30 d - 1 h unobserved - 259 s) up of (30 d - 1 h): 99.9900 %.
  EXPECT_THAT(text, HasSubstr("wms01 (down)    99.9900%       4m19s      3m19s   14d23h   2"));
  EXPECT_THAT(text, HasSubstr("TOTAL (2 VMs)   99.9900%"));
  EXPECT_THAT(text, HasSubstr("Unobserved: vmkeeperd was not running for 1h0m"));
  EXPECT_THAT(text, HasSubstr("1m0s of the downtime fell while it was not running"));
  EXPECT_THAT(text, HasSubstr("Unconfirmed: 1 alert(s)"));
  ASSERT_TRUE(fake_.last_availability_query.has_value());
  EXPECT_EQ(fake_.last_availability_query->window, std::chrono::hours(24 * 30));
  EXPECT_EQ(fake_.last_availability_query->vm, "");
}

TEST_F(CliAvailabilityTest, OneVmASelectorAWindowAndGroups) {
  EXPECT_EQ(Run({"availability", "wms01", "--window", "7d"}), 0) << err_.str();
  EXPECT_EQ(fake_.last_availability_query->vm, "wms01");
  EXPECT_EQ(fake_.last_availability_query->window, std::chrono::hours(24 * 7));
  fake_.availability_report.group_by = "service";
  fake_.availability_report.groups["wms"] = fake_.availability_report.total;
  EXPECT_EQ(Run({"availability", "-l", "service=wms,tier!=test", "--by", "service"}), 0)
      << err_.str();
  EXPECT_EQ(fake_.last_availability_query->selector, "service=wms,tier!=test");
  EXPECT_EQ(fake_.last_availability_query->group_by, "service");
  EXPECT_THAT(out_.str(), HasSubstr("\nservice   AVAILABILITY"));
  EXPECT_THAT(out_.str(), HasSubstr("\nwms       99.9900%"));
}

TEST_F(CliAvailabilityTest, JsonCarriesEveryFigure) {
  EXPECT_EQ(Run({"availability", "-o", "json"}), 0) << err_.str();
  Json doc = Json::parse(out_.str());
  ASSERT_EQ(doc["items"].size(), 2u);
  EXPECT_EQ(doc["items"][1]["vm"], "wms01");
  EXPECT_EQ(doc["items"][1]["downSeconds"], 259.0);
  EXPECT_EQ(doc["items"][1]["mttrSeconds"], 199.0);
  EXPECT_EQ(doc["items"][1]["incidentOpen"], true);
  EXPECT_EQ(doc["items"][0]["accounted"], false);
  EXPECT_EQ(doc["items"][0]["mttrSeconds"], nullptr);
  EXPECT_EQ(doc["window"], "30d");
  EXPECT_NEAR(doc["total"]["availability"].get<double>(), 0.9999, 1e-4);
}

TEST_F(CliAvailabilityTest, UsageErrorsNeverReachTheServer) {
  fake_.last_availability_query.reset();
  EXPECT_EQ(Run({"availability", "wms01", "-l", "service=wms"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("not both"));
  EXPECT_EQ(Run({"availability", "--window", "30 days"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("--window: window \"30 days\""));
  EXPECT_EQ(Run({"availability", "--window", "0d"}), 2);
  EXPECT_FALSE(fake_.last_availability_query.has_value());
  // A bad selector is the server's to refuse, with its message.
  fake_.fail_with = Status::InvalidArgument("label selector \"a b\": bad");
  EXPECT_EQ(Run({"availability", "-l", "a b"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("label selector"));
}

class CliIncidentsTest : public CliAppTest {
 protected:
  void SetUp() override {
    CliAppTest::SetUp();
    fake_.incidents = {
        MakeIncident(specs::Kind::kVirtualMachine, "wms01", "VmCrashed",
                     "2026-11-27T14:20:50.000Z", "2026-11-27T14:20:51.300Z",
                     "2026-11-27T14:20:54.200Z", {"event", "probe"}, {"restarted on hv02"}),
        MakeIncident(specs::Kind::kHost, "hv02", "HostFailure", "2026-11-27T14:30:00.000Z",
                     "2026-11-27T14:30:12.000Z", "", {"heartbeat", "alert"}, {"fenced hv02"}),
        MakeIncident(specs::Kind::kVirtualMachine, "wms01", "HostFailure",
                     "2026-11-27T14:30:00.000Z", "2026-11-27T14:30:12.500Z", "",
                     {"heartbeat", "alert"}, {"fenced hv02", "started on hv03"})};
  }
};

TEST_F(CliIncidentsTest, TableOfOpenAndClosedIncidents) {
  EXPECT_EQ(Run({"incidents"}), 0) << err_.str();
  EXPECT_EQ(out_.str(),
            "OBJECT      TYPE          OCCURRED                   DETECTED                   "
            "RECOVERED                  MTTR   SOURCES\n"
            "vm/wms01    VmCrashed     2026-11-27T14:20:50.000Z   2026-11-27T14:20:51.300Z   "
            "2026-11-27T14:20:54.200Z   4.2s   event,probe\n"
            "host/hv02   HostFailure   2026-11-27T14:30:00.000Z   2026-11-27T14:30:12.000Z   "
            "-                          -      heartbeat,alert\n"
            "vm/wms01    HostFailure   2026-11-27T14:30:00.000Z   2026-11-27T14:30:12.500Z   "
            "-                          -      heartbeat,alert\n");
  EXPECT_EQ(err_.str(), "");
  EXPECT_FALSE(fake_.last_incidents_object.has_value());
}

TEST_F(CliIncidentsTest, OfOneVmOrOneObject) {
  EXPECT_EQ(Run({"incidents", "wms01"}), 0) << err_.str();
  ASSERT_TRUE(fake_.last_incidents_object.has_value());
  EXPECT_EQ(fake_.last_incidents_object->kind, specs::Kind::kVirtualMachine);
  EXPECT_EQ(fake_.last_incidents_object->name, "wms01");
  EXPECT_THAT(out_.str(), ::testing::Not(HasSubstr("host/hv02")));
  EXPECT_THAT(out_.str(), HasSubstr("vm/wms01   VmCrashed"));

  EXPECT_EQ(Run({"incidents", "--for", "host/hv02"}), 0) << err_.str();
  EXPECT_EQ(fake_.last_incidents_object->kind, specs::Kind::kHost);
  EXPECT_EQ(fake_.last_incidents_object->name, "hv02");
  EXPECT_THAT(out_.str(), HasSubstr("\nhost/hv02   HostFailure"));
  EXPECT_THAT(out_.str(), ::testing::Not(HasSubstr("vm/wms01")));
}

TEST_F(CliIncidentsTest, UsageErrors) {
  const int calls = fake_.incidents_calls;
  EXPECT_EQ(Run({"incidents", "wms01", "--for", "host/hv02"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("not both"));
  EXPECT_EQ(Run({"incidents", "--for", "hv02"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("--for must be KIND/NAME"));
  EXPECT_EQ(Run({"incidents", "--for", "pod/x"}), 2);
  EXPECT_EQ(Run({"incidents", "-o", "wide"}), 2);
  EXPECT_EQ(fake_.incidents_calls, calls);
}

TEST_F(CliIncidentsTest, JsonAndYamlPrintTheItemsAsAList) {
  EXPECT_EQ(Run({"incidents", "-o", "json"}), 0) << err_.str();
  Json list = Json::parse(out_.str());
  EXPECT_EQ(list["apiVersion"], "vmkeeper/v1");
  EXPECT_EQ(list["kind"], "List");
  ASSERT_EQ(list["items"].size(), 3u);
  EXPECT_EQ(list["items"][0], fake_.incidents[0].ToJson());
  EXPECT_EQ(list["items"][1]["recovered"], "");

  EXPECT_EQ(Run({"incidents", "--for", "host/hv02", "-o", "yaml"}), 0) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("kind: List\n"));
  EXPECT_THAT(out_.str(), HasSubstr("type: HostFailure\n"));
  EXPECT_THAT(out_.str(), ::testing::Not(HasSubstr("VmCrashed")));

  fake_.incidents.clear();
  EXPECT_EQ(Run({"incidents", "-o", "json"}), 0);
  EXPECT_EQ(Json::parse(out_.str())["items"], Json::array());
}

TEST_F(CliIncidentsTest, EmptySaysSoOnStderr) {
  fake_.incidents.clear();
  EXPECT_EQ(Run({"incidents"}), 0);
  EXPECT_EQ(out_.str(), "");
  EXPECT_EQ(err_.str(), "No incidents found.\n");
  EXPECT_EQ(Run({"incidents", "ghost"}), 0);
  EXPECT_EQ(err_.str(), "No incidents found.\n");
}

TEST_F(CliIncidentsTest, ServerErrorsFail) {
  fake_.fail_with = Status::Unavailable("store is not open");
  EXPECT_EQ(Run({"incidents"}), 1);
  EXPECT_EQ(err_.str(), "error: store is not open\n");
}

TEST_F(CliIncidentsTest, DescribeShowsTheOpenIncident) {
  fake_.Put(MakeVm("wms01", "hv03", "running", "True"));
  EXPECT_EQ(Run({"describe", "vm", "wms01"}), 0) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("Incident:\n"
                                    "  Type:       HostFailure\n"
                                    "  Occurred:   2026-11-27T14:30:00.000Z\n"
                                    "  Detected:   2026-11-27T14:30:12.500Z\n"
                                    "  Sources:    heartbeat, alert\n"
                                    "  Actions:\n"
                                    "    fenced hv02\n"
                                    "    started on hv03\n"
                                    "Events:\n"));
  EXPECT_THAT(out_.str(), ::testing::Not(HasSubstr("VmCrashed")));
  ASSERT_TRUE(fake_.last_incidents_object.has_value());
  EXPECT_EQ(fake_.last_incidents_object->kind, specs::Kind::kVirtualMachine);
  EXPECT_EQ(fake_.last_incidents_object->name, "wms01");

  fake_.Put(MakeHost("hv02", false));
  EXPECT_EQ(Run({"describe", "host", "hv02"}), 0) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("Incident:\n  Type:       HostFailure\n"));
  EXPECT_THAT(out_.str(), HasSubstr("    fenced hv02\nEvents:\n"));
  EXPECT_EQ(fake_.last_incidents_object->kind, specs::Kind::kHost);
}

TEST_F(CliIncidentsTest, DescribeWithoutOpenIncidentSaysNone) {
  fake_.incidents.resize(1);  // only the closed VmCrashed of wms01
  fake_.Put(MakeVm("wms01", "hv02", "running", "True"));
  EXPECT_EQ(Run({"describe", "vm", "wms01"}), 0) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("Incident:  <none>\nEvents:\n"));
  fake_.Put(MakeHost("hv01", true));
  EXPECT_EQ(Run({"describe", "host", "hv01"}), 0) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("Incident:  <none>\n"));
}

TEST_F(CliIncidentsTest, DescribeSnapshotPolicyHasNoIncidentSection) {
  specs::Object policy;
  policy.kind = specs::Kind::kSnapshotPolicy;
  policy.metadata.name = "nightly";
  policy.spec = {{"intervalSeconds", 86400}, {"keep", 7}};
  fake_.Put(policy);
  const int calls = fake_.incidents_calls;
  EXPECT_EQ(Run({"describe", "snapshotpolicy", "nightly"}), 0) << err_.str();
  EXPECT_THAT(out_.str(), ::testing::Not(HasSubstr("Incident:")));
  EXPECT_EQ(fake_.incidents_calls, calls);
}

TEST_F(CliIncidentsTest, DescribeStoragePoolHasNoIncidentSection) {
  specs::Object pool;
  pool.kind = specs::Kind::kStoragePool;
  pool.metadata.name = "shared";
  pool.spec = {{"type", "dir"}, {"path", "/srv/pools/shared"}};
  fake_.Put(pool);
  const int calls = fake_.incidents_calls;
  EXPECT_EQ(Run({"describe", "pool", "shared"}), 0) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("Kind:         StoragePool\n"));
  EXPECT_THAT(out_.str(), ::testing::Not(HasSubstr("Incident:")));
  EXPECT_EQ(fake_.incidents_calls, calls);
}

TEST_F(CliAppTest, ApplyWaitUntilReady) {
  // Policies and pools are only stored: nothing to wait for (nothing would make them Ready).
  fake_.apply_outcome.results = {{specs::Kind::kHost, "hv01", "created"},
                                 {specs::Kind::kVirtualMachine, "wms01", "created"},
                                 {specs::Kind::kSnapshotPolicy, "nightly", "created"},
                                 {specs::Kind::kStoragePool, "shared", "created"}};
  fake_.Put(MakeHost("hv01", true));
  fake_.Put(MakeVm("wms01", "", "shutoff", "False"));
  // The VM becomes Ready on the fifth read.
  fake_.on_get = [](specs::Kind kind, const std::string& name, auto* objects) {
    static int reads = 0;
    if (kind == specs::Kind::kVirtualMachine && ++reads == 5) {
      (*objects)[{kind, name}] = MakeVm(name, "hv01", "running", "True");
    }
  };
  EXPECT_EQ(Run({"apply", "-f", Path("fleet"), "--wait", "--timeout", "60s"}), 0) << err_.str();
  EXPECT_EQ(out_.str(),
            "host/hv01 created\n"
            "virtualmachine/wms01 created\n"
            "snapshotpolicy/nightly created\n"
            "storagepool/shared created\n"
            "waiting: 1/2 ready\n"
            "2/2 ready\n");
}

TEST_F(CliAppTest, ApplyWaitProgressInPlaceOnTerminal) {
  fake_.apply_outcome.results = {{specs::Kind::kVirtualMachine, "wms01", "created"}};
  fake_.Put(MakeVm("wms01", "", "shutoff", "False"));
  fake_.on_get = [](specs::Kind kind, const std::string& name, auto* objects) {
    static int reads = 0;
    if (++reads == 3) (*objects)[{kind, name}] = MakeVm(name, "hv01", "running", "True");
  };
  EXPECT_EQ(Run({"apply", "-f", Path("fleet"), "--wait"}, /*tty=*/true), 0) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("\rwaiting: 0/1 ready\rwaiting: 0/1 ready\r1/1 ready"));
}

TEST_F(CliAppTest, ApplyWaitTimesOutNamingWhatIsNotReady) {
  fake_.apply_outcome.results = {{specs::Kind::kHost, "hv01", "unchanged"},
                                 {specs::Kind::kVirtualMachine, "wms01", "configured"}};
  fake_.Put(MakeHost("hv01", true));
  fake_.Put(MakeVm("wms01", "hv01", "running", "True", /*generation=*/2, /*observed=*/1));
  EXPECT_EQ(Run({"apply", "-f", Path("fleet"), "--wait", "--timeout", "1s"}), 1);
  EXPECT_EQ(err_.str(),
            "error: timed out after 1s waiting for virtualmachine/wms01 to become ready\n");
  EXPECT_THAT(out_.str(), HasSubstr("waiting: 1/2 ready\n"));
}

TEST_F(CliAppTest, UsageErrorsExit2) {
  EXPECT_EQ(Run({}), 2);
  EXPECT_EQ(Run({"apply"}), 2);
  EXPECT_EQ(Run({"frobnicate"}), 2);
  EXPECT_EQ(Run({"apply", "-f", Path("fleet"), "--timeout", "soon"}), 2);
  EXPECT_EQ(Run({"--help"}), 0);
  EXPECT_THAT(out_.str(), HasSubstr("apply"));
}

TEST_F(CliAppTest, SchemaWorksWithoutServer) {
  server_->Stop();
  EXPECT_EQ(Run({"schema"}), 0) << err_.str();
  Json schema = Json::parse(out_.str());
  EXPECT_TRUE(schema.is_object());
}

TEST(ParseDurationTest, Forms) {
  EXPECT_EQ(*ParseDuration("300s"), std::chrono::seconds(300));
  EXPECT_EQ(*ParseDuration("5m"), std::chrono::seconds(300));
  EXPECT_EQ(*ParseDuration("1h30m"), std::chrono::seconds(5400));
  EXPECT_EQ(*ParseDuration("90"), std::chrono::seconds(90));
  EXPECT_FALSE(ParseDuration("").ok());
  EXPECT_FALSE(ParseDuration("5x").ok());
  EXPECT_FALSE(ParseDuration("1h30").ok());
  EXPECT_FALSE(ParseDuration("-5s").ok());
}

}  // namespace
}  // namespace vmk::cli
