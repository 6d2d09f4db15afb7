#!/usr/bin/env bash
# Provides nats-server for the benchmark's NATS anchors (test/bench/nats.mjs), built once from the
# pinned Go module and cached, as hack/control-plane.sh does for its binaries.
#
#   hack/nats-server.sh           build it when missing, then print its path
#   hack/nats-server.sh --check   print its path, or exit 1 (building nothing) when it is missing
#
# Lookup order: $NATS_SERVER (any nats-server binary), then the cache
# ${XDG_CACHE_HOME:-$HOME/.cache}/hermes/nats-server-<version>/. Cold, the build takes about two
# minutes on 2 cores, most of it downloading modules. Built rather than Debian's package: Debian 12
# ships 2.9.10 (2023), and its package enables a system service on port 4222.
set -euo pipefail

VERSION="${HERMES_NATS_SERVER_VERSION:-v2.15.3}"
DIR="${XDG_CACHE_HOME:-$HOME/.cache}/hermes/nats-server-${VERSION}"

log() { echo "nats-server: $*" >&2; }

if [[ -n "${NATS_SERVER:-}" ]]; then
  [[ -x "${NATS_SERVER}" ]] || {
    log "NATS_SERVER=${NATS_SERVER} is not an executable file"
    exit 1
  }
  echo "${NATS_SERVER}"
  exit 0
fi
if [[ -x "${DIR}/nats-server" ]]; then
  echo "${DIR}/nats-server"
  exit 0
fi

case "${1:-}" in
  --check)
    log "missing: run hack/nats-server.sh to build nats-server ${VERSION} into ${DIR} (needs go), or set NATS_SERVER to a nats-server binary"
    exit 1
    ;;
  "") ;;
  *)
    echo "usage: $0 [--check]" >&2
    exit 2
    ;;
esac

command -v go >/dev/null 2>&1 || {
  log "go is required to build nats-server ${VERSION}"
  exit 1
}
log "building nats-server ${VERSION} into ${DIR}"
mkdir -p "${DIR}"
tmp="$(mktemp -d "${DIR}/.build.XXXXXX")"
trap 'rm -rf "${tmp}"' EXIT
GOBIN="${tmp}" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" \
  "github.com/nats-io/nats-server/v2@${VERSION}" >&2
mv "${tmp}/nats-server" "${DIR}/nats-server"
echo "${DIR}/nats-server"
