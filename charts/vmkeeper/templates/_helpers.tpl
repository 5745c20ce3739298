{{/* Chart name, at most 63 characters. */}}
{{- define "vmkeeper.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name, plus the chart name unless the release name contains it. */}}
{{- define "vmkeeper.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "vmkeeper.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Standard labels of every object. */}}
{{- define "vmkeeper.labels" -}}
helm.sh/chart: {{ include "vmkeeper.chart" . }}
{{ include "vmkeeper.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: vmkeeper
{{- end }}

{{/* Labels of the release's pods (the controller's and the apply Job's). */}}
{{- define "vmkeeper.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vmkeeper.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels that select the controller's pod only (not the apply Job's). */}}
{{- define "vmkeeper.controllerSelectorLabels" -}}
{{ include "vmkeeper.selectorLabels" . }}
app.kubernetes.io/component: controller
{{- end }}

{{- define "vmkeeper.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}

{{/* The API's port: the one in config.listen ("host:port", "[v6]:port"). */}}
{{- define "vmkeeper.port" -}}
{{- $port := regexFind "[0-9]+$" (toString .Values.config.listen) }}
{{- if not $port }}
{{- fail (printf "config.listen %q must end with :PORT" .Values.config.listen) }}
{{- end }}
{{- $port }}
{{- end }}

{{/* The API's URL inside the cluster. */}}
{{- define "vmkeeper.serviceUrl" -}}
{{- printf "http://%s.%s.svc:%v" (include "vmkeeper.fullname" .) .Release.Namespace .Values.service.port }}
{{- end }}

{{/* vmkeeperd's config file, from .Values.config: every key the daemon knows, typed. */}}
{{- define "vmkeeper.configFile" -}}
{{- $known := list "storePath" "listen" "resyncSeconds" "workers" "logLevel" "embeddedHostDir" "maxBodyBytes" "heartbeatIntervalMs" "heartbeatFailures" "heartbeatTimeoutMs" "fenceAgentDirs" "alertHostLabel" "alertVmLabel" "notifyUrl" "metricsVmLabels" "allowedHosts" "maxConnections" "maxInFlight" "requestTimeoutSeconds" "idleTimeoutSeconds" "writeRateLimit" "writeBurst" "tokenFile" "tlsCert" "tlsKey" "tlsClientCa" "insecure" "auditLog" "auditLogMaxBytes" "auditLogMaxFiles" }}
{{- range $key, $_ := .Values.config }}
{{- if not (has $key $known) }}
{{- fail (printf "config.%s: vmkeeperd has no such setting (known: %s)" $key (join ", " $known)) }}
{{- end }}
{{- end }}
{{- $c := .Values.config }}
{{- $listen := toString $c.listen }}
{{- if or (hasPrefix "127." $listen) (hasPrefix "[::1]" $listen) (hasPrefix "localhost:" $listen) }}
{{- fail (printf "config.listen %q is loopback: the probes, the Service and Prometheus could not reach it; use 0.0.0.0:PORT" $listen) }}
{{- end }}
storePath: {{ $c.storePath | toString | quote }}
listen: {{ $listen | quote }}
resyncSeconds: {{ int64 $c.resyncSeconds }}
workers: {{ int64 $c.workers }}
logLevel: {{ $c.logLevel | toString | quote }}
embeddedHostDir: {{ $c.embeddedHostDir | default "" | toString | quote }}
maxBodyBytes: {{ int64 $c.maxBodyBytes }}
heartbeatIntervalMs: {{ int64 $c.heartbeatIntervalMs }}
heartbeatFailures: {{ int64 $c.heartbeatFailures }}
heartbeatTimeoutMs: {{ int64 $c.heartbeatTimeoutMs }}
fenceAgentDirs:
{{- range $c.fenceAgentDirs }}
  - {{ toString . | quote }}
{{- end }}
alertHostLabel: {{ $c.alertHostLabel | toString | quote }}
alertVmLabel: {{ $c.alertVmLabel | toString | quote }}
notifyUrl: {{ $c.notifyUrl | default "" | toString | quote }}
metricsVmLabels:
{{- range $c.metricsVmLabels }}
  - {{ toString . | quote }}
{{- end }}
{{- /* The API answers only the Host names it is told of (against DNS rebinding): the Service's
       own names, which the apply Job and Alertmanager use, always; config.allowedHosts too. */}}
{{- $svc := include "vmkeeper.fullname" . }}
allowedHosts:
  - {{ $svc | quote }}
  - {{ printf "%s.%s" $svc .Release.Namespace | quote }}
  - {{ printf "%s.%s.svc" $svc .Release.Namespace | quote }}
  - {{ printf "%s.%s.svc.cluster.local" $svc .Release.Namespace | quote }}
{{- range $c.allowedHosts }}
  - {{ toString . | quote }}
{{- end }}
maxConnections: {{ int64 $c.maxConnections }}
maxInFlight: {{ int64 $c.maxInFlight }}
requestTimeoutSeconds: {{ int64 $c.requestTimeoutSeconds }}
idleTimeoutSeconds: {{ int64 $c.idleTimeoutSeconds }}
writeRateLimit: {{ float64 $c.writeRateLimit }}
writeBurst: {{ int64 $c.writeBurst }}
tokenFile: {{ $c.tokenFile | default "" | toString | quote }}
tlsCert: {{ $c.tlsCert | default "" | toString | quote }}
tlsKey: {{ $c.tlsKey | default "" | toString | quote }}
tlsClientCa: {{ $c.tlsClientCa | default "" | toString | quote }}
insecure: {{ if $c.insecure }}true{{ else }}false{{ end }}
auditLog: {{ $c.auditLog | default "" | toString | quote }}
auditLogMaxBytes: {{ int64 $c.auditLogMaxBytes }}
auditLogMaxFiles: {{ int64 $c.auditLogMaxFiles }}
{{- end }}

{{/* Pod and container security settings, shared by the controller and the apply Job. */}}
{{- define "vmkeeper.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext }}
{{- end }}
