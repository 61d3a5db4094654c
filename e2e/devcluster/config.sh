# Shared settings of the devcluster: sourced by up.sh, down.sh, load.sh and status.sh.
# Everything the devcluster owns lives under two machine-wide folders (so a second checkout, such
# as CI's fresh clone, finds and cleans what an earlier one left) and every network object it makes
# carries the gdc prefix, so cleanup removes exactly what was ours.
# shellcheck shell=bash

DC_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DC_RUN="${GEFYRA_DEVCLUSTER_RUN:-/run/gefyra-devcluster}"
DC_DATA="${GEFYRA_DEVCLUSTER_DATA:-/var/lib/gefyra-devcluster}"
DC_LOGS="$DC_DATA/logs"
DC_PKI="$DC_DATA/pki"
DC_PIDS="$DC_RUN/pids"
DC_STATE="$DC_DATA/host-state"           # what up changed on the host, so down restores it
DC_CONTAINERD_SOCK="${GEFYRA_DEVCLUSTER_CONTAINERD_SOCK:-$DC_RUN/containerd/containerd.sock}"
DC_KUBECONFIG="$DC_DATA/admin.kubeconfig"
DC_REPO_KUBECONFIG="$DC_REPO_ROOT/.devcluster/kubeconfig"

DC_NODE_NAME="gefyra-devcluster"
# The node's address lives on an interface of its own: every endpoint (API server, NodePorts,
# kubelet) is on this machine, reachable from the host and from Docker containers, and nothing
# listens on the machine's real interfaces.
DC_NODE_DEV="gdc0"
DC_NODE_IP="${GEFYRA_DEVCLUSTER_NODE_IP:-10.87.0.1}"
DC_POD_CIDR="${GEFYRA_DEVCLUSTER_POD_CIDR:-10.88.0.0/16}"
# the only node gets the first /24 of the cluster range (kube-controller-manager allocates it into
# node.spec.podCIDR, where product code discovers it, as on kubeadm clusters)
DC_NODE_POD_CIDR="${DC_POD_CIDR%.*.*}.0.0/24"
DC_SERVICE_CIDR="${GEFYRA_DEVCLUSTER_SERVICE_CIDR:-10.96.0.0/16}"
DC_KUBERNETES_SVC_IP="10.96.0.1"
DC_DNS_IP="10.96.0.10"
DC_CNI_BRIDGE="gdc-cni0"
DC_API_PORT=6443
DC_ETCD_PORT=12379
DC_ETCD_PEER_PORT=12380

DC_KUBE_VERSION="${KUBE_VERSION:-v1.34.4}"
DC_COREDNS_VERSION="${COREDNS_VERSION:-v1.14.7}"
DC_COREDNS_IMAGE="gefyra-devcluster/coredns:${DC_COREDNS_VERSION}"
DC_PAUSE_IMAGE="registry.k8s.io/pause:3.10"

# Components in start order; down stops them in reverse.
DC_COMPONENTS=(containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)

dc_log() { printf '[devcluster] %s\n' "$*" >&2; }
dc_die() { printf '[devcluster] error: %s\n' "$*" >&2; exit 1; }

# Runs a phase and prints its duration; phases are what a slow run is diagnosed by.
dc_phase() {
  local name="$1"; shift
  local t0=$SECONDS
  dc_log "▶ $name"
  "$@"
  dc_log "✔ $name ($((SECONDS - t0)) s)"
}

dc_pid_alive() { # component
  local f="$DC_PIDS/$1.pid" pid
  [[ -f "$f" ]] || return 1
  pid="$(cat "$f")"
  [[ -n "$pid" && -d "/proc/$pid" ]] || return 1
  # a recycled pid is not ours: the recorded start time must match
  [[ "$(cut -d' ' -f22 "/proc/$pid/stat" 2>/dev/null)" == "$(cat "$DC_PIDS/$1.start" 2>/dev/null)" ]]
}

dc_crictl() { "$DC_BIN/crictl" --runtime-endpoint "unix://$DC_CONTAINERD_SOCK" --image-endpoint "unix://$DC_CONTAINERD_SOCK" --timeout 10s "$@"; }
dc_ctr() { ctr --address "$DC_CONTAINERD_SOCK" -n k8s.io "$@"; }
dc_kubectl() { "$DC_BIN/kubectl" --kubeconfig "$DC_KUBECONFIG" "$@"; }
