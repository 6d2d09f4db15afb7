#!/usr/bin/env bash
# Provides the Go-built binaries the tests run, built once from pinned Go modules and cached.
#
#   hack/control-plane.sh                    the control-plane set (etcd, kube-apiserver,
#                                            kube-controller-manager, helm): build what is missing,
#                                            then print NAME=PATH for each binary
#   hack/control-plane.sh --cluster          also what a one-node cluster needs (hack/local-cluster.sh):
#                                            kubelet, kube-scheduler, kube-proxy, kubectl, CoreDNS,
#                                            the Prometheus Operator and its config reloader, pause,
#                                            Prometheus and promtool (Kubernetes discovery only); the
#                                            Prometheus Operator's CRDs (prometheus-operator-crds, a folder)
#   hack/control-plane.sh --check [--cluster]  print NAME=PATH (empty PATH when missing), then exit 1
#                                            (building nothing) if one is missing
#
# Lookup order per binary: $KUBEBUILDER_ASSETS, then the cache
# ${XDG_CACHE_HOME:-$HOME/.cache}/hermes/control-plane/<component version>/, then (helm only) PATH.
#
# Speed: every Kubernetes binary that is missing is built by one `go build` from one scratch
# module, so their shared packages compile once; all builds use the same flags (CGO_ENABLED=0,
# -trimpath), so the Go build cache is shared between them and across runs. Cold, on 2 cores, the
# whole --cluster set takes about 15 minutes (docs/kubernetes.md has the measured figure); set
# GO_BUILD_PARALLEL to change -p.
set -euo pipefail

KUBE_VERSION="${HERMES_KUBE_VERSION:-v1.34.4}"
ETCD_VERSION="${HERMES_ETCD_VERSION:-v3.6.4}" # the etcd that Kubernetes v1.34 is tested with
HELM_VERSION="${HERMES_HELM_VERSION:-v3.19.5}"
COREDNS_VERSION="${HERMES_COREDNS_VERSION:-v1.13.1}"
PROMETHEUS_OPERATOR_VERSION="${HERMES_PROMETHEUS_OPERATOR_VERSION:-v0.85.0}"
# Prometheus 3.10 (its Go module numbers v3.x.y as v0.3xx.y): the first with build tags that
# leave out the service discoveries it does not need (cloud SDKs) — and so a short build.
PROMETHEUS_VERSION="${HERMES_PROMETHEUS_VERSION:-v0.310.0}"
HACK_DIR="$(cd "$(dirname "$0")" && pwd)"
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/hermes/control-plane"
CACHE_DIR="${CACHE_ROOT}/${KUBE_VERSION}"
CONTROL_PLANE=(etcd kube-apiserver kube-controller-manager helm)
CLUSTER=(kubelet kube-scheduler kube-proxy kubectl coredns prometheus-operator prometheus-config-reloader
  prometheus-operator-crds pause prometheus promtool)
KUBE_COMMANDS=" kube-apiserver kube-controller-manager kubelet kube-scheduler kube-proxy kubectl "

mode="build"
binaries=("${CONTROL_PLANE[@]}")
for arg in "$@"; do
  case "${arg}" in
    --check) mode="check" ;;
    --cluster) binaries+=("${CLUSTER[@]}") ;;
    *)
      echo "usage: $0 [--check] [--cluster]" >&2
      exit 2
      ;;
  esac
done

log() { echo "control-plane: $*" >&2; }

# cache_dir NAME: the folder that holds NAME, named after the version it is built from. pause is
# the project's own source, so its folder is named after the source's hash.
cache_dir() {
  case "$1" in
    coredns) echo "${CACHE_ROOT}/coredns-${COREDNS_VERSION}" ;;
    prometheus-operator | prometheus-config-reloader | prometheus-operator-crds) echo "${CACHE_ROOT}/prometheus-operator-${PROMETHEUS_OPERATOR_VERSION}" ;;
    pause) echo "${CACHE_ROOT}/pause-$(sha256sum "${HACK_DIR}/cluster/pause/main.go" | cut -c1-12)" ;;
    prometheus | promtool) echo "${CACHE_ROOT}/prometheus-${PROMETHEUS_VERSION}" ;;
    *) echo "${CACHE_DIR}" ;;
  esac
}

# find_binary NAME prints the path of NAME, or nothing when it is absent.
find_binary() {
  local name="$1" dir
  dir="$(cache_dir "${name}")"
  if [[ -n "${KUBEBUILDER_ASSETS:-}" && -x "${KUBEBUILDER_ASSETS}/${name}" ]]; then
    echo "${KUBEBUILDER_ASSETS}/${name}"
  elif [[ -x "${dir}/${name}" ]]; then
    echo "${dir}/${name}"
  elif [[ "${name}" == "helm" ]] && command -v helm >/dev/null 2>&1; then
    command -v helm
  fi
}

# scratch_module DIR: an empty throwaway module. Kubernetes, etcd and the Prometheus Operator use
# replace directives in their own go.mod files, so `go install pkg@version` refuses them; building
# from a module that requires them (and repeats the replacements with published versions) works.
scratch_module() {
  local dir="$1"
  mkdir -p "${dir}"
  (cd "${dir}" && go mod init hermes.local/control-plane-build >/dev/null 2>&1 && go mod edit -go=1.24.0)
}

# go_build DIR OUT LDFLAGS PKG[=NAME]...: the one set of build flags every binary shares (so
# packages built for one are reused for the next), linking into a temporary folder, then moving
# each binary (renamed to NAME where given) into OUT.
go_build() {
  local dir="$1" out="$2" ldflags="$3"
  shift 3
  local tmp spec pkgs=()
  tmp="$(mktemp -d "${out}/.build.XXXXXX")"
  for spec in "$@"; do pkgs+=("${spec%%=*}"); done
  (cd "${dir}" && CGO_ENABLED=0 go build -p "${GO_BUILD_PARALLEL:-2}" -trimpath -tags "${GO_TAGS:-}" \
    -ldflags "-s -w ${ldflags}" -o "${tmp}/" "${pkgs[@]}" >&2)
  for spec in "$@"; do
    [[ "${spec}" != *=* ]] || mv "${tmp}/$(go_binary_name "${spec%%=*}")" "${tmp}/${spec#*=}"
  done
  local built
  for built in "${tmp}"/*; do mv "${built}" "${out}/"; done
  rm -rf "${tmp}"
}

# go_binary_name PKG: the file name `go build -o DIR/` gives PKG's binary (a /vN suffix is skipped).
go_binary_name() {
  local pkg="${1%/}"
  [[ "${pkg##*/}" =~ ^v[0-9]+$ ]] && pkg="${pkg%/*}"
  [[ "${pkg}" == "." ]] && pkg="control-plane-build"
  echo "${pkg##*/}"
}

# build_kube NAME...: every missing Kubernetes command in one `go build`.
build_kube() {
  local dir staging_version gomod module
  dir="$(mktemp -d)"
  scratch_module "${dir}"
  staging_version="v0.${KUBE_VERSION#v1.}"
  gomod="$(cd "${dir}" && go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  # Every `k8s.io/x => ./staging/src/k8s.io/x` becomes `k8s.io/x => k8s.io/x v0.Y.Z`.
  while read -r module; do
    (cd "${dir}" && go mod edit -replace="${module}=${module}@${staging_version}")
  done < <(sed -n 's#^[[:space:]]*\(k8s\.io/[^ ]*\) => ./staging/src/.*#\1#p' "${gomod}")
  local pkgs=() name
  for name in "$@"; do pkgs+=("k8s.io/kubernetes/cmd/${name}"); done
  (cd "${dir}" && go mod edit -require="k8s.io/kubernetes@${KUBE_VERSION}" &&
    go get "${pkgs[@]/%/@${KUBE_VERSION}}" >&2)
  local minor="${KUBE_VERSION#v1.}"
  minor="${minor%%.*}"
  local pkg="k8s.io/component-base/version"
  go_build "${dir}" "${CACHE_DIR}" \
    "-X ${pkg}.gitVersion=${KUBE_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor} -X ${pkg}.gitTreeState=clean" \
    "${pkgs[@]}"
  rm -rf "${dir}"
}

build_etcd() {
  local dir module
  dir="$(mktemp -d)"
  scratch_module "${dir}"
  # The etcd binary's main package is go.etcd.io/etcd/server/v3 (server/main.go); its go.mod points
  # the sibling modules at ../ paths, so pin them to the same published version instead.
  for module in api/v3 client/pkg/v3 client/v3 pkg/v3; do
    (cd "${dir}" && go mod edit -replace="go.etcd.io/etcd/${module}=go.etcd.io/etcd/${module}@${ETCD_VERSION}")
  done
  (cd "${dir}" && go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" >&2)
  go_build "${dir}" "${CACHE_DIR}" "" go.etcd.io/etcd/server/v3=etcd
  rm -rf "${dir}"
}

build_helm() {
  # helm has no replace directives, so a plain `go install` works.
  GOBIN="${CACHE_DIR}" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}" >&2
}

# CoreDNS with only the plugins the cluster's Corefile uses (hack/cluster/coredns/main.go).
build_coredns() {
  local dir out
  dir="$(mktemp -d)"
  out="$(cache_dir coredns)"
  mkdir -p "${out}"
  scratch_module "${dir}"
  cp "${HACK_DIR}/cluster/coredns/main.go" "${dir}/"
  (cd "${dir}" && go get "github.com/coredns/coredns@${COREDNS_VERSION}" >&2 && go mod tidy >&2)
  go_build "${dir}" "${out}" "" .=coredns
  rm -rf "${dir}"
}

# The Prometheus Operator and the config reloader it runs beside Prometheus, in one `go build`.
build_prometheus_operator() {
  local dir out module="github.com/prometheus-operator/prometheus-operator" sub
  dir="$(mktemp -d)"
  out="$(cache_dir prometheus-operator)"
  mkdir -p "${out}"
  scratch_module "${dir}"
  # Its go.mod points pkg/apis/monitoring and pkg/client at ./ paths: pin the published versions.
  for sub in pkg/apis/monitoring pkg/client; do
    (cd "${dir}" && go mod edit -replace="${module}/${sub}=${module}/${sub}@${PROMETHEUS_OPERATOR_VERSION}")
  done
  (cd "${dir}" && go get "${module}/cmd/operator@${PROMETHEUS_OPERATOR_VERSION}" \
    "${module}/cmd/prometheus-config-reloader@${PROMETHEUS_OPERATOR_VERSION}" >&2)
  go_build "${dir}" "${out}" "-X github.com/prometheus/common/version.Version=${PROMETHEUS_OPERATOR_VERSION#v}" \
    "${module}/cmd/operator=prometheus-operator" "${module}/cmd/prometheus-config-reloader"
  # The CRDs of the same version, from the module's example/ folder.
  local crds
  crds="$(cd "${dir}" && go list -m -f '{{.Dir}}' "${module}")/example/prometheus-operator-crd"
  rm -rf "${out}/prometheus-operator-crds.tmp"
  cp -r "${crds}" "${out}/prometheus-operator-crds.tmp"
  chmod -R u+w "${out}/prometheus-operator-crds.tmp"
  rm -rf "${out}/prometheus-operator-crds"
  mv "${out}/prometheus-operator-crds.tmp" "${out}/prometheus-operator-crds"
  rm -rf "${dir}"
}

build_pause() {
  local out
  out="$(cache_dir pause)"
  mkdir -p "${out}"
  (cd "${HACK_DIR}/cluster/pause" && CGO_ENABLED=0 GO111MODULE=off \
    go build -trimpath -ldflags "-s -w" -o "${out}/pause.tmp" main.go >&2)
  mv "${out}/pause.tmp" "${out}/pause"
}

# Prometheus and promtool in one `go build`, with Kubernetes service discovery only (the tags of
# its plugins/ folder).
build_prometheus() {
  local dir out module="github.com/prometheus/prometheus"
  dir="$(mktemp -d)"
  out="$(cache_dir prometheus)"
  mkdir -p "${out}"
  scratch_module "${dir}"
  (cd "${dir}" && go get "${module}/cmd/prometheus@${PROMETHEUS_VERSION}" "${module}/cmd/promtool@${PROMETHEUS_VERSION}" >&2)
  local minor="${PROMETHEUS_VERSION#v0.}"
  GO_TAGS="remove_all_sd,enable_kubernetes_sd" go_build "${dir}" "${out}" \
    "-X github.com/prometheus/common/version.Version=3.${minor:1:2}.${minor##*.}" \
    "${module}/cmd/prometheus" "${module}/cmd/promtool"
  rm -rf "${dir}"
}

missing=()
for name in "${binaries[@]}"; do
  [[ -n "$(find_binary "${name}")" ]] || missing+=("${name}")
done

if [[ ${#missing[@]} -gt 0 ]]; then
  if [[ "${mode}" == "check" ]]; then
    for name in "${binaries[@]}"; do echo "${name}=$(find_binary "${name}")"; done
    log "missing: ${missing[*]} (run hack/control-plane.sh $* to build them into ${CACHE_ROOT})"
    exit 1
  fi
  command -v go >/dev/null 2>&1 || {
    log "go is required to build ${missing[*]}"
    exit 1
  }
  mkdir -p "${CACHE_DIR}"
  kube=()
  steps=()
  for name in "${missing[@]}"; do
    if [[ "${KUBE_COMMANDS}" == *" ${name} "* ]]; then
      kube+=("${name}")
    elif [[ "${name}" == prometheus-* ]]; then
      [[ " ${steps[*]} " == *" prometheus-operator "* ]] || steps+=(prometheus-operator)
    elif [[ "${name}" == prometheus || "${name}" == promtool ]]; then
      [[ " ${steps[*]} " == *" prometheus "* ]] || steps+=(prometheus)
    else
      steps+=("${name}")
    fi
  done
  [[ ${#kube[@]} -eq 0 ]] || steps=(kube "${steps[@]}")
  for step in "${steps[@]}"; do
    start=$(date +%s)
    case "${step}" in
      kube)
        log "building ${kube[*]} (Kubernetes ${KUBE_VERSION}, one go build) into ${CACHE_DIR}"
        build_kube "${kube[@]}"
        ;;
      etcd) log "building etcd ${ETCD_VERSION}" && build_etcd ;;
      helm) log "building helm ${HELM_VERSION}" && build_helm ;;
      coredns) log "building CoreDNS ${COREDNS_VERSION}" && build_coredns ;;
      prometheus-operator) log "building the Prometheus Operator ${PROMETHEUS_OPERATOR_VERSION}" && build_prometheus_operator ;;
      pause) log "building pause" && build_pause ;;
      prometheus) log "building Prometheus ${PROMETHEUS_VERSION} and promtool" && build_prometheus ;;
    esac
    log "built ${step} in $(($(date +%s) - start))s"
  done
fi

for name in "${binaries[@]}"; do
  echo "${name}=$(find_binary "${name}")"
done
