#include "cli/api_router.h"

#include <charconv>
#include <exception>

#include "cli/api_paths.h"
#include "common/log.h"

namespace vmk::cli {
namespace {

using specs::Json;

std::string Dump(const Json& json) {
  // Object text comes from users: never let a stray byte turn a reply into an exception.
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

HttpResponse JsonResponse(int http_status, const Json& body) {
  HttpResponse r;
  r.status = http_status;
  r.content_type = "application/json";
  r.body = Dump(body);
  return r;
}

HttpResponse TextResponse(int http_status, std::string body,
                          std::string content_type = "text/plain; charset=utf-8") {
  HttpResponse r;
  r.status = http_status;
  r.content_type = std::move(content_type);
  r.body = std::move(body);
  return r;
}

HttpResponse MethodNotAllowed(const std::string& allow) {
  HttpResponse r = ErrorResponse(405, "method not allowed; allowed: " + allow);
  r.headers.emplace_back("Allow", allow);
  return r;
}

std::string NotFoundMessage(specs::Kind kind, const std::string& name) {
  return KindLower(kind) + " \"" + name + "\" not found";
}

// Parses the "files" array of an apply/diff body.
StatusOr<std::vector<reconciler::ManifestFile>> ParseFiles(const Json& body) {
  auto it = body.find("files");
  if (it == body.end() || !it->is_array()) {
    return Status::InvalidArgument("request must have a \"files\" array");
  }
  if (it->empty()) return Status::InvalidArgument("request has no files");
  std::vector<reconciler::ManifestFile> files;
  for (size_t i = 0; i < it->size(); ++i) {
    const Json& f = (*it)[i];
    const std::string where = "files[" + std::to_string(i) + "]";
    if (!f.is_object()) return Status::InvalidArgument(where + " must be an object");
    for (const auto& [key, value] : f.items()) {
      if (key != "name" && key != "content") {
        return Status::InvalidArgument(where + ": unknown field \"" + key + "\"");
      }
    }
    auto name = f.find("name");
    auto content = f.find("content");
    if (name == f.end() || !name->is_string() || name->get_ref<const std::string&>().empty()) {
      return Status::InvalidArgument(where + ".name must be a non-empty string");
    }
    if (content == f.end() || !content->is_string()) {
      return Status::InvalidArgument(where + ".content must be a string");
    }
    files.push_back({name->get<std::string>(), content->get<std::string>()});
  }
  return files;
}

StatusOr<bool> OptionalBool(const Json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return false;
  if (!it->is_boolean()) return Status::InvalidArgument(std::string(key) + " must be a boolean");
  return it->get<bool>();
}

Status CheckKeys(const Json& body, std::initializer_list<const char*> allowed) {
  for (const auto& [key, value] : body.items()) {
    bool known = false;
    for (const char* a : allowed) known = known || key == a;
    if (!known) return Status::InvalidArgument("unknown field \"" + key + "\" in request");
  }
  return Status::Ok();
}

// Parses a JSON object body; a 400 response on failure.
std::optional<HttpResponse> ParseBody(const HttpRequest& request, Json* out) {
  if (request.body.empty()) return ErrorResponse(400, "request body is empty; expected JSON");
  try {
    *out = Json::parse(request.body);
  } catch (const Json::parse_error& e) {
    return ErrorResponse(400, std::string("malformed JSON in request body: ") + e.what());
  }
  if (!out->is_object()) return ErrorResponse(400, "request body must be a JSON object");
  return std::nullopt;
}

StatusOr<int64_t> ParseInt(const std::string& key, const std::string& text) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return Status::InvalidArgument("query parameter " + key + " must be an integer");
  }
  return value;
}

// The optional kind= and name= query parameters of events and incidents: both or neither.
StatusOr<std::optional<reconciler::ObjectRef>> ObjectFilter(const HttpRequest& request) {
  auto kind_it = request.query.find("kind");
  auto name_it = request.query.find("name");
  const bool has_kind = kind_it != request.query.end() && !kind_it->second.empty();
  const bool has_name = name_it != request.query.end() && !name_it->second.empty();
  if (has_kind != has_name) {
    return Status::InvalidArgument("query parameters kind and name must be given together");
  }
  if (!has_kind) return std::optional<reconciler::ObjectRef>();
  std::optional<specs::Kind> kind = specs::KindFromName(kind_it->second);
  if (!kind) kind = specs::KindFromCliName(kind_it->second);
  if (!kind) return Status::InvalidArgument("unknown kind \"" + kind_it->second + "\"");
  return std::optional<reconciler::ObjectRef>(reconciler::ObjectRef{*kind, name_it->second});
}

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    if (slash > start) parts.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

}  // namespace

int HttpStatusFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kAlreadyExists:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kAborted: return 409;
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kDeadlineExceeded: return 504;
    case StatusCode::kOutOfRange: return 410;  // Gone: compacted, as the Kubernetes API says
    case StatusCode::kInternal: return 500;
  }
  return 500;
}

HttpResponse ErrorResponse(int http_status, const std::string& message) {
  return JsonResponse(http_status, Json{{"error", message}});
}

HttpResponse StatusFailureResponse(int http_status, const std::string& reason,
                                   const std::string& message) {
  return JsonResponse(http_status, Json{{"kind", "Status"},
                                        {"apiVersion", "v1"},
                                        {"status", "Failure"},
                                        {"message", message},
                                        {"reason", reason},
                                        {"code", http_status}});
}

HttpResponse TooManyRequestsResponse(const std::string& message, long retry_after_seconds) {
  HttpResponse response = JsonResponse(429, Json{{"kind", "Status"},
                                                 {"apiVersion", "v1"},
                                                 {"status", "Failure"},
                                                 {"message", message},
                                                 {"reason", "TooManyRequests"},
                                                 {"details", {{"retryAfterSeconds", retry_after_seconds}}},
                                                 {"code", 429}});
  response.headers.emplace_back("Retry-After", std::to_string(retry_after_seconds));
  return response;
}

std::string_view AccessName(Access access) {
  switch (access) {
    case Access::kOpen: return "open";
    case Access::kAuthenticated: return "authenticated";
    case Access::kRead: return "read";
    case Access::kWrite: return "write";
    case Access::kAlerts: return "alerts";
  }
  return "unknown";
}

bool RoleMay(Role role, Access access) {
  switch (access) {
    case Access::kOpen:
    case Access::kAuthenticated: return true;
    case Access::kRead: return role == Role::kViewer || role == Role::kEditor || role == Role::kAdmin;
    case Access::kWrite: return role == Role::kEditor || role == Role::kAdmin;
    case Access::kAlerts: return role == Role::kAlerts || role == Role::kAdmin;
  }
  return false;
}

Access ApiRouter::RequiredAccess(const std::string& method, const std::string& path) {
  // Probes (the kubelet's, systemd's watchdog, load balancers) carry no credentials.
  if (path == "/healthz" || path == "/readyz") return Access::kOpen;
  // Trailing slashes and doubled ones route like the plain path (SplitPath): classify alike.
  std::vector<std::string> parts = SplitPath(path);
  if (parts.size() == 3 && parts[0] == "api" && parts[1] == "v1") {
    if (parts[2] == "whoami") return Access::kAuthenticated;
    if (parts[2] == "alerts") return Access::kAlerts;
  }
  if (method == "GET" || method == "HEAD" || method == "OPTIONS") return Access::kRead;
  return Access::kWrite;
}

ApiRouter::ApiRouter(reconciler::ControlPlane* control_plane,
                     std::function<std::string()> more_metrics)
    : control_plane_(control_plane), more_metrics_(std::move(more_metrics)) {}

HttpResponse ApiRouter::Handle(const HttpRequest& request) const {
  try {
    return Route(request);
  } catch (const std::exception& e) {
    log::Error("request failed with an exception",
               {{"method", request.method}, {"path", request.path}, {"error", e.what()}});
    return ErrorResponse(500, std::string("internal error: ") + e.what());
  } catch (...) {
    log::Error("request failed with an unknown exception",
               {{"method", request.method}, {"path", request.path}});
    return ErrorResponse(500, "internal error");
  }
}

HttpResponse ApiRouter::Route(const HttpRequest& request) const {
  const std::string& m = request.method;
  const std::string& path = request.path;
  if (path == "/healthz" || path == "/readyz" || path == "/metrics") {
    if (m != "GET" && m != "HEAD") return MethodNotAllowed("GET");
    if (path == "/healthz") return TextResponse(200, "ok\n");
    if (path == "/readyz") {
      return control_plane_->Ready() ? TextResponse(200, "ready\n")
                                     : TextResponse(503, "not ready\n");
    }
    std::string text = control_plane_->MetricsText();
    if (more_metrics_) text += more_metrics_();
    return TextResponse(200, text, "text/plain; version=0.0.4");
  }

  std::vector<std::string> parts = SplitPath(path);
  if (parts.size() < 3 || parts[0] != "api" || parts[1] != "v1") {
    return ErrorResponse(404, "no such endpoint: " + path);
  }
  const std::string& resource = parts[2];
  if (parts.size() == 3 && (resource == "apply" || resource == "diff")) {
    if (m != "POST") return MethodNotAllowed("POST");
    return resource == "apply" ? HandleApply(request) : HandleDiff(request);
  }
  if (parts.size() == 3 && resource == "events") {
    if (m != "GET") return MethodNotAllowed("GET");
    return HandleEvents(request);
  }
  if (parts.size() == 3 && resource == "incidents") {
    if (m != "GET") return MethodNotAllowed("GET");
    return HandleIncidents(request);
  }
  if (parts.size() == 3 && resource == "availability") {
    if (m != "GET") return MethodNotAllowed("GET");
    return HandleAvailability(request);
  }
  if (parts.size() == 3 && resource == "whoami") {
    if (m != "GET") return MethodNotAllowed("GET");
    return HandleWhoami(request);
  }
  if (parts.size() == 3 && resource == "alerts") {
    if (m != "POST") return MethodNotAllowed("POST");
    return HandleAlerts(request);
  }
  std::optional<specs::Kind> kind = KindFromPlural(resource);
  if (!kind) return ErrorResponse(404, "no such endpoint: " + path);
  if (parts.size() == 3) {
    if (m != "GET") return MethodNotAllowed("GET");
    return HandleList(*kind);
  }
  if (parts.size() == 4) {
    if (m == "GET") return HandleGet(*kind, parts[3]);
    if (m == "DELETE") return HandleDelete(*kind, parts[3]);
    return MethodNotAllowed("GET, DELETE");
  }
  if (parts.size() == 5 && *kind == specs::Kind::kVirtualMachine && parts[4] == "snapshots") {
    if (m != "POST") return MethodNotAllowed("POST");
    return HandleSnapshot(request, parts[3]);
  }
  if (parts.size() == 5 && *kind == specs::Kind::kVirtualMachine && parts[4] == "rollback") {
    if (m != "POST") return MethodNotAllowed("POST");
    return HandleRollback(request, parts[3]);
  }
  return ErrorResponse(404, "no such endpoint: " + path);
}

HttpResponse ApiRouter::HandleApply(const HttpRequest& request) const {
  Json body;
  if (auto bad = ParseBody(request, &body)) return *bad;
  Status keys = CheckKeys(body, {"files", "dryRun", "prune"});
  if (!keys.ok()) return ErrorResponse(400, keys.message());
  auto files = ParseFiles(body);
  if (!files.ok()) return ErrorResponse(400, files.status().message());
  reconciler::ApplyOptions options;
  auto dry_run = OptionalBool(body, "dryRun");
  auto prune = OptionalBool(body, "prune");
  if (!dry_run.ok()) return ErrorResponse(400, dry_run.status().message());
  if (!prune.ok()) return ErrorResponse(400, prune.status().message());
  options.dry_run = *dry_run;
  options.prune = *prune;

  auto outcome = control_plane_->Apply(*files, options);
  if (!outcome.ok()) {
    log::Error("apply failed", {{"error", outcome.status().ToString()}});
    return ErrorResponse(HttpStatusFor(outcome.status()), outcome.status().message());
  }
  if (!outcome->errors.empty()) return JsonResponse(422, Json{{"errors", outcome->errors}});
  Json results = Json::array();
  for (const auto& item : outcome->results) {
    results.push_back(
        {{"kind", specs::KindName(item.kind)}, {"name", item.name}, {"action", item.action}});
  }
  log::Info("applied", {{"objects", std::to_string(outcome->results.size())},
                        {"dryRun", options.dry_run ? "true" : "false"},
                        {"prune", options.prune ? "true" : "false"}});
  return JsonResponse(200, Json{{"results", std::move(results)}, {"dryRun", options.dry_run}});
}

HttpResponse ApiRouter::HandleDiff(const HttpRequest& request) const {
  Json body;
  if (auto bad = ParseBody(request, &body)) return *bad;
  Status keys = CheckKeys(body, {"files", "prune"});
  if (!keys.ok()) return ErrorResponse(400, keys.message());
  auto files = ParseFiles(body);
  if (!files.ok()) return ErrorResponse(400, files.status().message());
  auto prune = OptionalBool(body, "prune");
  if (!prune.ok()) return ErrorResponse(400, prune.status().message());

  auto outcome = control_plane_->Diff(*files, *prune);
  if (!outcome.ok()) {
    log::Error("diff failed", {{"error", outcome.status().ToString()}});
    return ErrorResponse(HttpStatusFor(outcome.status()), outcome.status().message());
  }
  if (!outcome->errors.empty()) return JsonResponse(422, Json{{"errors", outcome->errors}});
  return JsonResponse(200, Json{{"changed", outcome->changed},
                                {"diff", outcome->diff},
                                {"actions", outcome->actions}});
}

HttpResponse ApiRouter::HandleList(specs::Kind kind) const {
  auto objects = control_plane_->List(kind);
  if (!objects.ok()) {
    return ErrorResponse(HttpStatusFor(objects.status()), objects.status().message());
  }
  Json items = Json::array();
  for (const auto& object : *objects) items.push_back(specs::ObjectToJson(object));
  return JsonResponse(200, Json{{"items", std::move(items)}});
}

HttpResponse ApiRouter::HandleGet(specs::Kind kind, const std::string& name) const {
  auto object = control_plane_->Get(kind, name);
  if (!object.ok()) {
    return ErrorResponse(HttpStatusFor(object.status()), object.status().message());
  }
  if (!object->has_value()) return ErrorResponse(404, NotFoundMessage(kind, name));
  return JsonResponse(200, specs::ObjectToJson(**object));
}

HttpResponse ApiRouter::HandleDelete(specs::Kind kind, const std::string& name) const {
  Status deleted = control_plane_->Delete(kind, name);
  if (deleted.code() == StatusCode::kNotFound) {
    return ErrorResponse(404, NotFoundMessage(kind, name));
  }
  if (!deleted.ok()) return ErrorResponse(HttpStatusFor(deleted), deleted.message());
  log::Info("deleted", {{"kind", std::string(specs::KindName(kind))}, {"name", name}});
  return JsonResponse(
      200, Json{{"kind", specs::KindName(kind)}, {"name", name}, {"action", "deleted"}});
}

// POST /api/v1/virtualmachines/NAME/snapshots {"name": "..."} (the body and the name may be
// left out): 202, the snapshot is taken by the VM's reconcile; its status lists it.
HttpResponse ApiRouter::HandleSnapshot(const HttpRequest& request, const std::string& vm) const {
  std::string name;
  if (!request.body.empty()) {
    Json body = Json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    if (!body.is_object()) return ErrorResponse(400, "request body must be a JSON object");
    for (const auto& [key, value] : body.items()) {
      if (key != "name") return ErrorResponse(400, "unknown field \"" + key + "\" in request");
      if (!value.is_string()) return ErrorResponse(400, "name must be a string");
      name = value.get<std::string>();
    }
  }
  auto requested = control_plane_->RequestSnapshot(vm, name);
  if (!requested.ok()) {
    return ErrorResponse(HttpStatusFor(requested.status()), requested.status().message());
  }
  log::Info("snapshot requested", {{"vm", vm}, {"snapshot", *requested}});
  return JsonResponse(202, Json{{"kind", "VirtualMachine"}, {"name", vm},
                                {"snapshot", *requested}, {"action", "snapshot requested"}});
}

// POST /api/v1/virtualmachines/NAME/rollback {"to": "s3", "dryRun": true} (both optional):
// what would be restored (200 with dryRun), or the rollback requested (202).
HttpResponse ApiRouter::HandleRollback(const HttpRequest& request, const std::string& vm) const {
  std::string to;
  bool dry_run = false;
  if (!request.body.empty()) {
    Json body = Json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    if (!body.is_object()) return ErrorResponse(400, "request body must be a JSON object");
    for (const auto& [key, value] : body.items()) {
      if (key == "to" && value.is_string()) {
        to = value.get<std::string>();
      } else if (key == "dryRun" && value.is_boolean()) {
        dry_run = value.get<bool>();
      } else {
        return ErrorResponse(400, "unexpected field \"" + key +
                                      "\" in request (to: string, dryRun: boolean)");
      }
    }
  }
  auto plan = control_plane_->RequestRollback(vm, to, dry_run);
  if (!plan.ok()) return ErrorResponse(HttpStatusFor(plan.status()), plan.status().message());
  Json restore = Json::array(), keep = Json::array();
  for (const auto& [disk, volume] : plan->restore) {
    restore.push_back({{"disk", disk}, {"volume", volume}});
  }
  for (const auto& [disk, volume] : plan->keep) keep.push_back({{"disk", disk}, {"volume", volume}});
  if (!dry_run) log::Info("rollback requested", {{"vm", vm}, {"snapshot", plan->target}});
  return JsonResponse(dry_run ? 200 : 202,
                      Json{{"kind", "VirtualMachine"},
                           {"name", vm},
                           {"target", plan->target},
                           {"targetTime", plan->target_time},
                           {"targetHealthy", plan->target_healthy},
                           {"restore", restore},
                           {"keep", keep},
                           {"action", dry_run ? "dry run" : "rollback requested"}});
}

HttpResponse ApiRouter::HandleEvents(const HttpRequest& request) const {
  for (const auto& [key, value] : request.query) {
    if (key != "kind" && key != "name" && key != "after" && key != "limit") {
      return ErrorResponse(400, "unknown query parameter \"" + key + "\"");
    }
  }
  auto object = ObjectFilter(request);
  if (!object.ok()) return ErrorResponse(400, object.status().message());
  int64_t after = 0;
  int64_t limit = static_cast<int64_t>(kDefaultEventLimit);
  if (auto it = request.query.find("after"); it != request.query.end()) {
    auto parsed = ParseInt("after", it->second);
    if (!parsed.ok()) return ErrorResponse(400, parsed.status().message());
    after = *parsed;
  }
  if (auto it = request.query.find("limit"); it != request.query.end()) {
    auto parsed = ParseInt("limit", it->second);
    if (!parsed.ok()) return ErrorResponse(400, parsed.status().message());
    if (*parsed < 1 || *parsed > static_cast<int64_t>(kMaxEventLimit)) {
      return ErrorResponse(400,
                           "query parameter limit must be between 1 and " +
                               std::to_string(kMaxEventLimit));
    }
    limit = *parsed;
  }
  auto events = control_plane_->Events(*object, after, static_cast<size_t>(limit));
  if (!events.ok()) {
    return ErrorResponse(HttpStatusFor(events.status()), events.status().message());
  }
  Json items = Json::array();
  for (const auto& e : *events) items.push_back(reconciler::EventToJson(e));
  return JsonResponse(200, Json{{"items", std::move(items)}});
}

HttpResponse ApiRouter::HandleIncidents(const HttpRequest& request) const {
  for (const auto& [key, value] : request.query) {
    if (key != "kind" && key != "name") {
      return ErrorResponse(400, "unknown query parameter \"" + key + "\"");
    }
  }
  auto object = ObjectFilter(request);
  if (!object.ok()) return ErrorResponse(400, object.status().message());
  auto incidents = control_plane_->Incidents(*object);
  if (!incidents.ok()) {
    return ErrorResponse(HttpStatusFor(incidents.status()), incidents.status().message());
  }
  Json items = Json::array();
  for (const auto& incident : *incidents) items.push_back(incident.ToJson());
  return JsonResponse(200, Json{{"items", std::move(items)}});
}

// GET /api/v1/availability?vm=NAME|selector=SEL&window=30d&groupBy=LABEL
HttpResponse ApiRouter::HandleAvailability(const HttpRequest& request) const {
  reconciler::AvailabilityQuery query;
  for (const auto& [key, value] : request.query) {
    if (key == "vm") {
      query.vm = value;
    } else if (key == "selector") {
      query.selector = value;
    } else if (key == "groupBy") {
      query.group_by = value;
    } else if (key == "window") {
      auto window = reconciler::ParseWindow(value);
      if (!window.ok()) return ErrorResponse(400, window.status().message());
      query.window = *window;
    } else {
      return ErrorResponse(400, "unknown query parameter \"" + key + "\"");
    }
  }
  if (!query.vm.empty() && !query.selector.empty()) {
    return ErrorResponse(400, "query parameters vm and selector cannot be given together");
  }
  auto report = control_plane_->Availability(query);
  if (!report.ok()) return ErrorResponse(HttpStatusFor(report.status()), report.status().message());
  return JsonResponse(200, report->ToJson());
}

HttpResponse ApiRouter::HandleWhoami(const HttpRequest& request) const {
  // No admission check in front (an in-process server without ApiGuard) means no credentials
  // are asked for: everyone is the anonymous admin, as the daemon without a tokens file says.
  return JsonResponse(200, Json{{"user", request.user.empty() ? "anonymous" : request.user},
                                {"role", request.role.empty() ? "admin" : request.role}});
}

HttpResponse ApiRouter::HandleAlerts(const HttpRequest& request) const {
  // Alertmanager's payload is the control plane's to interpret (it knows the alert labels that
  // name hosts and VMs); the server has already capped the body size.
  if (request.body.empty()) {
    return ErrorResponse(400, "request body is empty; expected an Alertmanager webhook payload");
  }
  auto outcome = control_plane_->IngestAlerts(request.body);
  if (!outcome.ok()) {
    if (outcome.status().code() == StatusCode::kInvalidArgument) {
      log::Warning("alert delivery refused", {{"error", outcome.status().message()}});
    } else {
      log::Error("alert intake failed", {{"error", outcome.status().ToString()}});
    }
    return ErrorResponse(HttpStatusFor(outcome.status()), outcome.status().message());
  }
  log::Info("alerts received", {{"accepted", std::to_string(outcome->accepted)},
                                {"repeated", std::to_string(outcome->repeated)},
                                {"skipped", std::to_string(outcome->skipped.size())}});
  return JsonResponse(200, Json{{"accepted", outcome->accepted},
                                {"repeated", outcome->repeated},
                                {"skipped", outcome->skipped}});
}

}  // namespace vmk::cli
