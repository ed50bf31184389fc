{{/*
Names, labels and derived settings shared by every template.
*/}}

{{- define "store-platform.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "store-platform.fullname" -}}
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

{{- define "store-platform.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels. managed-by is Helm here, never "store-platform": that value marks the
store namespaces the platform provisions, which this release must never select.
*/}}
{{- define "store-platform.labels" -}}
helm.sh/chart: {{ include "store-platform.chart" . }}
{{ include "store-platform.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: store-platform
{{- end }}

{{- define "store-platform.selectorLabels" -}}
app.kubernetes.io/name: {{ include "store-platform.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of one component: call with (list $ "portal"). */}}
{{- define "store-platform.componentLabels" -}}
{{- $root := index . 0 }}
{{- include "store-platform.labels" $root }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "store-platform.componentSelector" -}}
{{- $root := index . 0 }}
{{- include "store-platform.selectorLabels" $root }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "store-platform.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "store-platform.secretName" -}}
{{- include "store-platform.fullname" . }}
{{- end }}

{{- define "store-platform.configName" -}}
{{- printf "%s-config" (include "store-platform.fullname" .) }}
{{- end }}

{{- define "store-platform.portalName" -}}
{{- printf "%s-portal" (include "store-platform.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "store-platform.workerName" -}}
{{- printf "%s-worker" (include "store-platform.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "store-platform.postgresqlName" -}}
{{- printf "%s-postgresql" (include "store-platform.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "store-platform.ingressHost" -}}
{{- default (printf "dashboard.%s" .Values.domain) .Values.ingress.host }}
{{- end }}

{{- define "store-platform.tlsSecretName" -}}
{{- default (printf "%s-dashboard-tls" (include "store-platform.fullname" .)) .Values.tls.secretName }}
{{- end }}

{{- define "store-platform.storesStorageClass" -}}
{{- default .Values.storageClass .Values.stores.storageClass }}
{{- end }}

{{- define "store-platform.postgresqlStorageClass" -}}
{{- default .Values.storageClass .Values.postgresql.persistence.storageClass }}
{{- end }}

{{- define "store-platform.urlScheme" -}}
{{- if .Values.stores.urlScheme }}
{{- .Values.stores.urlScheme }}
{{- else if .Values.tls.enabled }}
{{- "https" }}
{{- else }}
{{- "http" }}
{{- end }}
{{- end }}

{{/* "true" when the ingress must pin a browser to one portal pod. */}}
{{- define "store-platform.sticky" -}}
{{- $mode := toString .Values.ingress.stickySessions }}
{{- if eq $mode "auto" }}
{{- if gt (int .Values.portal.replicas) 1 }}true{{ else }}false{{ end }}
{{- else if eq $mode "true" }}true
{{- else }}false
{{- end }}
{{- end }}

{{/*
Generated secrets, kept across upgrades: a value set in values.yaml wins, else the value
already stored in the release's Secret (lookup), else a new random one. `helm template`
and client-side dry runs cannot look up, so they show fresh random values.
Returns a dict as YAML; call with `include ... . | fromYaml`.
*/}}
{{- define "store-platform.secretValues" -}}
{{- $stored := dict }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "store-platform.secretName" .) }}
{{- if and $existing $existing.data }}
{{- $stored = $existing.data }}
{{- end }}
{{- $adminPassword := .Values.auth.adminPassword }}
{{- if not $adminPassword }}
{{- $adminPassword = ternary (get $stored "ADMIN_PASSWORD" | b64dec) (randAlphaNum 24) (hasKey $stored "ADMIN_PASSWORD") }}
{{- end }}
{{- $cookieKey := .Values.auth.cookieKey }}
{{- if not $cookieKey }}
{{- $cookieKey = ternary (get $stored "COOKIE_KEY" | b64dec) (randAlphaNum 48) (hasKey $stored "COOKIE_KEY") }}
{{- end }}
{{- $pgPassword := .Values.postgresql.password }}
{{- if not $pgPassword }}
{{- $pgPassword = ternary (get $stored "POSTGRES_PASSWORD" | b64dec) (randAlphaNum 32) (hasKey $stored "POSTGRES_PASSWORD") }}
{{- end }}
ADMIN_USERNAME: {{ .Values.auth.adminUsername | quote }}
ADMIN_PASSWORD: {{ $adminPassword | quote }}
COOKIE_KEY: {{ $cookieKey | quote }}
{{- if .Values.postgresql.enabled }}
POSTGRES_PASSWORD: {{ $pgPassword | quote }}
DATABASE_URL: {{ printf "postgresql://%s:%s@%s:5432/%s" (.Values.postgresql.username | urlquery) (urlquery $pgPassword) (include "store-platform.postgresqlName" .) .Values.postgresql.database | quote }}
{{- else if and .Values.externalDatabase.url (not .Values.externalDatabase.existingSecret) }}
DATABASE_URL: {{ .Values.externalDatabase.url | quote }}
{{- end }}
{{- end }}

{{/* The Secret and key DATABASE_URL comes from. */}}
{{- define "store-platform.databaseUrlRef" -}}
{{- if and (not .Values.postgresql.enabled) .Values.externalDatabase.existingSecret }}
name: {{ .Values.externalDatabase.existingSecret }}
key: {{ .Values.externalDatabase.existingSecretKey }}
{{- else }}
name: {{ include "store-platform.secretName" . }}
key: DATABASE_URL
{{- end }}
{{- end }}

{{- define "store-platform.validate" -}}
{{- if and (not .Values.postgresql.enabled) (not .Values.externalDatabase.existingSecret) (not .Values.externalDatabase.url) }}
{{- fail "postgresql.enabled=false needs externalDatabase.existingSecret or externalDatabase.url" }}
{{- end }}
{{- if not (has (include "store-platform.urlScheme" .) (list "http" "https")) }}
{{- fail "stores.urlScheme must be http or https" }}
{{- end }}
{{- if lt (int .Values.worker.replicas) 0 }}
{{- fail "worker.replicas must be 0 or more" }}
{{- end }}
{{- end }}

{{/*
Environment common to the portal and the worker: settings from the ConfigMap, secrets
from the Secret, HOME on the writable /tmp (the root filesystem is read-only).
*/}}
{{- define "store-platform.commonEnv" -}}
- name: HOME
  value: /tmp
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      {{- include "store-platform.databaseUrlRef" . | trim | nindent 6 }}
- name: ADMIN_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ include "store-platform.secretName" . }}
      key: ADMIN_USERNAME
- name: ADMIN_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "store-platform.secretName" . }}
      key: ADMIN_PASSWORD
- name: COOKIE_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "store-platform.secretName" . }}
      key: COOKIE_KEY
{{- if .Values.backups.s3.endpoint }}
{{- if not .Values.backups.s3.existingSecret }}
{{- fail "backups.s3.endpoint is set: set backups.s3.existingSecret (a Secret with the bucket's keys)" }}
{{- end }}
- name: BACKUP_S3_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ .Values.backups.s3.existingSecret }}
      key: {{ .Values.backups.s3.accessKeyIdKey }}
- name: BACKUP_S3_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.backups.s3.existingSecret }}
      key: {{ .Values.backups.s3.secretAccessKeyKey }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Wait for PostgreSQL before starting (migrations run at start). */}}
{{- define "store-platform.waitForDatabase" -}}
{{- if .Values.postgresql.enabled }}
- name: wait-for-database
  image: {{ include "store-platform.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  command:
    - python
    - -c
    - |
      import socket, sys, time
      host, port = sys.argv[1], 5432
      for attempt in range(300):
          try:
              socket.create_connection((host, port), timeout=2).close()
              sys.exit(0)
          except OSError as error:
              print(f"waiting for {host}:{port}: {error}", flush=True)
              time.sleep(2)
      sys.exit(1)
    - {{ include "store-platform.postgresqlName" . }}
  securityContext:
    {{- toYaml .Values.containerSecurityContext | nindent 4 }}
  resources:
    requests:
      cpu: 10m
      memory: 32Mi
    limits:
      cpu: 100m
      memory: 64Mi
{{- end }}
{{- end }}
