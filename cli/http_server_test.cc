// The REST API end to end over loopback: the real cpprestsdk listener (HttpServer + ApiRouter)
// and the real client (HttpClient), against a FakeControlPlane.
#include "cli/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli/api_client.h"
#include "cli/api_router.h"
#include "cli/daemon_config.h"
#include "tests/fakes/fake_control_plane.h"
#include "cli/http_client.h"

namespace vmk::cli {
namespace {

using specs::Json;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(8 * 1024 * 1024); }

  void StartServer(size_t max_body_bytes) {
    server_.reset();
    HttpServerOptions options;
    options.listen = "127.0.0.1:0";
    options.max_body_bytes = max_body_bytes;
    server_ = std::make_unique<HttpServer>(
        options, [this](const HttpRequest& r) { return router_.Handle(r); }, RealClock::Get());
    ASSERT_TRUE(server_->Start().ok());
    auto client = HttpClient::Create("http://" + server_->address(), std::chrono::seconds(10));
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    client_ = std::move(client).value();
  }

  HttpResponse Send(const std::string& method, const std::string& path,
                    const std::string& body = "") {
    auto r = client_->Send(method, path, body);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : HttpResponse{};
  }

  static Json Body(const HttpResponse& r) { return Json::parse(r.body); }

  int Port() const { return ParseListenAddress(server_->address())->port; }

  // Sends raw bytes and returns the status line and headers of the reply (up to the blank line).
  std::string RawExchange(const std::string& request) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_GE(fd, 0);
    timeval tv{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(Port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    size_t sent = 0;
    while (sent < request.size()) {
      ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;  // the server may answer and close before reading everything
      sent += static_cast<size_t>(n);
    }
    std::string reply;
    char buf[4096];
    while (reply.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      reply.append(buf, static_cast<size_t>(n));
    }
    close(fd);
    return reply;
  }

  FakeControlPlane fake_;
  ApiRouter router_{&fake_};
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<HttpClient> client_;
};

std::string ApplyBody(bool dry_run = false, bool prune = false) {
  return Json{{"files", {{{"name", "examples/grid/vms.yaml"}, {"content", "kind: X\n"}}}},
              {"dryRun", dry_run},
              {"prune", prune}}
      .dump();
}

TEST_F(HttpServerTest, HealthzIsOk) {
  HttpResponse r = Send("GET", "/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok\n");
  EXPECT_THAT(r.content_type, StartsWith("text/plain"));
}

TEST_F(HttpServerTest, ReadyzFollowsControlPlane) {
  EXPECT_EQ(Send("GET", "/readyz").status, 200);
  fake_.ready = false;
  HttpResponse r = Send("GET", "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "not ready\n");
}

TEST_F(HttpServerTest, MetricsUsePrometheusTextFormat) {
  HttpResponse r = Send("GET", "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "vmkeeper_up 1\n");
  EXPECT_THAT(r.content_type, HasSubstr("version=0.0.4"));
}

TEST_F(HttpServerTest, ApplyPassesFilesAndOptionsAndReturnsResults) {
  fake_.apply_outcome.results = {{specs::Kind::kVirtualMachine, "wms01", "created"},
                                 {specs::Kind::kHost, "hv01", "unchanged"}};
  HttpResponse r = Send("POST", "/api/v1/apply", ApplyBody(true, true));
  ASSERT_EQ(r.status, 200) << r.body;
  Json body = Body(r);
  EXPECT_EQ(body["dryRun"], true);
  ASSERT_EQ(body["results"].size(), 2u);
  EXPECT_EQ(body["results"][0],
            (Json{{"kind", "VirtualMachine"}, {"name", "wms01"}, {"action", "created"}}));
  ASSERT_EQ(fake_.last_files.size(), 1u);
  EXPECT_EQ(fake_.last_files[0].name, "examples/grid/vms.yaml");
  EXPECT_EQ(fake_.last_files[0].content, "kind: X\n");
  EXPECT_TRUE(fake_.last_apply_options.dry_run);
  EXPECT_TRUE(fake_.last_apply_options.prune);
}

TEST_F(HttpServerTest, ApplyValidationErrorsAre422) {
  fake_.apply_outcome.errors = {"vms.yaml:3:7: spec.cpus: must be at least 1"};
  HttpResponse r = Send("POST", "/api/v1/apply", ApplyBody());
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(Body(r)["errors"], Json::array({"vms.yaml:3:7: spec.cpus: must be at least 1"}));
}

TEST_F(HttpServerTest, MalformedJsonIs400) {
  HttpResponse r = Send("POST", "/api/v1/apply", "{\"files\": [");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(Body(r)["error"].get<std::string>(), HasSubstr("malformed JSON"));
  EXPECT_EQ(fake_.apply_calls, 0);
}

TEST_F(HttpServerTest, MalformedRequestsAre400) {
  EXPECT_EQ(Send("POST", "/api/v1/apply", "").status, 400);
  EXPECT_EQ(Send("POST", "/api/v1/apply", "[1,2]").status, 400);
  EXPECT_EQ(Send("POST", "/api/v1/apply", R"({"files": []})").status, 400);
  EXPECT_EQ(Send("POST", "/api/v1/apply", R"({"files": [{"name": "a"}]})").status, 400);
  HttpResponse unknown =
      Send("POST", "/api/v1/apply", R"({"files": [{"name":"a","content":""}], "dryrun": true})");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_THAT(Body(unknown)["error"].get<std::string>(), HasSubstr("dryrun"));
  EXPECT_EQ(
      Send("POST", "/api/v1/apply", R"({"files": [{"name":"a","content":""}], "prune": "yes"})")
          .status,
      400);
  EXPECT_EQ(fake_.apply_calls, 0);
}

TEST_F(HttpServerTest, InternalErrorsAre500WithMessage) {
  fake_.fail_with = Status::Internal("disk on fire");
  HttpResponse r = Send("POST", "/api/v1/apply", ApplyBody());
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(Body(r)["error"], "disk on fire");
  EXPECT_EQ(Send("GET", "/api/v1/hosts").status, 500);
}

TEST_F(HttpServerTest, DiffReturnsDiffAndActions) {
  fake_.diff_outcome.changed = true;
  fake_.diff_outcome.diff = "--- a\n+++ b\n";
  fake_.diff_outcome.actions = {"start wms01 on hv02"};
  HttpResponse r = Send("POST", "/api/v1/diff", Json{{"files", {{{"name", "a.yaml"},
                                                                  {"content", ""}}}},
                                                     {"prune", true}}
                                                     .dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r), (Json{{"changed", true},
                           {"diff", "--- a\n+++ b\n"},
                           {"actions", {"start wms01 on hv02"}}}));
  EXPECT_TRUE(fake_.last_diff_prune);
}

TEST_F(HttpServerTest, BodyOverCapIs413) {
  StartServer(1024);
  std::string big = Json{{"files", {{{"name", "a"}, {"content", std::string(4096, 'x')}}}}}.dump();
  HttpResponse r = Send("POST", "/api/v1/apply", big);
  EXPECT_EQ(r.status, 413);
  EXPECT_THAT(Body(r)["error"].get<std::string>(), HasSubstr("1024"));
  EXPECT_EQ(fake_.apply_calls, 0);
  EXPECT_EQ(Send("POST", "/api/v1/apply", ApplyBody()).status, 200);  // under the cap
}

TEST_F(HttpServerTest, ContentLengthOverCapIsRefusedUnread) {
  StartServer(1024);
  // Content-Length says 64 KiB: refused on the header, the handler never runs.
  std::string reply = RawExchange(
      "POST /api/v1/apply HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
      "Content-Length: 65536\r\n\r\n" +
      std::string(65536, '{'));
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 413"));
  EXPECT_EQ(fake_.apply_calls, 0);
}

TEST_F(HttpServerTest, ChunkedBodiesAre411) {
  StartServer(1024);
  std::string chunk(1000, 'x');
  std::string request =
      "POST /api/v1/apply HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; ++i) request += "3e8\r\n" + chunk + "\r\n";
  request += "0\r\n\r\n";
  EXPECT_THAT(RawExchange(request), StartsWith("HTTP/1.1 411"));
  EXPECT_EQ(fake_.apply_calls, 0);
}

TEST_F(HttpServerTest, UnknownRoutesAre404) {
  EXPECT_EQ(Send("GET", "/nope").status, 404);
  EXPECT_EQ(Send("GET", "/api/v1/pods").status, 404);
  EXPECT_EQ(Send("GET", "/api/v2/hosts").status, 404);
  EXPECT_EQ(Send("GET", "/api/v1/hosts/a/b").status, 404);
}

TEST_F(HttpServerTest, WrongMethodsAre405WithAllow) {
  HttpResponse r = Send("GET", "/api/v1/apply");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(Send("POST", "/api/v1/hosts", "{}").status, 405);
  EXPECT_EQ(Send("PUT", "/api/v1/hosts/hv01", "{}").status, 405);
  EXPECT_EQ(Send("DELETE", "/healthz").status, 405);
}

TEST_F(HttpServerTest, GetAndListObjects) {
  fake_.Put(MakeVm("wms01", "hv02", "running", "True"));
  fake_.Put(MakeVm("ce01", "hv01", "running", "True"));
  fake_.Put(MakeHost("hv01", true));

  HttpResponse one = Send("GET", "/api/v1/virtualmachines/wms01");
  ASSERT_EQ(one.status, 200);
  Json vm = Body(one);
  EXPECT_EQ(vm["apiVersion"], "vmkeeper/v1");
  EXPECT_EQ(vm["kind"], "VirtualMachine");
  EXPECT_EQ(vm["metadata"]["name"], "wms01");
  EXPECT_EQ(vm["status"]["host"], "hv02");

  HttpResponse list = Send("GET", "/api/v1/virtualmachines");
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(Body(list)["items"].size(), 2u);
  EXPECT_EQ(Body(list)["items"][0]["metadata"]["name"], "ce01");
  EXPECT_EQ(Body(Send("GET", "/api/v1/hosts"))["items"].size(), 1u);
  EXPECT_EQ(Body(Send("GET", "/api/v1/snapshotpolicies"))["items"], Json::array());
}

TEST_F(HttpServerTest, MissingObjectIs404WithMessage) {
  HttpResponse r = Send("GET", "/api/v1/virtualmachines/x");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(Body(r)["error"], "virtualmachine \"x\" not found");
}

TEST_F(HttpServerTest, NamesArePercentDecoded) {
  fake_.Put(MakeVm("a b", "hv01", "running", "True"));
  EXPECT_EQ(Send("GET", "/api/v1/virtualmachines/a%20b").status, 200);
}

TEST_F(HttpServerTest, DeleteStatuses) {
  fake_.Put(MakeHost("hv01", true));
  HttpResponse ok = Send("DELETE", "/api/v1/hosts/hv01");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(Body(ok), (Json{{"kind", "Host"}, {"name", "hv01"}, {"action", "deleted"}}));
  HttpResponse missing = Send("DELETE", "/api/v1/hosts/hv01");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(Body(missing)["error"], "host \"hv01\" not found");
  fake_.delete_status = Status::FailedPrecondition("host hv01 still has 2 VMs");
  HttpResponse conflict = Send("DELETE", "/api/v1/hosts/hv02");
  EXPECT_EQ(conflict.status, 409);
  EXPECT_EQ(Body(conflict)["error"], "host hv01 still has 2 VMs");
}

TEST_F(HttpServerTest, EventsFilterAndPage) {
  for (int i = 1; i <= 5; ++i) {
    fake_.events.push_back({i, "2026-11-27T14:20:5" + std::to_string(i) + ".000Z",
                            specs::Kind::kVirtualMachine, i % 2 ? "wms01" : "ce01", "Normal",
                            "Started", "started on hv0" + std::to_string(i)});
  }
  HttpResponse r = Send("GET", "/api/v1/events?kind=VirtualMachine&name=wms01&after=1&limit=1");
  ASSERT_EQ(r.status, 200) << r.body;
  Json items = Body(r)["items"];
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0], (Json{{"seq", 5},
                            {"time", "2026-11-27T14:20:55.000Z"},
                            {"kind", "VirtualMachine"},
                            {"name", "wms01"},
                            {"type", "Normal"},
                            {"reason", "Started"},
                            {"message", "started on hv05"}}));
  ASSERT_TRUE(fake_.last_events_object.has_value());
  EXPECT_EQ(fake_.last_events_object->name, "wms01");
  EXPECT_EQ(fake_.last_events_after, 1);
  EXPECT_EQ(fake_.last_events_limit, 1u);

  EXPECT_EQ(Body(Send("GET", "/api/v1/events"))["items"].size(), 5u);
  EXPECT_EQ(fake_.last_events_limit, ApiRouter::kDefaultEventLimit);
  EXPECT_EQ(Send("GET", "/api/v1/events?limit=zero").status, 400);
  EXPECT_EQ(Send("GET", "/api/v1/events?limit=0").status, 400);
  EXPECT_EQ(Send("GET", "/api/v1/events?kind=VirtualMachine").status, 400);
  EXPECT_EQ(Send("GET", "/api/v1/events?kind=Pod&name=x").status, 400);
  EXPECT_EQ(Send("GET", "/api/v1/events?colour=red").status, 400);
}

// An Alertmanager webhook delivery (payload version 4) as Alertmanager sends it.
constexpr char kAlertmanagerBody[] = R"({
  "version": "4", "groupKey": "{}:{alertname=\"HostDown\"}", "truncatedAlerts": 0,
  "status": "firing", "receiver": "vmkeeper", "groupLabels": {"alertname": "HostDown"},
  "commonLabels": {"alertname": "HostDown"}, "commonAnnotations": {},
  "externalURL": "http://alertmanager:9093",
  "alerts": [{"status": "firing", "labels": {"alertname": "HostDown", "instance": "hv02"},
              "annotations": {}, "startsAt": "2026-11-27T14:20:50.000Z",
              "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": "a1b2"}]
})";

class IncidentsApiTest : public HttpServerTest {
 protected:
  void SetUp() override {
    HttpServerTest::SetUp();
    fake_.incidents = {
        MakeIncident(specs::Kind::kVirtualMachine, "wms01", "VmCrashed",
                     "2026-11-27T14:20:50.000Z", "2026-11-27T14:20:51.000Z",
                     "2026-11-27T14:20:54.200Z", {"event"}, {"restarted on hv02"}),
        MakeIncident(specs::Kind::kHost, "hv01", "HostFailure", "2026-11-27T14:30:00.000Z",
                     "2026-11-27T14:30:12.000Z", "", {"heartbeat", "alert"}, {"fenced hv01"})};
  }
};

TEST_F(IncidentsApiTest, ListsAllIncidentsAsJson) {
  HttpResponse r = Send("GET", "/api/v1/incidents");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/json");
  Json items = Body(r)["items"];
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0], fake_.incidents[0].ToJson());
  EXPECT_EQ(items[1], (Json{{"id", "Host-hv01-2026-11-27T14:30:12.000Z"},
                            {"kind", "Host"},
                            {"name", "hv01"},
                            {"type", "HostFailure"},
                            {"occurred", "2026-11-27T14:30:00.000Z"},
                            {"detected", "2026-11-27T14:30:12.000Z"},
                            {"recovered", ""},
                            {"sources", {"heartbeat", "alert"}},
                            {"actions", {"fenced hv01"}},
                            {"confirmed", true}}));
  EXPECT_FALSE(fake_.last_incidents_object.has_value());
}

TEST_F(HttpServerTest, AvailabilityTakesItsQueryAndRefusesWhatItDoesNotKnow) {
  HttpResponse ok = Send("GET", "/api/v1/availability?vm=wms01&window=7d&groupBy=service");
  ASSERT_EQ(ok.status, 200) << ok.body;
  ASSERT_TRUE(fake_.last_availability_query.has_value());
  EXPECT_EQ(fake_.last_availability_query->vm, "wms01");
  EXPECT_EQ(fake_.last_availability_query->window, std::chrono::hours(24 * 7));
  EXPECT_EQ(fake_.last_availability_query->group_by, "service");
  EXPECT_TRUE(Body(ok).contains("total"));
  fake_.last_availability_query.reset();
  EXPECT_EQ(Send("GET", "/api/v1/availability?window=soon").status, 400);
  EXPECT_EQ(Send("GET", "/api/v1/availability?since=1d").status, 400);
  EXPECT_EQ(Send("GET", "/api/v1/availability?vm=a&selector=b=c").status, 400);
  EXPECT_EQ(Send("POST", "/api/v1/availability").status, 405);
  EXPECT_FALSE(fake_.last_availability_query.has_value());
  fake_.fail_with = Status::NotFound("no VirtualMachine named x");
  EXPECT_EQ(Send("GET", "/api/v1/availability?vm=x").status, 404);
}

TEST_F(IncidentsApiTest, FiltersByObject) {
  HttpResponse r = Send("GET", "/api/v1/incidents?kind=Host&name=hv01");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(Body(r)["items"].size(), 1u);
  EXPECT_EQ(Body(r)["items"][0]["name"], "hv01");
  ASSERT_TRUE(fake_.last_incidents_object.has_value());
  EXPECT_EQ(fake_.last_incidents_object->kind, specs::Kind::kHost);
  EXPECT_EQ(fake_.last_incidents_object->name, "hv01");

  // CLI spellings of the kind work too, as for events.
  HttpResponse vm = Send("GET", "/api/v1/incidents?kind=vm&name=wms01");
  ASSERT_EQ(vm.status, 200) << vm.body;
  EXPECT_EQ(fake_.last_incidents_object->kind, specs::Kind::kVirtualMachine);
  EXPECT_EQ(Body(vm)["items"][0]["type"], "VmCrashed");
  EXPECT_EQ(Body(Send("GET", "/api/v1/incidents?kind=Host&name=hv09"))["items"], Json::array());
}

TEST_F(IncidentsApiTest, BadFiltersAre400AndNeverReachTheControlPlane) {
  HttpResponse half = Send("GET", "/api/v1/incidents?kind=Host");
  EXPECT_EQ(half.status, 400);
  EXPECT_EQ(Body(half)["error"], "query parameters kind and name must be given together");
  EXPECT_EQ(Send("GET", "/api/v1/incidents?name=hv01").status, 400);
  HttpResponse kind = Send("GET", "/api/v1/incidents?kind=Pod&name=x");
  EXPECT_EQ(kind.status, 400);
  EXPECT_EQ(Body(kind)["error"], "unknown kind \"Pod\"");
  HttpResponse unknown = Send("GET", "/api/v1/incidents?after=3");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(Body(unknown)["error"], "unknown query parameter \"after\"");
  EXPECT_EQ(fake_.incidents_calls, 0);
}

TEST_F(IncidentsApiTest, ControlPlaneErrorsMapToHttpStatuses) {
  fake_.fail_with = Status::Unavailable("store is not open");
  HttpResponse r = Send("GET", "/api/v1/incidents");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(Body(r)["error"], "store is not open");
  fake_.fail_with = Status::Internal("disk on fire");
  EXPECT_EQ(Send("GET", "/api/v1/incidents").status, 500);
}

TEST_F(IncidentsApiTest, AlertsPassTheBodyAsIsAndReturnCounts) {
  fake_.alerts_outcome.accepted = 2;
  fake_.alerts_outcome.repeated = 1;
  fake_.alerts_outcome.skipped = {"HostDown: instance \"hv09\" is no known host"};
  HttpResponse r = Send("POST", "/api/v1/alerts", kAlertmanagerBody);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r), (Json{{"accepted", 2},
                           {"repeated", 1},
                           {"skipped", {"HostDown: instance \"hv09\" is no known host"}}}));
  EXPECT_EQ(fake_.alerts_calls, 1);
  EXPECT_EQ(fake_.last_alerts_body, kAlertmanagerBody);

  fake_.alerts_outcome = {};
  EXPECT_EQ(Body(Send("POST", "/api/v1/alerts", kAlertmanagerBody)),
            (Json{{"accepted", 0}, {"repeated", 0}, {"skipped", Json::array()}}));
}

TEST_F(IncidentsApiTest, MalformedAlertsAre400) {
  fake_.alerts_status = Status::InvalidArgument("not an Alertmanager webhook: version must be 4");
  HttpResponse r = Send("POST", "/api/v1/alerts", R"({"version": "3", "alerts": []})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Body(r)["error"], "not an Alertmanager webhook: version must be 4");
  EXPECT_EQ(fake_.alerts_calls, 1);

  HttpResponse empty = Send("POST", "/api/v1/alerts", "");
  EXPECT_EQ(empty.status, 400);
  EXPECT_THAT(Body(empty)["error"].get<std::string>(), HasSubstr("empty"));
  EXPECT_EQ(fake_.alerts_calls, 1) << "an empty body never reaches the control plane";

  fake_.alerts_status = Status::Internal("store write failed");
  EXPECT_EQ(Send("POST", "/api/v1/alerts", kAlertmanagerBody).status, 500);
}

TEST_F(IncidentsApiTest, AlertsOverTheBodyCapAre413) {
  StartServer(256);
  HttpResponse r = Send("POST", "/api/v1/alerts", kAlertmanagerBody);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(fake_.alerts_calls, 0);
}

TEST_F(IncidentsApiTest, WrongMethodsAre405) {
  EXPECT_EQ(Send("GET", "/api/v1/alerts").status, 405);
  // The client does not surface extra headers: ask the router directly for Allow.
  HttpRequest get_request;
  get_request.method = "GET";
  get_request.path = "/api/v1/alerts";
  HttpResponse get_alerts = router_.Handle(get_request);
  EXPECT_EQ(get_alerts.status, 405);
  EXPECT_THAT(get_alerts.headers, ::testing::Contains(std::make_pair(std::string("Allow"),
                                                                     std::string("POST"))));
  HttpRequest post_request;
  post_request.method = "POST";
  post_request.path = "/api/v1/incidents";
  post_request.body = "{}";
  HttpResponse post_incidents = router_.Handle(post_request);
  EXPECT_EQ(post_incidents.status, 405);
  EXPECT_THAT(post_incidents.headers, ::testing::Contains(std::make_pair(std::string("Allow"),
                                                                         std::string("GET"))));
  EXPECT_EQ(Send("POST", "/api/v1/incidents", "{}").status, 405);
  EXPECT_EQ(Send("DELETE", "/api/v1/incidents").status, 405);
  EXPECT_EQ(Send("GET", "/api/v1/incidents/x").status, 404);
  EXPECT_EQ(Send("POST", "/api/v1/alerts/x", kAlertmanagerBody).status, 404);
  EXPECT_EQ(fake_.incidents_calls, 0);
  EXPECT_EQ(fake_.alerts_calls, 0);
}

TEST_F(IncidentsApiTest, ApiClientRoundTrip) {
  auto client = ApiClient::Create("http://" + server_->address(), std::chrono::seconds(10));
  ASSERT_TRUE(client.ok()) << client.status().ToString();

  auto all = (*client)->Incidents(std::nullopt);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].ToJson(), fake_.incidents[0].ToJson());
  EXPECT_TRUE((*all)[1].open());

  fake_.incidents.push_back(MakeIncident(specs::Kind::kVirtualMachine, "a b&c", "VmStopped",
                                         "2026-11-27T15:00:00.000Z", "2026-11-27T15:00:01.000Z",
                                         "", {"probe"}));
  auto one = (*client)->Incidents(reconciler::ObjectRef{specs::Kind::kVirtualMachine, "a b&c"});
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].name, "a b&c");
  EXPECT_EQ(fake_.last_incidents_object->name, "a b&c");

  fake_.alerts_outcome = {1, 2, {"skipped one"}};
  auto outcome = (*client)->PostAlerts(kAlertmanagerBody);
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(outcome->accepted, 1);
  EXPECT_EQ(outcome->repeated, 2);
  EXPECT_EQ(outcome->skipped, std::vector<std::string>{"skipped one"});

  fake_.alerts_status = Status::InvalidArgument("alerts must be an array");
  auto bad = (*client)->PostAlerts("{}");
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "alerts must be an array");
}

TEST_F(HttpServerTest, PortTakenByAnotherProcessFailsCleanly) {
  // A plain listening socket stands in for the other process.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  HttpServerOptions options;
  options.listen = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  HttpServer other(options, [](const HttpRequest&) { return HttpResponse{}; }, RealClock::Get());
  Status started = other.Start();
  close(fd);
  EXPECT_EQ(started.code(), StatusCode::kUnavailable) << started.ToString();
  EXPECT_THAT(started.message(), HasSubstr(options.listen));
  EXPECT_EQ(Send("GET", "/healthz").status, 200);  // the test server is unaffected
}

TEST_F(HttpServerTest, ClientReportsUnreachableServer) {
  std::string address = server_->address();
  server_->Stop();
  auto r = client_->Send("GET", "/healthz");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(),
            "cannot reach vmkeeperd at http://" + address + ": connection refused");
}

}  // namespace
}  // namespace vmk::cli
