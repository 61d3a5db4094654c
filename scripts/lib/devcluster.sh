# shellcheck shell=bash source-path=SCRIPTDIR
# scripts/lib/devcluster.sh: facts about the local devcluster that several scripts need.
#
# Source it; it sources common.sh itself.
#
# Stable interface (other scripts depend on these names; add, don't rename):
#   GEFYRA_DEVCLUSTER_CONTAINERD_SOCK  the devcluster's containerd socket; set on source to its default
#                                      /run/gefyra-devcluster/containerd/containerd.sock unless already
#                                      set (tests point it at a throwaway containerd)
#   GEFYRA_DEVCLUSTER_NAMESPACE        containerd namespace the kubelet uses (k8s.io)
#   devcluster_containerd_up           status 0 when that socket exists (the devcluster is up)
#   devcluster_ctr ARGS...             runs Debian's `ctr` against that socket and namespace

[[ -n "${_GEFYRA_LIB_DEVCLUSTER:-}" ]] && return 0
_GEFYRA_LIB_DEVCLUSTER=1
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

GEFYRA_DEVCLUSTER_CONTAINERD_SOCK="${GEFYRA_DEVCLUSTER_CONTAINERD_SOCK:-/run/gefyra-devcluster/containerd/containerd.sock}"
GEFYRA_DEVCLUSTER_NAMESPACE="${GEFYRA_DEVCLUSTER_NAMESPACE:-k8s.io}"

devcluster_containerd_up() { [[ -S "$GEFYRA_DEVCLUSTER_CONTAINERD_SOCK" ]]; }

devcluster_ctr() {
  ctr --address "$GEFYRA_DEVCLUSTER_CONTAINERD_SOCK" --namespace "$GEFYRA_DEVCLUSTER_NAMESPACE" "$@"
}
