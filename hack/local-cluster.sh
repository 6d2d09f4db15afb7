#!/usr/bin/env bash
# A real one-node Kubernetes on this machine, without Docker: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubelet, kube-proxy (iptables), CoreDNS, containerd +
# runc and a CNI bridge, all inside a network namespace and a private mount namespace of its own.
#
#   hack/local-cluster.sh up           start it (builds what is missing first); prints the env line
#   hack/local-cluster.sh env          print `export KUBECONFIG=...` for the running cluster
#   hack/local-cluster.sh load TAR...  import OCI image archives (hack/build-images.sh) into containerd
#   hack/local-cluster.sh status       exit 0 when the API server answers
#   hack/local-cluster.sh down         stop it and remove every trace (also after a failed up)
#
# What it is: one node, hostPath PersistentVolumes under a default StorageClass, no NetworkPolicy,
# no registry (images are imported), no route out of the namespace (CoreDNS answers cluster names
# only). The host reaches the API server at ${SUBNET_PREFIX}.2:6443 over a veth pair.
# Every process runs in the cgroup ${CGROUP} (pods below it), so `down` finds and stops exactly
# the cluster's processes by PID; mounts live in the private mount namespace and die with it;
# iptables rules live in the network namespace and die with it. See docs/kubernetes.md.
set -euo pipefail

HACK_DIR="$(cd "$(dirname "$0")" && pwd)"
DIR="${HERMES_CLUSTER_DIR:-/tmp/hermes-local-cluster}"
NETNS="${HERMES_CLUSTER_NETNS:-hermes-k8s}"
CGROUP="${NETNS}"
SUBNET_PREFIX="${HERMES_CLUSTER_SUBNET:-10.212.0}" # a /30: .1 on the host, .2 the node
NODE_IP="${SUBNET_PREFIX}.2"
HOST_IP="${SUBNET_PREFIX}.1"
HOST_VETH="${NETNS:0:10}-host"
NODE_VETH="${NETNS:0:10}-node"
NODE_NAME="hermes-local"
POD_CIDR="10.244.0.0/24"
SERVICE_CIDR="10.96.0.0/24"
DNS_IP="10.96.0.10"
VOLUMES="${HERMES_CLUSTER_VOLUMES:-8}"
IMAGE_PREFIX="hermes.local"
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

log() { echo "local-cluster: $*" >&2; }
die() {
  log "$*"
  exit 1
}

# ---- teardown: by cgroup membership and by name, so it works whatever state `up` reached

# cgroup_hierarchies: every cgroup v1 hierarchy, or the v2 root (kubelet needs the root in each).
cgroup_hierarchies() {
  local h
  if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
    echo /sys/fs/cgroup
    return
  fi
  for h in /sys/fs/cgroup/*/; do
    [[ -f "${h}cgroup.procs" && "${h}" != */unified/ ]] && echo "${h%/}"
  done
}

# pids_cgroup: the hierarchy whose tree holds every cluster process (pids on v1).
pids_cgroup() {
  if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then echo "/sys/fs/cgroup/${CGROUP}"; else echo "/sys/fs/cgroup/pids/${CGROUP}"; fi
}

cluster_pids() {
  local root
  root="$(pids_cgroup)"
  [[ -d "${root}" ]] || return 0
  find "${root}" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u
}

down() {
  local pids
  # Every process of the cluster, pods included, is in the cgroup: kill them all by PID, again
  # until none is left (containerd or kubelet may start one while the rest is killed). The data
  # goes with the cluster, so nothing is stopped gracefully.
  for _ in $(seq 1 50); do
    pids="$(cluster_pids)"
    [[ -n "${pids}" ]] || break
    # shellcheck disable=SC2086 # one PID per word
    kill -KILL ${pids} 2>/dev/null || true
    sleep 0.2
  done
  [[ -z "$(cluster_pids)" ]] || die "processes still running in cgroup ${CGROUP}: $(cluster_pids | tr '\n' ' ')"
  local h
  for h in $(cgroup_hierarchies); do
    [[ -d "${h}/${CGROUP}" ]] || continue
    # Deepest first; kubelet and runc made the cgroups below.
    find "${h}/${CGROUP}" -depth -type d -exec rmdir {} + 2>/dev/null || true
    [[ ! -d "${h}/${CGROUP}" ]] || die "cannot remove cgroup ${h}/${CGROUP}"
  done
  if ip netns list 2>/dev/null | grep -qw "^${NETNS}"; then ip netns del "${NETNS}"; fi
  if ip link show "${HOST_VETH}" >/dev/null 2>&1; then ip link del "${HOST_VETH}"; fi
  if grep -q " ${DIR}" /proc/self/mountinfo; then
    die "mounts under ${DIR} remain: $(grep " ${DIR}" /proc/self/mountinfo | cut -d' ' -f5 | tr '\n' ' ')"
  fi
  rm -rf "${DIR}"
  log "down: no process, cgroup, mount, namespace or iptables rule of the cluster is left"
}

# ---- checks before anything is started

check_tools() {
  local missing=() tool
  for tool in containerd containerd-shim-runc-v2 runc ctr nsenter unshare ip iptables openssl curl jq sha256sum tar; do
    command -v "${tool}" >/dev/null 2>&1 || missing+=("${tool}")
  done
  for tool in bridge host-local loopback portmap; do
    [[ -x "/usr/lib/cni/${tool}" ]] || missing+=("cni:${tool}")
  done
  [[ ${#missing[@]} -eq 0 ]] ||
    die "missing ${missing[*]}: run hack/install-deps.sh (as root) to install containerd, runc, containernetworking-plugins, iptables, openssl, curl and jq"
  [[ "$(id -u)" -eq 0 ]] || die "needs root (network and mount namespaces, cgroups, containerd)"
  BINARIES="$("${HACK_DIR}/control-plane.sh" --cluster)" ||
    die "the cluster's binaries are missing and could not be built (hack/control-plane.sh --cluster)"
}

bin() { sed -n "s/^$1=//p" <<<"${BINARIES}"; }

check_free() {
  if ip netns list 2>/dev/null | grep -qw "^${NETNS}" || [[ -n "$(cluster_pids)" ]]; then
    die "a cluster is already up (network namespace ${NETNS}): use it (hack/local-cluster.sh env) or run hack/local-cluster.sh down first"
  fi
  if ip -4 addr show | grep -q "inet ${SUBNET_PREFIX}\." || ip link show "${HOST_VETH}" >/dev/null 2>&1; then
    die "address ${HOST_IP} or link ${HOST_VETH} is in use on this machine: set HERMES_CLUSTER_SUBNET to a free /30 prefix (e.g. 10.213.0) or run hack/local-cluster.sh down"
  fi
  if ip -4 route show | grep -q "^${SUBNET_PREFIX}\."; then
    die "${SUBNET_PREFIX}.0/30 is already routed on this machine: set HERMES_CLUSTER_SUBNET to a free prefix"
  fi
}

# ---- pieces of `up`

HOLDER=""

# start NAME CMD...: runs CMD in the cluster's namespaces and cgroup, logging to logs/NAME.log.
start() {
  local name="$1"
  shift
  (
    echo "${BASHPID}" >"$(pids_cgroup)/system/cgroup.procs"
    exec nsenter --target "${HOLDER}" --mount --net -- "$@" >"${DIR}/logs/${name}.log" 2>&1
  ) &
  echo "$!" >"${DIR}/pids/${name}"
  disown # `down` stops it; bash should not report its end
}

# wait_for SECONDS WHAT CMD...: polls CMD until it succeeds; on timeout names the component's log.
wait_for() {
  local seconds="$1" what="$2" logname="$3"
  shift 3
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [[ -n "${logname}" && -f "${DIR}/pids/${logname}" ]] && ! kill -0 "$(cat "${DIR}/pids/${logname}")" 2>/dev/null; then
      tail -n 30 "${DIR}/logs/${logname}.log" >&2 || true
      die "${logname} exited while waiting for ${what} (log: ${DIR}/logs/${logname}.log)"
    fi
    if ((SECONDS >= deadline)); then
      [[ -z "${logname}" ]] || tail -n 30 "${DIR}/logs/${logname}.log" >&2 || true
      die "timed out after ${seconds}s waiting for ${what}${logname:+ (log: ${DIR}/logs/${logname}.log)}"
    fi
    sleep 0.5
  done
}

make_network() {
  ip netns add "${NETNS}"
  ip link add "${HOST_VETH}" type veth peer name "${NODE_VETH}"
  ip link set "${NODE_VETH}" netns "${NETNS}"
  ip addr add "${HOST_IP}/30" dev "${HOST_VETH}"
  ip link set "${HOST_VETH}" up
  local ns=(nsenter "--net=/run/netns/${NETNS}" --)
  "${ns[@]}" ip addr add "${NODE_IP}/30" dev "${NODE_VETH}"
  "${ns[@]}" ip link set "${NODE_VETH}" up
  "${ns[@]}" ip link set lo up
  # No default route: nothing in the cluster can reach past this machine.
  "${ns[@]}" sysctl -qw net.ipv4.ip_forward=1
  # Replies between pods on the bridge must pass conntrack so a Service's DNAT is undone.
  "${ns[@]}" sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null ||
    log "warning: net.bridge.bridge-nf-call-iptables is not settable (load br_netfilter); pod-to-Service traffic between pods may fail"
}

make_cgroups() {
  local h
  for h in $(cgroup_hierarchies); do
    mkdir -p "${h}/${CGROUP}"
    if [[ -f "${h}/cpuset.cpus" ]]; then
      cat "${h}/cpuset.cpus" >"${h}/${CGROUP}/cpuset.cpus"
      cat "${h}/cpuset.mems" >"${h}/${CGROUP}/cpuset.mems"
    fi
  done
  mkdir -p "$(pids_cgroup)/system"
}

# The private mount namespace: /run and /var/lib/cni are tmpfs there, so containerd's and runc's
# state, pod network namespaces and CNI caches never reach the host and vanish with the namespace.
make_holder() {
  mkdir -p /var/lib/cni
  (
    echo "${BASHPID}" >"$(pids_cgroup)/system/cgroup.procs"
    exec nsenter "--net=/run/netns/${NETNS}" -- unshare --mount --propagation private -- \
      sh -c 'mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /var/lib/cni && echo ready && exec sleep infinity'
  ) >"${DIR}/logs/holder.log" 2>&1 &
  HOLDER=$!
  disown
  echo "${HOLDER}" >"${DIR}/pids/holder"
  wait_for 10 "the mount namespace" "" grep -q ready "${DIR}/logs/holder.log"
  # The holder is `sleep` by now (exec); its namespaces are the cluster's.
}

# cert NAME CN [O] [SANS]: a key and a certificate signed by the cluster CA.
cert() {
  local name="$1" cn="$2" org="${3:-}" sans="${4:-}"
  local subj="/CN=${cn}"
  [[ -z "${org}" ]] || subj="/O=${org}${subj}"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "${subj}" \
    -keyout "${DIR}/pki/${name}.key" -out "${DIR}/pki/${name}.csr" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=serverAuth,clientAuth"
    [[ -z "${sans}" ]] || echo "subjectAltName=${sans}"
  } >"${DIR}/pki/${name}.ext"
  openssl x509 -req -in "${DIR}/pki/${name}.csr" -CA "${DIR}/pki/ca.crt" -CAkey "${DIR}/pki/ca.key" \
    -CAcreateserial -days 30 -extfile "${DIR}/pki/${name}.ext" -out "${DIR}/pki/${name}.crt" 2>/dev/null
}

kubeconfig() {
  local name="$1"
  cat >"${DIR}/${name}.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: local
    cluster:
      server: https://${NODE_IP}:6443
      certificate-authority: ${DIR}/pki/ca.crt
users:
  - name: ${name}
    user:
      client-certificate: ${DIR}/pki/${name}.crt
      client-key: ${DIR}/pki/${name}.key
contexts:
  - name: hermes-local
    context: { cluster: local, user: ${name} }
current-context: hermes-local
EOF
}

make_pki() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -subj "/CN=hermes-local-cluster-ca" -keyout "${DIR}/pki/ca.key" -out "${DIR}/pki/ca.crt" 2>/dev/null
  cert apiserver kube-apiserver "" \
    "IP:${NODE_IP},IP:10.96.0.1,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
  cert admin hermes-local-admin system:masters
  cert kubelet "system:node:${NODE_NAME}" system:nodes "IP:${NODE_IP},DNS:${NODE_NAME}"
  cert controller-manager system:kube-controller-manager
  cert scheduler system:kube-scheduler
  cert kube-proxy system:kube-proxy
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "${DIR}/pki/sa.key" 2>/dev/null
  openssl pkey -in "${DIR}/pki/sa.key" -pubout -out "${DIR}/pki/sa.pub" 2>/dev/null
  local name
  for name in admin kubelet controller-manager scheduler kube-proxy; do kubeconfig "${name}"; done
}

start_control_plane() {
  start etcd "$(bin etcd)" --data-dir="${DIR}/etcd" --listen-client-urls=http://127.0.0.1:2379 \
    --advertise-client-urls=http://127.0.0.1:2379 --listen-peer-urls=http://127.0.0.1:2380 \
    --unsafe-no-fsync --listen-metrics-urls=http://127.0.0.1:2381
  start kube-apiserver "$(bin kube-apiserver)" --etcd-servers=http://127.0.0.1:2379 \
    --bind-address=0.0.0.0 --secure-port=6443 --advertise-address="${NODE_IP}" \
    --tls-cert-file="${DIR}/pki/apiserver.crt" --tls-private-key-file="${DIR}/pki/apiserver.key" \
    --client-ca-file="${DIR}/pki/ca.crt" \
    --kubelet-client-certificate="${DIR}/pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key="${DIR}/pki/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types=InternalIP \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="${DIR}/pki/sa.pub" --service-account-signing-key-file="${DIR}/pki/sa.key" \
    --service-cluster-ip-range="${SERVICE_CIDR}" --allow-privileged=true --profiling=false
  wait_for 60 "kube-apiserver /readyz" kube-apiserver \
    curl -fsS --cacert "${DIR}/pki/ca.crt" --cert "${DIR}/pki/admin.crt" --key "${DIR}/pki/admin.key" \
    "https://${NODE_IP}:6443/readyz"
  start kube-controller-manager "$(bin kube-controller-manager)" \
    --kubeconfig="${DIR}/controller-manager.kubeconfig" \
    --authentication-kubeconfig="${DIR}/controller-manager.kubeconfig" \
    --authorization-kubeconfig="${DIR}/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
    --service-account-private-key-file="${DIR}/pki/sa.key" --root-ca-file="${DIR}/pki/ca.crt" \
    --cluster-signing-cert-file="${DIR}/pki/ca.crt" --cluster-signing-key-file="${DIR}/pki/ca.key" \
    --allocate-node-cidrs=false --profiling=false
  start kube-scheduler "$(bin kube-scheduler)" --kubeconfig="${DIR}/scheduler.kubeconfig" \
    --authentication-kubeconfig="${DIR}/scheduler.kubeconfig" \
    --authorization-kubeconfig="${DIR}/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --profiling=false
}

start_containerd() {
  mkdir -p "${DIR}/containerd" "${DIR}/cni/net.d" "${DIR}/cni/ipam"
  cat >"${DIR}/containerd/config.toml" <<EOF
version = 2
root = "${DIR}/containerd/root"
state = "${DIR}/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "${DIR}/containerd/containerd.sock"
[ttrpc]
  address = "${DIR}/containerd/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "${DIR}/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${IMAGE_PREFIX}/pause:local"
  # root here lacks CAP_SYS_RESOURCE: a negative oom_score_adj would fail every sandbox
  # ("can't get final child's PID from pipe: EOF").
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${DIR}/cni/net.d"
EOF
  cat >"${DIR}/cni/net.d/10-hermes-local.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "hermes-local",
  "plugins": [
    {
      "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": { "type": "host-local", "dataDir": "${DIR}/cni/ipam", "ranges": [[{ "subnet": "${POD_CIDR}" }]],
                "routes": [{ "dst": "0.0.0.0/0" }] }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
  start containerd containerd --config "${DIR}/containerd/config.toml"
  wait_for 30 "containerd" containerd ctr --address "${DIR}/containerd/containerd.sock" version
}

load() {
  local archive
  for archive in "$@"; do
    [[ -f "${archive}" ]] || die "no image archive ${archive} (hack/build-images.sh makes them)"
    ctr --address "${DIR}/containerd/containerd.sock" -n k8s.io images import "${archive}" >&2
  done
}

start_node() {
  mkdir -p "${DIR}/kubelet" "${DIR}/pod-logs"
  : >"${DIR}/resolv.conf" # no upstream resolver: pods ask CoreDNS only
  cat >"${DIR}/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This kernel mounts cgroup v1; kubelet v1.35 refuses it outright, v1.34 with this flag.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /${CGROUP}
containerRuntimeEndpoint: unix://${DIR}/containerd/containerd.sock
address: ${NODE_IP}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
tlsCertFile: ${DIR}/pki/kubelet.crt
tlsPrivateKeyFile: ${DIR}/pki/kubelet.key
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: ${DIR}/pki/ca.crt }
authorization: { mode: Webhook }
clusterDomain: cluster.local
clusterDNS: [${DNS_IP}]
resolvConf: ${DIR}/resolv.conf
podLogsDir: ${DIR}/pod-logs
failSwapOn: false
# A shared disk: never evict or collect images because someone else filled it.
evictionHard: { memory.available: 100Mi, nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%" }
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
EOF
  start kubelet "$(bin kubelet)" --config="${DIR}/kubelet.yaml" --kubeconfig="${DIR}/kubelet.kubeconfig" \
    --root-dir="${DIR}/kubelet" --node-ip="${NODE_IP}" --hostname-override="${NODE_NAME}"
  cat >"${DIR}/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: { kubeconfig: ${DIR}/kube-proxy.kubeconfig }
hostnameOverride: ${NODE_NAME}
clusterCIDR: ${POD_CIDR}
bindAddress: ${NODE_IP}
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# The namespace's conntrack table is the kernel's: leave its limits and timeouts alone.
conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s }
iptables: { localhostNodePorts: false }
EOF
  start kube-proxy "$(bin kube-proxy)" --config="${DIR}/kube-proxy.yaml"
}

kubectl_() { "$(bin kubectl)" --kubeconfig="${DIR}/admin.kubeconfig" "$@"; }

node_ready() {
  [[ "$(kubectl_ get node "${NODE_NAME}" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" == "True" ]]
}

apply_addons() {
  local i volumes=""
  mkdir -p "${DIR}/volumes"
  for i in $(seq 1 "${VOLUMES}"); do
    # hostPath ignores fsGroup: the node and operator images run as uid 10001.
    install -d -o 10001 -g 10001 -m 0770 "${DIR}/volumes/pv-${i}"
    volumes+="
---
apiVersion: v1
kind: PersistentVolume
metadata: { name: local-pv-${i}, labels: { hermes.io/local-cluster: volume } }
spec:
  capacity: { storage: 10Gi }
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: local-hostpath
  hostPath: { path: ${DIR}/volumes/pv-${i}, type: Directory }"
  done
  sed -e "s#HERMES_DNS_IP#${DNS_IP}#g" -e "s#HERMES_COREDNS_IMAGE#${IMAGE_PREFIX}/coredns:local#g" \
    "${HACK_DIR}/cluster/addons.yaml" | cat - <(echo "${volumes}") | kubectl_ apply -f - >/dev/null
}

# up_failed: the EXIT trap of `up`: on failure keep the logs beside, then tear everything down.
up_failed() {
  local code=$?
  [[ ${code} -ne 0 ]] || return 0
  rm -rf "${DIR}.failed-logs"
  cp -r "${DIR}/logs" "${DIR}.failed-logs" 2>/dev/null || true
  log "up failed; cleaning up (the components' logs are kept in ${DIR}.failed-logs)"
  down
  exit "${code}"
}

up() {
  check_tools
  check_free
  mkdir -p "${DIR}/logs" "${DIR}/pids" "${DIR}/pki" "${DIR}/images"
  # From here on a failure leaves nothing behind: the trap tears down what was made.
  trap up_failed EXIT
  local begin=${SECONDS}
  make_cgroups
  make_network
  make_holder
  make_pki
  start_control_plane
  start_containerd
  local archives
  mapfile -t archives < <("${HACK_DIR}/build-images.sh" --out "${DIR}/images" pause coredns)
  load "${archives[@]}"
  start_node
  wait_for 60 "node ${NODE_NAME} Ready" kubelet node_ready
  apply_addons
  wait_for 90 "CoreDNS ready" kubelet kubectl_ -n kube-system wait --for=condition=Available deployment/coredns --timeout=5s
  trap - EXIT
  log "up in $((SECONDS - begin))s: one node (${NODE_NAME}), API server https://${NODE_IP}:6443"
  env_line
}

env_line() { echo "export KUBECONFIG=${DIR}/admin.kubeconfig"; }

status() {
  [[ -f "${DIR}/admin.kubeconfig" ]] || return 1
  curl -fsS --max-time 5 --cacert "${DIR}/pki/ca.crt" --cert "${DIR}/pki/admin.crt" --key "${DIR}/pki/admin.key" \
    "https://${NODE_IP}:6443/readyz" >/dev/null
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  env)
    status || die "no cluster is up (hack/local-cluster.sh up)"
    env_line
    ;;
  status) status ;;
  load)
    shift
    status || die "no cluster is up (hack/local-cluster.sh up)"
    load "$@"
    ;;
  *)
    echo "usage: $0 up|down|env|status|load ARCHIVE..." >&2
    exit 2
    ;;
esac
