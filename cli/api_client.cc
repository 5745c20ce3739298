#include "cli/api_client.h"

#include <algorithm>

#include "cli/api_paths.h"

namespace vmk::cli {
namespace {

using specs::Json;

Status StatusFromResponse(const HttpResponse& response) {
  std::string message;
  try {
    Json body = Json::parse(response.body);
    if (body.is_object() && body.contains("error") && body["error"].is_string()) {
      message = body["error"].get<std::string>();
    } else if (body.is_object() && body.value("kind", "") == "Status" &&
               body.contains("message") && body["message"].is_string()) {
      message = body["message"].get<std::string>();  // Kubernetes-style, as 401 and 403 are
    }
  } catch (const Json::exception&) {
  }
  if (message.empty()) {
    message = response.body;
    while (!message.empty() && (message.back() == '\n' || message.back() == '\r')) {
      message.pop_back();
    }
    if (message.empty()) message = "HTTP " + std::to_string(response.status);
  }
  switch (response.status) {
    case 400: return Status::InvalidArgument(message);
    case 401: return Status::InvalidArgument(message);     // no or bad credentials
    case 403: return Status::FailedPrecondition(message);  // credentials without the right
    case 404: return Status::NotFound(message);
    case 409: return Status::FailedPrecondition(message);
    case 413: return Status::InvalidArgument("request too large: " + message);
    case 503: return Status::Unavailable(message);
    case 504: return Status::DeadlineExceeded(message);
    default:
      return Status::Internal("vmkeeperd answered HTTP " + std::to_string(response.status) +
                              ": " + message);
  }
}

StatusOr<std::string> FilesRequest(const std::vector<reconciler::ManifestFile>& files,
                                   Json extra) {
  Json body = std::move(extra);
  Json list = Json::array();
  for (const auto& f : files) list.push_back({{"name", f.name}, {"content", f.content}});
  body["files"] = std::move(list);
  try {
    return body.dump();
  } catch (const Json::type_error&) {
    for (const auto& f : files) {
      try {
        (void)Json(f.content).dump();
      } catch (const Json::type_error&) {
        return Status::InvalidArgument(f.name + ": not valid UTF-8 text");
      }
    }
    return Status::InvalidArgument("file names must be valid UTF-8");
  }
}

std::vector<std::string> StringList(const Json& json, const char* key) {
  std::vector<std::string> out;
  auto it = json.find(key);
  if (it == json.end() || !it->is_array()) return out;
  for (const auto& v : *it) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

}  // namespace

ApiClient::ApiClient(std::unique_ptr<HttpClient> http) : http_(std::move(http)) {}

StatusOr<std::unique_ptr<ApiClient>> ApiClient::Create(const std::string& server_url,
                                                       std::chrono::milliseconds timeout) {
  VMK_ASSIGN_OR_RETURN(std::unique_ptr<HttpClient> http, HttpClient::Create(server_url, timeout));
  return std::unique_ptr<ApiClient>(new ApiClient(std::move(http)));
}

StatusOr<std::unique_ptr<ApiClient>> ApiClient::Create(const std::string& server_url,
                                                       const HttpClientOptions& options) {
  VMK_ASSIGN_OR_RETURN(std::unique_ptr<HttpClient> http, HttpClient::Create(server_url, options));
  return std::unique_ptr<ApiClient>(new ApiClient(std::move(http)));
}

StatusOr<Json> ApiClient::Call(const std::string& method, const std::string& path,
                               const std::string& body, std::vector<int> accepted_statuses) {
  VMK_ASSIGN_OR_RETURN(HttpResponse response, http_->Send(method, path, body));
  if (std::find(accepted_statuses.begin(), accepted_statuses.end(), response.status) ==
      accepted_statuses.end()) {
    return StatusFromResponse(response);
  }
  try {
    return Json::parse(response.body);
  } catch (const Json::parse_error&) {
    return Status::Internal("vmkeeperd sent a malformed reply to " + method + " " + path);
  }
}

StatusOr<reconciler::ApplyOutcome> ApiClient::Apply(
    const std::vector<reconciler::ManifestFile>& files, const reconciler::ApplyOptions& options) {
  VMK_ASSIGN_OR_RETURN(
      std::string body,
      FilesRequest(files, Json{{"dryRun", options.dry_run}, {"prune", options.prune}}));
  VMK_ASSIGN_OR_RETURN(Json reply,
                       Call("POST", std::string(kApiPrefix) + "/apply", body, {200, 422}));
  reconciler::ApplyOutcome outcome;
  outcome.errors = StringList(reply, "errors");
  if (auto it = reply.find("results"); it != reply.end() && it->is_array()) {
    for (const auto& r : *it) {
      if (!r.is_object()) continue;
      reconciler::ApplyResultItem item;
      auto kind = specs::KindFromName(r.value("kind", ""));
      if (!kind) return Status::Internal("vmkeeperd replied with an unknown kind");
      item.kind = *kind;
      item.name = r.value("name", "");
      item.action = r.value("action", "");
      outcome.results.push_back(std::move(item));
    }
  }
  return outcome;
}

StatusOr<reconciler::DiffOutcome> ApiClient::Diff(
    const std::vector<reconciler::ManifestFile>& files, bool prune) {
  VMK_ASSIGN_OR_RETURN(std::string body, FilesRequest(files, Json{{"prune", prune}}));
  VMK_ASSIGN_OR_RETURN(Json reply,
                       Call("POST", std::string(kApiPrefix) + "/diff", body, {200, 422}));
  reconciler::DiffOutcome outcome;
  outcome.errors = StringList(reply, "errors");
  outcome.changed = reply.value("changed", false);
  outcome.diff = reply.value("diff", "");
  outcome.actions = StringList(reply, "actions");
  return outcome;
}

StatusOr<std::vector<Json>> ApiClient::List(specs::Kind kind) {
  VMK_ASSIGN_OR_RETURN(Json reply, Call("GET", ResourcePath(kind), "", {200}));
  std::vector<Json> items;
  if (auto it = reply.find("items"); it != reply.end() && it->is_array()) {
    for (auto& item : *it) items.push_back(std::move(item));
  }
  return items;
}

StatusOr<Json> ApiClient::Get(specs::Kind kind, const std::string& name) {
  return Call("GET", ResourcePath(kind, name), "", {200});
}

Status ApiClient::Delete(specs::Kind kind, const std::string& name) {
  return Call("DELETE", ResourcePath(kind, name), "", {200}).status();
}

StatusOr<std::string> ApiClient::RequestSnapshot(const std::string& vm, const std::string& name) {
  Json body = Json::object();
  if (!name.empty()) body["name"] = name;
  VMK_ASSIGN_OR_RETURN(
      Json reply,
      Call("POST", ResourcePath(specs::Kind::kVirtualMachine, vm) + "/snapshots", body.dump(),
           {202}));
  if (!reply.is_object() || !reply.contains("snapshot") || !reply["snapshot"].is_string()) {
    return Status::Internal("unexpected answer to a snapshot request");
  }
  return reply["snapshot"].get<std::string>();
}

StatusOr<reconciler::RollbackPlan> ApiClient::RequestRollback(const std::string& vm,
                                                              const std::string& to,
                                                              bool dry_run) {
  Json body = {{"dryRun", dry_run}};
  if (!to.empty()) body["to"] = to;
  VMK_ASSIGN_OR_RETURN(
      Json reply, Call("POST", ResourcePath(specs::Kind::kVirtualMachine, vm) + "/rollback",
                       body.dump(), {200, 202}));
  if (!reply.is_object()) return Status::Internal("unexpected answer to a rollback request");
  reconciler::RollbackPlan plan;
  plan.vm = vm;
  plan.target = reply.value("target", "");
  plan.target_time = reply.value("targetTime", "");
  plan.target_healthy = reply.value("targetHealthy", false);
  for (const auto& r : reply.value("restore", Json::array())) {
    plan.restore.emplace_back(r.value("disk", ""), r.value("volume", ""));
  }
  for (const auto& k : reply.value("keep", Json::array())) {
    plan.keep.emplace_back(k.value("disk", ""), k.value("volume", ""));
  }
  return plan;
}

StatusOr<std::vector<reconciler::Event>> ApiClient::Events(
    std::optional<reconciler::ObjectRef> object, int64_t after_seq, size_t limit) {
  std::string path = std::string(kApiPrefix) + "/events?after=" + std::to_string(after_seq) +
                     "&limit=" + std::to_string(limit);
  if (object) {
    path += "&kind=" + std::string(specs::KindName(object->kind)) +
            "&name=" + PercentEncode(object->name);
  }
  VMK_ASSIGN_OR_RETURN(Json reply, Call("GET", path, "", {200}));
  std::vector<reconciler::Event> events;
  auto it = reply.find("items");
  if (it == reply.end() || !it->is_array()) return events;
  for (const auto& e : *it) {
    auto event = reconciler::EventFromJson(e);
    if (!event.ok()) {
      return Status::Internal("vmkeeperd sent a malformed event: " + event.status().message());
    }
    events.push_back(std::move(event).value());
  }
  return events;
}

StatusOr<reconciler::AvailabilityReport> ApiClient::Availability(
    const reconciler::AvailabilityQuery& query) {
  std::string path = std::string(kApiPrefix) + "/availability?window=" +
                     reconciler::FormatWindow(query.window);
  if (!query.vm.empty()) path += "&vm=" + PercentEncode(query.vm);
  if (!query.selector.empty()) path += "&selector=" + PercentEncode(query.selector);
  if (!query.group_by.empty()) path += "&groupBy=" + PercentEncode(query.group_by);
  VMK_ASSIGN_OR_RETURN(Json reply, Call("GET", path, "", {200}));
  auto report = reconciler::AvailabilityReport::FromJson(reply);
  if (!report.ok()) {
    return Status::Internal("vmkeeperd sent a malformed availability report: " +
                            report.status().message());
  }
  return report;
}

StatusOr<std::vector<reconciler::Incident>> ApiClient::Incidents(
    std::optional<reconciler::ObjectRef> object) {
  std::string path = std::string(kApiPrefix) + "/incidents";
  if (object) {
    path += "?kind=" + std::string(specs::KindName(object->kind)) +
            "&name=" + PercentEncode(object->name);
  }
  VMK_ASSIGN_OR_RETURN(Json reply, Call("GET", path, "", {200}));
  std::vector<reconciler::Incident> incidents;
  auto it = reply.find("items");
  if (it == reply.end() || !it->is_array()) return incidents;
  for (const auto& i : *it) {
    auto incident = reconciler::Incident::FromJson(i);
    if (!incident.ok()) {
      return Status::Internal("vmkeeperd sent a malformed incident: " +
                              incident.status().message());
    }
    incidents.push_back(std::move(incident).value());
  }
  return incidents;
}

StatusOr<reconciler::AlertIntakeOutcome> ApiClient::PostAlerts(const std::string& body) {
  VMK_ASSIGN_OR_RETURN(Json reply,
                       Call("POST", std::string(kApiPrefix) + "/alerts", body, {200}));
  if (!reply.is_object()) return Status::Internal("vmkeeperd sent a malformed reply to alerts");
  reconciler::AlertIntakeOutcome outcome;
  outcome.accepted = reply.value("accepted", 0);
  outcome.repeated = reply.value("repeated", 0);
  outcome.skipped = StringList(reply, "skipped");
  return outcome;
}

StatusOr<WhoAmIAnswer> ApiClient::WhoAmI() {
  VMK_ASSIGN_OR_RETURN(Json reply, Call("GET", std::string(kApiPrefix) + "/whoami", "", {200}));
  if (!reply.is_object() || !reply.contains("user") || !reply["user"].is_string() ||
      !reply.contains("role") || !reply["role"].is_string()) {
    return Status::Internal("vmkeeperd sent a malformed reply to whoami");
  }
  return WhoAmIAnswer{reply["user"].get<std::string>(), reply["role"].get<std::string>()};
}

Status ApiClient::Healthy() {
  VMK_ASSIGN_OR_RETURN(HttpResponse response, http_->Send("GET", "/healthz"));
  if (response.status != 200) return StatusFromResponse(response);
  return Status::Ok();
}

StatusOr<bool> ApiClient::Ready() {
  VMK_ASSIGN_OR_RETURN(HttpResponse response, http_->Send("GET", "/readyz"));
  if (response.status == 200) return true;
  if (response.status == 503) return false;
  return StatusFromResponse(response);
}

}  // namespace vmk::cli
