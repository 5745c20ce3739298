#include "providers/notify/webhook_notifier.h"

#include <algorithm>
#include <cctype>
#include <exception>
#include <utility>
#include <vector>

#include "common/log.h"

namespace vmk::providers {
namespace {

bool IsHostChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

bool IsIpv6Char(char c) {
  return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') || c == ':' ||
         c == '.';
}

}  // namespace

StatusOr<WebhookNotifier::Target> WebhookNotifier::ParseUrl(const std::string& url) {
  // Messages never echo the URL: its path or query may hold a secret token.
  auto invalid = [](const std::string& why) {
    return Status::InvalidArgument("webhook URL " + why);
  };
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return invalid("must not contain spaces or control characters");
    }
  }
  size_t scheme_end = url.find("://");
  std::string scheme = scheme_end == std::string::npos ? "" : url.substr(0, scheme_end);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
  if (scheme != "http" && scheme != "https") return invalid("must start with http:// or https://");
  const bool tls = scheme == "https";

  std::string rest = url.substr(scheme_end + 3);
  size_t authority_end = rest.find_first_of("/?#");
  std::string authority = rest.substr(0, authority_end);
  std::string target = authority_end == std::string::npos ? "" : rest.substr(authority_end);
  if (target.find('#') != std::string::npos) return invalid("must not contain a fragment (#)");
  if (authority.find('@') != std::string::npos) {
    return invalid("must not contain user information (user@host)");
  }
  if (authority.empty()) return invalid("must name a host");

  Target out;
  out.port = tls ? 443 : 80;
  std::string port_text;
  bool has_port = false;
  bool ipv6 = false;
  if (authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos) return invalid("has an unterminated [IPv6] address");
    out.host = authority.substr(1, close - 1);
    if (out.host.empty() || !std::all_of(out.host.begin(), out.host.end(), IsIpv6Char)) {
      return invalid("has an invalid [IPv6] address");
    }
    ipv6 = true;
    std::string after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return invalid("has unexpected text after the [IPv6] address");
      has_port = true;
      port_text = after.substr(1);
    }
  } else {
    size_t colon = authority.find(':');
    out.host = authority.substr(0, colon);
    if (colon != std::string::npos) {
      has_port = true;
      port_text = authority.substr(colon + 1);
    }
    if (out.host.empty()) return invalid("must name a host");
    if (!std::all_of(out.host.begin(), out.host.end(), IsHostChar)) {
      return invalid("has an invalid host name");
    }
  }
  if (has_port) {
    bool digits = !port_text.empty() && port_text.size() <= 5 &&
                  std::all_of(port_text.begin(), port_text.end(),
                              [](char c) { return c >= '0' && c <= '9'; });
    int port = digits ? std::stoi(port_text) : 0;
    if (port < 1 || port > 65535) return invalid("must have a port between 1 and 65535");
    out.port = port;
  }

  out.host_header = ipv6 ? "[" + out.host + "]" : out.host;
  if (out.port != (tls ? 443 : 80)) out.host_header += ":" + std::to_string(out.port);
  if (target.empty()) {
    out.request_target = "/";
  } else if (target[0] == '?') {
    out.request_target = "/" + target;
  } else {
    out.request_target = target;
  }
  out.url = scheme + "://" + out.host_header + out.request_target;
  return out;
}

StatusOr<std::unique_ptr<WebhookNotifier>> WebhookNotifier::Create(WebhookNotifierOptions options,
                                                                   Clock* clock) {
  if (clock == nullptr) return Status::InvalidArgument("webhook notifier needs a clock");
  VMK_ASSIGN_OR_RETURN(Target target, ParseUrl(options.url));
  if (options.timeout.count() <= 0) {
    return Status::InvalidArgument("webhook timeout must be positive");
  }
  if (options.max_attempts < 1) {
    return Status::InvalidArgument("webhook max_attempts must be at least 1");
  }
  if (options.initial_backoff < Duration::zero() ||
      options.max_backoff < options.initial_backoff) {
    return Status::InvalidArgument(
        "webhook backoff must satisfy 0 <= initial_backoff <= max_backoff");
  }
  if (options.max_queue < 1) {
    return Status::InvalidArgument("webhook max_queue must be at least 1");
  }
  return std::unique_ptr<WebhookNotifier>(
      new WebhookNotifier(std::move(options), std::move(target), clock));
}

WebhookNotifier::WebhookNotifier(WebhookNotifierOptions options, Target target, Clock* clock)
    : options_(std::move(options)), target_(std::move(target)), clock_(clock) {
  sender_ = std::thread([this] { Run(); });
}

WebhookNotifier::~WebhookNotifier() { Stop(); }

void WebhookNotifier::Notify(Notification n) {
  bool overflowed = false;
  bool after_stop = false;
  Notification lost;
  {
    MutexLock l(&mu_);
    if (stopping_) {
      ++dropped_;
      after_stop = true;
      lost = std::move(n);
    } else {
      if (queue_.size() >= options_.max_queue) {
        lost = std::move(queue_.front());
        queue_.pop_front();
        ++dropped_;
        overflowed = true;
      }
      queue_.push_back(std::move(n));
      // A busy sender looks at the queue when it is done; waking it would only interrupt a
      // backoff wait for nothing.
      if (!in_flight_) wake_.notify_all();
    }
  }
  // Logged outside the lock: the callers are reconcile workers.
  if (overflowed) {
    log::Warning("webhook queue full, dropped the oldest notification",
                 {{"endpoint", target_.host_header},
                  {"kind", lost.kind},
                  {"name", lost.name},
                  {"event", lost.event}});
  } else if (after_stop) {
    log::Warning("webhook notifier stopped, dropped a notification",
                 {{"kind", lost.kind}, {"name", lost.name}, {"event", lost.event}});
  }
}

void WebhookNotifier::Stop() {
  MutexLock stop_lock(&stop_mu_);
  size_t discarded = 0;
  {
    MutexLock l(&mu_);
    if (!stopping_) {
      stopping_ = true;
      discarded = queue_.size();
      dropped_ += discarded;
      queue_.clear();
    }
    wake_.notify_all();
    progress_.notify_all();
  }
  // Interrupts an HTTP attempt in progress; any later one fails at once.
  cancel_.Cancel();
  if (sender_.joinable()) sender_.join();
  if (discarded > 0) {
    log::Warning("webhook notifier stopped with notifications queued, dropped them",
                 {{"endpoint", target_.host_header}, {"dropped", std::to_string(discarded)}});
  }
}

DeliveryCounts WebhookNotifier::Counts() const {
  return DeliveryCounts{sent(), failed(), dropped(), attempts()};
}

uint64_t WebhookNotifier::sent() const {
  MutexLock l(&mu_);
  return sent_;
}

uint64_t WebhookNotifier::failed() const {
  MutexLock l(&mu_);
  return failed_;
}

uint64_t WebhookNotifier::dropped() const {
  MutexLock l(&mu_);
  return dropped_;
}

uint64_t WebhookNotifier::attempts() const {
  MutexLock l(&mu_);
  return attempts_;
}

bool WebhookNotifier::WaitUntilBackingOff(uint64_t n, std::chrono::milliseconds timeout) const {
  MutexLock l(&mu_);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // The sender holds mu_ from setting backing_off_ until the clock's wait releases it, so seeing
  // backing_off_ here means it is registered with the clock.
  auto reached = [&]() REQUIRES(mu_) { return backing_off_ && backoff_waits_ >= n; };
  while (!reached() && l.WaitUntil(progress_, deadline)) {}
  return reached();
}

bool WebhookNotifier::WaitUntilIdle(std::chrono::milliseconds timeout) const {
  MutexLock l(&mu_);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto idle = [&]() REQUIRES(mu_) { return stopping_ || (queue_.empty() && !in_flight_); };
  while (!idle() && l.WaitUntil(progress_, deadline)) {}
  return idle();
}

void WebhookNotifier::Run() {
  MutexLock lock(&mu_);
  while (true) {
    while (!stopping_ && queue_.empty()) lock.Wait(wake_);
    if (stopping_) return;
    Notification n = std::move(queue_.front());
    queue_.pop_front();
    in_flight_ = true;
    Deliver(n, lock);
    in_flight_ = false;
    progress_.notify_all();
  }
}

void WebhookNotifier::Deliver(const Notification& n, MutexLock& lock) {
  // mu_ is dropped around the HTTP attempt and the logging (MutexUnlock: it is the caller's
  // lock), and held again when each block ends, `return` included.
  const std::string body = n.ToJson();
  Duration backoff = options_.initial_backoff;
  for (int attempt = 1;; ++attempt) {
    ++attempts_;
    std::string detail;
    AttemptOutcome outcome;
    {
      MutexUnlock unlock(&mu_);
      try {
        outcome = Attempt(body, &detail);
      } catch (const std::exception& e) {  // allocation failure; retrying may do better
        outcome = AttemptOutcome::kRetryable;
        detail = e.what();
      }
    }
    if (stopping_) {
      ++dropped_;
      return;
    }
    if (outcome == AttemptOutcome::kSent) {
      ++sent_;
      MutexUnlock unlock(&mu_);
      log::Debug("webhook notification sent", {{"endpoint", target_.host_header},
                                               {"kind", n.kind},
                                               {"name", n.name},
                                               {"event", n.event},
                                               {"attempt", std::to_string(attempt)}});
      return;
    }
    if (outcome != AttemptOutcome::kRetryable || attempt >= options_.max_attempts) {
      ++failed_;
      MutexUnlock unlock(&mu_);
      log::Warning("webhook notification given up", {{"endpoint", target_.host_header},
                                                     {"kind", n.kind},
                                                     {"name", n.name},
                                                     {"event", n.event},
                                                     {"incident", n.incident_id},
                                                     {"attempts", std::to_string(attempt)},
                                                     {"error", detail}});
      return;
    }
    {
      MutexUnlock unlock(&mu_);
      const auto backoff_ms = std::chrono::duration_cast<std::chrono::milliseconds>(backoff);
      log::Debug("webhook attempt failed, will retry",
                 {{"endpoint", target_.host_header},
                  {"attempt", std::to_string(attempt)},
                  {"error", detail},
                  {"backoffMs", std::to_string(backoff_ms.count())}});
    }
    if (stopping_) {
      ++dropped_;
      return;
    }
    MonoTime retry_at = clock_->Now() + backoff;
    backoff = backoff > options_.max_backoff / 2 ? options_.max_backoff : backoff * 2;
    backing_off_ = true;
    ++backoff_waits_;
    progress_.notify_all();
    while (!stopping_ && clock_->Now() < retry_at) {
      clock_->WaitUntil(lock.native(), wake_, retry_at);
    }
    backing_off_ = false;
    if (stopping_) {
      ++dropped_;
      return;
    }
  }
}

WebhookNotifier::AttemptOutcome WebhookNotifier::Attempt(const std::string& body,
                                                         std::string* detail) const {
  http::HttpRequest request;
  request.method = http::HttpRequest::Method::kPost;
  request.url = target_.url;
  request.headers = {"Content-Type: application/json"};
  request.body = body;
  request.user_agent = "vmkeeper-notifier";
  request.timeout = options_.timeout;
  StatusOr<http::HttpResponse> answer = http::HttpClient().Do(request, &cancel_);
  if (!answer.ok()) {
    // The client's messages name at most host and port: fit for logs.
    *detail = answer.status().message();
    switch (answer.status().code()) {
      case StatusCode::kAborted: return AttemptOutcome::kInterrupted;
      case StatusCode::kInvalidArgument: return AttemptOutcome::kPermanent;
      // Refused, reset, timed out, DNS, a garbage answer: the endpoint may come back.
      default: return AttemptOutcome::kRetryable;
    }
  }
  const int code = answer->status;
  *detail = "HTTP " + std::to_string(code);
  if (code >= 200 && code <= 299) return AttemptOutcome::kSent;
  if (code == 408 || code == 429 || (code >= 500 && code <= 599)) return AttemptOutcome::kRetryable;
  return AttemptOutcome::kPermanent;  // redirects and client errors do not heal by retrying
}

}  // namespace vmk::providers
