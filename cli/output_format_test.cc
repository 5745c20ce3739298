#include "cli/output_format.h"

#include <yaml-cpp/yaml.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/fakes/fake_control_plane.h"

namespace vmk::cli {
namespace {

using specs::Json;
using ::testing::HasSubstr;

TEST(FormatTableTest, PadsColumnsAndTrimsTrailingSpace) {
  EXPECT_EQ(FormatTable({{"NAME", "HOST"}, {"wms01", ""}, {"a", "hv02"}}),
            "NAME    HOST\n"
            "wms01\n"
            "a       hv02\n");
}

TEST(FormatObjectTableTest, VirtualMachines) {
  std::vector<Json> vms = {specs::ObjectToJson(MakeVm("wms01", "hv02", "running", "True")),
                           specs::ObjectToJson(MakeVm("ce01", "", "shutoff", "False", 2, 1))};
  EXPECT_EQ(FormatObjectTable(specs::Kind::kVirtualMachine, vms, false),
            "NAME    HOST     STATE     READY   RESTARTS\n"
            "wms01   hv02     running   True    0\n"
            "ce01    <none>   shutoff   False   0\n");
  EXPECT_EQ(FormatObjectTable(specs::Kind::kVirtualMachine, vms, true),
            "NAME    HOST     STATE     READY   RESTARTS   CPUS   MEMORY   GENERATION   OBSERVED\n"
            "wms01   hv02     running   True    0          2      4Gi      1            1\n"
            "ce01    <none>   shutoff   False   0          2      4Gi      2            1\n");
}

TEST(FormatObjectTableTest, VmWithoutStatusIsUnknown) {
  Json vm = {{"kind", "VirtualMachine"}, {"metadata", {{"name", "new"}}}, {"spec", Json::object()}};
  EXPECT_EQ(FormatObjectTable(specs::Kind::kVirtualMachine, {vm}, false),
            "NAME   HOST     STATE    READY     RESTARTS\n"
            "new    <none>   <none>   Unknown   0\n");
}

// As kubectl: a VM being deleted reads Terminating until its finalizer is done.
TEST(FormatObjectTableTest, AVmBeingDeletedIsTerminating) {
  specs::Object marked = MakeVm("wms01", "", "terminating", "False");
  marked.metadata.deletionTimestamp = "2026-12-05T01:00:00.000Z";
  marked.metadata.finalizers = {specs::kVolumesFinalizer};
  std::vector<Json> vms = {specs::ObjectToJson(marked),
                           specs::ObjectToJson(MakeVm("ce01", "hv02", "running", "True"))};
  EXPECT_EQ(FormatObjectTable(specs::Kind::kVirtualMachine, vms, false),
            "NAME    HOST     STATE         READY   RESTARTS\n"
            "wms01   <none>   Terminating   False   0\n"
            "ce01    hv02     running       True    0\n");
}

TEST(DescribeTest, AVmBeingDeletedShowsItsFinalizerAndEachVolume) {
  specs::Object marked = MakeVm("wms01", "", "terminating", "False");
  marked.metadata.deletionTimestamp = "2026-12-05T01:00:00.000Z";
  marked.metadata.finalizers = {specs::kVolumesFinalizer};
  Json vm = specs::ObjectToJson(marked);
  vm["status"]["deletion"] = Json{
      {"phase", "DeletingVolumes"},
      {"started", "2026-12-05T01:00:00.100Z"},
      {"message", "pool shared keeps wms01.root.0.qcow2"},
      {"volumes", Json::array({Json{{"disk", "root"}, {"pool", "shared"},
                                    {"volume", "wms01.root.1.qcow2"}, {"deleted", true}},
                               Json{{"disk", "root"}, {"pool", "shared"},
                                    {"volume", "wms01.root.0.qcow2"}}})},
      {"retained", Json::array({Json{{"disk", "data"}, {"pool", "shared"},
                                     {"volume", "wms01.data.0.qcow2"}}})}};
  std::string text = Describe(vm, {});
  EXPECT_THAT(text, HasSubstr("Status:       Terminating (since 2026-12-05T01:00:00.000Z)\n"
                              "Finalizers:   vmkeeper.dev/volumes\n"));
  EXPECT_THAT(text, HasSubstr("Deletion:\n  Phase:     DeletingVolumes\n"));
  EXPECT_THAT(text, HasSubstr("  Waiting:   pool shared keeps wms01.root.0.qcow2\n"));
  EXPECT_THAT(text, HasSubstr("  wms01.root.1.qcow2   shared   root   Delete   deleted\n"
                              "  wms01.root.0.qcow2   shared   root   Delete   to delete\n"
                              "  wms01.data.0.qcow2   shared   data   Retain   kept\n"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("deletion:"))) << "not again in the YAML";
}

TEST(FormatObjectTableTest, Hosts) {
  std::vector<Json> hosts = {specs::ObjectToJson(MakeHost("hv01", true))};
  EXPECT_EQ(FormatObjectTable(specs::Kind::kHost, hosts, false),
            "NAME   URI                     READY   VMS   CPUS   MEMORY     SIGNALS\n"
            "hv01   test:///embedded/hv01   True    2     4/16   8Gi/64Gi   mgmt=answers\n");
  EXPECT_THAT(FormatObjectTable(specs::Kind::kHost, hosts, true), HasSubstr("Test         true"));
  // A host whose heartbeats fail shows each channel as failure detection saw it.
  hosts[0]["status"]["signals"] = {{"management", "no-answer"},
                                   {"dataPlane", "2/2-answer"},
                                   {"power", "unknown"},
                                   {"verdict", "ManagementUnreachable"}};
  EXPECT_THAT(FormatObjectTable(specs::Kind::kHost, hosts, false),
              HasSubstr("mgmt=no-answer data=2/2-answer power=unknown\n"));
}

TEST(FormatObjectTableTest, SnapshotPolicies) {
  Json policy = {{"kind", "SnapshotPolicy"},
                 {"metadata", {{"name", "nightly"}}},
                 {"spec",
                  {{"intervalSeconds", 86400},
                   {"keep", 7},
                   {"beforeChange", true},
                   {"beforeFailover", false}}}};
  EXPECT_EQ(FormatObjectTable(specs::Kind::kSnapshotPolicy, {policy}, false),
            "NAME      INTERVAL   KEEP   BEFORE-CHANGE   BEFORE-FAILOVER\n"
            "nightly   1d         7      true            false\n");
}

TEST(FormatObjectTableTest, StoragePools) {
  Json shared = {{"kind", "StoragePool"},
                 {"metadata", {{"name", "shared"}, {"generation", 2}}},
                 {"spec",
                  {{"type", "dir"},
                   {"path", "/srv/pools/shared"},
                   {"hostSelector", {{"storage", "nfs"}, {"rack", "r1"}}},
                   {"hosts", {"hv01", "hv02"}}}}};
  Json local = {{"kind", "StoragePool"},
                {"metadata", {{"name", "local"}, {"generation", 1}}},
                {"spec",
                 {{"type", "dir"},
                  {"path", "/var/lib/pool"},
                  {"hostSelector", Json::object()},
                  {"hosts", Json::array()}}}};
  EXPECT_EQ(FormatObjectTable(specs::Kind::kStoragePool, {shared, local}, false),
            "NAME     TYPE   PATH                HOST-SELECTOR         HOSTS\n"
            "shared   dir    /srv/pools/shared   rack=r1,storage=nfs   hv01,hv02\n"
            "local    dir    /var/lib/pool       <none>                <all>\n");
  EXPECT_EQ(FormatObjectTable(specs::Kind::kStoragePool, {local}, true),
            "NAME    TYPE   PATH            HOST-SELECTOR   HOSTS   GENERATION\n"
            "local   dir    /var/lib/pool   <none>          <all>   1\n");
}

TEST(ToYamlTest, BlockStyleWithQuotingWhereNeeded) {
  Json doc = {{"apiVersion", "vmkeeper/v1"},
              {"kind", "VirtualMachine"},
              {"metadata", {{"name", "wms01"}, {"labels", {{"port", "8443"}, {"on", "yes"}}}}},
              {"spec", {{"cpus", 2}, {"running", true}, {"disks", Json::array()}, {"ratio", 0.5}}},
              {"status", {{"since", "2026-11-27T14:20:54.123Z"}, {"note", nullptr}}}};
  std::string yaml = ToYaml(doc);
  EXPECT_EQ(yaml,
            "apiVersion: vmkeeper/v1\n"
            "kind: VirtualMachine\n"
            "metadata:\n"
            "  labels:\n"
            "    \"on\": \"yes\"\n"
            "    port: \"8443\"\n"
            "  name: wms01\n"
            "spec:\n"
            "  cpus: 2\n"
            "  disks: []\n"
            "  ratio: 0.5\n"
            "  running: true\n"
            "status:\n"
            "  note: null\n"
            "  since: \"2026-11-27T14:20:54.123Z\"\n");
  // Round trip: what we print reads back as the same types.
  YAML::Node back = YAML::Load(yaml);
  EXPECT_EQ(back["metadata"]["labels"]["port"].Tag(), "!");  // quoted: a string
  EXPECT_EQ(back["spec"]["cpus"].as<int>(), 2);
}

TEST(ToYamlTest, MultiLineStringsRoundTrip) {
  // Ending in a newline: a literal block; otherwise (YAML would add one) a quoted string.
  std::string block = ToYaml(Json{{"diff", "-a\n+b\n"}});
  EXPECT_EQ(block, "diff: |\n  -a\n  +b\n");
  EXPECT_EQ(YAML::Load(block)["diff"].as<std::string>(), "-a\n+b\n");
  std::string quoted = ToYaml(Json{{"message", "line one\nline two"}});
  EXPECT_EQ(YAML::Load(quoted)["message"].as<std::string>(), "line one\nline two");
}

TEST(ToJsonTextTest, IndentedWithNewline) {
  EXPECT_EQ(ToJsonText(Json{{"a", 1}}), "{\n  \"a\": 1\n}\n");
  EXPECT_EQ(ListObject({Json{{"a", 1}}})["kind"], "List");
}

TEST(FormatEventsTest, Table) {
  std::vector<reconciler::Event> events = {{7, "2026-11-27T14:20:54.123Z",
                                            specs::Kind::kVirtualMachine, "wms01", "Warning",
                                            "FencingFailed", "fence_ipmilan timed out"}};
  EXPECT_EQ(FormatEvents(events, true),
            "TIME                       TYPE      REASON          OBJECT                 MESSAGE\n"
            "2026-11-27T14:20:54.123Z   Warning   FencingFailed   virtualmachine/wms01   "
            "fence_ipmilan timed out\n");
}

TEST(DescribeTest, ShowsStatusSpecConditionsAndEvents) {
  Json vm = specs::ObjectToJson(MakeVm("wms01", "hv02", "running", "True", 3, 3));
  std::vector<reconciler::Event> events = {{1, "2026-11-27T14:20:54.123Z",
                                            specs::Kind::kVirtualMachine, "wms01", "Normal",
                                            "Started", "started on hv02"}};
  std::string text = Describe(vm, events);
  EXPECT_THAT(text, HasSubstr("Name:         wms01\n"));
  EXPECT_THAT(text, HasSubstr("Kind:         VirtualMachine\n"));
  EXPECT_THAT(text, HasSubstr("Labels:       service=wms\n"));
  EXPECT_THAT(text, HasSubstr("Generation:   3 (observed 3)\n"));
  EXPECT_THAT(text, HasSubstr("Status:\n  host: hv02\n"));
  EXPECT_THAT(text, HasSubstr("Spec:\n  cpus: 2\n"));
  EXPECT_THAT(text, HasSubstr("Conditions:\n  TYPE    STATUS   REASON    LAST TRANSITION"));
  EXPECT_THAT(text, HasSubstr("  Ready   True     Running   2026-11-27T14:20:54.123Z\n"));
  EXPECT_THAT(text, HasSubstr("Events:\n  TIME"));
  EXPECT_THAT(text, HasSubstr("Started   started on hv02\n"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("conditions:")));
}

// A VM's disks (the file each opens, as resolved) and its snapshot chain get tables of their own.
TEST(DescribeTest, AVmShowsItsDisksAndSnapshots) {
  Json vm = specs::ObjectToJson(MakeVm("wms01", "hv02", "running", "True", 3, 3));
  vm["status"]["disks"] = Json::array(
      {Json{{"name", "root"}, {"pool", "shared"}, {"volume", "wms01.root.2.qcow2"},
            {"path", "/srv/pool/wms01.root.2.qcow2"}, {"format", "qcow2"}}});
  vm["status"]["snapshots"] = Json::array(
      {Json{{"name", "s1"}, {"time", "2026-12-05T01:00:00.000Z"}, {"reason", "scheduled"},
            {"healthy", true}, {"generation", 3}, {"phase", "Taken"},
            {"layers", Json::array({Json{{"disk", "root"}, {"volume", "wms01.root.0.qcow2"}}})}},
       Json{{"name", "s2"}, {"time", "2026-12-05T02:00:00.000Z"}, {"reason", "before-failover"},
            {"healthy", false}, {"generation", 3}, {"phase", "Taken"},
            {"layers", Json::array({Json{{"disk", "root"}, {"volume", "wms01.root.1.qcow2"}}})}}});
  std::string text = Describe(vm, {});
  EXPECT_THAT(text, HasSubstr("Disks:\n  DISK   FILE                           FORMAT   POOL     VOLUME\n"
                              "  root   /srv/pool/wms01.root.2.qcow2   qcow2    shared   "
                              "wms01.root.2.qcow2\n"));
  EXPECT_THAT(text, HasSubstr("Snapshots:\n  NAME   TIME"));
  EXPECT_THAT(text, HasSubstr("  s2     2026-12-05T02:00:00.000Z   before-failover   no        3"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("snapshots:"))) << "not again in the YAML";
}

// A failed change and the rollback it caused are told in words, not as a YAML dump of the
// spec the VM went back to.
TEST(DescribeTest, AVmShowsItsLastChangeAndRollback) {
  Json vm = specs::ObjectToJson(MakeVm("wms01", "hv02", "running", "True", 3, 3));
  vm["status"]["healthyGeneration"] = 1;
  vm["status"]["healthySpec"] = Json{{"cpus", 2}, {"memoryMiB", 1024}};
  vm["status"]["change"] = Json{{"phase", "Failed"}, {"fromGeneration", 1}, {"toGeneration", 2},
                                {"started", "2026-12-05T01:00:00.000Z"},
                                {"deadline", "2026-12-05T01:02:00.000Z"}, {"snapshot", "s4"},
                                {"message", "generation 2 failed: not Ready"},
                                {"previousSpec", Json{{"memoryMiB", 1024}}}};
  vm["status"]["rollback"] = Json{{"phase", "Watching"}, {"target", "s4"},
                                  {"tried", Json::array({"s4"})},
                                  {"started", "2026-12-05T01:02:01.000Z"}};
  std::string text = Describe(vm, {});
  EXPECT_THAT(text, HasSubstr("Last change:\n  Generation:               1 -> 2\n"
                              "  Phase:                    Failed\n"));
  EXPECT_THAT(text, HasSubstr("  Before-change snapshot:   s4\n"));
  EXPECT_THAT(text, HasSubstr("  Message:                  generation 2 failed: not Ready\n"));
  EXPECT_THAT(text, HasSubstr("Last rollback:\n  Phase:      Watching\n  Snapshot:   s4\n"));
  EXPECT_THAT(text, HasSubstr("healthyGeneration: 1"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("previousSpec")));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("healthySpec")));
}

// describe host says which channels of failure detection answer (docs/failure-detection.md).
TEST(DescribeTest, AHostShowsItsSignals) {
  Json host = specs::ObjectToJson(MakeHost("hv01", true));
  EXPECT_THAT(Describe(host, {}), HasSubstr("Signals:\n  Management:   answers\n"));
  host["status"]["signals"] = {{"management", "no-answer"},
                               {"dataPlane", "2/2-answer"},
                               {"power", "unknown"},
                               {"verdict", "ManagementUnreachable"},
                               {"why", "the guests answer"}};
  const std::string text = Describe(host, {});
  EXPECT_THAT(text, HasSubstr("Signals:\n  Management:   no-answer\n  Data plane:   2/2-answer\n"
                              "  Power:        unknown\n  Verdict:      ManagementUnreachable\n"
                              "  Why:          the guests answer\n"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("signals:"))) << "not again in the YAML";
}

// get -o yaml/json and describe mask secrets even when a server sent them unmasked.
TEST(OutputSecretsTest, YamlJsonAndDescribeNeverShowASecret) {
  Json host = specs::ObjectToJson(MakeHost("hv01", true));
  host["spec"]["fencing"] = {{"agent", "fence_ipmilan"},
                             {"timeoutSeconds", 60},
                             {"args",
                              {{"ip", "10.0.0.11"},
                               {"password", "pw-cli-81"},
                               {"api_token", "tok-cli-82"},
                               {"passwordFile", "/etc/vmkeeper/hv01.pw"}}}};
  Json list = ListObject({host});
  for (const std::string& text :
       {ToYaml(host), ToJsonText(host), ToYaml(list), ToJsonText(list), Describe(host, {})}) {
    EXPECT_THAT(text, ::testing::Not(HasSubstr("pw-cli-81")));
    EXPECT_THAT(text, ::testing::Not(HasSubstr("tok-cli-82")));
    EXPECT_THAT(text, HasSubstr("10.0.0.11"));
    EXPECT_THAT(text, HasSubstr("/etc/vmkeeper/hv01.pw"));
  }
  EXPECT_THAT(ToYaml(host), HasSubstr("password: \"***\""));
  EXPECT_THAT(Describe(host, {}), HasSubstr("api_token: \"***\""));
}

TEST(DescribeTest, EmptyPartsSayNone) {
  Json vm = {{"kind", "VirtualMachine"}, {"metadata", {{"name", "x"}}}, {"spec", Json::object()}};
  std::string text = Describe(vm, {});
  EXPECT_THAT(text, HasSubstr("Conditions:\n  <none>\n"));
  EXPECT_THAT(text, HasSubstr("Events:\n  <none>\n"));
}

TEST(DescribeTest, StoragePoolShowsItsSpec) {
  Json pool = {{"apiVersion", "vmkeeper/v1"},
               {"kind", "StoragePool"},
               {"metadata", {{"name", "shared"}, {"generation", 1}}},
               {"spec",
                {{"type", "dir"},
                 {"path", "/srv/pools/shared"},
                 {"hostSelector", {{"storage", "nfs"}}},
                 {"hosts", Json::array()}}}};
  std::string text = Describe(pool, {});
  EXPECT_THAT(text, HasSubstr("Name:         shared\nKind:         StoragePool\n"));
  EXPECT_THAT(text, HasSubstr("Spec:\n  hostSelector:\n    storage: nfs\n  hosts: []\n"
                              "  path: /srv/pools/shared\n  type: dir\n"));
  EXPECT_THAT(text, HasSubstr("Status:\n  <none>\n"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("Incident:")));
}

TEST(DescribeTest, IncidentSectionShowsTheOpenIncident) {
  Json vm = specs::ObjectToJson(MakeVm("wms01", "hv02", "running", "True"));
  std::vector<reconciler::Incident> incidents = {
      MakeIncident(specs::Kind::kVirtualMachine, "wms01", "VmCrashed", "2026-11-27T10:00:00.000Z",
                   "2026-11-27T10:00:01.000Z", "2026-11-27T10:00:09.000Z", {"event"}),
      MakeIncident(specs::Kind::kVirtualMachine, "wms01", "HostFailure",
                   "2026-11-27T14:20:50.000Z", "2026-11-27T14:20:54.123Z", "",
                   {"heartbeat", "alert"}, {"fenced hv02", "started on hv03"})};
  std::string text = Describe(vm, {}, &incidents);
  EXPECT_THAT(text, HasSubstr("Incident:\n"
                              "  Type:       HostFailure\n"
                              "  Occurred:   2026-11-27T14:20:50.000Z\n"
                              "  Detected:   2026-11-27T14:20:54.123Z\n"
                              "  Sources:    heartbeat, alert\n"
                              "  Actions:\n"
                              "    fenced hv02\n"
                              "    started on hv03\n"
                              "Events:\n"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("VmCrashed")));
}

TEST(DescribeTest, IncidentSectionWithoutOpenIncidentSaysNone) {
  Json host = specs::ObjectToJson(MakeHost("hv01", true));
  std::vector<reconciler::Incident> closed = {
      MakeIncident(specs::Kind::kHost, "hv01", "HostFailure", "2026-11-27T10:00:00.000Z",
                   "2026-11-27T10:00:01.000Z", "2026-11-27T10:00:09.000Z", {"heartbeat"})};
  EXPECT_THAT(Describe(host, {}, &closed), HasSubstr("Incident:  <none>\nEvents:\n"));
  std::vector<reconciler::Incident> none;
  EXPECT_THAT(Describe(host, {}, &none), HasSubstr("Incident:  <none>\n"));
  // Kinds without incidents (null) get no section at all.
  EXPECT_THAT(Describe(host, {}), ::testing::Not(HasSubstr("Incident:")));
}

TEST(DescribeTest, OpenIncidentWithoutActionsOrSources) {
  Json vm = specs::ObjectToJson(MakeVm("wms01", "hv02", "running", "False"));
  std::vector<reconciler::Incident> incidents = {MakeIncident(
      specs::Kind::kVirtualMachine, "wms01", "VmStopped", "2026-11-27T14:20:50.000Z",
      "2026-11-27T14:20:51.000Z", "", {})};
  std::string text = Describe(vm, {}, &incidents);
  EXPECT_THAT(text, HasSubstr("  Sources:    <none>\n  Actions:    <none>\nEvents:\n"));
}

TEST(FormatIncidentsTest, OpenAndClosedWithMttr) {
  std::vector<reconciler::Incident> incidents = {
      MakeIncident(specs::Kind::kVirtualMachine, "wms01", "VmCrashed", "2026-11-27T14:20:50.000Z",
                   "2026-11-27T14:20:51.300Z", "2026-11-27T14:20:54.200Z", {"event", "probe"}),
      MakeIncident(specs::Kind::kHost, "hv02", "HostFailure", "2026-11-27T14:30:00.000Z",
                   "2026-11-27T14:30:12.000Z", "", {"heartbeat"})};
  EXPECT_EQ(FormatIncidents(incidents),
            "OBJECT      TYPE          OCCURRED                   DETECTED                   "
            "RECOVERED                  MTTR   SOURCES\n"
            "vm/wms01    VmCrashed     2026-11-27T14:20:50.000Z   2026-11-27T14:20:51.300Z   "
            "2026-11-27T14:20:54.200Z   4.2s   event,probe\n"
            "host/hv02   HostFailure   2026-11-27T14:30:00.000Z   2026-11-27T14:30:12.000Z   "
            "-                          -      heartbeat\n");
}

TEST(FormatIncidentsTest, MttrAcrossTimeZonesAndUnreadableTimes) {
  // recovered is written with an offset: 16:21:30+02:00 is 14:21:30Z, 100 s after occurred.
  std::vector<reconciler::Incident> incidents = {
      MakeIncident(specs::Kind::kVirtualMachine, "a", "VmCrashed", "2026-11-27T14:19:50Z",
                   "2026-11-27T14:19:51Z", "2026-11-27T16:21:30+02:00", {"event"}),
      MakeIncident(specs::Kind::kVirtualMachine, "b", "VmCrashed", "yesterday",
                   "2026-11-27T14:19:51Z", "2026-11-27T14:21:30Z", {"event"})};
  std::string table = FormatIncidents(incidents);
  EXPECT_THAT(table, HasSubstr("2026-11-27T16:21:30+02:00   1m40s   event\n"));
  EXPECT_THAT(table, HasSubstr("2026-11-27T14:21:30Z        ?       event\n"));
}

TEST(FormatElapsedTest, Units) {
  using std::chrono::milliseconds;
  EXPECT_EQ(FormatElapsed(milliseconds(0)), "0.0s");
  EXPECT_EQ(FormatElapsed(milliseconds(4200)), "4.2s");
  EXPECT_EQ(FormatElapsed(milliseconds(4249)), "4.2s");
  EXPECT_EQ(FormatElapsed(milliseconds(4250)), "4.3s");
  EXPECT_EQ(FormatElapsed(milliseconds(59'949)), "59.9s");
  EXPECT_EQ(FormatElapsed(milliseconds(59'950)), "1m0s");
  EXPECT_EQ(FormatElapsed(milliseconds(192'000)), "3m12s");
  EXPECT_EQ(FormatElapsed(milliseconds(7'500'000)), "2h5m");
  EXPECT_EQ(FormatElapsed(milliseconds(97'200'000)), "1d3h");
  EXPECT_EQ(FormatElapsed(milliseconds(-1500)), "0.0s");
}

TEST(IsObjectReadyTest, ReadyConditionAndGeneration) {
  EXPECT_TRUE(IsObjectReady(specs::ObjectToJson(MakeVm("a", "h", "running", "True"))));
  EXPECT_FALSE(IsObjectReady(specs::ObjectToJson(MakeVm("a", "h", "running", "False"))));
  // Ready for an older generation does not count.
  EXPECT_FALSE(IsObjectReady(specs::ObjectToJson(MakeVm("a", "h", "running", "True", 2, 1))));
  EXPECT_TRUE(IsObjectReady(specs::ObjectToJson(MakeHost("hv01", true))));
  specs::Object off = MakeVm("a", "h", "shutoff", "False");
  off.spec["running"] = false;
  EXPECT_TRUE(IsObjectReady(specs::ObjectToJson(off)));
}

TEST(FormatUnitsTest, MemoryAndSeconds) {
  EXPECT_EQ(FormatMemoryMiB(4096), "4Gi");
  EXPECT_EQ(FormatMemoryMiB(1536), "1536Mi");
  EXPECT_EQ(FormatMemoryMiB(0), "0Mi");
  EXPECT_EQ(FormatSeconds(86400), "1d");
  EXPECT_EQ(FormatSeconds(7200), "2h");
  EXPECT_EQ(FormatSeconds(300), "5m");
  EXPECT_EQ(FormatSeconds(90), "90s");
}

}  // namespace
}  // namespace vmk::cli
