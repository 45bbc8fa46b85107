{{/* The release's full name, at most 63 characters. */}}
{{- define "switchyard.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "switchyard.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end -}}

{{- define "switchyard.labels" -}}
{{ include "switchyard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "switchyard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "switchyard.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "switchyard.configMapName" -}}
{{- default (printf "%s-config" (include "switchyard.fullname" .)) .Values.existingConfigMap -}}
{{- end -}}

{{- define "switchyard.policiesConfigMapName" -}}
{{- default (printf "%s-policies" (include "switchyard.fullname" .)) .Values.existingPoliciesConfigMap -}}
{{- end -}}

{{/*
The objects a switch changes, as a JSON array of { kind, namespace, name }: each pipeline's
`service`, each chain's `kubernetes.deployments` and `kubernetes.flinkDeployments` (when the
chart renders the topology), and `rbac.objects`.
*/}}
{{- define "switchyard.switchedObjects" -}}
{{- $objects := list }}
{{- if not .Values.existingConfigMap }}
{{- range $_, $p := .Values.topology.pipelines }}
{{- with $p.service }}
{{- $objects = append $objects (dict "kind" "Service" "namespace" .namespace "name" .name) }}
{{- end }}
{{- range $_, $c := $p.chains }}
{{- with $c.kubernetes }}
{{- range .deployments }}
{{- $objects = append $objects (dict "kind" "Deployment" "namespace" .namespace "name" .name) }}
{{- end }}
{{- range .flinkDeployments }}
{{- $objects = append $objects (dict "kind" "FlinkDeployment" "namespace" .namespace "name" .name) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- $objects = concat $objects .Values.rbac.objects }}
{{- toJson $objects }}
{{- end }}
