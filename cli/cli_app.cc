#include "cli/cli_app.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <condition_variable>
#include <exception>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>

#include <CLI/CLI.hpp>

#include "cli/api_client.h"
#include "cli/api_paths.h"
#include "cli/client_config.h"
#include "cli/manifest_files.h"
#include "cli/output_format.h"
#include "common/mutex.h"
#include "specs/json_schema.h"

namespace vmk::cli {
namespace {

using specs::Json;

struct Options {
  ConnectionFlags connection;
  std::string context_name;  // config use-context NAME
  std::vector<std::string> files;
  bool dry_run = false;
  bool prune = false;
  bool wait = false;
  std::string timeout = "300s";
  std::string kind;
  std::string name;
  std::string output;
  std::string for_object;
  size_t limit = 50;
  std::string snapshot_name;
  std::string rollback_to;
  std::string selector;
  std::string window = "30d";
  std::string group_by;
};

std::string ObjectLabel(specs::Kind kind, const std::string& name) {
  return KindLower(kind) + "/" + name;
}

// Hosts and VMs are reconciled: they report Ready and have incidents. Snapshot policies and
// storage pools are only stored so far: nothing to wait for, no incidents.
bool IsReconciled(specs::Kind kind) {
  return kind == specs::Kind::kHost || kind == specs::Kind::kVirtualMachine;
}

class Commands {
 public:
  Commands(const CliEnvironment& env, Options options)
      : env_(env), out_(*env.out), err_(*env.err), options_(std::move(options)) {}

  int Apply();
  int Diff();
  int Get();
  int Describe();
  int Delete();
  int Events();
  int Incidents();
  int Availability();
  int Schema();
  int Snapshot();
  int Snapshots();
  int Rollback();
  int WhoAmI();
  int ConfigView();
  int ConfigUseContext();

 private:
  // Resolves the server and credentials (connection_settings.h) and creates client_; prints the
  // error and returns false on failure.
  bool Connect();
  StatusOr<ConnectionSettings> ResolveSettings() const;
  int Fail(const Status& status, int code = kExitFailure) {
    err_ << "error: " << status.message() << "\n";
    return code;
  }
  std::optional<specs::Kind> ParseKind(const std::string& text);
  // Parses --for KIND/NAME into *object (left empty when --for was not given). Prints the error
  // and returns false on bad input.
  bool ParseForObject(std::optional<reconciler::ObjectRef>* object);
  int WaitReady(const std::vector<reconciler::ApplyResultItem>& items, MonoTime deadline);

  const CliEnvironment& env_;
  std::ostream& out_;
  std::ostream& err_;
  Options options_;
  std::unique_ptr<ApiClient> client_;
};

StatusOr<ConnectionSettings> Commands::ResolveSettings() const {
  ConnectionEnvironment env;
  env.server = env_.server_env;
  env.context = env_.context_env;
  env.token = env_.token_env;
  env.token_file = env_.token_file_env;
  env.config = env_.config_env;
  env.default_config_file = env_.default_config_file;
  return ResolveConnectionSettings(options_.connection, env);
}

bool Commands::Connect() {
  auto settings = ResolveSettings();
  if (!settings.ok()) {
    Fail(settings.status());
    return false;
  }
  if (settings->insecure_skip_tls_verify) {
    err_ << "warning: the server's TLS certificate is not checked (insecureSkipTlsVerify, from "
         << settings->insecure_from << "): anyone on the way can pose as vmkeeperd\n";
  }
  HttpClientOptions http;
  http.timeout = env_.request_timeout;
  http.bearer_token = settings->bearer_token;
  http.certificate_authority = settings->certificate_authority;
  http.client_certificate = settings->client_certificate;
  http.client_key = settings->client_key;
  http.insecure_skip_tls_verify = settings->insecure_skip_tls_verify;
  auto client = ApiClient::Create(settings->server, http);
  if (!client.ok()) {
    Fail(client.status());
    return false;
  }
  client_ = std::move(client).value();
  return true;
}

std::optional<specs::Kind> Commands::ParseKind(const std::string& text) {
  auto kind = specs::KindFromCliName(text);
  if (!kind) {
    err_ << "error: unknown resource type \"" << text
         << "\" (use hosts, vms, snapshotpolicies or storagepools)\n";
  }
  return kind;
}

bool Commands::ParseForObject(std::optional<reconciler::ObjectRef>* object) {
  if (options_.for_object.empty()) return true;
  size_t slash = options_.for_object.find('/');
  if (slash == std::string::npos || slash + 1 >= options_.for_object.size()) {
    err_ << "error: --for must be KIND/NAME, e.g. vm/wms01\n";
    return false;
  }
  auto kind = ParseKind(options_.for_object.substr(0, slash));
  if (!kind) return false;
  *object = reconciler::ObjectRef{*kind, options_.for_object.substr(slash + 1)};
  return true;
}

int Commands::Apply() {
  auto timeout = ParseDuration(options_.timeout);
  if (!timeout.ok()) return Fail(timeout.status(), kExitUsage);
  auto files = ReadManifestFiles(options_.files, env_.in);
  if (!files.ok()) return Fail(files.status());
  if (!Connect()) return kExitFailure;
  reconciler::ApplyOptions apply_options{options_.dry_run, options_.prune};
  auto outcome = client_->Apply(*files, apply_options);
  if (!outcome.ok()) return Fail(outcome.status());
  if (!outcome->errors.empty()) {
    for (const auto& e : outcome->errors) err_ << e << "\n";
    err_ << "error: " << outcome->errors.size() << " validation error"
         << (outcome->errors.size() == 1 ? "" : "s") << "; nothing was applied\n";
    return kExitFailure;
  }
  for (const auto& item : outcome->results) {
    out_ << ObjectLabel(item.kind, item.name) << " " << item.action
         << (options_.dry_run ? " (dry run)" : "") << "\n";
  }
  out_.flush();
  if (!options_.wait || options_.dry_run) return kExitOk;

  std::vector<reconciler::ApplyResultItem> waited;
  for (const auto& item : outcome->results) {
    if (item.action != "pruned" && IsReconciled(item.kind)) {
      waited.push_back(item);
    }
  }
  return WaitReady(waited, env_.clock->Now() + *timeout);
}

int Commands::WaitReady(const std::vector<reconciler::ApplyResultItem>& items,
                        MonoTime deadline) {
  Mutex mu;
  std::condition_variable cv;  // never notified: the clock's deadline wakes us
  const size_t total = items.size();
  long last_shown = -1;
  while (true) {
    std::vector<std::string> pending;
    std::string last_error;
    for (const auto& item : items) {
      auto object = client_->Get(item.kind, item.name);
      if (object.ok() && IsObjectReady(*object)) continue;
      if (!object.ok() && object.status().code() != StatusCode::kNotFound) {
        last_error = object.status().message();
      }
      pending.push_back(ObjectLabel(item.kind, item.name));
    }
    const size_t ready = total - pending.size();
    if (env_.out_is_tty) {
      out_ << "\r" << (pending.empty() ? "" : "waiting: ") << ready << "/" << total << " ready"
           << (pending.empty() ? "          \n" : "");
      out_.flush();
    } else if (static_cast<long>(ready) != last_shown || pending.empty()) {
      out_ << (pending.empty() ? "" : "waiting: ") << ready << "/" << total << " ready\n";
      out_.flush();
    }
    last_shown = static_cast<long>(ready);
    if (pending.empty()) return kExitOk;
    MonoTime now = env_.clock->Now();
    if (now >= deadline) {
      if (env_.out_is_tty) out_ << "\n";
      std::string names;
      for (const auto& p : pending) names += (names.empty() ? "" : ", ") + p;
      err_ << "error: timed out after " << options_.timeout << " waiting for " << names
           << " to become ready";
      if (!last_error.empty()) err_ << " (last error: " << last_error << ")";
      err_ << "\n";
      return kExitFailure;
    }
    MutexLock lock(&mu);
    env_.clock->WaitUntil(lock.native(), cv, std::min(deadline, now + env_.poll_interval));
  }
}

int Commands::Diff() {
  auto files = ReadManifestFiles(options_.files, env_.in);
  if (!files.ok()) return Fail(files.status(), kExitDiffError);
  if (!Connect()) return kExitDiffError;
  auto outcome = client_->Diff(*files, options_.prune);
  if (!outcome.ok()) return Fail(outcome.status(), kExitDiffError);
  if (!outcome->errors.empty()) {
    for (const auto& e : outcome->errors) err_ << e << "\n";
    err_ << "error: " << outcome->errors.size() << " validation error"
         << (outcome->errors.size() == 1 ? "" : "s") << "\n";
    return kExitDiffError;
  }
  out_ << outcome->diff;
  if (!outcome->diff.empty() && outcome->diff.back() != '\n') out_ << "\n";
  if (!outcome->actions.empty()) {
    if (!outcome->diff.empty()) out_ << "\n";
    out_ << "Actions:\n";
    for (const auto& a : outcome->actions) out_ << "  " << a << "\n";
  }
  return outcome->changed ? 1 : 0;
}

int Commands::Get() {
  auto kind = ParseKind(options_.kind);
  if (!kind) return kExitUsage;
  if (!Connect()) return kExitFailure;
  std::vector<Json> objects;
  if (!options_.name.empty()) {
    auto object = client_->Get(*kind, options_.name);
    if (!object.ok()) return Fail(object.status());
    objects.push_back(std::move(object).value());
  } else {
    auto listed = client_->List(*kind);
    if (!listed.ok()) return Fail(listed.status());
    objects = std::move(listed).value();
  }
  if (options_.output == "yaml" || options_.output == "json") {
    Json doc = options_.name.empty() ? ListObject(objects) : objects.front();
    out_ << (options_.output == "yaml" ? ToYaml(doc) : ToJsonText(doc));
    return kExitOk;
  }
  if (objects.empty()) {
    err_ << "No resources found.\n";
    return kExitOk;
  }
  out_ << FormatObjectTable(*kind, objects, options_.output == "wide");
  return kExitOk;
}

int Commands::Describe() {
  auto kind = ParseKind(options_.kind);
  if (!kind) return kExitUsage;
  if (!Connect()) return kExitFailure;
  auto object = client_->Get(*kind, options_.name);
  if (!object.ok()) return Fail(object.status());
  auto events = client_->Events(reconciler::ObjectRef{*kind, options_.name}, 0, 20);
  if (!events.ok()) return Fail(events.status());
  if (!IsReconciled(*kind)) {
    out_ << cli::Describe(*object, *events);  // policies and pools do not fail: no incidents
    return kExitOk;
  }
  auto incidents = client_->Incidents(reconciler::ObjectRef{*kind, options_.name});
  if (!incidents.ok()) return Fail(incidents.status());
  out_ << cli::Describe(*object, *events, &*incidents);
  return kExitOk;
}

int Commands::Delete() {
  auto kind = ParseKind(options_.kind);
  if (!kind) return kExitUsage;
  if (!Connect()) return kExitFailure;
  Status deleted = client_->Delete(*kind, options_.name);
  if (!deleted.ok()) return Fail(deleted);
  out_ << ObjectLabel(*kind, options_.name) << " deleted\n";
  return kExitOk;
}

// The snapshot records in a VM's status (status.snapshots), oldest first.
specs::Json SnapshotsOf(const specs::Json& vm) {
  specs::Json status = vm.value("status", specs::Json::object());
  specs::Json list = status.value("snapshots", specs::Json::array());
  return list.is_array() ? list : specs::Json::array();
}

int Commands::Snapshots() {
  if (!Connect()) return kExitFailure;
  auto vm = client_->Get(specs::Kind::kVirtualMachine, options_.name);
  if (!vm.ok()) return Fail(vm.status());
  specs::Json list = SnapshotsOf(*vm);
  if (options_.output == "json") {
    out_ << ToJsonText(list) << "\n";
    return kExitOk;
  }
  if (options_.output == "yaml") {
    out_ << ToYaml(list);
    return kExitOk;
  }
  if (list.empty()) {
    err_ << "No snapshots of vm/" << options_.name << ".\n";
    return kExitOk;
  }
  out_ << FormatSnapshots(list);
  return kExitOk;
}

int Commands::Snapshot() {
  auto timeout = ParseDuration(options_.timeout);
  if (!timeout.ok()) return Fail(timeout.status(), kExitUsage);
  if (!Connect()) return kExitFailure;
  auto name = client_->RequestSnapshot(options_.name, options_.snapshot_name);
  if (!name.ok()) return Fail(name.status());
  out_ << "snapshot " << *name << " of vm/" << options_.name << " requested\n";
  if (!options_.wait) return kExitOk;
  Mutex mu;
  std::condition_variable cv;  // never notified: the clock's deadline wakes us
  const MonoTime deadline = env_.clock->Now() + *timeout;
  while (true) {
    auto vm = client_->Get(specs::Kind::kVirtualMachine, options_.name);
    if (!vm.ok()) return Fail(vm.status());
    for (const auto& r : SnapshotsOf(*vm)) {
      if (r.value("name", "") != *name) continue;
      if (r.value("phase", "") == "Taken") {
        out_ << "snapshot " << *name << " taken\n";
        return kExitOk;
      }
      if (r.value("phase", "") == "Failed") {
        err_ << "error: snapshot " << *name << " failed: " << r.value("message", "") << "\n";
        return kExitFailure;
      }
    }
    MonoTime now = env_.clock->Now();
    if (now >= deadline) {
      err_ << "error: timed out after " << options_.timeout << " waiting for snapshot " << *name
           << "\n";
      return kExitFailure;
    }
    MutexLock lock(&mu);
    env_.clock->WaitUntil(lock.native(), cv, std::min(deadline, now + env_.poll_interval));
  }
}

int Commands::Rollback() {
  if (!Connect()) return kExitFailure;
  auto plan = client_->RequestRollback(options_.name, options_.rollback_to, options_.dry_run);
  if (!plan.ok()) return Fail(plan.status());
  out_ << "vm/" << options_.name << ": back to snapshot " << plan->target << " ("
       << plan->target_time << (plan->target_healthy ? ", healthy" : ", not healthy") << ")\n";
  for (const auto& [disk, volume] : plan->restore) {
    std::string now;
    for (const auto& [kept_disk, kept] : plan->keep) {
      if (kept_disk == disk) now = kept;
    }
    out_ << "  disk " << disk << ": from " << volume
         << (now.empty() ? "" : "; its state now (" + now + ") kept as a before-rollback snapshot")
         << "\n";
  }
  out_ << (options_.dry_run ? "dry run: nothing was changed\n"
                            : "rollback requested: the VM is powered off, restored and started\n");
  return kExitOk;
}

int Commands::Events() {
  std::optional<reconciler::ObjectRef> object;
  if (!ParseForObject(&object)) return kExitUsage;
  if (!Connect()) return kExitFailure;
  auto events = client_->Events(object, 0, options_.limit);
  if (!events.ok()) return Fail(events.status());
  if (events->empty()) {
    err_ << "No events found.\n";
    return kExitOk;
  }
  out_ << FormatEvents(*events, true);
  return kExitOk;
}

int Commands::Incidents() {
  std::optional<reconciler::ObjectRef> object;
  if (!options_.name.empty() && !options_.for_object.empty()) {
    err_ << "error: give either a VM name or --for KIND/NAME, not both\n";
    return kExitUsage;
  }
  if (!options_.name.empty()) {
    object = reconciler::ObjectRef{specs::Kind::kVirtualMachine, options_.name};
  } else if (!ParseForObject(&object)) {
    return kExitUsage;
  }
  if (!Connect()) return kExitFailure;
  auto incidents = client_->Incidents(object);
  if (!incidents.ok()) return Fail(incidents.status());
  if (options_.output == "yaml" || options_.output == "json") {
    std::vector<Json> items;
    for (const auto& incident : *incidents) items.push_back(incident.ToJson());
    Json doc = ListObject(items);
    out_ << (options_.output == "yaml" ? ToYaml(doc) : ToJsonText(doc));
    return kExitOk;
  }
  if (incidents->empty()) {
    err_ << "No incidents found.\n";
    return kExitOk;
  }
  out_ << FormatIncidents(*incidents);
  return kExitOk;
}

int Commands::Availability() {
  reconciler::AvailabilityQuery query;
  query.vm = options_.name;
  query.selector = options_.selector;
  query.group_by = options_.group_by;
  if (!query.vm.empty() && !query.selector.empty()) {
    err_ << "error: give either a VM name or -l SELECTOR, not both\n";
    return kExitUsage;
  }
  auto window = reconciler::ParseWindow(options_.window);
  if (!window.ok()) {
    err_ << "error: --window: " << window.status().message() << "\n";
    return kExitUsage;
  }
  query.window = *window;
  if (!Connect()) return kExitFailure;
  auto report = client_->Availability(query);
  if (!report.ok()) return Fail(report.status());
  if (options_.output == "yaml" || options_.output == "json") {
    Json doc = report->ToJson();
    out_ << (options_.output == "yaml" ? ToYaml(doc) : ToJsonText(doc));
    return kExitOk;
  }
  if (report->vms.empty()) {
    err_ << "No VMs found.\n";
    return kExitOk;
  }
  out_ << FormatAvailability(*report);
  return kExitOk;
}

int Commands::WhoAmI() {
  if (!Connect()) return kExitFailure;
  auto identity = client_->WhoAmI();
  if (!identity.ok()) return Fail(identity.status());
  if (options_.output == "json") {
    out_ << ToJsonText(Json{{"user", identity->user}, {"role", identity->role}});
    return kExitOk;
  }
  out_ << "user: " << identity->user << "\nrole: " << identity->role << "\n";
  return kExitOk;
}

int Commands::ConfigView() {
  auto settings = ResolveSettings();
  if (!settings.ok()) return Fail(settings.status());
  out_ << settings->Describe();
  return kExitOk;
}

// Rewrites the currentContext line of the config file, keeping the rest of it (comments
// included) as it is; refuses when the result would not read back with the new context.
int Commands::ConfigUseContext() {
  std::string path = options_.connection.config;
  if (path.empty() && env_.config_env && !env_.config_env->empty()) path = *env_.config_env;
  if (path.empty()) path = env_.default_config_file;
  if (path.empty()) return Fail(Status::InvalidArgument("no config file: give --config FILE"));
  auto config = LoadClientConfigFile(path);
  if (!config.ok()) return Fail(config.status());
  if (config->Find(options_.context_name) == nullptr) {
    std::string names;
    for (const auto& c : config->contexts) names += (names.empty() ? "" : ", ") + c.name;
    return Fail(Status::InvalidArgument("no context \"" + options_.context_name + "\" in " +
                                        path + " (contexts: " +
                                        (names.empty() ? "none" : names) + ")"));
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream read;
  read << in.rdbuf();
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(read, line)) lines.push_back(line);
  const std::string replacement = "currentContext: " + Json(options_.context_name).dump();
  size_t found = 0;
  for (auto& l : lines) {
    if (l.rfind("currentContext:", 0) == 0) {
      l = replacement;
      ++found;
    }
  }
  if (found == 0) lines.push_back(replacement);
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  auto check = ParseClientConfig(text, path);
  if (found > 1 || !check.ok() || check->current_context != options_.context_name) {
    return Fail(Status::FailedPrecondition(
        "cannot set currentContext in " + path +
        " without rewriting it (is currentContext: written on a line of its own, at the start?): "
        "edit the file by hand"));
  }
  namespace fs = std::filesystem;
  const std::string temp = path + ".vmkeeper-new";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out) return Fail(Status::Unavailable("cannot write " + temp));
  }
  std::error_code ec;
  fs::permissions(temp, fs::status(path, ec).permissions(), ec);
  fs::rename(temp, path, ec);
  if (ec) {
    fs::remove(temp, ec);
    return Fail(Status::Unavailable("cannot replace " + path + ": " + ec.message()));
  }
  out_ << "current context: " << options_.context_name << " (" << path << ")\n";
  return kExitOk;
}

int Commands::Schema() {
  out_ << ToJsonText(specs::JsonSchema());
  return kExitOk;
}

}  // namespace

StatusOr<std::chrono::seconds> ParseDuration(const std::string& text) {
  auto bad = [&] {
    return Status::InvalidArgument("invalid duration \"" + text +
                                   "\" (expected e.g. 300s, 5m, 1h30m)");
  };
  if (text.empty()) return bad();
  int64_t total = 0;
  size_t i = 0;
  bool any_unit = false;
  while (i < text.size()) {
    int64_t value = 0;
    auto [end, ec] = std::from_chars(text.data() + i, text.data() + text.size(), value);
    if (ec != std::errc() || value < 0 || value > 1'000'000'000) return bad();
    i = static_cast<size_t>(end - text.data());
    int64_t unit = 0;
    if (i == text.size()) {
      if (any_unit) return bad();  // "1h30" is ambiguous
      unit = 1;
    } else {
      switch (text[i++]) {
        case 's': unit = 1; break;
        case 'm': unit = 60; break;
        case 'h': unit = 3600; break;
        default: return bad();
      }
      any_unit = true;
    }
    total += value * unit;
  }
  return std::chrono::seconds(total);
}

// Each subcommand and the Commands method that runs it.
using Handlers = std::vector<std::pair<CLI::App*, int (Commands::*)()>>;

// apply and diff: manifests in.
void AddManifestCommands(CLI::App& app, Options& options, Handlers* handlers) {
  auto* apply = app.add_subcommand("apply", "Apply manifests (files or directories)");
  apply->add_option("-f,--filename", options.files, "Manifest file, directory, or - for stdin")
      ->required();
  apply->add_flag("--dry-run", options.dry_run, "Validate and show what would change");
  apply->add_flag("--prune", options.prune, "Delete stored objects absent from the manifests");
  apply->add_flag("--wait", options.wait, "Wait until the applied hosts and VMs are Ready");
  apply->add_option("--timeout", options.timeout, "How long --wait waits (e.g. 300s, 5m)")
      ->capture_default_str();
  handlers->emplace_back(apply, &Commands::Apply);

  auto* diff = app.add_subcommand(
      "diff", "Show what apply would change; exit 0 when nothing differs, 1 when something does");
  diff->add_option("-f,--filename", options.files, "Manifest file, directory, or - for stdin")
      ->required();
  diff->add_flag("--prune", options.prune, "Include objects that apply --prune would delete");
  handlers->emplace_back(diff, &Commands::Diff);
}

// get, describe, delete, events, incidents, schema: the stored objects and what happened.
void AddObjectCommands(CLI::App& app, Options& options, Handlers* handlers) {
  auto* get =
      app.add_subcommand("get", "List objects: hosts, vms, snapshotpolicies, storagepools");
  get->add_option("kind", options.kind, "hosts | vms | snapshotpolicies | storagepools")
      ->required();
  get->add_option("name", options.name, "Object name");
  get->add_option("-o,--output", options.output, "yaml | json | wide")
      ->check(CLI::IsMember({"yaml", "json", "wide"}));
  handlers->emplace_back(get, &Commands::Get);

  auto* describe = app.add_subcommand(
      "describe", "Show an object with conditions, its open incident and events");
  describe->add_option("kind", options.kind, "vm | host | snapshotpolicy | storagepool")
      ->required();
  describe->add_option("name", options.name, "Object name")->required();
  handlers->emplace_back(describe, &Commands::Describe);

  auto* del = app.add_subcommand("delete", "Delete an object");
  del->add_option("kind", options.kind, "vm | host | snapshotpolicy | storagepool")->required();
  del->add_option("name", options.name, "Object name")->required();
  handlers->emplace_back(del, &Commands::Delete);

  auto* events = app.add_subcommand("events", "List recent events, oldest first");
  events->add_option("--for", options.for_object, "Only events of KIND/NAME, e.g. vm/wms01");
  events->add_option("--limit", options.limit, "At most this many (newest)")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  handlers->emplace_back(events, &Commands::Events);

  auto* incidents = app.add_subcommand(
      "incidents", "List failures with occurred/detected/recovered times and MTTR, oldest first");
  incidents->add_option("vm", options.name, "Only incidents of this VM");
  incidents->add_option("--for", options.for_object,
                        "Only incidents of KIND/NAME, e.g. host/hv01 or vm/wms01");
  incidents->add_option("-o,--output", options.output, "yaml | json")
      ->check(CLI::IsMember({"yaml", "json"}));
  handlers->emplace_back(incidents, &Commands::Incidents);

  auto* availability = app.add_subcommand(
      "availability",
      "Availability, downtime, MTTR and MTBF per VM and in total over a window ending now");
  availability->add_option("vm", options.name, "Only this VM");
  availability->add_option("-l,--selector", options.selector,
                           "Only VMs whose labels match, e.g. service=wms,tier!=test");
  availability->add_option("--window", options.window, "How far back: 30d, 7d, 24h, 90m, 2w")
      ->capture_default_str();
  availability->add_option("--by", options.group_by, "Also total per value of this label")
      ->default_str("");
  availability->add_option("-o,--output", options.output, "yaml | json")
      ->check(CLI::IsMember({"yaml", "json"}));
  handlers->emplace_back(availability, &Commands::Availability);

  handlers->emplace_back(app.add_subcommand("schema", "Print the JSON Schema of the manifests"),
                         &Commands::Schema);
}

// snapshot, snapshots, rollback: a VM's volume disks.
void AddSnapshotCommands(CLI::App& app, Options& options, Handlers* handlers) {
  auto* snapshot = app.add_subcommand(
      "snapshot", "Take a snapshot of a VM's volume disks (crash-consistent while it runs)");
  snapshot->add_option("vm", options.name, "VM name")->required();
  snapshot->add_option("--name", options.snapshot_name,
                       "Snapshot name, a DNS-1123 label (default: m<date>-<time>)");
  snapshot->add_flag("--wait", options.wait, "Wait until it is taken (or failed)");
  snapshot->add_option("--timeout", options.timeout, "How long --wait waits (e.g. 60s, 5m)")
      ->capture_default_str();
  handlers->emplace_back(snapshot, &Commands::Snapshot);

  auto* rollback = app.add_subcommand(
      "rollback", "Put a VM's volume disks back to a snapshot (the state they have is kept)");
  rollback->add_option("vm", options.name, "VM name")->required();
  rollback->add_option("--to", options.rollback_to,
                       "Snapshot name (default: the latest taken while healthy)");
  rollback->add_flag("--dry-run", options.dry_run, "Show what would be restored; change nothing");
  handlers->emplace_back(rollback, &Commands::Rollback);

  auto* snapshots = app.add_subcommand("snapshots", "List a VM's snapshots, oldest first");
  snapshots->add_option("vm", options.name, "VM name")->required();
  snapshots->add_option("-o,--output", options.output, "yaml | json")
      ->check(CLI::IsMember({"yaml", "json"}));
  handlers->emplace_back(snapshots, &Commands::Snapshots);
}

// auth and config: who the server takes us for, and the client's own settings.
void AddClientCommands(CLI::App& app, Options& options, Handlers* handlers) {
  auto* auth = app.add_subcommand("auth", "Credentials");
  auth->require_subcommand(1);
  auto* whoami = auth->add_subcommand("whoami", "Show the user and role the server sees");
  whoami->add_option("-o,--output", options.output, "json")->check(CLI::IsMember({"json"}));
  handlers->emplace_back(whoami, &Commands::WhoAmI);

  auto* config = app.add_subcommand("config", "The client's config file and contexts");
  config->require_subcommand(1);
  handlers->emplace_back(
      config->add_subcommand("view",
                             "Show the server and credentials commands use, and where each "
                             "comes from (the token masked)"),
      &Commands::ConfigView);
  auto* use = config->add_subcommand("use-context", "Set the config file's currentContext");
  use->add_option("name", options.context_name, "Context name")->required();
  handlers->emplace_back(use, &Commands::ConfigUseContext);
}

// The connection flags, before the subcommand or after it.
void AddConnectionFlags(CLI::App& app, ConnectionFlags& flags) {
  app.add_option("--config", flags.config,
                 "Client config file (default: $VMKEEPER_CONFIG, else "
                 "~/.config/vmkeeper/config.yaml)");
  app.add_option("--server", flags.server,
                 "vmkeeperd URL (default: $VMKEEPER_SERVER, else the context's server, else " +
                     std::string(kDefaultServer) + ")");
  app.add_option("--context", flags.context,
                 "Context of the config file (default: $VMKEEPER_CONTEXT, else its "
                 "currentContext)");
  app.add_option("--token-file", flags.token_file,
                 "File holding the bearer token (default: $VMKEEPER_TOKEN, $VMKEEPER_TOKEN_FILE, "
                 "else the context's tokenFile)");
  app.add_option("--certificate-authority", flags.certificate_authority,
                 "PEM file of the CA that signs the server's certificate (https)");
  app.add_option("--client-certificate", flags.client_certificate,
                 "PEM client certificate (https; with --client-key)");
  app.add_option("--client-key", flags.client_key, "PEM key of --client-certificate");
  app.add_flag("--insecure-skip-tls-verify", flags.insecure_skip_tls_verify,
               "Do not check the server's certificate (https; unsafe)");
}

int RunVmkeeperCli(int argc, const char* const* argv, const CliEnvironment& env) {
  Options options;

  CLI::App app{"vmkeeper: declare the VMs that must run and let vmkeeperd keep them so",
               "vmkeeper"};
  app.fallthrough();
  app.require_subcommand(1);
  AddConnectionFlags(app, options.connection);
  Handlers handlers;
  AddManifestCommands(app, options, &handlers);
  AddObjectCommands(app, options, &handlers);
  AddSnapshotCommands(app, options, &handlers);
  AddClientCommands(app, options, &handlers);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e, *env.out, *env.err);
    return code == 0 ? kExitOk : kExitUsage;
  }

  Commands commands(env, options);
  for (const auto& [subcommand, run] : handlers) {
    if (!subcommand->parsed()) continue;
    try {
      return (commands.*run)();
    } catch (const std::exception& e) {
      *env.err << "error: " << e.what() << "\n";
      return run == &Commands::Diff ? kExitDiffError : kExitFailure;
    }
  }
  *env.err << "error: no command given\n";
  return kExitUsage;
}

}  // namespace vmk::cli
