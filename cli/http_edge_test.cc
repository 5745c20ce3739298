// The API's edge against hostile clients (issue 10), over loopback with the real cpprestsdk
// listener, HttpServer and ApiRouter on a FakeControlPlane. Each test makes one attack with raw
// sockets and checks three things: the attack is refused, the server is alive, and another
// client is still answered. docs/http-edge.md explains each limit.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli/api_router.h"
#include "cli/daemon_config.h"
#include "cli/http_server.h"
#include "tests/fakes/fake_control_plane.h"

namespace vmk::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using Clock = std::chrono::steady_clock;

// A raw client connection.
class Raw {
 public:
  explicit Raw(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~Raw() {
    if (fd_ >= 0) close(fd_);
  }
  Raw(const Raw&) = delete;
  Raw& operator=(const Raw&) = delete;

  bool connected() const { return connected_; }

  // Sends what it can within `limit`; the bytes sent.
  size_t Send(const std::string& data, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    const auto deadline = Clock::now() + limit;
    size_t sent = 0;
    while (sent < data.size() && Clock::now() < deadline) {
      pollfd p{fd_, POLLOUT, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      ssize_t n = send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    return sent;
  }

  // The reply's head (up to the blank line) and whatever body came with it; empty when the
  // server closed the connection without a reply or nothing came within `limit`.
  std::string Reply(std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    std::string reply;
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      char buf[8192];
      ssize_t n = recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      if (n <= 0) break;
      reply.append(buf, static_cast<size_t>(n));
      size_t head = reply.find("\r\n\r\n");
      if (head != std::string::npos) {
        size_t length_at = reply.find("Content-Length: ");
        if (length_at == std::string::npos || length_at > head) break;
        size_t length = std::stoul(reply.substr(length_at + 16));
        if (reply.size() >= head + 4 + length) break;
      }
    }
    return reply;
  }

  // True when the server ends the connection (FIN or reset) within `limit`.
  bool ClosedWithin(std::chrono::milliseconds limit) {
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      char buf[4096];
      ssize_t n = recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
      if (n == 0) return true;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return true;
    }
    return false;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

class HttpEdgeTest : public ::testing::Test {
 protected:
  void Start(HttpServerOptions options, HttpHandler handler = nullptr) {
    server_.reset();
    options.listen = "127.0.0.1:0";
    if (!handler) handler = [this](const HttpRequest& r) { return router_.Handle(r); };
    server_ = std::make_unique<HttpServer>(options, std::move(handler), RealClock::Get());
    ASSERT_TRUE(server_->Start().ok());
  }
  void SetUp() override { Start(HttpServerOptions{}); }

  int Port() const { return ParseListenAddress(server_->address())->port; }

  std::string Exchange(const std::string& request) {
    Raw c(Port());
    EXPECT_TRUE(c.connected());
    c.Send(request);
    return c.Reply();
  }

  // Another, well-behaved client is answered.
  void ExpectOthersAnswered() {
    EXPECT_THAT(Exchange("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
                StartsWith("HTTP/1.1 200"));
  }

  static std::string Post(const std::string& headers, const std::string& body,
                          const std::string& path = "/api/v1/apply") {
    return "POST " + path + " HTTP/1.1\r\n" + headers +
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  }

  FakeControlPlane fake_;
  ApiRouter router_{&fake_};
  std::unique_ptr<HttpServer> server_;
};

const char kApply[] = R"({"files":[{"name":"a.yaml","content":"kind: X\n"}],"prune":true})";

// TRACE was answered by cpprestsdk itself, echoing the request and its headers back.
TEST_F(HttpEdgeTest, TraceIsRefusedNotEchoed) {
  std::string reply =
      Exchange("TRACE /healthz HTTP/1.1\r\nHost: localhost\r\nX-Secret: hunter2\r\n\r\n");
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 405"));
  EXPECT_THAT(reply, HasSubstr("Allow: GET, HEAD, POST, DELETE, OPTIONS"));
  EXPECT_THAT(reply, Not(HasSubstr("hunter2")));
  ExpectOthersAnswered();
}

// OPTIONS was answered by cpprestsdk with an empty Allow. Now: the path's methods, and no CORS
// grant, whoever asks (a preflight from a foreign page fails in the browser).
TEST_F(HttpEdgeTest, OptionsNamesThePathsMethodsAndGrantsNoCors) {
  std::string reply = Exchange(
      "OPTIONS /api/v1/apply HTTP/1.1\r\nHost: localhost\r\nOrigin: http://evil.example\r\n"
      "Access-Control-Request-Method: POST\r\n\r\n");
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 204"));
  EXPECT_THAT(reply, HasSubstr("Allow: POST, OPTIONS\r\n"));
  EXPECT_THAT(reply, Not(HasSubstr("Access-Control-Allow")));
  EXPECT_THAT(Exchange("OPTIONS /api/v1/virtualmachines HTTP/1.1\r\nHost: localhost\r\n\r\n"),
              HasSubstr("Allow: GET, OPTIONS\r\n"));
  EXPECT_THAT(Exchange("OPTIONS /nope HTTP/1.1\r\nHost: localhost\r\n\r\n"),
              StartsWith("HTTP/1.1 404"));
  EXPECT_EQ(fake_.apply_calls, 0);
}

// DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1 sends Host:
// evil.example. IP literals and localhost are always fine; other names only when configured.
TEST_F(HttpEdgeTest, ForeignHostIsRefused) {
  for (const char* host : {"evil.example", "evil.example:7480", "localhost.evil.example", "",
                           "[::1", "a:b:c"}) {
    EXPECT_THAT(Exchange(Post(std::string("Host: ") + host +
                                  "\r\nContent-Type: application/json\r\n",
                              kApply)),
                StartsWith("HTTP/1.1 400"))
        << host;
  }
  EXPECT_THAT(Exchange("GET /healthz HTTP/1.1\r\n\r\n"), StartsWith("HTTP/1.1 400"));
  EXPECT_EQ(fake_.apply_calls, 0);
  // Counted by reason (vmkeeper_api_requests_refused_total): all seven as "host".
  const HttpEdgeStats stats = server_->edge_stats();
  EXPECT_EQ(stats.refused_by_reason[static_cast<size_t>(EdgeRefusal::kHost)], 7u);
  EXPECT_EQ(stats.refused, 7u);
  for (const char* host : {"127.0.0.1:7480", "localhost", "LOCALHOST.", "[::1]:7480", "10.1.2.3"}) {
    EXPECT_THAT(Exchange(std::string("GET /healthz HTTP/1.1\r\nHost: ") + host + "\r\n\r\n"),
                StartsWith("HTTP/1.1 200"))
        << host;
  }
  HttpServerOptions options;
  options.allowed_hosts = {"VMKeeper.Example.org"};
  Start(options);
  EXPECT_THAT(Exchange("GET /healthz HTTP/1.1\r\nHost: vmkeeper.example.org:7480\r\n\r\n"),
              StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(Exchange("GET /healthz HTTP/1.1\r\nHost: evil.example\r\n\r\n"),
              StartsWith("HTTP/1.1 400"));
  ExpectOthersAnswered();
}

// The issue's CSRF: a text/plain POST (a CORS "simple request", sent by a browser without a
// preflight) with a foreign Host and Origin pruned the fleet. Each of the three checks refuses it
// alone.
TEST_F(HttpEdgeTest, CrossSiteWritesAreRefused) {
  // As the browser sends it.
  EXPECT_THAT(Exchange(Post("Host: evil.example:7480\r\nOrigin: http://evil.example:7480\r\n"
                            "Content-Type: text/plain\r\n",
                            kApply)),
              StartsWith("HTTP/1.1 400"));
  // Our Host (an IP literal), a foreign Origin: 403.
  std::string cross = Exchange(Post("Host: 127.0.0.1:7480\r\nOrigin: http://evil.example\r\n"
                                    "Content-Type: application/json\r\n",
                                    kApply));
  EXPECT_THAT(cross, StartsWith("HTTP/1.1 403"));
  EXPECT_THAT(cross, HasSubstr("cross-origin write refused"));
  EXPECT_THAT(Exchange("DELETE /api/v1/virtualmachines/wms01 HTTP/1.1\r\nHost: localhost\r\n"
                       "Origin: null\r\n\r\n"),
              StartsWith("HTTP/1.1 403"));
  // Same origin but text/plain, or no type: 415.
  for (const char* type : {"Content-Type: text/plain\r\n", "",
                           "Content-Type: application/x-www-form-urlencoded\r\n"}) {
    EXPECT_THAT(Exchange(Post(std::string("Host: localhost\r\n") + type, kApply)),
                StartsWith("HTTP/1.1 415"))
        << type;
  }
  EXPECT_EQ(fake_.apply_calls, 0);
  // What the CLI and Alertmanager send, and a same-origin page: accepted.
  EXPECT_THAT(Exchange(Post("Host: 127.0.0.1\r\nContent-Type: application/json; charset=utf-8\r\n",
                            kApply)),
              StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(Exchange(Post("Host: localhost:7480\r\nOrigin: http://localhost:7480\r\n"
                            "Content-Type: application/json\r\n",
                            kApply)),
              StartsWith("HTTP/1.1 200"));
  EXPECT_EQ(fake_.apply_calls, 2);
  // Reads stay open to any origin (the browser keeps the answer from a foreign page: no CORS).
  EXPECT_THAT(Exchange("GET /healthz HTTP/1.1\r\nHost: localhost\r\nOrigin: http://a.example\r\n\r\n"),
              StartsWith("HTTP/1.1 200"));
}

// Oversized heads: answered 414/431 when cpprestsdk has read them; a head bigger than the whole
// request cap (headers + body + slack) is cut off by the reaper while it is still arriving.
TEST_F(HttpEdgeTest, HeaderAndUrlCaps) {
  std::string many = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n";
  for (int i = 0; i < 200; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
  EXPECT_THAT(Exchange(many + "\r\n"), StartsWith("HTTP/1.1 431"));
  EXPECT_THAT(Exchange("GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: " +
                       std::string(70 * 1024, 'b') + "\r\n\r\n"),
              StartsWith("HTTP/1.1 431"));
  EXPECT_THAT(Exchange("GET /" + std::string(9 * 1024, 'a') + " HTTP/1.1\r\nHost: localhost\r\n\r\n"),
              StartsWith("HTTP/1.1 414"));
  {
    // 50 MiB of URL with no end: the connection is reset at the reaper's next scan (on
    // loopback all of it may have arrived by then: cpprestsdk reads heads without a cap).
    Raw huge(Port());
    huge.Send("GET /" + std::string(50 << 20, 'a'), std::chrono::seconds(20));
    EXPECT_TRUE(huge.ClosedWithin(std::chrono::seconds(5)));
  }
  for (int i = 0; i < 100 && server_->edge_stats().request_too_large < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(server_->edge_stats().request_too_large, 1u);
  ExpectOthersAnswered();
}

// A Content-Length over the cap is answered 413 at once, without waiting for (or storing) the
// body: cpprestsdk would otherwise read all of it before sending any reply.
TEST_F(HttpEdgeTest, OverlongContentLengthIsRefusedBeforeTheBodyIsRead) {
  Raw c(Port());
  c.Send("POST /api/v1/apply HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
         "Content-Length: 209715200\r\n\r\n" + std::string(64 * 1024, '{'));
  std::string reply = c.Reply();
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 413"));
  EXPECT_THAT(reply, HasSubstr("Connection: close"));
  EXPECT_EQ(fake_.apply_calls, 0);
  ExpectOthersAnswered();
}

// Slowloris and friends: half-sent heads, stalled bodies and idle connections were all kept
// for good (cpprestsdk's asio listener ignores http_listener_config::timeout()).
TEST_F(HttpEdgeTest, SlowHeadsStalledBodiesAndIdleConnectionsAreClosed) {
  HttpServerOptions options;
  options.request_timeout = std::chrono::milliseconds(600);
  options.idle_timeout = std::chrono::milliseconds(1200);
  options.scan_interval = std::chrono::milliseconds(50);
  Start(options);
  Raw head(Port()), body(Port()), idle(Port()), dribble(Port());
  head.Send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n");
  body.Send(Post("Host: localhost\r\nContent-Type: application/json\r\n",
                 std::string(kApply)).substr(0, 150));
  dribble.Send("GET /healthz HTTP/1.1\r\n");
  // A dribbling head is slow in total, though never silent for long.
  const auto start = Clock::now();
  bool dribble_closed = false;
  while (!dribble_closed && Clock::now() - start < std::chrono::seconds(5)) {
    dribble.Send("X: y\r\n");
    dribble_closed = dribble.ClosedWithin(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(dribble_closed);
  ExpectOthersAnswered();  // while the others are still being waited for
  EXPECT_TRUE(head.ClosedWithin(std::chrono::seconds(5)));
  EXPECT_TRUE(body.ClosedWithin(std::chrono::seconds(5)));
  EXPECT_TRUE(idle.ClosedWithin(std::chrono::seconds(5)));
  // The counts are updated at the end of the scan that closed them.
  HttpEdgeStats stats = server_->edge_stats();
  for (int i = 0; i < 100 && (stats.request_timeouts < 3 || stats.idle_timeouts < 1); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    stats = server_->edge_stats();
  }
  EXPECT_GE(stats.request_timeouts, 3u);
  EXPECT_GE(stats.idle_timeouts, 1u);
  EXPECT_EQ(fake_.apply_calls, 0);
  ExpectOthersAnswered();
}

// A keep-alive client that sends one request after another is never cut off as "slow".
TEST_F(HttpEdgeTest, KeepAliveClientsThatKeepAskingStayConnected) {
  HttpServerOptions options;
  options.request_timeout = std::chrono::milliseconds(400);
  options.idle_timeout = std::chrono::milliseconds(400);
  options.scan_interval = std::chrono::milliseconds(50);
  Start(options);
  Raw c(Port());
  for (int i = 0; i < 10; ++i) {
    c.Send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
    ASSERT_THAT(c.Reply(), StartsWith("HTTP/1.1 200")) << i;
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
  }
}

// ~1,100 idle sockets made the API unreachable for everyone. Now past max_connections the
// longest idle are closed, and a new client is answered.
TEST_F(HttpEdgeTest, ConnectionFloodIsCappedAndOthersAreAnswered) {
  HttpServerOptions options;
  options.max_connections = 20;
  options.scan_interval = std::chrono::milliseconds(50);
  Start(options);
  std::vector<std::unique_ptr<Raw>> flood;
  for (int i = 0; i < 300; ++i) flood.push_back(std::make_unique<Raw>(Port()));
  ExpectOthersAnswered();
  size_t closed = 0;
  for (auto& c : flood) closed += c->ClosedWithin(std::chrono::milliseconds(20)) ? 1 : 0;
  for (int i = 0; i < 100 && closed < 280; ++i) {
    for (auto& c : flood) closed += c->ClosedWithin(std::chrono::milliseconds(1)) ? 1 : 0;
  }
  EXPECT_GE(closed, 280u);
  for (int i = 0; i < 100 && server_->edge_stats().over_connection_limit < 280; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(server_->edge_stats().over_connection_limit, 280u);
  ExpectOthersAnswered();
}

// Past the cap, the longest idle connection was ended first: an answered keep-alive client that
// waited a little was older than a flood opened after it, and was cut off in the flood's place
// (api_bench saw 1 % of `get vms` reset under a reopening flood). Connections that never sent a
// byte go first now.
TEST_F(HttpEdgeTest, KeepAliveClientOutlivesAFloodOfSilentConnections) {
  HttpServerOptions options;
  options.max_connections = 20;
  options.scan_interval = std::chrono::milliseconds(50);
  Start(options);
  Raw client(Port());
  client.Send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
  ASSERT_THAT(client.Reply(), StartsWith("HTTP/1.1 200"));
  // A scan has seen the client idle before the flood comes: it is the oldest idle connection.
  const auto seen_deadline = Clock::now() + std::chrono::seconds(5);
  while (server_->edge_stats().open_connections < 1 && Clock::now() < seen_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GE(server_->edge_stats().open_connections, 1u);
  std::vector<std::unique_ptr<Raw>> flood;
  for (int i = 0; i < 300; ++i) flood.push_back(std::make_unique<Raw>(Port()));
  for (int i = 0; i < 500 && server_->edge_stats().over_connection_limit < 281; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(server_->edge_stats().over_connection_limit, 281u);  // 301 open, 20 allowed
  client.Send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
  EXPECT_THAT(client.Reply(), StartsWith("HTTP/1.1 200"));
}

// Stalled bodies held one of cpprestsdk's 40 pool threads each (the handler blocked reading
// them): 60 of them stalled every other request. Bodies are now received without a thread.
TEST_F(HttpEdgeTest, StalledBodiesHoldNoThreads) {
  std::vector<std::unique_ptr<Raw>> stalled;
  for (int i = 0; i < 60; ++i) {
    stalled.push_back(std::make_unique<Raw>(Port()));
    stalled.back()->Send(
        "POST /api/v1/apply HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000\r\n\r\n{");
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ExpectOthersAnswered();
  EXPECT_THAT(Exchange(Post("Host: localhost\r\nContent-Type: application/json\r\n", kApply)),
              StartsWith("HTTP/1.1 200"));
}

// More requests at once than max_in_flight: 429 with Retry-After, the others go through.
TEST_F(HttpEdgeTest, RequestsPastTheInFlightCapAre429WithRetryAfter) {
  std::mutex mutex;
  std::condition_variable released_cv;
  bool released = false;
  std::atomic<int> waiting{0};
  HttpServerOptions options;
  options.max_in_flight = 2;
  Start(options, [&](const HttpRequest& r) {
    if (r.path == "/slow") {
      ++waiting;
      std::unique_lock<std::mutex> lock(mutex);
      released_cv.wait_for(lock, std::chrono::seconds(10), [&] { return released; });
    }
    HttpResponse ok;
    ok.body = "{}";
    return ok;
  });
  Raw a(Port()), b(Port());
  a.Send("GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n");
  b.Send("GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n");
  for (int i = 0; i < 200 && waiting < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(waiting, 2);
  std::string busy = Exchange("GET /fast HTTP/1.1\r\nHost: localhost\r\n\r\n");
  EXPECT_THAT(busy, StartsWith("HTTP/1.1 429"));
  EXPECT_THAT(busy, HasSubstr("Retry-After: 1\r\n"));
  {
    std::lock_guard<std::mutex> lock(mutex);
    released = true;
  }
  released_cv.notify_all();
  EXPECT_THAT(a.Reply(), StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(b.Reply(), StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(Exchange("GET /fast HTTP/1.1\r\nHost: localhost\r\n\r\n"),
              StartsWith("HTTP/1.1 200"));
  EXPECT_EQ(server_->edge_stats().too_busy, 1u);
  EXPECT_EQ(server_->edge_stats().refused_by_reason[static_cast<size_t>(EdgeRefusal::kTooBusy)], 1u);
  EXPECT_EQ(EdgeRefusalName(EdgeRefusal::kTooBusy), "too_busy");
}

}  // namespace
}  // namespace vmk::cli
