// WebhookNotifier against real loopback HTTP servers run by the test (the shared
// LoopbackHttpServer); backoff time is driven by a FakeClock, HTTP timeouts are real (and
// short). Also the JSON contract and FakeNotifier.
#include "providers/notify/webhook_notifier.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "tests/fakes/closed_port.h"
#include "tests/fakes/fake_notifier.h"
#include "tests/fakes/loopback_http_server.h"
#include "providers/notify/notifier.h"

namespace vmk::providers {
namespace {

using fakes::ReceivedRequest;
using fakes::Reply;
using std::chrono::milliseconds;
using std::chrono::seconds;
using SteadyClock = std::chrono::steady_clock;

// How long a test waits for something that should happen promptly (a generous bound, only
// reached when the code under test is broken).
constexpr milliseconds kWait{10'000};

const Reply kOk =
    Reply::Raw("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
const Reply kServerError = Reply::Raw(
    "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
const Reply kNotFound =
    Reply::Raw("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
// Read the request, then never answer (until the client closes or the server stops).
const Reply kHang = Reply::NeverAnswer();

// The shared loopback server (tests/fakes/loopback_http_server.h): it takes one connection at a
// time, records each request (request line, lower-cased headers, body) before answering it with
// the next scripted reply, or the default one (kOk unless given) once the script is used up.
class WebhookServer : public fakes::LoopbackHttpServer {
 public:
  explicit WebhookServer(std::vector<Reply> script, Reply default_reply = kOk)
      : LoopbackHttpServer(std::move(script), std::move(default_reply)) {}
  std::string Url(const std::string& path = "/hook") const { return LoopbackHttpServer::Url(path); }
};

// A FakeClock that also remembers the deadline of the latest WaitUntil, so tests can check the
// backoff schedule exactly.
class RecordingClock : public Clock {
 public:
  MonoTime Now() const override { return fake_.Now(); }
  WallTime WallNow() const override { return fake_.WallNow(); }
  void WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 MonoTime deadline) override {
    {
      MutexLock l(&mu_);
      last_deadline_ = deadline;
    }
    fake_.WaitUntil(lock, cv, deadline);
  }
  void Advance(Duration d) { fake_.Advance(d); }
  MonoTime last_deadline() const {
    MutexLock l(&mu_);
    return last_deadline_;
  }

 private:
  FakeClock fake_;
  mutable Mutex mu_;
  MonoTime last_deadline_ GUARDED_BY(mu_) = MonoTime();
};

Notification SampleNotification(const std::string& name = "wms01") {
  Notification n;
  n.kind = "VirtualMachine";
  n.name = name;
  n.event = "Recovered";
  n.incident_id = "inc-0042";
  n.type = "VmCrashed";
  n.occurred = "2026-11-27T14:20:50.000Z";
  n.detected = "2026-11-27T14:20:54.123Z";
  n.recovered = "2026-11-27T14:21:30.500Z";
  n.message = "restarted on hv01 after a crash";
  n.actions = {"restarted"};
  return n;
}

std::string NameInBody(const ReceivedRequest& request) {
  return nlohmann::json::parse(request.body).at("name").get<std::string>();
}

WebhookNotifierOptions OptionsFor(const std::string& url) {
  WebhookNotifierOptions options;
  options.url = url;
  options.timeout = milliseconds(5000);
  options.max_attempts = 5;
  options.initial_backoff = seconds(1);
  options.max_backoff = seconds(60);
  options.max_queue = 100;
  return options;
}

std::unique_ptr<WebhookNotifier> MustCreate(WebhookNotifierOptions options, Clock* clock) {
  auto created = WebhookNotifier::Create(std::move(options), clock);
  EXPECT_TRUE(created.ok()) << created.status().ToString();
  return created.ok() ? std::move(created).value() : nullptr;
}

// --- The JSON contract ------------------------------------------------------------------------

TEST(NotificationJsonTest, FullBodyHasTheDocumentedFieldsInOrder) {
  Notification n;
  n.kind = "Host";
  n.name = "hv01";
  n.event = "Recovered";
  n.incident_id = "inc-7";
  n.type = "HostFailure";
  n.occurred = "2026-11-27T14:20:50.000Z";
  n.detected = "2026-11-27T14:20:54.123Z";
  n.recovered = "2026-11-27T14:22:00.000Z";
  n.message = "failed over \"wms01\"";
  n.actions = {"fenced hv01", "started wms01 on hv02"};
  EXPECT_EQ(n.ToJson(),
            R"({"kind":"Host","name":"hv01","event":"Recovered","recovered":true,)"
            R"("incidentId":"inc-7","incidentType":"HostFailure",)"
            R"("occurredAt":"2026-11-27T14:20:50.000Z","detectedAt":"2026-11-27T14:20:54.123Z",)"
            R"("recoveredAt":"2026-11-27T14:22:00.000Z","message":"failed over \"wms01\"",)"
            R"("actions":["fenced hv01","started wms01 on hv02"]})");
}

TEST(NotificationJsonTest, UnknownOptionalFieldsAreNullAndNotRecovered) {
  Notification n;
  n.kind = "VirtualMachine";
  n.name = "ce01";
  n.event = "GaveUp";
  EXPECT_EQ(n.ToJson(),
            R"({"kind":"VirtualMachine","name":"ce01","event":"GaveUp","recovered":false,)"
            R"("incidentId":null,"incidentType":null,"occurredAt":null,"detectedAt":null,)"
            R"("recoveredAt":null,"message":"","actions":[]})");
}

TEST(NotificationJsonTest, InvalidUtf8IsReplacedInsteadOfThrowing) {
  Notification n;
  n.kind = "VirtualMachine";
  n.name = "bad\xff";
  n.event = "Failed";
  auto parsed = nlohmann::json::parse(n.ToJson());
  EXPECT_EQ(parsed.at("name").get<std::string>(), "bad\xEF\xBF\xBD");  // U+FFFD
}

// --- Delivery ---------------------------------------------------------------------------------

TEST(WebhookNotifierTest, PostsTheExactJsonBodyWithContentTypeAndLength) {
  WebhookServer server({});
  FakeClock clock;
  auto notifier = MustCreate(OptionsFor(server.Url("/hooks/vmkeeper?token=s3cret")), &clock);
  ASSERT_NE(notifier, nullptr);
  Notification n = SampleNotification();
  notifier->Notify(n);
  ASSERT_TRUE(notifier->WaitUntilIdle(kWait));

  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  const ReceivedRequest& r = requests[0];
  EXPECT_EQ(r.request_line, "POST /hooks/vmkeeper?token=s3cret HTTP/1.1");
  EXPECT_EQ(r.headers.at("host"), "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(r.headers.at("content-type"), "application/json");
  const std::string expected_body =
      R"({"kind":"VirtualMachine","name":"wms01","event":"Recovered","recovered":true,)"
      R"("incidentId":"inc-0042","incidentType":"VmCrashed",)"
      R"("occurredAt":"2026-11-27T14:20:50.000Z","detectedAt":"2026-11-27T14:20:54.123Z",)"
      R"("recoveredAt":"2026-11-27T14:21:30.500Z","message":"restarted on hv01 after a crash",)"
      R"("actions":["restarted"]})";
  EXPECT_EQ(r.body, expected_body);
  EXPECT_EQ(r.headers.at("content-length"), std::to_string(expected_body.size()));
  EXPECT_EQ(notifier->sent(), 1u);
  EXPECT_EQ(notifier->attempts(), 1u);
  EXPECT_EQ(notifier->failed(), 0u);
  EXPECT_EQ(notifier->dropped(), 0u);
}

TEST(WebhookNotifierTest, UrlWithoutPathPostsToTheRoot) {
  WebhookServer server({});
  FakeClock clock;
  auto notifier = MustCreate(OptionsFor(server.Url("")), &clock);
  ASSERT_NE(notifier, nullptr);
  notifier->Notify(SampleNotification());
  ASSERT_TRUE(notifier->WaitUntilIdle(kWait));
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].request_line, "POST / HTTP/1.1");
  EXPECT_EQ(notifier->sent(), 1u);
}

TEST(WebhookNotifierTest, NotificationsAreSentInOrder) {
  WebhookServer server({});
  FakeClock clock;
  auto notifier = MustCreate(OptionsFor(server.Url()), &clock);
  ASSERT_NE(notifier, nullptr);
  for (const char* name : {"a", "b", "c", "d"}) notifier->Notify(SampleNotification(name));
  ASSERT_TRUE(notifier->WaitUntilIdle(kWait));
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 4u);
  std::vector<std::string> names;
  for (const auto& r : requests) names.push_back(NameInBody(r));
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(notifier->sent(), 4u);
}

TEST(WebhookNotifierTest, ServerErrorIsRetriedAfterTheBackoffAndSentOnce) {
  WebhookServer server({kServerError});  // then 200
  FakeClock clock;
  auto notifier = MustCreate(OptionsFor(server.Url()), &clock);
  ASSERT_NE(notifier, nullptr);
  notifier->Notify(SampleNotification());

  ASSERT_TRUE(notifier->WaitUntilBackingOff(1, kWait));
  EXPECT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(notifier->sent(), 0u);
  EXPECT_FALSE(notifier->WaitUntilIdle(milliseconds(0)));  // still holding the notification

  clock.Advance(seconds(1));
  ASSERT_TRUE(notifier->WaitUntilIdle(kWait));
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].body, requests[1].body);
  EXPECT_EQ(notifier->sent(), 1u);
  EXPECT_EQ(notifier->failed(), 0u);
  EXPECT_EQ(notifier->attempts(), 2u);
}

TEST(WebhookNotifierTest, BackoffDoublesUpToTheCapThenGivesUpAndMovesOn) {
  // Four 500s use up max_attempts = 4; the next notification gets the default 200.
  WebhookServer server({kServerError, kServerError, kServerError, kServerError});
  RecordingClock clock;
  WebhookNotifierOptions options = OptionsFor(server.Url());
  options.max_attempts = 4;
  options.initial_backoff = seconds(1);
  options.max_backoff = seconds(3);
  auto notifier = MustCreate(options, &clock);
  ASSERT_NE(notifier, nullptr);
  notifier->Notify(SampleNotification("first"));

  const std::vector<Duration> expected = {seconds(1), seconds(2), seconds(3)};
  for (size_t i = 0; i < expected.size(); ++i) {
    ASSERT_TRUE(notifier->WaitUntilBackingOff(i + 1, kWait)) << "backoff " << i + 1;
    EXPECT_EQ(server.requests().size(), i + 1);
    EXPECT_EQ(clock.last_deadline() - clock.Now(), expected[i]) << "backoff " << i + 1;
    clock.Advance(expected[i]);
  }
  ASSERT_TRUE(notifier->WaitUntilIdle(kWait));
  EXPECT_EQ(notifier->failed(), 1u);
  EXPECT_EQ(notifier->sent(), 0u);
  EXPECT_EQ(notifier->attempts(), 4u);
  EXPECT_EQ(server.requests().size(), 4u);

  notifier->Notify(SampleNotification("second"));
  ASSERT_TRUE(notifier->WaitUntilIdle(kWait));
  EXPECT_EQ(notifier->sent(), 1u);
  EXPECT_EQ(notifier->failed(), 1u);
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 5u);
  EXPECT_EQ(NameInBody(requests[4]), "second");
}

TEST(WebhookNotifierTest, ServerThatNeverAnswersTimesOutThenIsRetried) {
  WebhookServer server({kHang});  // then 200
  FakeClock clock;
  WebhookNotifierOptions options = OptionsFor(server.Url());
  options.timeout = milliseconds(200);
  auto notifier = MustCreate(options, &clock);
  ASSERT_NE(notifier, nullptr);

  auto start = SteadyClock::now();
  notifier->Notify(SampleNotification());
  ASSERT_TRUE(notifier->WaitUntilBackingOff(1, kWait));
  // The attempt cannot have been abandoned before its timeout.
  EXPECT_GE(SteadyClock::now() - start, milliseconds(200));
  EXPECT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(notifier->sent(), 0u);

  clock.Advance(seconds(1));
  ASSERT_TRUE(notifier->WaitUntilIdle(kWait));
  EXPECT_EQ(server.requests().size(), 2u);
  EXPECT_EQ(notifier->sent(), 1u);
  EXPECT_EQ(notifier->attempts(), 2u);
}

TEST(WebhookNotifierTest, GarbageAnswerIsRetried) {
  WebhookServer server({Reply::Raw("SMTP ready\r\n")});  // then 200
  FakeClock clock;
  auto notifier = MustCreate(OptionsFor(server.Url()), &clock);
  ASSERT_NE(notifier, nullptr);
  notifier->Notify(SampleNotification());
  ASSERT_TRUE(notifier->WaitUntilBackingOff(1, kWait));
  clock.Advance(seconds(1));
  ASSERT_TRUE(notifier->WaitUntilIdle(kWait));
  EXPECT_EQ(notifier->sent(), 1u);
  EXPECT_EQ(notifier->attempts(), 2u);
}

TEST(WebhookNotifierTest, ClientErrorIsGivenUpWithoutRetrying) {
  WebhookServer server({}, kNotFound);
  FakeClock clock;
  auto notifier = MustCreate(OptionsFor(server.Url()), &clock);
  ASSERT_NE(notifier, nullptr);
  notifier->Notify(SampleNotification());
  ASSERT_TRUE(notifier->WaitUntilIdle(kWait));
  EXPECT_EQ(notifier->failed(), 1u);
  EXPECT_EQ(notifier->attempts(), 1u);
  EXPECT_EQ(server.requests().size(), 1u);
  EXPECT_FALSE(notifier->WaitUntilBackingOff(1, milliseconds(0)));
}

TEST(WebhookNotifierTest, ConnectionRefusedCountsAsFailedAfterMaxAttempts) {
  // A port that is bound but not listened on: nothing accepts there.
  fakes::ClosedPort closed;

  FakeClock clock;
  WebhookNotifierOptions options =
      OptionsFor("http://127.0.0.1:" + std::to_string(closed.port()) + "/hook");
  options.max_attempts = 2;
  auto notifier = MustCreate(options, &clock);
  ASSERT_NE(notifier, nullptr);
  notifier->Notify(SampleNotification());
  ASSERT_TRUE(notifier->WaitUntilBackingOff(1, kWait));  // refused is worth retrying
  clock.Advance(seconds(1));
  ASSERT_TRUE(notifier->WaitUntilIdle(kWait));
  EXPECT_EQ(notifier->failed(), 1u);
  EXPECT_EQ(notifier->attempts(), 2u);
  EXPECT_EQ(notifier->sent(), 0u);
}

TEST(WebhookNotifierTest, FullQueueDropsTheOldestQueuedNotification) {
  WebhookServer server({kServerError});  // then 200
  FakeClock clock;
  WebhookNotifierOptions options = OptionsFor(server.Url());
  options.max_queue = 2;
  auto notifier = MustCreate(options, &clock);
  ASSERT_NE(notifier, nullptr);

  notifier->Notify(SampleNotification("a"));
  ASSERT_TRUE(notifier->WaitUntilBackingOff(1, kWait));  // "a" is in flight, the queue empty
  notifier->Notify(SampleNotification("b"));
  notifier->Notify(SampleNotification("c"));
  EXPECT_EQ(notifier->dropped(), 0u);
  notifier->Notify(SampleNotification("d"));  // queue full: "b" goes
  EXPECT_EQ(notifier->dropped(), 1u);

  clock.Advance(seconds(1));
  ASSERT_TRUE(notifier->WaitUntilIdle(kWait));
  std::vector<std::string> names;
  for (const auto& r : server.requests()) names.push_back(NameInBody(r));
  EXPECT_EQ(names, (std::vector<std::string>{"a", "a", "c", "d"}));
  EXPECT_EQ(notifier->sent(), 3u);
  EXPECT_EQ(notifier->dropped(), 1u);
  EXPECT_EQ(notifier->failed(), 0u);
}

// Runs notifier->Stop() on another thread; true when it returned within `timeout`. When it did
// not, `unblock` is run (so the test can end) before waiting for it.
bool StopsWithin(WebhookNotifier* notifier, milliseconds timeout, std::function<void()> unblock) {
  auto stopped = std::async(std::launch::async, [notifier] { notifier->Stop(); });
  bool prompt = stopped.wait_for(timeout) == std::future_status::ready;
  if (!prompt) unblock();
  stopped.wait();
  return prompt;
}

TEST(WebhookNotifierTest, StopReturnsPromptlyDuringABackoffWait) {
  WebhookServer server({}, kServerError);
  FakeClock clock;
  auto notifier = MustCreate(OptionsFor(server.Url()), &clock);
  ASSERT_NE(notifier, nullptr);
  notifier->Notify(SampleNotification("in-flight"));
  notifier->Notify(SampleNotification("queued"));
  ASSERT_TRUE(notifier->WaitUntilBackingOff(1, kWait));

  // The fake clock never moves: only Stop() can end the 1 s backoff.
  EXPECT_TRUE(StopsWithin(notifier.get(), kWait, [&] { clock.Advance(std::chrono::hours(24)); }));
  EXPECT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(notifier->sent(), 0u);
  EXPECT_EQ(notifier->failed(), 0u);
  EXPECT_EQ(notifier->dropped(), 2u);  // every Notify is accounted for once

  notifier->Notify(SampleNotification("late"));
  EXPECT_EQ(notifier->dropped(), 3u);
  notifier->Stop();  // idempotent
}

TEST(WebhookNotifierTest, NotifyNeverBlocksWhileTheServerHangsAndStopInterruptsTheAttempt) {
  WebhookServer server({}, kHang);
  FakeClock clock;
  WebhookNotifierOptions options = OptionsFor(server.Url());
  options.timeout = milliseconds(60'000);
  options.max_queue = 1000;
  auto notifier = MustCreate(options, &clock);
  ASSERT_NE(notifier, nullptr);

  notifier->Notify(SampleNotification("first"));
  // The sender is now waiting up to 60 s for an answer that never comes.
  ASSERT_TRUE(server.WaitForRequests(1, kWait));

  auto start = SteadyClock::now();
  for (int i = 0; i < 200; ++i) notifier->Notify(SampleNotification("n" + std::to_string(i)));
  auto elapsed = SteadyClock::now() - start;
  EXPECT_LT(elapsed, milliseconds(1000)) << "Notify waited for the network";
  EXPECT_EQ(notifier->sent() + notifier->failed(), 0u);

  // Stop must not wait out the 60 s timeout of the attempt in progress.
  EXPECT_TRUE(StopsWithin(notifier.get(), kWait, [] {}));
  EXPECT_EQ(notifier->dropped(), 201u);
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(WebhookNotifierTest, DestructorStopsASenderThatIsBackingOff) {
  WebhookServer server({}, kServerError);
  FakeClock clock;
  auto notifier = MustCreate(OptionsFor(server.Url()), &clock);
  ASSERT_NE(notifier, nullptr);
  notifier->Notify(SampleNotification());
  ASSERT_TRUE(notifier->WaitUntilBackingOff(1, kWait));
  auto destroyed = std::async(std::launch::async, [&] { notifier.reset(); });
  bool prompt = destroyed.wait_for(kWait) == std::future_status::ready;
  if (!prompt) clock.Advance(std::chrono::hours(24));
  destroyed.wait();
  EXPECT_TRUE(prompt);
}

size_t OpenDescriptors() {
  size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    ++count;
  }
  return count;
}

TEST(WebhookNotifierTest, LeaksNoDescriptors) {
  const size_t before = OpenDescriptors();
  {
    WebhookServer server({kServerError, Reply::Raw("garbage\r\n"), kNotFound}, kHang);
    FakeClock clock;
    WebhookNotifierOptions options = OptionsFor(server.Url());
    options.timeout = milliseconds(100);
    auto notifier = MustCreate(options, &clock);
    ASSERT_NE(notifier, nullptr);
    notifier->Notify(SampleNotification("a"));  // 500, garbage: two backoffs, then 404
    ASSERT_TRUE(notifier->WaitUntilBackingOff(1, kWait));
    clock.Advance(seconds(1));
    ASSERT_TRUE(notifier->WaitUntilBackingOff(2, kWait));
    clock.Advance(seconds(2));
    ASSERT_TRUE(notifier->WaitUntilIdle(kWait));
    notifier->Notify(SampleNotification("b"));  // hangs: times out, backs off
    ASSERT_TRUE(notifier->WaitUntilBackingOff(3, kWait));
    notifier->Notify(SampleNotification("c"));
    EXPECT_EQ(notifier->failed(), 1u);
  }
  EXPECT_EQ(OpenDescriptors(), before);
}

// --- Configuration ----------------------------------------------------------------------------

TEST(WebhookNotifierTest, CreateRefusesInvalidUrls) {
  FakeClock clock;
  for (const char* url : {
           "",
           "hooks.example.org/x",
           "ftp://hooks.example.org/x",
           "https://user:pw@hooks.example.org/x",
           "http://",
           "http:///path",
           "http://:8080/x",
           "http://host:0/x",
           "http://host:65536/x",
           "http://host:/x",
           "http://host:80a/x",
           "http://host:123456/x",
           "http://user:pw@host/x",
           "http://host/x y",
           "http://host/x\r\nInjected: 1",
           "http://host/x#fragment",
           "http://ho$t/x",
           "http://[::1/x",
           "http://[]/x",
           "http://[::1]x/",
           "http://[zz::1]/x",
       }) {
    auto created = WebhookNotifier::Create(OptionsFor(url), &clock);
    ASSERT_FALSE(created.ok()) << "accepted " << url;
    EXPECT_EQ(created.status().code(), StatusCode::kInvalidArgument) << url;
  }
  auto bad = WebhookNotifier::Create(OptionsFor("ftp://hooks.example.org/x?token=s3cret"), &clock);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("must start with http:// or https://"), std::string::npos);
  EXPECT_EQ(bad.status().message().find("s3cret"), std::string::npos) << "leaks the token";
}

// https is spoken (the HTTP client's TLS): an endpoint that does not answer TLS fails the
// handshake, a transport error that is retried and then given up, and no message names the
// token.
TEST(WebhookNotifierTest, HttpsUrlsAreAcceptedAndAFailedHandshakeIsRetried) {
  FakeClock clock;
  for (const char* url : {"https://hooks.example.org/x", "HTTPS://hooks.example.org:8443/x?t=1",
                          "https://[::1]/x"}) {
    EXPECT_TRUE(WebhookNotifier::Create(OptionsFor(url), &clock).ok()) << url;
  }
  fakes::LoopbackHttpServer plain;  // answers HTTP, not TLS
  WebhookNotifierOptions options =
      OptionsFor("https://127.0.0.1:" + std::to_string(plain.port()) + "/hook?token=s3cret");
  options.max_attempts = 2;
  options.initial_backoff = std::chrono::milliseconds(1);
  options.max_backoff = std::chrono::milliseconds(1);
  auto notifier = WebhookNotifier::Create(options, RealClock::Get());
  ASSERT_TRUE(notifier.ok()) << notifier.status().ToString();
  (*notifier)->Notify(Notification{});
  ASSERT_TRUE((*notifier)->WaitUntilIdle(std::chrono::seconds(30)));
  EXPECT_EQ((*notifier)->attempts(), 2u);
  EXPECT_EQ((*notifier)->failed(), 1u);
  EXPECT_EQ((*notifier)->sent(), 0u);
}

TEST(WebhookNotifierTest, CreateAcceptsPlainHttpUrls) {
  FakeClock clock;
  for (const char* url : {
           "http://hooks.example.org",
           "HTTP://Hooks.Example.org/",
           "http://hooks.example.org:8080/vmkeeper",
           "http://10.0.0.5:9000/hook?token=abc&x=1",
           "http://hooks.example.org?token=abc",
           "http://[::1]:9000/hook",
           "http://[fe80::1]/",
           "http://host_name.local:65535/a/b/c",
       }) {
    auto created = WebhookNotifier::Create(OptionsFor(url), &clock);
    EXPECT_TRUE(created.ok()) << url << ": " << created.status().ToString();
  }
}

TEST(WebhookNotifierTest, CreateRefusesInvalidOptions) {
  FakeClock clock;
  const std::string url = "http://127.0.0.1:9/hook";
  std::vector<std::function<void(WebhookNotifierOptions*)>> breakages = {
      [](WebhookNotifierOptions* o) { o->timeout = milliseconds(0); },
      [](WebhookNotifierOptions* o) { o->max_attempts = 0; },
      [](WebhookNotifierOptions* o) { o->initial_backoff = -seconds(1); },
      [](WebhookNotifierOptions* o) { o->max_backoff = milliseconds(500); },  // < initial 1 s
      [](WebhookNotifierOptions* o) { o->max_queue = 0; },
  };
  for (size_t i = 0; i < breakages.size(); ++i) {
    WebhookNotifierOptions options = OptionsFor(url);
    breakages[i](&options);
    auto created = WebhookNotifier::Create(options, &clock);
    ASSERT_FALSE(created.ok()) << "breakage " << i;
    EXPECT_EQ(created.status().code(), StatusCode::kInvalidArgument) << "breakage " << i;
  }
  EXPECT_FALSE(WebhookNotifier::Create(OptionsFor(url), nullptr).ok());
}

// --- FakeNotifier -----------------------------------------------------------------------------

TEST(FakeNotifierTest, RecordsNotificationsInOrderAcrossThreads) {
  FakeNotifier fake;
  EXPECT_FALSE(fake.WaitFor(1, milliseconds(0)));
  std::thread worker([&] {
    fake.Notify(SampleNotification("a"));
    fake.Notify(SampleNotification("b"));
  });
  ASSERT_TRUE(fake.WaitFor(2, kWait));
  worker.join();
  auto recorded = fake.notifications();
  ASSERT_EQ(recorded.size(), 2u);
  EXPECT_EQ(recorded[0], SampleNotification("a"));
  EXPECT_EQ(recorded[1], SampleNotification("b"));

  fake.Clear();
  EXPECT_TRUE(fake.notifications().empty());
  EXPECT_FALSE(fake.WaitFor(1, milliseconds(0)));
}

}  // namespace
}  // namespace vmk::providers
