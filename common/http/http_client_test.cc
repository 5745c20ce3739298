// HttpClient against the loopback test server (tests/fakes/loopback_http_server.h) and a closed
// port: real sockets, real libcurl, deadlines in real time (short ones).
#include "common/http/http_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "tests/fakes/closed_port.h"
#include "tests/fakes/loopback_http_server.h"

namespace vmk::http {
namespace {

using fakes::ClosedPort;
using fakes::LoopbackHttpServer;
using fakes::Reply;
using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using SteadyClock = std::chrono::steady_clock;

// How long a test waits for something that should happen promptly (a generous bound, only
// reached when the code under test is broken).
constexpr milliseconds kWait{10'000};

HttpRequest Get(const std::string& url, milliseconds timeout = milliseconds(5000)) {
  HttpRequest r;
  r.url = url;
  r.timeout = timeout;
  r.user_agent = "vmkeeper-test";
  return r;
}

int OpenDescriptors() {
  int n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

class HttpClientTest : public ::testing::Test {
 protected:
  HttpClient client_;
};

// --- Answers ----------------------------------------------------------------------------------

TEST_F(HttpClientTest, GetSendsAWellFormedRequestAndReturnsTheStatus) {
  LoopbackHttpServer server(Reply::Raw("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
  auto r = client_.Do(Get(server.Url("/health/../x?a=1&b=%20")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);

  auto request = server.last_request();
  // The path goes out as written: no dot-segment squashing, no re-encoding.
  EXPECT_EQ(request.request_line, "GET /health/../x?a=1&b=%20 HTTP/1.1");
  EXPECT_EQ(request.headers["host"], "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(request.headers["connection"], "close");
  EXPECT_EQ(request.headers["user-agent"], "vmkeeper-test");
  EXPECT_EQ(request.headers.count("expect"), 0u);
}

TEST_F(HttpClientTest, PostSendsTheBodyWithItsHeadersAndNoExpectContinue) {
  LoopbackHttpServer server(Reply::WithStatus(204));
  HttpRequest post = Get(server.Url("/hook?token=s3cret"));
  post.method = HttpRequest::Method::kPost;
  post.headers = {"Content-Type: application/json"};
  post.body = std::string(2 * 1024 * 1024, 'x');  // large enough for libcurl to want 100-continue
  auto r = client_.Do(post);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 204);

  auto request = server.last_request();
  EXPECT_EQ(request.request_line, "POST /hook?token=s3cret HTTP/1.1");
  EXPECT_EQ(request.headers["content-type"], "application/json");
  EXPECT_EQ(request.headers["content-length"], std::to_string(post.body.size()));
  EXPECT_EQ(request.headers.count("expect"), 0u);
  EXPECT_EQ(request.body, post.body);
}

TEST_F(HttpClientTest, EveryStatusCodeIsAnAnswerAndRedirectsAreNotFollowed) {
  for (int code : {204, 301, 404, 429, 503}) {
    LoopbackHttpServer server(
        Reply::Raw("HTTP/1.1 " + std::to_string(code) + " X\r\nLocation: /elsewhere\r\n\r\n"));
    auto r = client_.Do(Get(server.Url()));
    ASSERT_TRUE(r.ok()) << code << ": " << r.status().ToString();
    EXPECT_EQ(r->status, code);
    EXPECT_EQ(server.requests().size(), 1u) << code;
  }
}

TEST_F(HttpClientTest, StatusLineWithoutReasonPhraseIsAnAnswer) {
  LoopbackHttpServer server(Reply::Raw("HTTP/1.0 204\r\n\r\n"));
  auto r = client_.Do(Get(server.Url()));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 204);
}

TEST_F(HttpClientTest, InterimAnswersAreSkipped) {
  LoopbackHttpServer server(Reply::Raw(
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"));
  auto r = client_.Do(Get(server.Url()));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 202);
}

TEST_F(HttpClientTest, StopsAtTheStatusLineWithoutWaitingForTheRest) {
  // Headers that never end, and a body that never comes: the status line is all we need.
  LoopbackHttpServer server(Reply::RawThenHang("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n"));
  auto start = SteadyClock::now();
  auto r = client_.Do(Get(server.Url(), milliseconds(60'000)));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_LT(SteadyClock::now() - start, kWait);
}

TEST_F(HttpClientTest, HostNameIsResolved) {
  // localhost may resolve to ::1 first, where nothing listens: the client moves on.
  LoopbackHttpServer server;
  auto r = client_.Do(Get("http://localhost:" + std::to_string(server.port()) + "/"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
}

// --- No answer --------------------------------------------------------------------------------

TEST_F(HttpClientTest, PeerThatNeverAnswersTimesOutAtTheDeadline) {
  LoopbackHttpServer server(Reply::NeverAnswer());
  auto start = SteadyClock::now();
  auto r = client_.Do(Get(server.Url(), milliseconds(300)));
  auto elapsed = SteadyClock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(r.status().message(), "timed out after 300 ms (waiting for the HTTP answer)");
  EXPECT_GE(elapsed, milliseconds(300));
  EXPECT_LT(elapsed, milliseconds(300) + kWait);
}

TEST_F(HttpClientTest, OneDeadlineCoversTheWholeStatusLine) {
  LoopbackHttpServer server(Reply::Drip("HTTP/1.1 200 OK\r\n\r\n", milliseconds(100)));
  auto r = client_.Do(Get(server.Url(), milliseconds(500)));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_THAT(r.status().message(), StartsWith("timed out after 500 ms"));
}

TEST_F(HttpClientTest, ClosedPortIsConnectionRefused) {
  ClosedPort closed;
  auto r = client_.Do(Get("http://127.0.0.1:" + std::to_string(closed.port()) + "/"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(), "connection refused");
}

TEST_F(HttpClientTest, CloseWithoutAByteIsNoAnswer) {
  LoopbackHttpServer server(Reply::Raw(""));
  auto r = client_.Do(Get(server.Url()));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "connection closed without an answer");
}

TEST_F(HttpClientTest, NonHttpAnswerIsQuoted) {
  LoopbackHttpServer server(Reply::Raw("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"));
  auto r = client_.Do(Get(server.Url()));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(), "bad HTTP answer: \"SSH-2.0-OpenSSH_9.2p1 Debian-2??\"");
}

TEST_F(HttpClientTest, TruncatedStatusLineIsABadAnswer) {
  LoopbackHttpServer server(Reply::Raw("HTTP/1.1 20"));
  auto r = client_.Do(Get(server.Url()));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "bad HTTP answer: incomplete status line");
}

TEST_F(HttpClientTest, HttpsSpeaksTls) {
  // The loopback server speaks plain HTTP: it never answers a TLS ClientHello, so the request
  // fails in the handshake and no HTTP request ever reaches it.
  LoopbackHttpServer server;
  auto r = client_.Do(
      Get("https://127.0.0.1:" + std::to_string(server.port()) + "/", milliseconds(300)));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "timed out after 300 ms (TLS handshake)");
  EXPECT_TRUE(server.requests().empty());
}

TEST_F(HttpClientTest, MessagesNeverQuoteThePathOrQuery) {
  ClosedPort closed;
  LoopbackHttpServer silent(Reply::NeverAnswer());
  const std::string secret_path = "/hooks/T0KEN-PATH?token=s3cret";
  for (const std::string& url :
       {"http://127.0.0.1:" + std::to_string(closed.port()) + secret_path,
        silent.Url(secret_path), "http://no-such-host.invalid" + secret_path,
        "ftp://127.0.0.1" + secret_path, "http://[::1" + secret_path}) {
    auto r = client_.Do(Get(url, milliseconds(300)));
    ASSERT_FALSE(r.ok()) << url;
    EXPECT_THAT(r.status().message(), Not(HasSubstr("T0KEN"))) << url;
    EXPECT_THAT(r.status().message(), Not(HasSubstr("s3cret"))) << url;
  }
}

// --- Bad requests -----------------------------------------------------------------------------

TEST_F(HttpClientTest, MalformedRequestsAreRefusedWithoutTouchingTheNetwork) {
  LoopbackHttpServer server;
  std::vector<HttpRequest> bad;
  bad.push_back(Get("ftp://127.0.0.1:" + std::to_string(server.port()) + "/"));
  bad.push_back(Get("file:///etc/passwd"));
  bad.push_back(Get("not a url"));
  bad.push_back(Get(server.Url(), milliseconds(0)));
  bad.push_back(Get(server.Url()));
  bad.back().headers = {"X-Injected: 1\r\nHost: evil"};
  for (const HttpRequest& request : bad) {
    auto r = client_.Do(request);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
  }
  EXPECT_EQ(server.connections(), 0);
}

// --- Cancellation -----------------------------------------------------------------------------

TEST_F(HttpClientTest, CancelInterruptsARequestInFlight) {
  LoopbackHttpServer server(Reply::NeverAnswer());
  Cancellation cancel;
  auto done = std::async(std::launch::async, [&] {
    return client_.Do(Get(server.Url(), milliseconds(60'000)), &cancel);
  });
  ASSERT_TRUE(server.WaitForRequests(1, kWait));
  auto start = SteadyClock::now();
  cancel.Cancel();
  ASSERT_EQ(done.wait_for(kWait), std::future_status::ready) << "Cancel did not interrupt";
  EXPECT_LT(SteadyClock::now() - start, milliseconds(2000));  // woken, not polled
  auto r = done.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kAborted);
  EXPECT_TRUE(cancel.cancelled());
}

TEST_F(HttpClientTest, RequestsAfterCancelFailAtOnce) {
  LoopbackHttpServer server;
  Cancellation cancel;
  cancel.Cancel();
  auto r = client_.Do(Get(server.Url()), &cancel);
  EXPECT_EQ(r.status().code(), StatusCode::kAborted);
  EXPECT_EQ(client_.Connect("127.0.0.1", server.port(), milliseconds(1000), &cancel).code(),
            StatusCode::kAborted);
  EXPECT_EQ(server.connections(), 0);
}

// --- Connect ----------------------------------------------------------------------------------

TEST_F(HttpClientTest, ConnectOnlyConnects) {
  LoopbackHttpServer server(Reply::NeverAnswer());
  ClosedPort closed;
  EXPECT_TRUE(client_.Connect("127.0.0.1", server.port(), milliseconds(2000)).ok());
  EXPECT_TRUE(client_.Connect("localhost", server.port(), milliseconds(2000)).ok());
  Status refused = client_.Connect("127.0.0.1", closed.port(), milliseconds(2000));
  EXPECT_EQ(refused.code(), StatusCode::kUnavailable);
  EXPECT_EQ(refused.message(), "connection refused");
  EXPECT_TRUE(server.requests().empty());  // nothing was sent
  EXPECT_EQ(client_.Connect("127.0.0.1/x?", 80, milliseconds(100)).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(client_.Connect("127.0.0.1", 0, milliseconds(100)).code(),
            StatusCode::kInvalidArgument);
}

// --- Resources and threads --------------------------------------------------------------------

TEST_F(HttpClientTest, LeaksNoDescriptors) {
  {
    // libcurl's one-time setup may keep files open. The server goes before counting: its
    // thread may still hold the connection it just answered.
    LoopbackHttpServer warm_up;
    ASSERT_TRUE(client_.Do(Get(warm_up.Url())).ok());
  }
  int before = OpenDescriptors();
  {
    LoopbackHttpServer ok;
    LoopbackHttpServer garbage(Reply::Raw("nonsense\r\n"));
    LoopbackHttpServer silent(Reply::NeverAnswer());
    ClosedPort closed;
    for (int i = 0; i < 5; ++i) {
      EXPECT_TRUE(client_.Do(Get(ok.Url())).ok());
      EXPECT_FALSE(client_.Do(Get(garbage.Url())).ok());
      EXPECT_FALSE(
          client_.Do(Get("http://127.0.0.1:" + std::to_string(closed.port()) + "/")).ok());
      EXPECT_TRUE(client_.Connect("127.0.0.1", ok.port(), milliseconds(1000)).ok());
    }
    EXPECT_FALSE(client_.Do(Get(silent.Url(), milliseconds(100))).ok());
  }
  EXPECT_EQ(OpenDescriptors(), before);
}

TEST_F(HttpClientTest, ConcurrentRequestsDoNotInterfere) {
  LoopbackHttpServer ok;
  ClosedPort closed;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        bool expect_ok = (t % 2) == 0;
        auto r = client_.Do(Get("http://127.0.0.1:" +
                                std::to_string(expect_ok ? ok.port() : closed.port()) + "/"));
        if (r.ok() != expect_ok) wrong++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace vmk::http
