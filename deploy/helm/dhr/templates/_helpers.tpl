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

{{/* How one service reaches Kafka (dict "root" $ "name" "commissioning"), as YAML: the security
     protocol (chosen from the Strimzi users' authentication unless config.kafka says), the SASL
     user and the Secret of its credentials (its KafkaUser's unless config.kafka.users says),
     whether that Secret gives a password or a client certificate, and the CA's Secret. */}}
{{- define "dhr.kafkaClient" -}}
{{- $values := .root.Values -}}
{{- $kafka := $values.config.kafka -}}
{{- $authentication := ternary $values.strimzi.users.authentication "" $values.strimzi.enabled -}}
{{- $protocol := $kafka.securityProtocol -}}
{{- if not $protocol -}}
{{- if eq $authentication "scram-sha-512" -}}
{{- $protocol = "SASL_SSL" -}}
{{- else if hasPrefix "tls" $authentication -}}
{{- $protocol = "SSL" -}}
{{- else -}}
{{- $protocol = "PLAINTEXT" -}}
{{- end -}}
{{- end -}}
{{- $user := index $kafka.users .name | default dict -}}
{{- $kafkaUser := include "dhr.serviceName" (dict "root" .root "name" .name) -}}
{{- $tls := has $protocol (list "SSL" "SASL_SSL") -}}
{{- $caSecret := $kafka.caSecret | default (ternary (printf "%s-cluster-ca-cert" $values.strimzi.clusterName) "" $values.strimzi.enabled) -}}
protocol: {{ $protocol }}
username: {{ $user.username | default $kafkaUser | quote }}
secret: {{ $user.secret | default $kafkaUser | quote }}
password: {{ hasPrefix "SASL_" $protocol }}
certificate: {{ and (eq $protocol "SSL") (or (hasPrefix "tls" $authentication) (hasKey $user "secret")) }}
caSecret: {{ ternary $caSecret "" $tls | quote }}
{{- end -}}

{{/* How one service reaches PostgreSQL (dict "root" $ "name" "commissioning"): the DHR_DATABASE_SSL*
     variables, as YAML name: value. */}}
{{- define "dhr.databaseTlsSettings" -}}
{{- $database := .root.Values.config.database -}}
{{- with $database.sslMode }}
DHR_DATABASE_SSLMODE: {{ . | quote }}
{{- end }}
{{- if and $database.sslMode (ne $database.sslMode "disable") }}
{{- if $database.caSecret }}
DHR_DATABASE_SSLROOTCERT: /etc/dhr/database/ca/ca.crt
{{- end }}
{{- if index $database.clientCertSecrets .name }}
DHR_DATABASE_SSLCERT: /etc/dhr/database/client/tls.crt
DHR_DATABASE_SSLKEY: /etc/dhr/database/client/tls.key
{{- end }}
{{- end }}
{{- end -}}

{{/* The mounts of the PostgreSQL TLS files (dict "root" $ "name" "commissioning"). */}}
{{- define "dhr.databaseTlsMounts" -}}
{{- $database := .root.Values.config.database -}}
{{- if and $database.sslMode (ne $database.sslMode "disable") }}
{{- if $database.caSecret }}
- name: database-ca
  mountPath: /etc/dhr/database/ca
  readOnly: true
{{- end }}
{{- if index $database.clientCertSecrets .name }}
- name: database-client
  mountPath: /etc/dhr/database/client
  readOnly: true
{{- end }}
{{- end }}
{{- end -}}

{{/* The volumes of the PostgreSQL TLS files (dict "root" $ "name" "commissioning"). */}}
{{- define "dhr.databaseTlsVolumes" -}}
{{- $database := .root.Values.config.database -}}
{{- if and $database.sslMode (ne $database.sslMode "disable") }}
{{- with $database.caSecret }}
- name: database-ca
  secret:
    secretName: {{ . }}
    items:
      - key: {{ $database.caSecretKey }}
        path: ca.crt
{{- end }}
{{- with index $database.clientCertSecrets .name }}
- name: database-client
  secret:
    secretName: {{ . }}
    defaultMode: 0440
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
{{- end }}
{{- end }}
{{- end -}}
