#!/usr/bin/env bash
# Checks vmkeeper's shipped Prometheus rules and Grafana dashboard (charts/vmkeeper/files/):
#   1. promtool check rules prometheus-rules.yaml (syntax, duplicate rules);
#   2. promtool test rules prometheus-rules.test.yaml prometheus-rules.long.test.yaml (every
#      recording rule's value and every alert, firing and not, on series with known downtime);
#   3. check_rules.pl, statically:
#      - every metric a rule or a dashboard query (targets and the vm/service variables) reads is
#        in docs/metrics.md's tables (a histogram as _bucket/_sum/_count), or is recorded by
#        prometheus-rules.yaml (level:metric:operations), or is Prometheus's own `up`;
#      - every recording rule is named level:metric:operations, and is read by a promql_expr_test;
#        every alert has an alert_rule_test;
#      - every alert has a severity (critical, warning, info) and summary, description and
#        runbook_url annotations; each runbook_url is docs/runbooks.md#anchor and the anchor is a
#        heading of docs/runbooks.md (GitHub's anchor rules);
#      - the objective's text `vector(0.999)` is in prometheus-rules.yaml exactly once, as the
#        whole expression of vmkeeper:availability_objective:ratio (the Helm chart replaces that
#        text), and every alert on an availability ratio reads that series, none writes 0.999;
#      - the dashboard's uid is vmkeeper-availability, it has a `datasource` variable (type
#        datasource, prometheus) that every target uses, and `vm` and `service` label_values()
#        variables;
#   4. promtool check rules on the dashboard's queries, substituted as below, as recording rules:
#      each is PromQL that Prometheus evaluates as it is.
#
# The dashboard's queries for a real Prometheus (the end-to-end test): get them substituted with
#   perl tests/rules/check_rules.pl --root . --list-queries
# (one JSON object a line: where, expr, instant). The only Grafana variables a query uses, and
# what the list puts instead (the e2e may choose others):
#   $vm, $service       -> .*   (both are only used as vm=~"$vm", label_service=~"$service";
#                                 a single VM or service name works as well)
#   $__rate_interval    -> 1m   (at least 4 scrape intervals)
#   $__range            -> 1h   (the dashboard's time range; use the test's own duration)
#   ${datasource} is only a target's datasource uid, never inside an expr.
# Run them as instant queries (/api/v1/query) at "now"; the variables' label_values(selector,
# label) are listed as their selector. Queries that rightly return nothing on a fleet that has
# not had the thing they show: MTTR (no incident closed in the window), MTBF (no failure), the
# per-service panels and the service variable (no VM with a service label), snapshot age and
# interval (no snapshot / no snapshot policy), `up{job=~".*vmkeeper.*"}` (a scrape job whose
# name lacks "vmkeeper"). The recorded series (a:b:c) exist once prometheus-rules.yaml is loaded
# and its groups have run (the long-window group every minute).
#
# Usage: tests/rules/check_rules.sh [REPO_ROOT]. Needs promtool (Debian's prometheus package,
# scripts/install-deps.sh) and perl (build-essential).
set -euo pipefail
ROOT=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
HERE=$(cd "$(dirname "$0")" && pwd)
FILES=$ROOT/charts/vmkeeper/files
if ! command -v promtool >/dev/null; then
  echo "check_rules: promtool not found (Debian's prometheus package: scripts/install-deps.sh)" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

status=0
step() { echo "== $*"; }
step "promtool check rules prometheus-rules.yaml"
promtool check rules "$FILES/prometheus-rules.yaml" || status=1
step "promtool test rules"
promtool test rules "$FILES/prometheus-rules.test.yaml" "$FILES/prometheus-rules.long.test.yaml" || status=1
step "static checks (metrics contract, annotations, runbooks, objective, dashboard, coverage)"
perl "$HERE/check_rules.pl" --root "$ROOT" --dashboard-rules "$tmp/dashboard-queries.yaml" || status=1
step "the dashboard's queries parse"
if [ -s "$tmp/dashboard-queries.yaml" ]; then
  promtool check rules "$tmp/dashboard-queries.yaml" || status=1
else
  echo "no dashboard queries written" >&2
  status=1
fi
if [ "$status" -ne 0 ]; then
  echo "check_rules: FAILED" >&2
fi
exit "$status"
