{{/* The release's full name, at most 63 characters. */}}
{{- define "dhr.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The name of one service's resources: dict "root" $ "name" "commissioning". */}}
{{- define "dhr.serviceName" -}}
{{- printf "%s-%s" (include "dhr.fullname" .root | trunc 40 | trimSuffix "-") .name -}}
{{- end -}}

{{- define "dhr.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels every resource of the release carries. */}}
{{- define "dhr.labels" -}}
helm.sh/chart: {{ include "dhr.chart" . }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: dhr
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* What selects the release's pods (the default-deny NetworkPolicy uses it). */}}
{{- define "dhr.releaseSelector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* What selects one service's pods: dict "root" $ "name" "commissioning". */}}
{{- define "dhr.selectorLabels" -}}
{{ include "dhr.releaseSelector" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/* A service's values: serviceDefaults overlaid with services.<name>. */}}
{{- define "dhr.serviceValues" -}}
{{- $service := index .root.Values.services .name -}}
{{- toYaml (mustMergeOverwrite (deepCopy .root.Values.serviceDefaults) (deepCopy $service)) -}}
{{- end -}}

{{/* A service's image: dict "root" $ "name" "commissioning". */}}
{{- define "dhr.image" -}}
{{- $image := .root.Values.image -}}
{{- $registry := .root.Values.global.imageRegistry | default $image.registry -}}
{{- $tag := $image.tag | default .root.Chart.AppVersion -}}
{{- if $registry -}}
{{- printf "%s/%s/%s:%s" $registry $image.repository .name $tag -}}
{{- else -}}
{{- printf "%s/%s:%s" $image.repository .name $tag -}}
{{- end -}}
{{- end -}}

{{- define "dhr.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "dhr.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{- define "dhr.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "dhr.fullname" .)) -}}
{{- end -}}

{{/* The Secret the migration Jobs read: the chart's own Secret does not exist yet when a
     pre-install hook runs, so without existingSecret the Jobs get a hook Secret of their own. */}}
{{- define "dhr.migrationSecretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-migrations" (include "dhr.fullname" .)) -}}
{{- end -}}

{{/* The restricted Pod Security Standard, for every pod of the chart. */}}
{{- define "dhr.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "dhr.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Kafka access of one service (files/kafka-access.yaml). */}}
{{- define "dhr.kafkaAccess" -}}
{{- toYaml (index (.Files.Get "files/kafka-access.yaml" | fromYaml) "services") -}}
{{- end -}}

{{/* Every topic any service writes or reads, sorted, once. */}}
{{- define "dhr.kafkaTopics" -}}
{{- $topics := list -}}
{{- range $name, $access := (include "dhr.kafkaAccess" . | fromYaml) -}}
{{- $topics = concat $topics $access.writes $access.reads -}}
{{- end -}}
{{- toYaml (dict "topics" ($topics | uniq | sortAlpha)) -}}
{{- end -}}

{{- define "dhr.strimziNamespace" -}}
{{- .Values.strimzi.namespace | default .Release.Namespace -}}
{{- end -}}
