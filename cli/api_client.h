// ApiClient: the typed client of vmkeeperd's REST API (v1), used by the vmkeeper CLI and tests.
// Server errors come back as Status with the server's message ({"error": ...}, or the `message`
// of a Kubernetes-style Status object {"kind": "Status", "message": ...} as 401 and 403 carry)
// and a code derived from the HTTP status (404 NotFound, 409 and 403 FailedPrecondition,
// 400/401/413 InvalidArgument, 503 Unavailable, other Internal); validation failures of
// apply/diff come back in outcome.errors. Thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/http_client.h"
#include "reconciler/controller/control_plane.h"

namespace vmk::cli {

// Who the server takes the caller for (GET /api/v1/whoami).
struct WhoAmIAnswer {
  std::string user;
  std::string role;
};

class ApiClient {
 public:
  static StatusOr<std::unique_ptr<ApiClient>> Create(
      const std::string& server_url,
      std::chrono::milliseconds timeout = std::chrono::milliseconds(60000));
  // With credentials and TLS settings (http_client.h).
  static StatusOr<std::unique_ptr<ApiClient>> Create(const std::string& server_url,
                                                     const HttpClientOptions& options);

  StatusOr<reconciler::ApplyOutcome> Apply(const std::vector<reconciler::ManifestFile>& files,
                                           const reconciler::ApplyOptions& options);
  StatusOr<reconciler::DiffOutcome> Diff(const std::vector<reconciler::ManifestFile>& files,
                                         bool prune);
  // Manifest JSON (apiVersion, kind, metadata, spec, status) of each object.
  StatusOr<std::vector<specs::Json>> List(specs::Kind kind);
  StatusOr<specs::Json> Get(specs::Kind kind, const std::string& name);
  Status Delete(specs::Kind kind, const std::string& name);
  // Asks for a snapshot of a VM ("" = a name made up by the server); returns its name.
  StatusOr<std::string> RequestSnapshot(const std::string& vm, const std::string& name);
  // Asks for (or, dry_run, only shows) a rollback of a VM to snapshot `to` ("" = its latest
  // healthy one).
  StatusOr<reconciler::RollbackPlan> RequestRollback(const std::string& vm, const std::string& to,
                                                     bool dry_run);
  StatusOr<std::vector<reconciler::Event>> Events(std::optional<reconciler::ObjectRef> object,
                                                  int64_t after_seq, size_t limit);
  // Incidents of one object, or of all objects; oldest first.
  StatusOr<std::vector<reconciler::Incident>> Incidents(
      std::optional<reconciler::ObjectRef> object);
  // Availability of the VMs a query selects (GET /api/v1/availability).
  StatusOr<reconciler::AvailabilityReport> Availability(const reconciler::AvailabilityQuery& query);
  // Posts an Alertmanager webhook body as Alertmanager would (for tests and manual checks).
  StatusOr<reconciler::AlertIntakeOutcome> PostAlerts(const std::string& body);
  StatusOr<WhoAmIAnswer> WhoAmI();
  // /healthz answered 200.
  Status Healthy();
  // /readyz: true on 200, false on 503.
  StatusOr<bool> Ready();

  const std::string& server_url() const { return http_->base_url(); }

 private:
  explicit ApiClient(std::unique_ptr<HttpClient> http);
  StatusOr<specs::Json> Call(const std::string& method, const std::string& path,
                             const std::string& body, std::vector<int> accepted_statuses);

  std::unique_ptr<HttpClient> http_;
};

}  // namespace vmk::cli
