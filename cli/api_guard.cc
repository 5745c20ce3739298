#include "cli/api_guard.h"

#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/api_router.h"
#include "common/log.h"
#include "common/net_address.h"

namespace vmk::cli {
namespace {

std::string RolesThatMay(Access access) {
  std::string out;
  for (Role role : {Role::kViewer, Role::kEditor, Role::kAlerts, Role::kAdmin}) {
    if (!RoleMay(role, access)) continue;
    if (!out.empty()) out += ", ";
    out += RoleName(role);
  }
  return out;
}

// "Kind/name" of each object an apply reported (its 200 body's results).
std::vector<std::string> AppliedObjects(const HttpResponse& response) {
  std::vector<std::string> objects;
  nlohmann::json body = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object() || !body.contains("results") || !body["results"].is_array()) return objects;
  for (const auto& item : body["results"]) {
    if (item.is_object() && item.value("kind", nlohmann::json()).is_string() &&
        item.value("name", nlohmann::json()).is_string()) {
      objects.push_back(item["kind"].get<std::string>() + "/" + item["name"].get<std::string>());
    }
  }
  return objects;
}

// The message of an error body ({"error": ...} or a Status' "message").
std::string ErrorMessage(const HttpResponse& response) {
  nlohmann::json body = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object()) return "";
  for (const char* key : {"message", "error"}) {
    if (body.contains(key) && body[key].is_string()) return body[key].get<std::string>();
  }
  return "";
}

}  // namespace

std::optional<HttpResponse> ApiGuard::Admit(HttpRequest* request) const {
  std::string authorization;
  authorization.swap(request->authorization);
  const Access access = ApiRouter::RequiredAccess(request->method, request->path);
  if (access == Access::kOpen) return std::nullopt;
  if (authenticator_ == nullptr) {
    request->user = "anonymous";
    request->role = std::string(RoleName(Role::kAdmin));
    // Everyone is the same anonymous admin: the client's address is what tells callers apart.
    if (access == Access::kWrite) {
      return LimitWrite("address " + request->remote_address,
                        "client " + (request->remote_address.empty() ? std::string("(unknown)")
                                                                     : request->remote_address));
    }
    return std::nullopt;
  }
  StatusOr<Identity> identity = authenticator_->Authenticate(authorization);
  if (!identity.ok()) {
    ++unauthenticated_;
    HttpResponse refused = StatusFailureResponse(401, "Unauthorized", identity.status().message());
    refused.headers.emplace_back("WWW-Authenticate", "Bearer");
    return refused;
  }
  request->user = identity->name;
  request->role = std::string(RoleName(identity->role));
  if (!RoleMay(identity->role, access)) {
    ++forbidden_;
    return StatusFailureResponse(
        403, "Forbidden",
        "credential \"" + identity->name + "\" (role " + request->role + ") may not " +
            request->method + " " + request->path.substr(0, 200) + ": it needs role " +
            RolesThatMay(access));
  }
  // Alertmanager's intake (kAlerts) is not limited: during an incident storm its posts are
  // what the controller acts on, and Alertmanager's webhook retries 5xx only, so a 429 would
  // lose the notification until the group's next interval (docs/security.md).
  if (access == Access::kWrite) {
    return LimitWrite("credential " + identity->name, "credential \"" + identity->name + "\"");
  }
  return std::nullopt;
}

std::optional<HttpResponse> ApiGuard::LimitWrite(const std::string& key,
                                                 const std::string& who) const {
  if (write_limiter_ == nullptr) return std::nullopt;
  std::optional<Duration> wait = write_limiter_->Take(key);
  if (!wait) return std::nullopt;
  ++rate_limited_;
  const long retry_after = RateLimiter::RetryAfterSeconds(*wait);
  std::ostringstream limit;
  limit << write_limiter_->limit().per_second << " per second, burst "
        << write_limiter_->limit().burst;
  return TooManyRequestsResponse(who + " is over the write rate limit (" + limit.str() +
                                     "); retry in " + std::to_string(retry_after) + " s",
                                 retry_after);
}

ApiGuard::Stats ApiGuard::stats() const {
  Stats out;
  out.unauthenticated = unauthenticated_;
  out.forbidden = forbidden_;
  out.rate_limited = rate_limited_;
  return out;
}

void ApiGuard::Record(const HttpRequest& request, const HttpResponse& response,
                      bool by_edge) const {
  if (audit_log_ == nullptr) return;
  // A 429 from Admit names a caller (the write rate limit); the edge's 429s shed load.
  const bool refused = response.status == 401 || response.status == 403 ||
                       (response.status == 429 && !by_edge);
  const bool edge_refusal = by_edge && response.status != 429;
  const bool write =
      IsWriteMethod(request.method) &&
      ApiRouter::RequiredAccess(request.method, request.path) != Access::kRead;
  if (!refused && !edge_refusal && !write) return;
  AuditRecord record;
  record.user = request.user;
  record.role = request.role;
  record.source = request.remote_address;
  record.verb = request.method;
  record.path = request.path.substr(0, 1024);
  record.status = response.status;
  if (refused || by_edge) record.reason = ErrorMessage(response).substr(0, 300);
  if (write && response.status == 200 && !by_edge) record.objects = AppliedObjects(response);
  audit_log_->Write(record);
}

}  // namespace vmk::cli
