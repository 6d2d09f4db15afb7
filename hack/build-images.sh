#!/usr/bin/env bash
# The spec functions call instruction functions that describe() and build_one() define.
# shellcheck disable=SC2317
# Container images without Docker: OCI image archives (one layer each) that
# `ctr -n k8s.io images import` (hack/local-cluster.sh load) and `kind load image-archive` take.
#
#   hack/build-images.sh [--out DIR] [--tag TAG] IMAGE...   build; prints one archive path a line
#   hack/build-images.sh --describe node|operator           the image as normalized lines, which
#                                                           hack/check-images.mjs compares with the
#                                                           final stage of Dockerfile.node/.operator
#
# IMAGE: node, operator (hermes.local/hermes-<image>:TAG, TAG defaults to "dev"), and what the local
# cluster runs (hermes.local/<image>:local): pause, coredns, prometheus-operator,
# prometheus-config-reloader, prometheus.
#
# The node and operator images follow their Dockerfiles (same /app layout, production
# dependencies only, uid 10001, entrypoint and environment) on a root filesystem made from this
# machine's Node.js and the libraries it links (plus NSS and CA certificates) instead of the
# distroless base. The Dockerfiles stay the way users build images; the check keeps the two equal.
set -euo pipefail

HACK_DIR="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "${HACK_DIR}")"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/hermes/images"
OUT="${TMPDIR:-/tmp}/hermes-images"
TAG="dev"
PREFIX="hermes.local"
MIN_NODE_VERSION="20.19.0"

die() {
  echo "build-images: $*" >&2
  exit 1
}

# ---- image specs: each line is an instruction that `describe` prints and `build` carries out.
# copy SRC DEST: SRC is repo:<path> (built output) or deps:<workspace> (production node_modules).

spec_node() {
  runtime nodejs
  workdir /app
  env NODE_ENV=production
  env HERMES_DATA_DIR=/var/lib/hermes
  copy deps:@hermes/node /app/node_modules
  copy repo:package.json /app/package.json
  copy repo:proto/package.json /app/proto/package.json
  copy repo:proto/dist /app/proto/dist
  copy repo:node/package.json /app/node/package.json
  copy repo:node/dist /app/node/dist
  dir /var/lib/hermes 10001:10001
  dir /etc/hermes/tls 10001:10001
  user 10001:10001
  expose 7400 7401 7402
  entrypoint /nodejs/bin/node /app/node/dist/cli/main.js
  cmd node
}

spec_operator() {
  runtime nodejs
  workdir /app
  env NODE_ENV=production
  copy deps:@hermes/operator /app/node_modules
  copy repo:package.json /app/package.json
  copy repo:operator/package.json /app/operator/package.json
  copy repo:operator/dist /app/operator/dist
  user 10001:10001
  expose 8080 8081
  entrypoint /nodejs/bin/node /app/operator/dist/main.js
}

# Go-built images: one static binary (hack/control-plane.sh --cluster builds it).
spec_pause() {
  copy bin:pause /pause
  user 65535:65535
  entrypoint /pause
}

spec_coredns() {
  copy bin:coredns /coredns
  user 65534:65534
  entrypoint /coredns
}

spec_prometheus-operator() {
  copy bin:prometheus-operator /bin/operator
  user 65534:65534
  entrypoint /bin/operator
}

spec_prometheus-config-reloader() {
  copy bin:prometheus-config-reloader /bin/prometheus-config-reloader
  user 65534:65534
  entrypoint /bin/prometheus-config-reloader
}

# Prometheus with Kubernetes discovery only (hack/control-plane.sh), laid out as the upstream image.
spec_prometheus() {
  copy bin:prometheus /bin/prometheus
  copy bin:promtool /bin/promtool
  dir /prometheus 65534:65534
  dir /etc/prometheus 65534:65534
  workdir /prometheus
  user 65534:65534
  expose 9090
  entrypoint /bin/prometheus
  cmd --config.file=/etc/prometheus/prometheus.yml --storage.tsdb.path=/prometheus
}

# ---- describe: the instructions that a Dockerfile also states, normalized

describe() {
  runtime() { :; }
  workdir() { echo "workdir $1"; }
  env() { echo "env $1"; }
  copy() { echo "path $2"; }
  dir() { echo "path $1 $2"; }
  user() { echo "user $1"; }
  expose() { echo "expose $*"; }
  entrypoint() { echo "entrypoint $*"; }
  cmd() { echo "cmd $*"; }
  "spec_$1" | sort
}

# ---- build

ROOTFS=""
CONFIG_ENV=()
CONFIG_WORKDIR="/"
CONFIG_USER=""
CONFIG_EXPOSE=()
CONFIG_ENTRYPOINT=()
CONFIG_CMD=()
BINARIES=""

binary() {
  [[ -n "${BINARIES}" ]] || BINARIES="$("${HACK_DIR}/control-plane.sh" --cluster)"
  local path
  path="$(sed -n "s/^$1=//p" <<<"${BINARIES}")"
  [[ -x "${path}" ]] || die "no $1 binary (hack/control-plane.sh --cluster builds it)"
  echo "${path}"
}

# with_libs FILE: copies FILE's shared libraries (as ldd lists them) into the rootfs.
with_libs() {
  local lib
  for lib in $(ldd "$1" | grep -o '/[^ ]*'); do
    mkdir -p "${ROOTFS}$(dirname "${lib}")"
    cp -L "${lib}" "${ROOTFS}${lib}"
  done
}

base_files() {
  mkdir -p "${ROOTFS}/etc" "${ROOTFS}/tmp" "${ROOTFS}/etc/ssl/certs"
  chmod 1777 "${ROOTFS}/tmp"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nhermes:x:10001:10001:hermes:/nonexistent:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' >"${ROOTFS}/etc/passwd"
  printf 'root:x:0:\nhermes:x:10001:\nnogroup:x:65534:\n' >"${ROOTFS}/etc/group"
  echo "hosts: files dns" >"${ROOTFS}/etc/nsswitch.conf"
  if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
    cp /etc/ssl/certs/ca-certificates.crt "${ROOTFS}/etc/ssl/certs/"
  fi
}

runtime_nodejs() {
  local node version
  node="$(readlink -f "$(command -v node)")" || die "node is required"
  version="$("${node}" -p 'process.versions.node')"
  [[ "$(printf '%s\n%s\n' "${MIN_NODE_VERSION}" "${version}" | sort -V | head -1)" == "${MIN_NODE_VERSION}" ]] ||
    die "Node.js ${version} is older than ${MIN_NODE_VERSION}, which the images need"
  mkdir -p "${ROOTFS}/nodejs/bin"
  cp "${node}" "${ROOTFS}/nodejs/bin/node"
  with_libs "${node}"
  # Name resolution goes through NSS modules that ldd cannot see: DNS for cluster names.
  local lib
  for lib in libnss_dns.so.2 libnss_files.so.2 libresolv.so.2; do
    local path
    path="$(ldconfig -p | sed -n "s/.*${lib} (libc6,x86-64) => //p" | head -1)"
    [[ -n "${path}" ]] || die "${lib} not found (libc6)"
    mkdir -p "${ROOTFS}$(dirname "${path}")"
    cp -L "${path}" "${ROOTFS}${path}"
  done
}

# deps WORKSPACE: its production node_modules, from `npm ci` as the Dockerfile runs it, cached by
# the hash of the manifests it depends on.
deps() {
  local workspace="$1" key dir
  key="$(cat "${REPO}/package-lock.json" "${REPO}/package.json" "${REPO}"/{proto,node,operator}/package.json | sha256sum | cut -c1-16)"
  dir="${CACHE}/deps-${workspace#@hermes/}-${key}"
  if [[ ! -d "${dir}/node_modules" ]]; then
    rm -rf "${dir}.tmp"
    mkdir -p "${dir}.tmp"/{proto,node,operator}
    cp "${REPO}/package.json" "${REPO}/package-lock.json" "${dir}.tmp/"
    local ws
    for ws in proto node operator; do cp "${REPO}/${ws}/package.json" "${dir}.tmp/${ws}/"; done
    (cd "${dir}.tmp" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --workspace "${workspace}" >&2) ||
      die "npm ci for ${workspace} failed"
    rm -rf "${dir}"
    mv "${dir}.tmp" "${dir}"
  fi
  echo "${dir}/node_modules"
}

build_one() {
  local image="$1" ref
  case "${image}" in
    node | operator) ref="${PREFIX}/hermes-${image}:${TAG}" ;;
    *) ref="${PREFIX}/${image}:local" ;;
  esac
  declare -F "spec_${image}" >/dev/null || die "unknown image ${image} (node, operator, pause, coredns, prometheus-operator, prometheus-config-reloader, prometheus)"
  local work
  work="$(mktemp -d "${OUT}/.${image}.XXXXXX")"
  ROOTFS="${work}/rootfs"
  CONFIG_ENV=("PATH=/usr/local/bin:/usr/bin:/bin" "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt")
  CONFIG_WORKDIR="/"
  CONFIG_USER=""
  CONFIG_EXPOSE=()
  CONFIG_ENTRYPOINT=()
  CONFIG_CMD=()
  mkdir -p "${ROOTFS}"
  base_files

  runtime() {
    case "$1" in
      nodejs) runtime_nodejs ;;
    esac
  }
  workdir() {
    CONFIG_WORKDIR="$1"
    mkdir -p "${ROOTFS}$1"
  }
  env() { CONFIG_ENV+=("$1"); }
  copy() {
    local src="$1" dest="${ROOTFS}$2"
    mkdir -p "$(dirname "${dest}")"
    case "${src}" in
      repo:*)
        [[ -e "${REPO}/${src#repo:}" ]] || die "${src#repo:} is missing (npx tsc -b node operator builds it)"
        cp -a "${REPO}/${src#repo:}" "${dest}"
        ;;
      deps:*) cp -a "$(deps "${src#deps:}")" "${dest}" ;;
      bin:*) cp "$(binary "${src#bin:}")" "${dest}" ;;
    esac
  }
  dir() { install -d -o "${2%%:*}" -g "${2#*:}" "${ROOTFS}$1"; }
  user() { CONFIG_USER="$1"; }
  expose() { CONFIG_EXPOSE+=("$@"); }
  entrypoint() { CONFIG_ENTRYPOINT=("$@"); }
  cmd() { CONFIG_CMD=("$@"); }
  "spec_${image}"

  pack "${work}" "${ref}" "${OUT}/${image}.tar"
  rm -rf "${work}"
  echo "${OUT}/${image}.tar"
}

# pack WORK REF ARCHIVE: the rootfs as one uncompressed layer in an OCI image layout, tarred.
pack() {
  local work="$1" ref="$2" archive="$3" layout="$1/layout"
  mkdir -p "${layout}/blobs/sha256"
  tar --sort=name --numeric-owner --mtime=@0 -C "${work}/rootfs" -cf "${work}/layer.tar" .
  local layer_digest layer_size
  layer_digest="$(sha256sum "${work}/layer.tar" | cut -d' ' -f1)"
  layer_size="$(stat -c %s "${work}/layer.tar")"
  mv "${work}/layer.tar" "${layout}/blobs/sha256/${layer_digest}"

  jq -n --arg user "${CONFIG_USER}" --arg workdir "${CONFIG_WORKDIR}" --arg diff "sha256:${layer_digest}" \
    --arg ref "${ref}" \
    --argjson env "$(printf '%s\n' "${CONFIG_ENV[@]}" | jq -R . | jq -s .)" \
    --argjson entrypoint "$(printf '%s\n' "${CONFIG_ENTRYPOINT[@]}" | jq -R . | jq -s 'map(select(. != ""))')" \
    --argjson cmd "$(printf '%s\n' "${CONFIG_CMD[@]}" | jq -R . | jq -s 'map(select(. != ""))')" \
    --argjson expose "$(printf '%s\n' "${CONFIG_EXPOSE[@]}" | jq -R . | jq -s 'map(select(. != "") | {key: "\(.)/tcp", value: {}}) | from_entries')" \
    '{architecture: "amd64", os: "linux",
      config: ({Env: $env, WorkingDir: $workdir, Entrypoint: $entrypoint, ExposedPorts: $expose,
               Labels: {"org.opencontainers.image.ref.name": $ref}}
               + (if $user == "" then {} else {User: $user} end)
               + (if ($cmd | length) > 0 then {Cmd: $cmd} else {} end)),
      rootfs: {type: "layers", diff_ids: [$diff]}}' >"${work}/config.json"
  local config_digest config_size
  config_digest="$(sha256sum "${work}/config.json" | cut -d' ' -f1)"
  config_size="$(stat -c %s "${work}/config.json")"
  mv "${work}/config.json" "${layout}/blobs/sha256/${config_digest}"

  jq -n --arg cd "sha256:${config_digest}" --argjson cs "${config_size}" \
    --arg ld "sha256:${layer_digest}" --argjson ls "${layer_size}" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $cd, size: $cs},
      layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar", digest: $ld, size: $ls}]}' >"${work}/manifest.json"
  local manifest_digest manifest_size
  manifest_digest="$(sha256sum "${work}/manifest.json" | cut -d' ' -f1)"
  manifest_size="$(stat -c %s "${work}/manifest.json")"
  mv "${work}/manifest.json" "${layout}/blobs/sha256/${manifest_digest}"

  echo '{"imageLayoutVersion":"1.0.0"}' >"${layout}/oci-layout"
  jq -n --arg md "sha256:${manifest_digest}" --argjson ms "${manifest_size}" --arg ref "${ref}" \
    '{schemaVersion: 2, manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: $md, size: $ms, platform: {architecture: "amd64", os: "linux"},
      annotations: {"io.containerd.image.name": $ref, "org.opencontainers.image.ref.name": ($ref | sub(".*:"; ""))}}]}' \
    >"${layout}/index.json"
  tar -C "${layout}" -cf "${archive}.tmp" oci-layout index.json blobs
  mv "${archive}.tmp" "${archive}"
}

images=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out)
      OUT="$2"
      shift 2
      ;;
    --tag)
      TAG="$2"
      shift 2
      ;;
    --describe)
      describe "$2"
      exit 0
      ;;
    -*) die "unknown option $1" ;;
    *)
      images+=("$1")
      shift
      ;;
  esac
done
[[ ${#images[@]} -gt 0 ]] || die "usage: $0 [--out DIR] [--tag TAG] IMAGE... | --describe node|operator"
mkdir -p "${OUT}" "${CACHE}"
for image in "${images[@]}"; do
  if [[ "${image}" == node || "${image}" == operator ]]; then
    (cd "${REPO}" && npx tsc -b "${image}" >&2) || die "building ${image} failed"
  fi
  build_one "${image}"
done
