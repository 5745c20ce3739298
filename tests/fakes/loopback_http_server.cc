#include "tests/fakes/loopback_http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <utility>

#include <gtest/gtest.h>

namespace vmk::fakes {
namespace {

const char* ReasonPhrase(int code) {
  switch (code) {
    case 200: return "OK";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

bool SendAll(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

// Splits a request head into its request line and headers (names lower-cased).
void ParseHead(const std::string& head, ReceivedRequest* out) {
  size_t line_end = head.find("\r\n");
  out->request_line = head.substr(0, line_end);
  size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    size_t end = head.find("\r\n", pos);
    if (end == std::string::npos) end = head.size();
    std::string line = head.substr(pos, end - pos);
    pos = end + 2;
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    value.erase(value.find_last_not_of(' ') + 1);
    out->headers[name] = value;
  }
}

}  // namespace

Reply Reply::Raw(std::string raw) { return Reply{std::move(raw), {}, true}; }

Reply Reply::WithStatus(int code) {
  return Raw("HTTP/1.1 " + std::to_string(code) + " " + ReasonPhrase(code) +
             "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

Reply Reply::RawThenHang(std::string raw) { return Reply{std::move(raw), {}, false}; }

Reply Reply::NeverAnswer() { return RawThenHang(""); }

Reply Reply::Drip(std::string raw, std::chrono::milliseconds interval) {
  return Reply{std::move(raw), interval, true};
}

LoopbackHttpServer::LoopbackHttpServer(Reply reply) : LoopbackHttpServer({}, std::move(reply)) {}

LoopbackHttpServer::LoopbackHttpServer(std::vector<Reply> script, Reply then)
    : script_(script.begin(), script.end()), then_(std::move(then)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0 || ::pipe2(stop_pipe_, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "loopback server: socket or pipe failed";
    std::abort();  // a test server without a socket can only hang the test
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;  // the kernel picks a free port: tests never collide
  socklen_t len = sizeof(addr);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listen_fd_, 16) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ADD_FAILURE() << "loopback server: bind or listen failed";
    std::abort();
  }
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Run(); });
}

LoopbackHttpServer::~LoopbackHttpServer() {
  char c = 'x';
  EXPECT_EQ(::write(stop_pipe_[1], &c, 1), 1);
  thread_.join();
  ::close(listen_fd_);
  ::close(stop_pipe_[0]);
  ::close(stop_pipe_[1]);
}

std::string LoopbackHttpServer::Url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

std::vector<ReceivedRequest> LoopbackHttpServer::requests() const {
  MutexLock l(&mu_);
  return requests_;
}

ReceivedRequest LoopbackHttpServer::last_request() const {
  MutexLock l(&mu_);
  return requests_.empty() ? ReceivedRequest{} : requests_.back();
}

bool LoopbackHttpServer::WaitForRequests(size_t n, std::chrono::milliseconds timeout) const {
  MutexLock l(&mu_);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (requests_.size() < n && l.WaitUntil(received_, deadline)) {}
  return requests_.size() >= n;
}

bool LoopbackHttpServer::WaitReadable(int fd) {
  while (true) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    int r = ::poll(fds, 2, -1);
    if (r < 0 && errno == EINTR) continue;
    return r > 0 && fds[1].revents == 0;
  }
}

bool LoopbackHttpServer::StopWithin(std::chrono::milliseconds d) {
  pollfd p{stop_pipe_[0], POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(d.count())) > 0;
}

bool LoopbackHttpServer::ReadRequest(int fd, ReceivedRequest* out) {
  std::string data;
  size_t head_end;
  while ((head_end = data.find("\r\n\r\n")) == std::string::npos) {
    if (!WaitReadable(fd)) return false;
    char buf[1024];
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return false;
    data.append(buf, static_cast<size_t>(n));
  }
  out->head = data.substr(0, head_end + 4);
  ParseHead(data.substr(0, head_end), out);
  std::string body = data.substr(head_end + 4);
  size_t length = 0;
  if (auto it = out->headers.find("content-length"); it != out->headers.end()) {
    length = std::strtoul(it->second.c_str(), nullptr, 10);
  }
  while (body.size() < length) {
    if (!WaitReadable(fd)) return false;
    char buf[1024];
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return false;
    body.append(buf, static_cast<size_t>(n));
  }
  out->body = body;
  return true;
}

void LoopbackHttpServer::Send(int fd, const Reply& reply) {
  if (reply.interval.count() > 0) {
    for (size_t i = 0; i < reply.bytes.size(); ++i) {
      if (i > 0 && StopWithin(reply.interval)) return;
      if (!SendAll(fd, reply.bytes.substr(i, 1))) return;
    }
  } else if (!SendAll(fd, reply.bytes)) {
    return;
  }
  if (reply.close_after) return;
  // Until the client gives up (EOF, reset) or the server stops; what it sends is ignored.
  char buf[256];
  while (WaitReadable(fd) && ::recv(fd, buf, sizeof(buf), 0) > 0) {
  }
}

void LoopbackHttpServer::Handle(int fd) {
  ReceivedRequest request;
  if (!ReadRequest(fd, &request)) return;
  Reply reply;
  {
    MutexLock l(&mu_);
    requests_.push_back(std::move(request));
    if (!script_.empty()) {
      reply = std::move(script_.front());
      script_.pop_front();
    } else {
      reply = then_;
    }
    received_.notify_all();
  }
  Send(fd, reply);
}

void LoopbackHttpServer::Run() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    connections_++;
    Handle(fd);
    ::close(fd);
  }
}

}  // namespace vmk::fakes
