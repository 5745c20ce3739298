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
//   - Record writes an audit record (AuditLog) for every write (POST, PUT, PATCH, DELETE) but
//     diff, every 401 and 403, and every refusal by the edge but 429.
//
// Thread-safe (the authenticator and the audit log are).
#pragma once

#include <optional>

#include "cli/audit_log.h"
#include "cli/http_types.h"
#include "cli/token_authenticator.h"

namespace vmk::cli {

class ApiGuard {
 public:
  // Either may be null: no authentication (everyone is the anonymous admin), no audit log.
  // Both must outlive the guard.
  ApiGuard(const TokenAuthenticator* authenticator, AuditLog* audit_log)
      : authenticator_(authenticator), audit_log_(audit_log) {}

  // Fills request->user and role, clears request->authorization; the refusal when refused.
  std::optional<HttpResponse> Admit(HttpRequest* request) const;

  // `by_edge`: refused by HttpServer's own checks, before admission.
  void Record(const HttpRequest& request, const HttpResponse& response, bool by_edge) const;

 private:
  const TokenAuthenticator* authenticator_;
  AuditLog* audit_log_;
};

}  // namespace vmk::cli
