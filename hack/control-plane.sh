#!/usr/bin/env bash
# Provides the binaries the control-plane tests run: etcd, kube-apiserver, kube-controller-manager
# and helm (the envtest approach: real API server processes, no kubelet).
#
#   hack/control-plane.sh          build what is missing, then print NAME=PATH for each binary
#   hack/control-plane.sh --check  print NAME=PATH, exit 1 (building nothing) if one is missing
#
# Lookup order per binary: $KUBEBUILDER_ASSETS, then the cache
# ${XDG_CACHE_HOME:-$HOME/.cache}/hermes/control-plane/<kubernetes version>/, then (helm only) PATH.
# Missing binaries are built from pinned Go modules into the cache once; later runs reuse them.
# A cold build takes roughly 15-30 minutes on 2 cores; set GO_BUILD_PARALLEL to change -p.
set -euo pipefail

KUBE_VERSION="${HERMES_KUBE_VERSION:-v1.34.4}"
ETCD_VERSION="${HERMES_ETCD_VERSION:-v3.6.4}" # the etcd that Kubernetes v1.34 is tested with
HELM_VERSION="${HERMES_HELM_VERSION:-v3.19.5}"
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/hermes/control-plane/${KUBE_VERSION}"
BINARIES=(etcd kube-apiserver kube-controller-manager helm)

mode="build"
case "${1:-}" in
  --check) mode="check" ;;
  "") ;;
  *)
    echo "usage: $0 [--check]" >&2
    exit 2
    ;;
esac

log() { echo "control-plane: $*" >&2; }

# find_binary NAME prints the path of NAME, or nothing when it is absent.
find_binary() {
  local name="$1"
  if [[ -n "${KUBEBUILDER_ASSETS:-}" && -x "${KUBEBUILDER_ASSETS}/${name}" ]]; then
    echo "${KUBEBUILDER_ASSETS}/${name}"
  elif [[ -x "${CACHE_DIR}/${name}" ]]; then
    echo "${CACHE_DIR}/${name}"
  elif [[ "${name}" == "helm" ]] && command -v helm >/dev/null 2>&1; then
    command -v helm
  fi
}

# scratch_module DIR: an empty throwaway module. Kubernetes and etcd use replace directives in their
# own go.mod files, so `go install pkg@version` refuses them; building from a module that requires
# them (and repeats the replacements with published versions) works.
scratch_module() {
  local dir="$1"
  mkdir -p "${dir}"
  (cd "${dir}" && go mod init hermes.local/control-plane-build >/dev/null 2>&1 && go mod edit -go=1.24.0)
}

build_kube() {
  local name="$1" dir staging_version gomod
  dir="$(mktemp -d)"
  scratch_module "${dir}"
  staging_version="v0.${KUBE_VERSION#v1.}"
  gomod="$(cd "${dir}" && go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  # Every `k8s.io/x => ./staging/src/k8s.io/x` becomes `k8s.io/x => k8s.io/x v0.Y.Z`.
  local module
  while read -r module; do
    (cd "${dir}" && go mod edit -replace="${module}=${module}@${staging_version}")
  done < <(sed -n 's#^[[:space:]]*\(k8s\.io/[^ ]*\) => ./staging/src/.*#\1#p' "${gomod}")
  (cd "${dir}" && go mod edit -require="k8s.io/kubernetes@${KUBE_VERSION}" &&
    go get "k8s.io/kubernetes/cmd/${name}@${KUBE_VERSION}" >&2)
  local minor="${KUBE_VERSION#v1.}"
  minor="${minor%%.*}"
  local pkg="k8s.io/component-base/version"
  (cd "${dir}" && CGO_ENABLED=0 go build -p "${GO_BUILD_PARALLEL:-2}" -trimpath \
    -ldflags "-s -w -X ${pkg}.gitVersion=${KUBE_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor} -X ${pkg}.gitTreeState=clean" \
    -o "${CACHE_DIR}/${name}.tmp" "k8s.io/kubernetes/cmd/${name}" >&2)
  mv "${CACHE_DIR}/${name}.tmp" "${CACHE_DIR}/${name}"
  rm -rf "${dir}"
}

build_etcd() {
  local dir
  dir="$(mktemp -d)"
  scratch_module "${dir}"
  # The etcd binary's main package is go.etcd.io/etcd/server/v3 (server/main.go); its go.mod points
  # the sibling modules at ../ paths, so pin them to the same published version instead.
  local module
  for module in api/v3 client/pkg/v3 client/v3 pkg/v3; do
    (cd "${dir}" && go mod edit -replace="go.etcd.io/etcd/${module}=go.etcd.io/etcd/${module}@${ETCD_VERSION}")
  done
  (cd "${dir}" && go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" >&2 &&
    CGO_ENABLED=0 go build -p "${GO_BUILD_PARALLEL:-2}" -trimpath -ldflags "-s -w" \
      -o "${CACHE_DIR}/etcd.tmp" go.etcd.io/etcd/server/v3 >&2)
  mv "${CACHE_DIR}/etcd.tmp" "${CACHE_DIR}/etcd"
  rm -rf "${dir}"
}

build_helm() {
  # helm has no replace directives, so a plain `go install` works.
  GOBIN="${CACHE_DIR}" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}" >&2
}

missing=()
for name in "${BINARIES[@]}"; do
  [[ -n "$(find_binary "${name}")" ]] || missing+=("${name}")
done

if [[ ${#missing[@]} -gt 0 ]]; then
  if [[ "${mode}" == "check" ]]; then
    log "missing: ${missing[*]} (run hack/control-plane.sh to build them into ${CACHE_DIR})"
    exit 1
  fi
  command -v go >/dev/null 2>&1 || {
    log "go is required to build ${missing[*]}"
    exit 1
  }
  mkdir -p "${CACHE_DIR}"
  for name in "${missing[@]}"; do
    start=$(date +%s)
    log "building ${name} into ${CACHE_DIR} (once; later runs reuse it)"
    case "${name}" in
      etcd) build_etcd ;;
      helm) build_helm ;;
      *) build_kube "${name}" ;;
    esac
    log "built ${name} in $(($(date +%s) - start))s"
  done
fi

for name in "${BINARIES[@]}"; do
  echo "${name}=$(find_binary "${name}")"
done
