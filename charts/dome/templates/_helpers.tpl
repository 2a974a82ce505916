{{/*
Names and labels shared by every template. Names are cut to 63 characters because
Kubernetes label values and most object names may not be longer.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "dome.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The prefix of every object name: fullnameOverride, or the release name, with the chart
name appended unless the release name already contains it ("dome" stays "dome", not
"dome-dome").
*/}}
{{- define "dome.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* name-version, for the helm.sh/chart label. */}}
{{- define "dome.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The labels a selector uses: stable across upgrades. */}}
{{- define "dome.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dome.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{/* Labels on every object, without the component. */}}
{{- define "dome.baseLabels" -}}
helm.sh/chart: {{ include "dome.chart" . }}
app.kubernetes.io/name: {{ include "dome.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/part-of: dome
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Labels on the operator's objects. */}}
{{- define "dome.labels" -}}
{{ include "dome.baseLabels" . }}
app.kubernetes.io/component: operator
{{- end -}}

{{/* Labels on the `helm test` objects: not matched by the operator's selector. */}}
{{- define "dome.testLabels" -}}
{{ include "dome.baseLabels" . }}
app.kubernetes.io/component: test
{{- end -}}

{{/* The operator's ServiceAccount name. */}}
{{- define "dome.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "dome.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name must name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The operator image reference: repository@digest when image.digest is set (immutable, what
production should run), else repository:tag with the tag defaulting to appVersion.
*/}}
{{- define "dome.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/*
checkov skip annotations (`checkov.io/skipN: CHECK=reason`) for the image checks, present
only while the image is named by a tag. The default image is a local build (`kind load
docker-image dome:0.1.0`) that no registry serves: it has no digest to pin and cannot be
pulled with imagePullPolicy Always. Setting image.digest removes both skips.
Call with a dict: (dict "ctx" $ "first" 1) numbers the keys from `first`.
*/}}
{{- define "dome.imageCheckSkips" -}}
{{- if not .ctx.Values.image.digest -}}
checkov.io/skip{{ .first }}: "CKV_K8S_43=image by tag: the default is a local build with no registry digest; set image.digest to pin it"
checkov.io/skip{{ add .first 1 }}: "CKV_K8S_15=pullPolicy Always cannot pull a kind-loaded local image; a digest-pinned image passes without it"
{{- end -}}
{{- end -}}

{{/*
The API credentials of a pod that calls the Kubernetes API, mounted explicitly instead of
automounted: a bound token of the pod's ServiceAccount (3607 s, the lifetime the kubelet
gives automounted tokens, rotated by the kubelet), the cluster CA and the namespace, at the
path client libraries read. Pods that do not call the API get neither.
*/}}
{{- define "dome.apiTokenVolume" -}}
- name: kube-api-access
  projected:
    defaultMode: 0444
    sources:
      - serviceAccountToken:
          path: token
          expirationSeconds: 3607
      - configMap:
          name: kube-root-ca.crt
          items:
            - key: ca.crt
              path: ca.crt
      - downwardAPI:
          items:
            - path: namespace
              fieldRef:
                fieldPath: metadata.namespace
{{- end -}}

{{- define "dome.apiTokenMount" -}}
- name: kube-api-access
  mountPath: /var/run/secrets/kubernetes.io/serviceaccount
  readOnly: true
{{- end -}}

{{/*
The namespaces the operator watches when not cluster-wide, as a JSON list (templates
call `include ... | fromJsonArray`). Empty watchNamespaces means the release namespace.
*/}}
{{- define "dome.watchNamespaces" -}}
{{- if .Values.clusterWide -}}
{{- if .Values.watchNamespaces -}}
{{- fail "watchNamespaces must be empty when clusterWide is true: a cluster-wide operator watches every namespace" -}}
{{- end -}}
[]
{{- else if .Values.watchNamespaces -}}
{{- toJson .Values.watchNamespaces -}}
{{- else -}}
{{- list .Release.Namespace | toJson -}}
{{- end -}}
{{- end -}}

{{/*
The rules for everything the operator manages in a namespace: the same list goes into
each namespaced Role, or into the ClusterRole when cluster-wide. No wildcards: every
group, resource and verb is named. Read the chart README's RBAC section for why each is
here.
*/}}
{{- define "dome.operatorRules" -}}
# Exchanges: kopf watches them and patches its progress annotations in (no finalizer:
# children go by garbage collection); the operator writes status through the status
# subresource. Owner references with blockOwnerDeletion need update on
# exchanges/finalizers where the OwnerReferencesPermissionEnforcement plugin is on.
- apiGroups: ["dome.dev"]
  resources: ["exchanges"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["dome.dev"]
  resources: ["exchanges/status"]
  verbs: ["patch"]
- apiGroups: ["dome.dev"]
  resources: ["exchanges/finalizers"]
  verbs: ["update"]
# What the operator renders for each Exchange.
- apiGroups: [""]
  resources: ["configmaps", "services", "serviceaccounts"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: ["apps"]
  resources: ["deployments", "statefulsets"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: ["networking.k8s.io"]
  resources: ["networkpolicies"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["roles", "rolebindings"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
# The engines' volume claims: status reports the ones still growing, and a larger
# spec.storage.size is a patch of each (the StatefulSet controller creates them).
- apiGroups: [""]
  resources: ["persistentvolumeclaims"]
  verbs: ["get", "list", "patch"]
# Engine rollouts: the engine StatefulSet is OnDelete, and the operator deletes one
# outdated engine pod at a time, once every symbol is back in sync (no create: the
# StatefulSet controller recreates each).
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "delete"]
# Each Exchange's peer secret: created once with a random value (a create that finds it
# there keeps it), never read, updated or deleted by the operator, so it needs no other
# verb on Secrets and can read none of them (the accounts tokens included).
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["create"]
# The ServiceMonitor and PrometheusRule an Exchange asks for in spec.metrics.
- apiGroups: ["monitoring.coreos.com"]
  resources: ["servicemonitors", "prometheusrules"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
# The discovery pods' Role grants exactly these Lease verbs; RBAC lets the operator
# create that Role only if it holds them itself.
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
# kopf posts the operator's Events as core events.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end -}}

{{/* kopf discovers resources and follows CRD changes cluster-wide, in either mode. */}}
{{- define "dome.crdReadRules" -}}
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["get", "list", "watch"]
{{- end -}}
