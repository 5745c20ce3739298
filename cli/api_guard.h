// ApiGuard: who may make a request, and the record of what was done. vmkeeperd's HttpServer
// calls Admit() once a request's head has passed the edge's checks and before its body is read,
// and Record() once it is answered (or refused):
//
//   - Admit authenticates the bearer token (TokenAuthenticator) unless the route is open
//     (/healthz, /readyz), and checks the credential's role against the route
//     (ApiRouter::RequiredAccess): 401 with a Kubernetes-style Status body and
//     "WWW-Authenticate: Bearer" without a valid token, 403 naming the credential, the method
//     and the path for a role that may not. Without a tokens file everyone is the anonymous
//     admin (the loopback demo of the README). The token is cleared from the request either way.
//     Then a write (ApiRouter::RequiredAccess kWrite: apply, diff, delete, snapshot, rollback)
//     takes a token from its credential's bucket (without a tokens file: its client address's),
//     when a write limiter is given: 429 TooManyRequests with Retry-After when it is empty.
//     Reads, the probes and Alertmanager's intake (kAlerts) are never rate-limited.
//   - Record writes an audit record (AuditLog) for every write (POST, PUT, PATCH, DELETE, diff
//     and alerts included), every 401, 403 and rate-limited 429, and every refusal by the edge
//     but its load-shedding 429s (too busy: about the server's load, not the caller).
//
// Thread-safe (the authenticator, the limiter and the audit log are; the counts are atomic).
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>

#include "cli/audit_log.h"
#include "cli/http_types.h"
#include "cli/rate_limiter.h"
#include "cli/token_authenticator.h"

namespace vmk::cli {

class ApiGuard {
 public:
  // Its refusals so far (vmkeeper_api_requests_refused_total, docs/metrics.md).
  struct Stats {
    uint64_t unauthenticated = 0;  // 401
    uint64_t forbidden = 0;        // 403
    uint64_t rate_limited = 0;     // 429 from the write limiter
  };

  // Any may be null: no authentication (everyone is the anonymous admin), no audit log, no
  // write rate limit. All must outlive the guard.
  ApiGuard(const TokenAuthenticator* authenticator, AuditLog* audit_log,
           RateLimiter* write_limiter = nullptr)
      : authenticator_(authenticator), audit_log_(audit_log), write_limiter_(write_limiter) {}

  // Fills request->user and role, clears request->authorization; the refusal when refused.
  std::optional<HttpResponse> Admit(HttpRequest* request) const;

  // `by_edge`: refused by HttpServer's own checks, before admission.
  void Record(const HttpRequest& request, const HttpResponse& response, bool by_edge) const;

  Stats stats() const;

 private:
  // The write limiter's verdict on an admitted write by `key` (a credential or an address).
  std::optional<HttpResponse> LimitWrite(const std::string& key, const std::string& who) const;

  const TokenAuthenticator* authenticator_;
  AuditLog* audit_log_;
  RateLimiter* write_limiter_;
  mutable std::atomic<uint64_t> unauthenticated_{0};
  mutable std::atomic<uint64_t> forbidden_{0};
  mutable std::atomic<uint64_t> rate_limited_{0};
};

}  // namespace vmk::cli
