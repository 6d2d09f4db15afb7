{{/* Chart name, overridable. */}}
{{- define "hermes.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the operator's objects: <release>-<chart> unless the release name contains the chart name. */}}
{{- define "hermes.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "hermes.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "hermes.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "hermes.operatorName" -}}
{{- printf "%s-operator" (include "hermes.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "hermes.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hermes.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/* Labels of every object the chart renders, without selector labels (HermesNodes, monitoring). */}}
{{- define "hermes.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: hermes
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels of the operator's objects: the common labels and the operator's selector labels. */}}
{{- define "hermes.labels" -}}
{{ include "hermes.commonLabels" . }}
{{ include "hermes.selectorLabels" . }}
{{- end }}

{{- define "hermes.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "hermes.operatorName" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "hermes.operatorImage" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "hermes.nodeImage" -}}
{{- printf "%s:%s" .Values.nodeImage.repository (default .Chart.AppVersion .Values.nodeImage.tag) }}
{{- end }}

{{/*
The operator's permissions on namespaced resources; granted cluster-wide (ClusterRole) or per
watched namespace (Role). Every verb is used:
- hermesnodes: read and watch; status is written by server-side apply (patch).
- hermesnodes/finalizers: update, so owner references may block owner deletion where the
  OwnerReferencesPermissionEnforcement admission plugin is on.
- owned kinds: server-side apply (patch, and create for a new object), watch, and delete for
  objects the spec no longer asks for.
- pods: list, to ask a ready node how many mesh members it sees.
- events: create.
*/}}
{{- define "hermes.rules" -}}
- apiGroups: [hermes.io]
  resources: [hermesnodes]
  verbs: [get, list, watch]
- apiGroups: [hermes.io]
  resources: [hermesnodes/status]
  verbs: [patch]
- apiGroups: [hermes.io]
  resources: [hermesnodes/finalizers]
  verbs: [update]
- apiGroups: [apps]
  resources: [statefulsets]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [services, configmaps, secrets]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [monitoring.coreos.com]
  resources: [servicemonitors]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [cert-manager.io]
  resources: [certificates]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [list]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create]
{{- end }}
