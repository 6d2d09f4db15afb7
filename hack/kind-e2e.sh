#!/usr/bin/env bash
# End to end on a kind cluster: the same checks as the local suite in `npm test` (test/e2e, one
# list of checks; the local suite gets its cluster from hack/local-cluster.sh instead). The suite
# builds the images without Docker (hack/build-images.sh) and loads their archives with
# `kind load image-archive`; it installs the Prometheus Operator from its Go module's CRDs and the
# images built here, so nothing is pulled but kind's node image.
#
# Needs Docker and kind, and what `npm test` needs (Node.js, Go, `npm ci` done).
#
#   hack/kind-e2e.sh                    # the whole run; the cluster is deleted afterwards
#   KEEP_CLUSTER=1 hack/kind-e2e.sh     # keep the cluster (kubectl --context kind-hermes-e2e)
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER="${KIND_CLUSTER:-hermes-e2e}"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
for tool in docker kind npx go; do
  command -v "${tool}" >/dev/null 2>&1 || fail "${tool} is required (see docs/kubernetes.md)"
done

KUBECONFIG_FILE="$(mktemp)"
cleanup() {
  local code=$?
  rm -f "${KUBECONFIG_FILE}"
  if [[ -z "${KEEP_CLUSTER:-}" ]]; then
    kind delete cluster --name "${CLUSTER}" >/dev/null 2>&1 || true
  fi
  exit "${code}"
}
trap cleanup EXIT

if ! kind get clusters | grep -qx "${CLUSTER}"; then
  echo "==> creating kind cluster ${CLUSTER}"
  kind create cluster --name "${CLUSTER}" --wait 120s
fi
kind get kubeconfig --name "${CLUSTER}" >"${KUBECONFIG_FILE}"

echo "==> the e2e suite (test/e2e) on ${CLUSTER}"
HERMES_E2E_KUBECONFIG="${KUBECONFIG_FILE}" HERMES_E2E_LOAD="kind load image-archive --name ${CLUSTER}" \
  npx vitest run --project e2e
