#!/usr/bin/env bash
# End to end on a real cluster (kind): builds the node and operator images, creates a kind
# cluster, loads the images, installs the Prometheus Operator and the chart with a 3-node
# HermesNode, waits for it to be Ready, runs a cross-node chat through its client Service
# (`helm test`), and checks that Prometheus scrapes every node.
#
# Needs Docker, kind, kubectl, helm, curl and jq, and network access to pull kindest/node, the
# base images and the kube-prometheus-stack chart. It cannot run where there is no Docker engine.
#
#   hack/kind-e2e.sh                    # the whole run; the cluster is deleted afterwards
#   KEEP_CLUSTER=1 hack/kind-e2e.sh     # keep the cluster (kubectl --context kind-hermes-e2e)
#   SKIP_BUILD=1 hack/kind-e2e.sh       # reuse hermes-node:e2e and hermes-operator:e2e
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER="${KIND_CLUSTER:-hermes-e2e}"
TAG="${IMAGE_TAG:-e2e}"
NS=hermes-e2e
OPERATOR_NS=hermes-system
PROMETHEUS_CHART_VERSION="${PROMETHEUS_CHART_VERSION:-65.1.1}"
CONTEXT="kind-${CLUSTER}"
PORT_FORWARD_PID=""

log() { echo "==> $*"; }
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
k() { kubectl --context "${CONTEXT}" "$@"; }

for tool in docker kind kubectl helm curl jq; do
  command -v "${tool}" >/dev/null 2>&1 || fail "${tool} is required (see docs/kubernetes.md)"
done

diagnose() {
  echo "---- diagnostics" >&2
  k get hermesnodes,statefulsets,pods,services,servicemonitors -A -o wide >&2 || true
  k -n "${NS}" describe hermesnode mesh >&2 || true
  k -n "${OPERATOR_NS}" logs deployment/hermes-operator --tail=200 >&2 || true
  for pod in $(k -n "${NS}" get pods -o name 2>/dev/null); do
    k -n "${NS}" logs "${pod}" --all-containers --tail=50 >&2 || true
  done
  k get events -A --sort-by=.lastTimestamp >&2 || true
}

cleanup() {
  local code=$?
  if [[ -n "${PORT_FORWARD_PID}" ]]; then kill "${PORT_FORWARD_PID}" 2>/dev/null || true; fi
  if [[ ${code} -ne 0 ]]; then diagnose; fi
  if [[ -z "${KEEP_CLUSTER:-}" ]]; then
    kind delete cluster --name "${CLUSTER}" >/dev/null 2>&1 || true
  fi
  exit "${code}"
}
trap cleanup EXIT

# retry <seconds> <description> <command...>: runs the command every 2 s until it succeeds.
retry() {
  local seconds="$1" what="$2"
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    ((SECONDS < deadline)) || fail "timed out after ${seconds}s: ${what}"
    sleep 2
  done
}

if [[ -z "${SKIP_BUILD:-}" ]]; then
  log "building images hermes-node:${TAG} and hermes-operator:${TAG}"
  docker build -f Dockerfile.node -t "hermes-node:${TAG}" .
  docker build -f Dockerfile.operator -t "hermes-operator:${TAG}" .
fi

if ! kind get clusters | grep -qx "${CLUSTER}"; then
  log "creating kind cluster ${CLUSTER}"
  kind create cluster --name "${CLUSTER}" --wait 120s
fi
log "loading images into ${CLUSTER}"
kind load docker-image --name "${CLUSTER}" "hermes-node:${TAG}" "hermes-operator:${TAG}"

log "installing the Prometheus Operator and a Prometheus that selects every ServiceMonitor"
helm repo add prometheus-community https://prometheus-community.github.io/helm-charts --force-update >/dev/null
helm --kube-context "${CONTEXT}" upgrade --install prometheus prometheus-community/kube-prometheus-stack \
  --version "${PROMETHEUS_CHART_VERSION}" --namespace monitoring --create-namespace \
  --set grafana.enabled=false --set alertmanager.enabled=false \
  --set nodeExporter.enabled=false --set kubeStateMetrics.enabled=false \
  --set prometheus.prometheusSpec.serviceMonitorSelectorNilUsesHelmValues=false \
  --set prometheus.prometheusSpec.podMonitorSelectorNilUsesHelmValues=false \
  --wait --timeout 10m

log "helm install hermes ./charts/hermes, with a 3-node HermesNode in ${NS}"
k create namespace "${NS}" --dry-run=client -o yaml | k apply -f -
hermes_nodes=$(jq -nc --arg ns "${NS}" '[{
  name: "mesh", namespace: $ns,
  spec: { replicas: 3, imagePullPolicy: "Never", metrics: { serviceMonitor: { interval: "10s" } } }
}]')
helm --kube-context "${CONTEXT}" upgrade --install hermes ./charts/hermes \
  --namespace "${OPERATOR_NS}" --create-namespace \
  --set image.repository=hermes-operator --set "image.tag=${TAG}" --set image.pullPolicy=Never \
  --set nodeImage.repository=hermes-node --set "nodeImage.tag=${TAG}" \
  --set metrics.serviceMonitor.enabled=true \
  --set-json "hermesNodes=${hermes_nodes}" \
  --wait --timeout 5m

log "waiting for HermesNode ${NS}/mesh to be Ready"
k -n "${NS}" wait --for=condition=Ready hermesnode/mesh --timeout=6m
k -n "${NS}" get hermesnodes -o wide

# The operator counts members by asking a ready node; poking the object makes it look again.
members_are_3() {
  k -n "${NS}" annotate hermesnode mesh --overwrite "e2e.hermes.io/poke=${SECONDS}" >/dev/null
  sleep 3
  [[ "$(k -n "${NS}" get hermesnode mesh -o jsonpath='{.status.members}')" == "3" ]]
}
retry 120 "status.members of mesh to be 3" members_are_3
row=$(k -n "${NS}" get hermesnodes --no-headers)
[[ "${row}" =~ ^mesh[[:space:]]+3[[:space:]]+3[[:space:]]+3[[:space:]]+Running[[:space:]]+Operator ]] ||
  fail "kubectl get hermesnodes shows: ${row}"

log "cross-node chat through the client Service (helm test)"
helm --kube-context "${CONTEXT}" test hermes --namespace "${OPERATOR_NS}" --logs --timeout 5m

log "checking that Prometheus scrapes every node"
k -n monitoring port-forward svc/prometheus-operated 19090:9090 >/dev/null 2>&1 &
PORT_FORWARD_PID=$!
query() {
  curl -fsS --get "http://127.0.0.1:19090/api/v1/query" --data-urlencode "query=$1" | jq -r '.data.result[0].value[1] // "none"'
}
nodes_scraped() { [[ "$(query "sum(up{namespace=\"${NS}\",service=\"mesh-mesh\"})")" == "3" ]]; }
retry 180 "Prometheus to scrape 3 nodes of ${NS}/mesh" nodes_scraped
hermes_series=$(query "count({namespace=\"${NS}\",__name__=~\"hermes_.+\"})")
[[ "${hermes_series}" != "none" && "${hermes_series}" -gt 0 ]] || fail "no hermes_* series from the nodes"
operator_scraped() { [[ "$(query "sum(up{namespace=\"${OPERATOR_NS}\",service=\"hermes-operator-metrics\"})")" == "1" ]]; }
retry 120 "Prometheus to scrape the operator" operator_scraped

if k -n "${OPERATOR_NS}" logs deployment/hermes-operator | grep -E 'forbidden: User|cannot [a-z]+ resource'; then
  fail "the operator made API calls its RBAC forbids"
fi

log "PASS: 3 nodes Ready over operator-issued mutual TLS, a cross-node chat through the client Service, ${hermes_series} hermes_* series scraped"
