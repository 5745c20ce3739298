#include "tests/fakes/loopback_tls_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace vmk::fakes {
namespace {

// A stuck client must not hold the server (and the test) for long.
constexpr int kReadTimeoutSeconds = 5;

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

bool ReadRequest(SSL* ssl, ReceivedRequest* out) {
  std::string data;
  size_t head_end;
  char buf[1024];
  while ((head_end = data.find("\r\n\r\n")) == std::string::npos) {
    int n = SSL_read(ssl, buf, sizeof buf);
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
    int n = SSL_read(ssl, buf, sizeof buf);
    if (n <= 0) return false;
    body.append(buf, static_cast<size_t>(n));
  }
  out->body = body;
  return true;
}

}  // namespace

LoopbackTlsServer::LoopbackTlsServer(TlsServerOptions options) : options_(std::move(options)) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr ||
      SSL_CTX_use_certificate_chain_file(ctx, options_.certificate_file.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, options_.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    ADD_FAILURE() << "loopback TLS server: cannot load " << options_.certificate_file;
    std::abort();
  }
  if (!options_.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, options_.client_ca_file.c_str(), nullptr) != 1) {
      ADD_FAILURE() << "loopback TLS server: cannot load " << options_.client_ca_file;
      std::abort();
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  ctx_ = ctx;
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0 || ::pipe2(stop_pipe_, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "loopback TLS server: socket or pipe failed";
    std::abort();
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listen_fd_, 16) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ADD_FAILURE() << "loopback TLS server: bind or listen failed";
    std::abort();
  }
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Run(); });
}

LoopbackTlsServer::~LoopbackTlsServer() {
  {
    MutexLock l(&mu_);
    stopping_ = true;
    if (open_fd_ >= 0) ::shutdown(open_fd_, SHUT_RDWR);  // ends a read in progress
  }
  char c = 'x';
  EXPECT_EQ(::write(stop_pipe_[1], &c, 1), 1);
  thread_.join();
  ::close(listen_fd_);
  ::close(stop_pipe_[0]);
  ::close(stop_pipe_[1]);
  SSL_CTX_free(static_cast<SSL_CTX*>(ctx_));
}

std::vector<ReceivedTlsRequest> LoopbackTlsServer::requests() const {
  MutexLock l(&mu_);
  return requests_;
}

int LoopbackTlsServer::failed_handshakes() const {
  MutexLock l(&mu_);
  return failed_handshakes_;
}

bool LoopbackTlsServer::WaitForRequests(size_t n, std::chrono::milliseconds timeout) const {
  MutexLock l(&mu_);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (requests_.size() < n && l.WaitUntil(changed_, deadline)) {}
  return requests_.size() >= n;
}

bool LoopbackTlsServer::WaitForFailedHandshakes(int n, std::chrono::milliseconds timeout) const {
  MutexLock l(&mu_);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (failed_handshakes_ < n && l.WaitUntil(changed_, deadline)) {}
  return failed_handshakes_ >= n;
}

void LoopbackTlsServer::Handle(int fd) {
  timeval tv{};
  tv.tv_sec = kReadTimeoutSeconds;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  SSL* ssl = SSL_new(static_cast<SSL_CTX*>(ctx_));
  SSL_set_fd(ssl, fd);
  ERR_clear_error();
  if (SSL_accept(ssl) != 1) {
    ERR_clear_error();
    SSL_free(ssl);
    MutexLock l(&mu_);
    ++failed_handshakes_;
    changed_.notify_all();
    return;
  }
  ReceivedTlsRequest received;
  if (X509* peer = SSL_get1_peer_certificate(ssl)) {
    char cn[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
    received.client_common_name = cn;
    X509_free(peer);
  }
  if (ReadRequest(ssl, &received.request)) {
    {
      MutexLock l(&mu_);
      requests_.push_back(received);
      changed_.notify_all();
    }
    SSL_write(ssl, options_.reply.data(), static_cast<int>(options_.reply.size()));
    SSL_shutdown(ssl);
  }
  ERR_clear_error();
  SSL_free(ssl);
}

void LoopbackTlsServer::Run() {
  // OpenSSL writes with write(2): a client that went away must not kill the test with SIGPIPE.
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    {
      MutexLock l(&mu_);
      if (stopping_) {
        ::close(fd);
        return;
      }
      open_fd_ = fd;
    }
    Handle(fd);
    {
      MutexLock l(&mu_);
      open_fd_ = -1;
    }
    ::close(fd);
  }
}

}  // namespace vmk::fakes
