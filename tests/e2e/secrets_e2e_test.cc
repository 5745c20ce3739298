// End to end: secrets are never shown (issue 10, part 6). A real vmkeeperd holds two Hosts whose
// fencing has inline secrets (password, api_token) and a passwordFile; its fence agent is
// hostile, echoing every option it gets. Everything a user, a CI log or an admin's inbox could
// see is collected (the CLI's get -o yaml/json/wide, describe, diff, events and incidents, the
// REST API's GET bodies, the daemon's log, the webhook notifications, the audit log) and searched for each
// secret value: none may appear, while the agent's echo (masked) and the secret change in diff
// ("(secret changed)") must, so the test would see a leak if there were one.
#include <sys/stat.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/e2e/daemon_harness.h"
#include "tests/fakes/closed_port.h"
#include "tests/fakes/loopback_http_server.h"

namespace vmk::e2e {
namespace {

using ::testing::HasSubstr;

const char* const kSecrets[] = {"pw-inline-e2e-91", "tok-e2e-92", "pw-file-e2e-93",
                                "pw-changed-e2e-94"};

class SecretsE2eTest : public ::testing::Test {
 protected:
  SecretsE2eTest() : scratch_("secrets"), daemon_(scratch_.path() / "state") {}

  void SetUp() override {
    // The hostile agent: all its stdin on stderr, one line, and a failure.
    const fs::path agent = scratch_.path() / "agents" / "fence_echo";
    WriteFile(agent, "#!/bin/bash\ntr '\\n' ' ' >&2\necho >&2\nexit 1\n");
    ASSERT_EQ(chmod(agent.c_str(), 0755), 0);
    WriteFile(scratch_.path() / "hv02.pw", "pw-file-e2e-93\n");
    ASSERT_TRUE(daemon_.Start({"--fence-agent-dir", (scratch_.path() / "agents").string(),
                               "--notify-url", receiver_.Url("/hook"), "--audit-log",
                               (scratch_.path() / "audit.log").string()}))
        << daemon_.Log();
  }

  CommandResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {BinDir() + "/vmkeeper", "--server", daemon_.server()});
    CommandResult r = RunCommand(args, scratch_.path());
    seen_ += r.out + r.err;
    return r;
  }

  // Both hosts with a VM each; `uri1`/`uri2` empty = their embedded test hosts.
  fs::path Manifests(const std::string& password, const std::string& uri1 = "",
                     const std::string& uri2 = "") {
    auto host = [](const std::string& name, const std::string& uri, const std::string& args) {
      return "apiVersion: vmkeeper/v1\nkind: Host\nmetadata: {name: " + name + "}\nspec:\n" +
             "  uri: \"" + uri + "\"\n  capacity: {cpus: 8, memoryMiB: 8192}\n" +
             "  fencing:\n    agent: fence_echo\n    timeoutSeconds: 10\n    args: " + args +
             "\n---\n";
    };
    auto vm = [](const std::string& name, const std::string& host) {
      return "apiVersion: vmkeeper/v1\nkind: VirtualMachine\nmetadata: {name: " + name +
             "}\nspec:\n  memoryMiB: 256\n  disks: [{name: root, image: /img/" + name +
             ".qcow2, format: qcow2}]\n  placement: {requiredHosts: [" + host + "]}\n---\n";
    };
    std::string yaml =
        host("hv01", uri1.empty() ? "test:///embedded/hv01" : uri1,
             "{ip: 10.9.9.1, login: admin, password: " + password + ", api_token: tok-e2e-92}") +
        host("hv02", uri2.empty() ? "test:///embedded/hv02" : uri2,
             "{ip: 10.9.9.2, passwordFile: \"" + (scratch_.path() / "hv02.pw").string() + "\"}") +
        vm("v1", "hv01") + vm("v2", "hv02");
    fs::path file = scratch_.path() / ("fleet-" + std::to_string(++manifests_) + ".yaml");
    WriteFile(file, yaml);
    return file;
  }

  // The bodies of GETs of `paths` from the REST API, as any client gets them.
  std::string Api(const std::vector<std::string>& paths) {
    const std::string server = daemon_.server();
    const int port = std::stoi(server.substr(server.rfind(':') + 1));
    std::string bodies;
    for (const std::string& path : paths) {
      HttpResult r = HttpRequest(port, "GET", path);
      EXPECT_EQ(r.status, 200) << path;
      bodies += r.body + "\n";
    }
    return bodies;
  }

  ScratchDir scratch_;
  fakes::LoopbackHttpServer receiver_;
  Daemon daemon_;
  std::string seen_;  // every CLI output so far
  int manifests_ = 0;
};

TEST_F(SecretsE2eTest, NoOutputEdgeShowsASecret) {
  auto applied = Cli({"apply", "-f", Manifests("pw-inline-e2e-91").string(), "--wait",
                      "--timeout", "60s"});
  ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;

  // get and describe, every output form.
  for (const char* form : {"yaml", "json", "wide"}) {
    auto got = Cli({"get", "hosts", "-o", form});
    EXPECT_EQ(got.exit_code, 0) << got.err;
    EXPECT_THAT(got.out, HasSubstr("hv01"));
  }
  auto one = Cli({"get", "host", "hv01", "-o", "yaml"});
  EXPECT_THAT(one.out, HasSubstr("password: \"***\""));
  EXPECT_THAT(one.out, HasSubstr("api_token: \"***\""));
  EXPECT_THAT(one.out, HasSubstr("login: admin"));
  EXPECT_THAT(Cli({"get", "host", "hv02", "-o", "json"}).out, HasSubstr("hv02.pw"));
  for (const char* host : {"hv01", "hv02"}) {
    EXPECT_THAT(Cli({"describe", "host", host}).out, HasSubstr("fence_echo"));
  }
  // The REST API's GET bodies, as any client gets them.
  std::string api = Api({"/api/v1/hosts", "/api/v1/hosts/hv01", "/api/v1/hosts/hv02"});
  EXPECT_THAT(api, HasSubstr("\"password\":\"***\""));

  // A get -o yaml applied back is refused, pointing to the File form: the mask never replaces
  // the secret.
  const fs::path round_trip = scratch_.path() / "round-trip.yaml";
  WriteFile(round_trip, one.out);
  auto refused = Cli({"apply", "-f", round_trip.string()});
  EXPECT_EQ(refused.exit_code, 1) << refused.out;
  EXPECT_THAT(refused.err, HasSubstr("spec.fencing.args.password: must be the secret"));
  EXPECT_THAT(refused.err, HasSubstr("passwordFile"));

  // diff: the unchanged secret makes no line, the changed one shows as changed.
  EXPECT_EQ(Cli({"diff", "-f", Manifests("pw-inline-e2e-91").string()}).exit_code, 0);
  auto diff = Cli({"diff", "-f", Manifests("pw-changed-e2e-94").string()});
  EXPECT_EQ(diff.exit_code, 1) << diff.err;
  EXPECT_THAT(diff.out, HasSubstr("-      password: \"***\"\n"
                                  "+      password: \"*** (secret changed)\"\n"));

  // Both hosts fail (their URIs now refuse): the failover fences them with the echoing agent,
  // which fails: events, incidents, log and notifications carry its (masked) words.
  fakes::ClosedPort closed1, closed2;
  auto dead = [](const fakes::ClosedPort& port) {
    return "qemu+tcp://127.0.0.1:" + std::to_string(port.port()) + "/system";
  };
  auto failed =
      Cli({"apply", "-f", Manifests("pw-inline-e2e-91", dead(closed1), dead(closed2)).string()});
  ASSERT_EQ(failed.exit_code, 0) << failed.out << failed.err;
  for (const char* host : {"hv01", "hv02"}) {
    EXPECT_TRUE(WaitFor(
        [&] {
          return Cli({"events", "--for", std::string("host/") + host}).out.find("FencingFailed") !=
                 std::string::npos;
        },
        std::chrono::seconds(90)))
        << host << "\n" << daemon_.Log().substr(0, 4000);
  }
  auto events = Cli({"events"});
  EXPECT_THAT(events.out, HasSubstr("password=***"));  // the agent did echo
  EXPECT_THAT(events.out, HasSubstr("api_token=***"));
  api += Api({"/api/v1/events", "/api/v1/incidents", "/api/v1/hosts"});
  Cli({"incidents", "-o", "json"});
  Cli({"describe", "host", "hv01"});
  Cli({"describe", "host", "hv02"});
  ASSERT_TRUE(receiver_.WaitForRequests(2, std::chrono::seconds(30)));
  std::string notifications;
  for (const auto& request : receiver_.requests()) notifications += request.body + "\n";
  EXPECT_THAT(notifications, HasSubstr("FencingFailed"));
  EXPECT_THAT(notifications, HasSubstr("password=***"));

  EXPECT_EQ(daemon_.Terminate(), 0);
  const std::string log = daemon_.Log();
  EXPECT_THAT(log, HasSubstr("fence agent failed"));
  // The applies (with their inline secrets in the bodies) and the diff are audited, by name.
  const std::string audit = ReadFile(scratch_.path() / "audit.log");
  EXPECT_THAT(audit, HasSubstr("\"path\":\"/api/v1/apply\""));
  EXPECT_THAT(audit, HasSubstr("Host/hv01"));
  for (const char* secret : kSecrets) {
    EXPECT_EQ(seen_.find(secret), std::string::npos) << secret << " in a CLI output:\n" << seen_;
    EXPECT_EQ(api.find(secret), std::string::npos) << secret << " in an API body";
    EXPECT_EQ(log.find(secret), std::string::npos) << secret << " in the daemon's log";
    EXPECT_EQ(notifications.find(secret), std::string::npos) << secret << " notified";
    EXPECT_EQ(audit.find(secret), std::string::npos) << secret << " in the audit log";
  }
}

}  // namespace
}  // namespace vmk::e2e
