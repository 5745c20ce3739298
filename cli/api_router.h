// ApiRouter: the vmkeeperd REST API (v1) as a pure function from HttpRequest to HttpResponse.
// It validates requests, calls the ControlPlane and renders JSON; it knows nothing of sockets,
// so it is tested without a network and served by HttpServer.
//
//   GET    /healthz, /readyz, /metrics
//   POST   /api/v1/apply   {"files":[{"name","content"}],"dryRun":bool,"prune":bool}
//   POST   /api/v1/diff    {"files":[...],"prune":bool}
//   GET    /api/v1/{hosts|virtualmachines|snapshotpolicies}[/{name}]
//   DELETE /api/v1/{plural}/{name}
//   GET    /api/v1/events?kind=&name=&after=&limit=
//   GET    /api/v1/incidents?kind=&name=   -> {"items":[incident...]}, oldest first
//   POST   /api/v1/alerts  (Alertmanager webhook, version 4, passed on as is)
//                          -> {"accepted":n,"repeated":n,"skipped":[...]}
//   GET    /api/v1/whoami  -> {"user":"<credential name>","role":"<role>"}
//
// Who may call which route is RequiredAccess() (the table is docs/security.md); the caller was
// checked before the request got here (ApiGuard) and is in request.user and request.role.
//
// Thread-safe (stateless; the ControlPlane is thread-safe). Handle() never throws.
#pragma once

#include <functional>
#include <string>

#include "cli/http_types.h"
#include "cli/token_authenticator.h"
#include "reconciler/controller/control_plane.h"

namespace vmk::cli {

// What a request needs from its caller.
enum class Access {
  kOpen,           // /healthz, /readyz: no credentials at all
  kAuthenticated,  // any credential: whoami
  kRead,           // viewer, editor, admin
  kWrite,          // editor, admin
  kAlerts,         // alerts, admin
};

std::string_view AccessName(Access access);
bool RoleMay(Role role, Access access);

class ApiRouter {
 public:
  // By path and method alone, before the body is read: every route, and every path and method
  // no route has (GET/HEAD/OPTIONS as reads, the other methods as writes, so what a 404 or 405
  // would tell is told only to those who may make such a request).
  static Access RequiredAccess(const std::string& method, const std::string& path);

  // control_plane must outlive the router. `more_metrics`, when set, is appended to the control
  // plane's /metrics text (vmkeeperd: the API's own families, metrics/api_metrics.h); it is
  // called on the request's thread and must be thread-safe.
  explicit ApiRouter(reconciler::ControlPlane* control_plane,
                     std::function<std::string()> more_metrics = nullptr);

  HttpResponse Handle(const HttpRequest& request) const;

  // Default and maximum `limit` of the events endpoint.
  static constexpr size_t kDefaultEventLimit = 100;
  static constexpr size_t kMaxEventLimit = 10000;

 private:
  HttpResponse Route(const HttpRequest& request) const;
  HttpResponse HandleApply(const HttpRequest& request) const;
  HttpResponse HandleDiff(const HttpRequest& request) const;
  HttpResponse HandleList(specs::Kind kind) const;
  HttpResponse HandleGet(specs::Kind kind, const std::string& name) const;
  HttpResponse HandleDelete(specs::Kind kind, const std::string& name) const;
  HttpResponse HandleSnapshot(const HttpRequest& request, const std::string& vm) const;
  HttpResponse HandleRollback(const HttpRequest& request, const std::string& vm) const;
  HttpResponse HandleEvents(const HttpRequest& request) const;
  HttpResponse HandleIncidents(const HttpRequest& request) const;
  HttpResponse HandleAvailability(const HttpRequest& request) const;
  HttpResponse HandleAlerts(const HttpRequest& request) const;
  HttpResponse HandleWhoami(const HttpRequest& request) const;

  reconciler::ControlPlane* control_plane_;
  std::function<std::string()> more_metrics_;
};

// Status code -> HTTP status (NotFound 404, FailedPrecondition/AlreadyExists/Aborted 409,
// InvalidArgument 400, Unavailable 503, DeadlineExceeded 504, else 500).
int HttpStatusFor(const Status& status);
// {"error": message} with the status's HTTP code.
HttpResponse ErrorResponse(int http_status, const std::string& message);
// A Kubernetes-style Status body, for 401 and 403: {"kind":"Status","apiVersion":"v1",
// "status":"Failure","message":...,"reason":"Unauthorized"|"Forbidden","code":...}.
HttpResponse StatusFailureResponse(int http_status, const std::string& reason,
                                   const std::string& message);
// 429 with "Retry-After: <seconds>" and a Status body of reason TooManyRequests whose details
// carry retryAfterSeconds (as Kubernetes' API server answers).
HttpResponse TooManyRequestsResponse(const std::string& message, long retry_after_seconds);

}  // namespace vmk::cli
