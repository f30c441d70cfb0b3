{{/* The chart name, for the app.kubernetes.io/name label. */}}
{{- define "arcturus.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every resource name. It is kept to 40 characters, so that the
longest derived name (<fullname>-validating-webhook) stays within 63.
*/}}
{{- define "arcturus.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "arcturus.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "arcturus.labels" -}}
helm.sh/chart: {{ include "arcturus.chart" . }}
{{ include "arcturus.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: arcturus
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The pods' labels that Services, the PDB and spreading select on. */}}
{{- define "arcturus.selectorLabels" -}}
app.kubernetes.io/name: {{ include "arcturus.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "arcturus.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "arcturus.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "arcturus.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* Names shared by several templates (and by the controller's flags). */}}
{{- define "arcturus.xdsServiceName" -}}{{ include "arcturus.fullname" . }}-xds{{- end }}
{{- define "arcturus.metricsServiceName" -}}{{ include "arcturus.fullname" . }}-metrics{{- end }}
{{- define "arcturus.webhookServiceName" -}}{{ include "arcturus.fullname" . }}-webhook{{- end }}
{{- define "arcturus.webhookConfigName" -}}{{ include "arcturus.fullname" . }}-validating-webhook{{- end }}
{{/* builtin mode: the Secret the controller keeps its CA and serving certificate in. */}}
{{- define "arcturus.webhookCertSecret" -}}{{ include "arcturus.fullname" . }}-webhook-cert{{- end }}
{{/* certmanager mode: the Certificate and its Secret. */}}
{{- define "arcturus.webhookCertificate" -}}{{ include "arcturus.fullname" . }}-webhook{{- end }}
{{- define "arcturus.webhookTLSSecret" -}}{{ include "arcturus.fullname" . }}-webhook-tls{{- end }}
{{- define "arcturus.xdsCertificate" -}}{{ include "arcturus.fullname" . }}-xds{{- end }}
{{- define "arcturus.leaderElectionNamespace" -}}{{ .Values.leaderElection.namespace | default .Release.Namespace }}{{- end }}

{{/* Where the webhook server reads tls.crt and tls.key (controller-runtime's default). */}}
{{- define "arcturus.webhookCertDir" -}}/tmp/k8s-webhook-server/serving-certs{{- end }}
{{- define "arcturus.xdsTLSDir" -}}/etc/arcturus/xds-tls{{- end }}
{{- define "arcturus.xdsClientCADir" -}}/etc/arcturus/xds-client-ca{{- end }}

{{/* "true" when the webhook runs with the controller's own certificate. */}}
{{- define "arcturus.webhookBuiltin" -}}
{{- if and .Values.webhook.enabled (eq .Values.webhook.certMode "builtin") }}true{{ end }}
{{- end }}

{{/* "true" when the webhook's certificate comes from cert-manager. */}}
{{- define "arcturus.webhookCertManager" -}}
{{- if and .Values.webhook.enabled (eq .Values.webhook.certMode "certmanager") }}true{{ end }}
{{- end }}

{{/* "true" when the xDS serving certificate comes from cert-manager. */}}
{{- define "arcturus.xdsCertManager" -}}
{{- if and .Values.xds.tls.enabled .Values.xds.tls.certManager.enabled }}true{{ end }}
{{- end }}

{{/* "true" when some certificate is requested from cert-manager. */}}
{{- define "arcturus.usesCertManager" -}}
{{- if or (include "arcturus.webhookCertManager" .) (include "arcturus.xdsCertManager" .) }}true{{ end }}
{{- end }}

{{/* "true" when the chart's private CA is needed. */}}
{{- define "arcturus.chartCA" -}}
{{- if and (include "arcturus.usesCertManager" .) (not .Values.certManager.issuerRef.name) }}true{{ end }}
{{- end }}

{{/* The issuerRef of the certificates the chart requests. */}}
{{- define "arcturus.issuerRef" -}}
{{- if .Values.certManager.issuerRef.name }}
name: {{ .Values.certManager.issuerRef.name }}
kind: {{ .Values.certManager.issuerRef.kind }}
group: {{ .Values.certManager.issuerRef.group }}
{{- else }}
name: {{ include "arcturus.fullname" . }}-ca
kind: Issuer
group: cert-manager.io
{{- end }}
{{- end }}

{{/* The Secret holding the xDS serving certificate. */}}
{{- define "arcturus.xdsTLSSecret" -}}
{{- if .Values.xds.tls.certManager.enabled }}
{{- include "arcturus.fullname" . }}-xds-tls
{{- else }}
{{- required "xds.tls.enabled needs xds.tls.secretName (an existing kubernetes.io/tls Secret) or xds.tls.certManager.enabled=true" .Values.xds.tls.secretName }}
{{- end }}
{{- end }}

{{/* The Secret holding the xDS client CA bundle (mTLS). */}}
{{- define "arcturus.xdsClientCASecret" -}}
{{- if .Values.xds.tls.clientCA.secretName }}
{{- .Values.xds.tls.clientCA.secretName }}
{{- else if .Values.xds.tls.certManager.enabled }}
{{- include "arcturus.xdsTLSSecret" . }}
{{- else }}
{{- fail "xds.tls.clientCA.enabled needs xds.tls.clientCA.secretName, or xds.tls.certManager.enabled=true to use the issuing CA" }}
{{- end }}
{{- end }}

{{/* Fails rendering on combinations of values that cannot work. */}}
{{- define "arcturus.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicaCount > 1 needs leaderElection.enabled: only one replica may write status and renew certificates" }}
{{- end }}
{{- if and .Values.xds.tls.clientCA.enabled (not .Values.xds.tls.enabled) }}
{{- fail "xds.tls.clientCA.enabled needs xds.tls.enabled" }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.enabled" }}
{{- end }}
{{- end }}
