#!/usr/bin/perl
# Static checks of vmkeeper's shipped Prometheus rules and Grafana dashboard against the metrics
# contract (docs/metrics.md) and the runbooks (docs/runbooks.md). Run by check_rules.sh (which
# documents every check); Perl with core modules only (JSON::PP, CPAN::Meta::YAML), which
# build-essential brings.
#
#   check_rules.pl --root DIR [--dashboard-rules OUT.yaml]   run the checks; write the dashboard's
#                                                             queries, substituted, as a rule file
#   check_rules.pl --root DIR --list-queries                  print the dashboard's queries,
#                                                             substituted, one JSON object a line
use strict;
use warnings;
use Getopt::Long;
use JSON::PP;
use CPAN::Meta::YAML;

my ($root, $dash_rules_out, $list) = ('.', undef, 0);
GetOptions('root=s' => \$root, 'dashboard-rules=s' => \$dash_rules_out, 'list-queries' => \$list)
  or die "usage: $0 --root DIR [--dashboard-rules OUT.yaml] [--list-queries]\n";

my $files = "$root/charts/vmkeeper/files";
my $rules_path = "$files/prometheus-rules.yaml";
my $dash_path = "$files/grafana-dashboard.json";
my @test_paths = ("$files/prometheus-rules.test.yaml", "$files/prometheus-rules.long.test.yaml");
my $metrics_md = "$root/docs/metrics.md";
my $runbooks_md = "$root/docs/runbooks.md";

# The objective's text (the Helm chart replaces it), the dashboard's uid, the severities.
my $OBJECTIVE_TEXT = 'vector(0.999)';
my $OBJECTIVE_RULE = 'vmkeeper:availability_objective:ratio';
my $DASHBOARD_UID = 'vmkeeper-availability';
my %SEVERITIES = map { $_ => 1 } qw(critical warning info);
# Series Prometheus itself makes for every target (not vmkeeper's to list in docs/metrics.md).
my %PROMETHEUS_SERIES = (up => 1);
# The Grafana variables a dashboard query may use, and what an instant query against Prometheus
# gets instead of each (check_rules.sh says the same for the end-to-end test).
my %GRAFANA_SUBST = ('$vm' => '.*', '$service' => '.*', '$__rate_interval' => '1m', '$__range' => '1h');

my @errors;
sub fail { push @errors, join('', @_) }

sub slurp {
  my ($p) = @_;
  open(my $fh, '<', $p) or die "$p: $!\n";
  local $/;
  my $s = <$fh>;
  close $fh;
  return $s;
}

# ---- docs/metrics.md: the families of every table (| `name` | type | ...).
my %family;    # name -> type
for my $line (split /\n/, slurp($metrics_md)) {
  if ($line =~ /^\|\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`\s*\|\s*(counter|gauge|histogram|summary)\s*\|/) {
    $family{$1} = $2;
  }
}
fail("docs/metrics.md: no metric families found in its tables") unless %family;
my %series_name;    # every series name the contract allows -> family
for my $f (keys %family) {
  if ($family{$f} eq 'histogram') {
    $series_name{"${f}_$_"} = $f for qw(bucket sum count);
  } elsif ($family{$f} eq 'summary') {
    $series_name{$f} = $f;
    $series_name{"${f}_$_"} = $f for qw(sum count);
  } else {
    $series_name{$f} = $f;
  }
}

# ---- PromQL: the metric names an expression selects.
my %KEYWORDS = map { $_ => 1 }
  qw(and or unless by without on ignoring group_left group_right offset bool inf nan atan2);
sub metric_names {
  my ($expr) = @_;
  my $e = $expr;
  $e =~ s/"(?:[^"\\]|\\.)*"//g;                 # string literals (label values, regexes)
  $e =~ s/'(?:[^'\\]|\\.)*'//g;
  $e =~ s/`[^`]*`//g;
  $e =~ s/#[^\n]*//g;                            # comments
  $e =~ s/\{[^{}]*\}//g;                         # label matchers (name="..." lists)
  $e =~ s/\[[^\]]*\]//g;                         # ranges and subqueries
  $e =~ s/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)//g;   # label lists
  my %names;
  while ($e =~ /(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g) {
    my ($name, $call) = ($1, $2);
    next if $call;                               # a function or an aggregation
    next if $KEYWORDS{lc $name};
    $names{$name} = 1;
  }
  return sort keys %names;
}

# ---- the rules file.
my $rules_text = slurp($rules_path);
my $yaml = CPAN::Meta::YAML->read_string($rules_text)
  or die "$rules_path: " . CPAN::Meta::YAML->errstr . "\n";
my $groups = $yaml->[0]{groups};
fail("$rules_path: no groups") unless ref $groups eq 'ARRAY' && @$groups;

my (%recorded, @rule_exprs, @alerts);
for my $g (@$groups) {
  for my $r (@{ $g->{rules} || [] }) {
    if (defined $r->{record}) {
      fail("record $r->{record}: defined twice") if $recorded{ $r->{record} }++;
      fail("record $r->{record}: not named level:metric:operations")
        unless $r->{record} =~ /^[a-z][a-z0-9_]*:[a-z][a-z0-9_]*:[a-z][a-z0-9_]*$/;
      push @rule_exprs, ["record $r->{record}", $r->{expr}];
    } elsif (defined $r->{alert}) {
      push @alerts, $r;
      push @rule_exprs, ["alert $r->{alert}", $r->{expr}];
    } else {
      fail("group $g->{name}: a rule with neither record nor alert");
    }
  }
}

# The objective: its text exactly once in the file, as the expression of its recording rule, and
# every burn-rate alert reads that series (no objective written into an alert).
my $count = () = $rules_text =~ /\Q$OBJECTIVE_TEXT\E/g;
fail("$rules_path: '$OBJECTIVE_TEXT' appears $count times, not exactly once") unless $count == 1;
my ($objective_rule) = grep { $_->[0] eq "record $OBJECTIVE_RULE" } @rule_exprs;
if (!$objective_rule) {
  fail("$rules_path: no recording rule $OBJECTIVE_RULE");
} elsif ($objective_rule->[1] !~ /^\s*\Q$OBJECTIVE_TEXT\E\s*$/) {
  fail("record $OBJECTIVE_RULE: its expression is not exactly '$OBJECTIVE_TEXT'");
}
for my $a (@alerts) {
  next unless $a->{expr} =~ /unavailability|availability:ratio/;
  fail("alert $a->{alert}: reads an availability ratio but not $OBJECTIVE_RULE")
    unless $a->{expr} =~ /\Q$OBJECTIVE_RULE\E/;
  fail("alert $a->{alert}: writes the objective (0.999 / 0.001) itself")
    if $a->{expr} =~ /(?<![\d.])0?\.(?:999|001)(?!\d)/;
}

# Every alert: a severity, a summary, a description, a runbook_url whose anchor exists.
my %anchors;
for my $line (split /\n/, slurp($runbooks_md)) {
  next unless $line =~ /^#{1,6}\s+(.*?)\s*#*\s*$/;
  my $a = lc $1;                                 # GitHub's anchors: lower case, no punctuation
  $a =~ s/[^\w\- ]//g;                           # but - and _, spaces to -
  $a =~ s/ /-/g;
  $anchors{$a} = 1;
}
for my $a (@alerts) {
  my $name = $a->{alert};
  my $sev = $a->{labels} ? $a->{labels}{severity} : undef;
  fail("alert $name: no severity label") unless defined $sev && length $sev;
  fail("alert $name: severity '$sev' is not one of " . join(', ', sort keys %SEVERITIES))
    if defined $sev && length $sev && !$SEVERITIES{$sev};
  for my $k (qw(summary description runbook_url)) {
    my $v = $a->{annotations} ? $a->{annotations}{$k} : undef;
    fail("alert $name: no $k annotation") unless defined $v && $v =~ /\S/;
  }
  my $url = $a->{annotations} ? $a->{annotations}{runbook_url} : undef;
  next unless defined $url;
  if ($url !~ m{^docs/runbooks\.md#([a-z0-9_-]+)$}) {
    fail("alert $name: runbook_url '$url' is not docs/runbooks.md#anchor");
  } elsif (!$anchors{$1}) {
    fail("alert $name: runbook_url anchor #$1 is no heading of docs/runbooks.md");
  }
}

# Every metric a rule reads: in docs/metrics.md, or recorded by this file, or Prometheus's own.
sub check_names {
  my ($where, $expr) = @_;
  for my $n (metric_names($expr)) {
    if ($n =~ /:/) {
      fail("$where: reads $n, which no rule of prometheus-rules.yaml records") unless $recorded{$n};
    } elsif (!$series_name{$n} && !$PROMETHEUS_SERIES{$n}) {
      my $hint = $family{$n} && $family{$n} eq 'histogram' ? ' (a histogram: _bucket, _sum or _count)' : '';
      fail("$where: reads $n, which docs/metrics.md does not list$hint");
    }
  }
}
check_names($_->[0], $_->[1]) for @rule_exprs;

# Every recording rule and every alert has a promtool unit test.
my $tests_text = join("\n", map { slurp($_) } @test_paths);
my %tested_expr;
while ($tests_text =~ /^\s*-?\s*expr:\s*(.+)$/mg) { $tested_expr{$_} = 1 for metric_names($1) }
my %tested_alert = map { $_ => 1 } ($tests_text =~ /^\s*alertname:\s*(\S+)\s*$/mg);
for my $r (sort keys %recorded) {
  fail("record $r: no promql_expr_test reads it") unless $tested_expr{$r};
}
my %alert_names = map { $_->{alert} => 1 } @alerts;
for my $a (sort keys %alert_names) {
  fail("alert $a: no alert_rule_test") unless $tested_alert{$a};
}

# ---- the dashboard.
my $dash = JSON::PP->new->decode(slurp($dash_path));
fail("grafana-dashboard.json: uid is '" . ($dash->{uid} // '') . "', not '$DASHBOARD_UID'")
  unless ($dash->{uid} // '') eq $DASHBOARD_UID;
my %vars = map { $_->{name} => $_ } @{ $dash->{templating}{list} || [] };
fail("grafana-dashboard.json: no datasource variable of type datasource, query prometheus")
  unless $vars{datasource} && $vars{datasource}{type} eq 'datasource' && $vars{datasource}{query} eq 'prometheus';
my @queries;    # [where, expr as Grafana has it, instant]
for my $v (qw(vm service)) {
  if (!$vars{$v} || $vars{$v}{type} ne 'query') {
    fail("grafana-dashboard.json: no '$v' query variable");
    next;
  }
  my $q = ref $vars{$v}{query} ? $vars{$v}{query}{query} : $vars{$v}{query};
  if ($q !~ /^label_values\((.+),\s*([a-zA-Z_]\w*)\)$/) {
    fail("grafana-dashboard.json: variable $v: '$q' is not label_values(selector, label)");
    next;
  }
  push @queries, ["variable $v", $1, 1];
}
my @all_panels = map { ($_, @{ $_->{panels} || [] }) } @{ $dash->{panels} || [] };
for my $p (@all_panels) {
  for my $t (@{ $p->{targets} || [] }) {
    my $where = "panel '$p->{title}' target $t->{refId}";
    my $uid = ref $t->{datasource} ? $t->{datasource}{uid} // '' : '';
    fail("$where: datasource is not \${datasource}") unless $uid eq '${datasource}';
    fail("$where: no expr") unless defined $t->{expr} && $t->{expr} =~ /\S/;
    push @queries, [$where, $t->{expr}, $t->{instant} ? 1 : 0] if defined $t->{expr};
  }
}
fail("grafana-dashboard.json: no queries") unless @queries;
my @substituted;
for my $q (@queries) {
  my ($where, $expr, $instant) = @$q;
  my $e = $expr;
  for my $var ($e =~ /(\$\{?\w+\}?)/g) {
    fail("$where: uses $var; only " . join(', ', sort keys %GRAFANA_SUBST) . ' may appear')
      unless exists $GRAFANA_SUBST{$var};
  }
  for my $var (sort { length $b <=> length $a } keys %GRAFANA_SUBST) {
    $e =~ s/\Q$var\E(?!\w)/$GRAFANA_SUBST{$var}/g;
  }
  check_names($where, $e);
  push @substituted, { where => $where, expr => $e, instant => $instant ? JSON::PP::true : JSON::PP::false };
}

if ($list) {
  my $json = JSON::PP->new->canonical;
  print $json->encode($_), "\n" for @substituted;
}
if ($dash_rules_out) {
  open(my $out, '>', $dash_rules_out) or die "$dash_rules_out: $!\n";
  print $out "# The dashboard's queries with Grafana's variables substituted: promtool parses them.\n";
  print $out "groups:\n  - name: dashboard\n    rules:\n";
  my $i = 0;
  for my $s (@substituted) {
    $i++;
    (my $where = $s->{where}) =~ s/[^\x20-\x7e]//g;
    print $out "      # $where\n      - record: dashboard:query_$i:check\n        expr: |\n";
    print $out "          $_\n" for split /\n/, $s->{expr};
  }
  close $out;
}

if (@errors) {
  print STDERR "FAILED: $_\n" for @errors;
  printf STDERR "%d problem(s)\n", scalar @errors;
  exit 1;
}
printf STDERR "ok: %d recording rules, %d alerting rules, %d dashboard queries; every metric in docs/metrics.md\n",
  scalar(keys %recorded), scalar(@alerts), scalar(@queries);
exit 0;
