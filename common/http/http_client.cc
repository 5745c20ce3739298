#include "common/http/http_client.h"

#include <curl/curl.h>
#include <linux/tcp.h>  // struct tcp_info with tcpi_data_segs_in (glibc's copy predates it)
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <exception>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "common/net_address.h"

namespace vmk::http {

void Cancellation::Cancel() {
  MutexLock l(&mu_);
  cancelled_ = true;
  for (auto& [id, wake] : wakers_) wake();
}

bool Cancellation::cancelled() const {
  MutexLock l(&mu_);
  return cancelled_;
}

uint64_t Cancellation::Register(std::function<void()> waker) const {
  MutexLock l(&mu_);
  if (cancelled_) return 0;
  uint64_t id = next_id_++;
  wakers_.emplace(id, std::move(waker));
  return id;
}

void Cancellation::Unregister(uint64_t id) const {
  MutexLock l(&mu_);
  wakers_.erase(id);
}

// Keeps a request's waker registered with its Cancellation while the request's handles live.
class CancellationRegistration {
 public:
  CancellationRegistration(const Cancellation* cancel, std::function<void()> waker)
      : cancel_(cancel), id_(cancel == nullptr ? 0 : cancel->Register(std::move(waker))) {}
  ~CancellationRegistration() {
    if (id_ != 0) cancel_->Unregister(id_);
  }
  CancellationRegistration(const CancellationRegistration&) = delete;
  CancellationRegistration& operator=(const CancellationRegistration&) = delete;

  // False when the Cancellation was already cancelled: nothing was registered.
  bool registered() const { return id_ != 0; }

 private:
  const Cancellation* const cancel_;
  const uint64_t id_;
};

namespace {

// Longest excerpt of a non-HTTP answer quoted in messages.
constexpr size_t kExcerptChars = 40;
// How much later than the request's deadline libcurl's own timeout fires (see SetCommonOptions).
constexpr std::chrono::milliseconds kLibcurlTimeoutSlack{250};
// Linux's TCP states (include/net/tcp_states.h; <netinet/tcp.h> has them but clashes with the
// <linux/tcp.h> we need for tcp_info): connected, and connected with the peer's FIN received.
constexpr uint8_t kTcpEstablished = 1;
constexpr uint8_t kTcpCloseWait = 8;

// curl_global_init is not thread-safe and must run once before any other libcurl call.
CURLcode GlobalInit() {
  static std::once_flag once;
  static CURLcode result = CURLE_OK;
  std::call_once(once, [] { result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  return result;
}

struct EasyDeleter {
  void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
};
struct MultiDeleter {
  void operator()(CURLM* multi) const { curl_multi_cleanup(multi); }
};
struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
struct UrlDeleter {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};
using EasyPtr = std::unique_ptr<CURL, EasyDeleter>;
using MultiPtr = std::unique_ptr<CURLM, MultiDeleter>;
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;
using UrlPtr = std::unique_ptr<CURLU, UrlDeleter>;

std::string ErrnoText(int err) {
  char buf[256];
  return ::strerror_r(err, buf, sizeof(buf));  // GNU variant: returns the message
}

// Printable start of whatever a peer sent, for messages: peers may send anything.
std::string Excerpt(const std::string& text) {
  std::string out;
  for (char c : text.substr(0, kExcerptChars)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return "\"" + out + (text.size() > kExcerptChars ? "...\"" : "\"");
}

// The parts of a URL that messages may name (host) and must not (path, query).
struct UrlParts {
  std::string scheme;  // lower case
  std::string host;    // IPv6 in brackets
  std::string path;
  std::string query;
};

std::string UrlPart(CURLU* url, CURLUPart part) {
  char* text = nullptr;
  if (curl_url_get(url, part, &text, 0) != CURLUE_OK || text == nullptr) return "";
  std::string out(text);
  curl_free(text);
  return out;
}

StatusOr<UrlParts> ParseUrl(const std::string& url) {
  UrlPtr parsed(curl_url());
  if (!parsed) return Status::Internal("out of memory");
  if (curl_url_set(parsed.get(), CURLUPART_URL, url.c_str(), CURLU_PATH_AS_IS) != CURLUE_OK) {
    return Status::InvalidArgument("malformed URL");  // not echoed: it may hold a token
  }
  UrlParts parts{UrlPart(parsed.get(), CURLUPART_SCHEME), UrlPart(parsed.get(), CURLUPART_HOST),
                 UrlPart(parsed.get(), CURLUPART_PATH), UrlPart(parsed.get(), CURLUPART_QUERY)};
  if (parts.scheme != "http" && parts.scheme != "https") {
    return Status::InvalidArgument("URL scheme must be http or https");
  }
  if (parts.host.empty()) return Status::InvalidArgument("URL must name a host");
  return parts;
}

// libcurl's own error text, minus anything of the URL's path or query it might quote.
std::string Scrubbed(std::string text, const UrlParts& url) {
  for (const std::string& secret : {url.path, url.query}) {
    if (secret.size() <= 1) continue;  // "/" and "" give nothing away
    for (size_t pos = text.find(secret); pos != std::string::npos;
         pos = text.find(secret, pos + 3)) {
      text.replace(pos, secret.size(), "...");
    }
  }
  return text;
}

// What the callbacks learn during one transfer.
struct Transfer {
  CURL* easy = nullptr;
  bool answered = false;           // a final status line arrived; the transfer was stopped there
  int status = 0;                  // its code
  bool at_answer_start = true;     // the next header line is a status line
  std::string not_http;            // the start of an answer without a status line (HTTP/0.9)
  bool socket_opened = false;      // a connection was attempted
  bool established = false;        // a connection was established (seen when it closed)
  uint64_t data_segments_in = 0;   // segments with payload received, over the closed sockets
  char error[CURL_ERROR_SIZE] = {};
};

// Each header line of the answer. The final status line ends the transfer: returning less than
// was given makes libcurl stop (CURLE_WRITE_ERROR), and nothing after it matters to us.
size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t length = size * count;
  if (t->at_answer_start) {
    t->at_answer_start = false;
    long code = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code < 100 || code > 199) {
      t->answered = true;
      t->status = static_cast<int>(code);
      return 0;
    }
    return length;  // an interim 1xx answer: its headers and a blank line follow, then another
  }
  std::string_view line(data, length);
  if (line == "\r\n" || line == "\n") t->at_answer_start = true;
  return length;
}

// Body bytes reach us only from a peer that answered without a status line (libcurl calls that
// HTTP/0.9): keep enough of it to say what it was, then stop.
size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t length = size * count;
  const size_t room = kExcerptChars + 1 - std::min(t->not_http.size(), kExcerptChars + 1);
  t->not_http.append(data, std::min(length, room));
  if (t->not_http.size() > kExcerptChars || t->not_http.find('\n') != std::string::npos) {
    return 0;
  }
  return length;
}

curl_socket_t OnOpenSocket(void* user, curlsocktype purpose, curl_sockaddr* address) {
  auto* t = static_cast<Transfer*>(user);
  int fd = ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
  if (fd < 0) return CURL_SOCKET_BAD;
  t->socket_opened = true;
  return fd;
}

bool GetTcpInfo(int fd, tcp_info* info) {
  *info = tcp_info{};
  socklen_t length = sizeof(*info);
  return ::getsockopt(fd, IPPROTO_TCP, TCP_INFO, info, &length) == 0 &&
         length >= offsetof(tcp_info, tcpi_data_segs_in) + sizeof(info->tcpi_data_segs_in);
}

// What the kernel knows of a socket as it closes. libcurl reports an incomplete status line
// followed by EOF as "Empty reply from server", the same as a close without a byte: the count
// of data segments received tells the two apart. And whether the connection was established
// tells where a timeout struck (Phase).
int OnCloseSocket(void* user, curl_socket_t fd) {
  auto* t = static_cast<Transfer*>(user);
  tcp_info info;
  if (GetTcpInfo(fd, &info)) {
    t->data_segments_in += info.tcpi_data_segs_in;
    if (info.tcpi_state == kTcpEstablished || info.tcpi_state == kTcpCloseWait) {
      t->established = true;
    }
  }
  return ::close(fd);
}

// Sets options one after the other, keeping the first failure.
class Options {
 public:
  explicit Options(CURL* easy) : easy_(easy) {}
  // `value` must have the type libcurl expects for `option`: long, curl_off_t, a pointer or a
  // callback (the variadic curl_easy_setopt cannot check).
  template <typename T>
  void Set(CURLoption option, T value) {
    if (result_ == CURLE_OK) result_ = curl_easy_setopt(easy_, option, value);
  }
  CURLcode result() const { return result_; }

 private:
  CURL* easy_;
  CURLcode result_ = CURLE_OK;
};

// The options every transfer shares: deadline, no signals, no proxy, no redirects, http(s) only,
// the callbacks above.
CURLcode SetCommonOptions(CURL* easy, const std::string& url, std::chrono::milliseconds timeout,
                          Transfer* transfer) {
  Options o(easy);
  o.Set(CURLOPT_URL, url.c_str());
  o.Set(CURLOPT_PROTOCOLS_STR, "http,https");
  o.Set(CURLOPT_NOSIGNAL, 1L);
  // The deadline that counts is the Driver's, on steady_clock like the rest of the daemon:
  // libcurl's clock (CLOCK_MONOTONIC_RAW) is not slewed by NTP and its timeout was seen to fire
  // a fraction of a millisecond early. Its own timeout is a backstop just behind ours.
  o.Set(CURLOPT_TIMEOUT_MS, static_cast<long>((timeout + kLibcurlTimeoutSlack).count()));
  // A lookup still running at the deadline is abandoned, not waited for (see the header).
  o.Set(CURLOPT_QUICK_EXIT, 1L);
  o.Set(CURLOPT_PROXY, "");
  o.Set(CURLOPT_FOLLOWLOCATION, 0L);
  o.Set(CURLOPT_PATH_AS_IS, 1L);
  o.Set(CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
  // Lets a non-HTTP answer through to OnBody, so messages can quote it.
  o.Set(CURLOPT_HTTP09_ALLOWED, 1L);
  o.Set(CURLOPT_ERRORBUFFER, static_cast<void*>(transfer->error));
  o.Set(CURLOPT_HEADERFUNCTION, &OnHeader);
  o.Set(CURLOPT_HEADERDATA, static_cast<void*>(transfer));
  o.Set(CURLOPT_WRITEFUNCTION, &OnBody);
  o.Set(CURLOPT_WRITEDATA, static_cast<void*>(transfer));
  o.Set(CURLOPT_OPENSOCKETFUNCTION, &OnOpenSocket);
  o.Set(CURLOPT_OPENSOCKETDATA, static_cast<void*>(transfer));
  o.Set(CURLOPT_CLOSESOCKETFUNCTION, &OnCloseSocket);
  o.Set(CURLOPT_CLOSESOCKETDATA, static_cast<void*>(transfer));
  return o.result();
}

CURLcode SetRequestOptions(CURL* easy, const HttpRequest& request, curl_slist* headers) {
  Options o(easy);
  o.Set(CURLOPT_USERAGENT, request.user_agent.c_str());
  o.Set(CURLOPT_HTTPHEADER, static_cast<const void*>(headers));
  if (request.method == HttpRequest::Method::kPost) {
    o.Set(CURLOPT_POST, 1L);
    o.Set(CURLOPT_POSTFIELDS, static_cast<const void*>(request.body.data()));
    o.Set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  }
  return o.result();
}

// The request's header lines, plus ours: one connection per request, and no "Expect:
// 100-continue" (libcurl adds it to large POSTs; a webhook receiver need not know it).
StatusOr<SlistPtr> HeaderList(const std::vector<std::string>& extra) {
  SlistPtr list;
  std::vector<std::string> lines = extra;
  lines.push_back("Connection: close");
  lines.push_back("Expect:");
  for (const std::string& line : lines) {
    if (line.find_first_of("\r\n") != std::string::npos) {
      return Status::InvalidArgument("HTTP header lines must not contain line breaks");
    }
    curl_slist* grown = curl_slist_append(list.get(), line.c_str());
    if (grown == nullptr) return Status::Internal("out of memory");
    (void)list.release();
    list.reset(grown);
  }
  return list;
}

// "[v6]" as URLs write it, or a bare address.
bool IsIpLiteralHost(const std::string& host) {
  return (!host.empty() && host.front() == '[') || vmk::IsIpLiteral(host);
}

// What the transfer was doing when the deadline passed. The kernel knows best whether a
// connection was established (libcurl 7.88 records its connect time only after TLS); the
// sockets were closed when the transfer was abandoned, and OnCloseSocket looked then.
std::string Phase(const Transfer& t, const UrlParts& url) {
  if (t.established) {
    curl_off_t tls_done = 0;
    curl_easy_getinfo(t.easy, CURLINFO_APPCONNECT_TIME_T, &tls_done);
    return url.scheme == "https" && tls_done == 0 ? "TLS handshake" : "waiting for the HTTP answer";
  }
  return t.socket_opened || IsIpLiteralHost(url.host) ? "connecting" : "resolving the host name";
}

// The error for a transfer that ended without a status line.
Status Failure(CURLcode code, const Transfer& t, const UrlParts& url,
               std::chrono::milliseconds timeout) {
  if (!t.not_http.empty()) return Status::Unavailable("bad HTTP answer: " + Excerpt(t.not_http));
  long os_errno = 0;
  curl_easy_getinfo(t.easy, CURLINFO_OS_ERRNO, &os_errno);
  const std::string detail = Scrubbed(t.error[0] != '\0' ? t.error : curl_easy_strerror(code), url);
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return Status::DeadlineExceeded("timed out after " + std::to_string(timeout.count()) +
                                      " ms (" + Phase(t, url) + ")");
    case CURLE_COULDNT_RESOLVE_HOST:
      return Status::Unavailable("cannot resolve " + url.host);
    case CURLE_COULDNT_CONNECT:
      if (os_errno == ECONNREFUSED) return Status::Unavailable("connection refused");
      return Status::Unavailable("connect failed: " +
                                 (os_errno != 0 ? ErrnoText(static_cast<int>(os_errno)) : detail));
    case CURLE_GOT_NOTHING:
      if (url.scheme == "http" && t.data_segments_in > 0) {
        return Status::Unavailable("bad HTTP answer: incomplete status line");
      }
      return Status::Unavailable("connection closed without an answer");
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
      if (os_errno == ECONNRESET) return Status::Unavailable("connection reset by peer");
      return Status::Unavailable(std::string(code == CURLE_SEND_ERROR ? "send" : "receive") +
                                 " failed: " + detail);
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_WEIRD_SERVER_REPLY:
      return Status::Unavailable("bad HTTP answer: " + detail);
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
      return Status::Unavailable("TLS: " + detail);
    default:
      return Status::Unavailable(detail);
  }
}

// One easy handle driven on its own multi handle, so that a Cancellation can wake the wait
// (curl_multi_wakeup) instead of the wait polling a flag.
class Driver {
 public:
  Driver(CURL* easy, std::chrono::milliseconds timeout, const Cancellation* cancel)
      : easy_(easy), deadline_(std::chrono::steady_clock::now() + timeout), cancel_(cancel) {}
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;
  ~Driver() {
    // Unregistered first: Cancel() must not wake a multi handle that is going away.
    registration_.reset();
    if (added_) curl_multi_remove_handle(multi_.get(), easy_);
  }

  // Runs the transfer to its end or to the deadline. Aborted when cancelled, Internal when
  // libcurl's multi interface itself fails; otherwise ok with `*result` the transfer's outcome
  // (CURLE_OPERATION_TIMEDOUT when the deadline passed first). The transfer is left where it
  // was: the destructor abandons it.
  Status Run(CURLcode* result) {
    multi_.reset(curl_multi_init());
    if (!multi_) return Status::Internal("libcurl: cannot create a multi handle");
    if (cancel_ != nullptr) {
      CURLM* multi = multi_.get();
      registration_ = std::make_unique<CancellationRegistration>(
          cancel_, [multi] { curl_multi_wakeup(multi); });
      if (!registration_->registered()) return Status::Aborted("interrupted");
    }
    if (curl_multi_add_handle(multi_.get(), easy_) != CURLM_OK) {
      return Status::Internal("libcurl: cannot add the transfer");
    }
    added_ = true;
    bool finished = false;
    VMK_RETURN_IF_ERROR(Loop(&finished));
    if (!finished) {
      *result = CURLE_OPERATION_TIMEDOUT;
      return Status::Ok();
    }
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_.get(), &left)) {
      if (msg->msg == CURLMSG_DONE && msg->easy_handle == easy_) {
        *result = msg->data.result;
        return Status::Ok();
      }
    }
    return Status::Internal("libcurl: the transfer ended without a result");
  }

 private:
  bool Cancelled() const { return cancel_ != nullptr && cancel_->cancelled(); }
  static Status MultiError(CURLMcode mc) {
    return Status::Internal(std::string("libcurl: ") + curl_multi_strerror(mc));
  }

  // Lets libcurl work until the transfer is over (`*finished`), the deadline passes or the
  // request is cancelled.
  Status Loop(bool* finished) {
    while (true) {
      int running = 0;
      CURLMcode mc = curl_multi_perform(multi_.get(), &running);
      if (mc != CURLM_OK) return MultiError(mc);
      if (running == 0) {
        *finished = true;
        return Status::Ok();
      }
      if (Cancelled()) return Status::Aborted("interrupted");
      const auto left = deadline_ - std::chrono::steady_clock::now();
      if (left <= std::chrono::steady_clock::duration::zero()) return Status::Ok();
      // Returns on socket activity, on libcurl's next timer, at our deadline (rounded up, so
      // never before it), or on a wake-up from Cancel(); 1 s is only a backstop.
      const auto wait = std::min<int64_t>(
          std::chrono::ceil<std::chrono::milliseconds>(left).count(), 1000);
      mc = curl_multi_poll(multi_.get(), nullptr, 0, static_cast<int>(wait), nullptr);
      if (mc != CURLM_OK) return MultiError(mc);
      if (Cancelled()) return Status::Aborted("interrupted");
    }
  }

  CURL* const easy_;
  const std::chrono::steady_clock::time_point deadline_;
  const Cancellation* const cancel_;
  MultiPtr multi_;
  std::unique_ptr<CancellationRegistration> registration_;
  bool added_ = false;
};

// Runs a transfer whose options are set, to its end or to the deadline (see Driver::Run).
Status Perform(CURL* easy, std::chrono::milliseconds timeout, const Cancellation* cancel,
               CURLcode* result) {
  Driver driver(easy, timeout, cancel);
  return driver.Run(result);
}

StatusOr<EasyPtr> NewEasy() {
  if (CURLcode rc = GlobalInit(); rc != CURLE_OK) {
    return Status::Internal(std::string("libcurl initialisation failed: ") +
                            curl_easy_strerror(rc));
  }
  EasyPtr easy(curl_easy_init());
  if (!easy) return Status::Internal("libcurl: cannot create a handle");
  return easy;
}

StatusOr<HttpResponse> DoRequest(const HttpRequest& request, const Cancellation* cancel) {
  if (request.timeout.count() <= 0) return Status::InvalidArgument("HTTP timeout must be positive");
  if (cancel != nullptr && cancel->cancelled()) return Status::Aborted("interrupted");
  VMK_ASSIGN_OR_RETURN(UrlParts url, ParseUrl(request.url));
  VMK_ASSIGN_OR_RETURN(SlistPtr headers, HeaderList(request.headers));
  // Declared before the handle: libcurl calls back into it until the handle is gone.
  Transfer transfer;
  VMK_ASSIGN_OR_RETURN(EasyPtr easy, NewEasy());
  transfer.easy = easy.get();
  CURLcode rc = SetCommonOptions(easy.get(), request.url, request.timeout, &transfer);
  if (rc == CURLE_OK) rc = SetRequestOptions(easy.get(), request, headers.get());
  if (rc != CURLE_OK) {
    return Status::Internal(std::string("libcurl: cannot set up the request: ") +
                            curl_easy_strerror(rc));
  }
  CURLcode result = CURLE_OK;
  VMK_RETURN_IF_ERROR(Perform(easy.get(), request.timeout, cancel, &result));
  if (transfer.answered) return HttpResponse{transfer.status};
  if (result == CURLE_OK && transfer.not_http.empty()) {
    // Ended cleanly without a status line or a byte of body: nothing was answered.
    return Status::Unavailable("connection closed without an answer");
  }
  return Failure(result, transfer, url, request.timeout);
}

bool IsHostText(const std::string& host) {
  if (host.empty()) return false;
  for (char c : host) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_' || c == ':';
    if (!ok) return false;
  }
  return true;
}

Status DoConnect(std::string host, int port, std::chrono::milliseconds timeout,
                 const Cancellation* cancel) {
  if (timeout.count() <= 0) return Status::InvalidArgument("connect timeout must be positive");
  if (port < 1 || port > 65535) return Status::InvalidArgument("port out of range");
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (!IsHostText(host)) return Status::InvalidArgument("invalid host " + host);
  if (cancel != nullptr && cancel->cancelled()) return Status::Aborted("interrupted");
  const bool ipv6 = host.find(':') != std::string::npos;
  const std::string url =
      "http://" + (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + "/";
  VMK_ASSIGN_OR_RETURN(UrlParts parts, ParseUrl(url));
  Transfer transfer;  // before the handle, see DoRequest
  VMK_ASSIGN_OR_RETURN(EasyPtr easy, NewEasy());
  transfer.easy = easy.get();
  CURLcode rc = SetCommonOptions(easy.get(), url, timeout, &transfer);
  if (rc == CURLE_OK) rc = curl_easy_setopt(easy.get(), CURLOPT_CONNECT_ONLY, 1L);
  if (rc != CURLE_OK) {
    return Status::Internal(std::string("libcurl: cannot set up the connection: ") +
                            curl_easy_strerror(rc));
  }
  CURLcode result = CURLE_OK;
  VMK_RETURN_IF_ERROR(Perform(easy.get(), timeout, cancel, &result));
  if (result == CURLE_OK) return Status::Ok();
  return Failure(result, transfer, parts, timeout);
}

}  // namespace

StatusOr<HttpResponse> HttpClient::Do(const HttpRequest& request,
                                      const Cancellation* cancel) const {
  try {
    return DoRequest(request, cancel);
  } catch (const std::exception& e) {  // allocation failure: the only exception left
    return Status::Internal(std::string("HTTP request failed: ") + e.what());
  }
}

Status HttpClient::Connect(const std::string& host, int port, std::chrono::milliseconds timeout,
                           const Cancellation* cancel) const {
  try {
    return DoConnect(host, port, timeout, cancel);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("connect failed: ") + e.what());
  }
}

}  // namespace vmk::http
