#!/usr/bin/env bash
# Installs the Debian packages the test suites need, when missing. Idempotent: a machine that
# has them all is left untouched (no apt-get update either).
#   dnsmasq   DNS server for the DNS discovery tests. dnsmasq-base is the same binary without the
#             system service, so installing it never starts a resolver on port 53.
#   ip        network namespaces and veth pairs (iproute2; its tc adds netem loss and delay)
#   iptables  partitions and packet loss between namespaces
#   ps        process checks (procps)
#   python3   loss and delay where the kernel has no netem (sch_netem): a small NFQUEUE program
#             in test/integration/netns.ts stands in for it
# The one-node cluster of the e2e suite (hack/local-cluster.sh):
#   containerd, runc             the container runtime (containerd 1.6 with its CRI plugin, runc 1.1)
#   containernetworking-plugins  bridge, host-local, portmap and loopback for pod networking
#   nsenter, unshare             entering the cluster's namespaces (util-linux)
#   openssl, curl, jq            the cluster's certificates, health checks, image manifests
set -euo pipefail

# command (or path):package
needs=(dnsmasq:dnsmasq-base ip:iproute2 iptables:iptables ps:procps python3:python3
  containerd:containerd runc:runc /usr/lib/cni/bridge:containernetworking-plugins
  nsenter:util-linux unshare:util-linux openssl:openssl curl:curl jq:jq)

# dnsmasq, ip and iptables live in sbin, which a normal user's PATH may lack.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

missing=()
for need in "${needs[@]}"; do
  command -v "${need%%:*}" >/dev/null 2>&1 || [[ " ${missing[*]} " == *" ${need#*:} "* ]] || missing+=("${need#*:}")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all present (${needs[*]%%:*})"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing ${missing[*]}; as root run:" >&2
  echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: missing ${missing[*]} and there is no apt-get; install them with your package manager" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
