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

{{/* The Service's DNS name inside the cluster: what the apply Job connects to, so with TLS the
     server certificate must name it (a DNS subjectAltName). */}}
{{- define "vmkeeper.serviceHost" -}}
{{- printf "%s.%s.svc" (include "vmkeeper.fullname" .) .Release.Namespace }}
{{- end }}

{{/* The API's URL inside the cluster: https when the daemon serves TLS (config.tlsCert). */}}
{{- define "vmkeeper.serviceUrl" -}}
{{- printf "%s://%s:%v" (ternary "https" "http" (not (empty .Values.config.tlsCert))) (include "vmkeeper.serviceHost" .) .Values.service.port }}
{{- end }}

{{/* The volume source of the CA bundle the chart's clients verify the API's certificate with
     (apiCa: a Secret or a ConfigMap). */}}
{{- define "vmkeeper.apiCaVolumeSource" -}}
{{- if .Values.apiCa.secretName }}
secret:
  secretName: {{ .Values.apiCa.secretName | quote }}
  defaultMode: 0444
{{- else }}
configMap:
  name: {{ .Values.apiCa.configMapName | quote }}
{{- end }}
{{- end }}

{{/* Refuses values that would deploy an API open to the pod network, a daemon that refuses to
     start, or clients (the apply Job, the ServiceMonitor) that cannot talk to the API it
     serves. Included by the StatefulSet, which every render has. */}}
{{- define "vmkeeper.checkSecurity" -}}
{{- $c := .Values.config }}
{{- $tls := not (empty $c.tlsCert) }}
{{- $tokens := not (empty $c.tokenFile) }}
{{- $clientCa := not (empty $c.tlsClientCa) }}
{{- if ne (empty $c.tlsCert) (empty $c.tlsKey) }}
{{- fail "config.tlsCert and config.tlsKey must be set together (the API's certificate chain and its key)" }}
{{- end }}
{{- if and $clientCa (not $tls) }}
{{- fail "config.tlsClientCa needs config.tlsCert and config.tlsKey: client certificates are asked for in the TLS handshake" }}
{{- end }}
{{- if and $c.insecure (not .Values.networkPolicy.enabled) }}
{{- fail (printf "config.insecure=true with networkPolicy.enabled=false lets vmkeeperd serve the API on %v without TLS and tokens, open to every pod of the cluster network: set networkPolicy.enabled=true (a CNI that enforces NetworkPolicy), or set config.insecure=false with config.tokenFile, config.tlsCert and config.tlsKey" $c.listen) }}
{{- end }}
{{- if and (not $c.insecure) (not (and $tls $tokens)) }}
{{- fail (printf "config.insecure=false: vmkeeperd refuses to serve the non-loopback %v without TLS and a tokens file; set config.tokenFile, config.tlsCert and config.tlsKey (files of a Secret mounted with extraVolumes/extraVolumeMounts), or config.insecure=true with networkPolicy.enabled=true" $c.listen) }}
{{- end }}
{{- if and .Values.apiCa.secretName .Values.apiCa.configMapName }}
{{- fail "apiCa: set secretName or configMapName, not both" }}
{{- end }}
{{- $haveCa := or .Values.apiCa.secretName .Values.apiCa.configMapName }}
{{- $clients := list }}
{{- if .Values.specs }}{{ $clients = append $clients (dict "name" "specsApply" "what" "the apply Job" "role" "editor" "v" .Values.specsApply) }}{{ end }}
{{- if .Values.serviceMonitor.enabled }}{{ $clients = append $clients (dict "name" "serviceMonitor" "what" "Prometheus (the ServiceMonitor)" "role" "viewer" "v" .Values.serviceMonitor) }}{{ end }}
{{- range $clients }}
{{- if and $tls (not $haveCa) }}
{{- fail (printf "config.tlsCert is set, so %s connects over https and must verify the API's certificate: set apiCa.secretName or apiCa.configMapName (and apiCa.key) to the CA bundle that signed it" .what) }}
{{- end }}
{{- if and $tokens (not (and .v.tokenSecret .v.tokenSecret.name .v.tokenSecret.key)) }}
{{- fail (printf "config.tokenFile is set, so %s must send a token: set %s.tokenSecret.name and .key to a Secret holding a token of role %s" .what .name .role) }}
{{- end }}
{{- if and $clientCa (not .v.clientCertificateSecret) }}
{{- fail (printf "config.tlsClientCa is set, so %s must present a client certificate: set %s.clientCertificateSecret to a kubernetes.io/tls Secret (tls.crt, tls.key) signed by that CA" .what .name) }}
{{- end }}
{{- end }}
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
