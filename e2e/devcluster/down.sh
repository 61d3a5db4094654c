#!/usr/bin/env bash
# npm run cluster:down — stops every process the devcluster started (by recorded PID), removes its
# pods' network namespaces, its interfaces, iptables chains, mounts, cgroups and data, and puts
# back what up changed on the host. The Docker engine is left as it was. Safe to run twice, and
# after a devcluster whose processes were killed.
set -euo pipefail
# shellcheck source=config.sh
source "$(dirname "${BASH_SOURCE[0]}")/config.sh"
QUIET=false
[[ "${1:-}" == "--quiet" ]] && QUIET=true
say() { $QUIET || dc_log "$@"; }

[[ $EUID -eq 0 ]] || dc_die "cluster:down needs root, as cluster:up did"
if [[ ! -d "$DC_RUN" && ! -d "$DC_DATA" ]] && ! ip link show "$DC_NODE_DEV" >/dev/null 2>&1; then
  say "no devcluster on this machine"
  rm -f "$DC_REPO_KUBECONFIG"
  exit 0
fi
DC_BIN="$(bash "$DC_REPO_ROOT/e2e/devcluster/build-binaries.sh" 2>/dev/null || true)"

stop_pid() { # component
  local f="$DC_PIDS/$1.pid" pid i
  dc_pid_alive "$1" || { rm -f "$f" "$DC_PIDS/$1.start"; return 0; }
  pid="$(cat "$f")"
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 50); do [[ -d "/proc/$pid" ]] || break; sleep 0.2; done
  if [[ -d "/proc/$pid" ]]; then kill -KILL "$pid" 2>/dev/null || true; sleep 0.2; fi
  rm -f "$f" "$DC_PIDS/$1.start"
  say "stopped $1 (pid $pid)"
}

remove_pods() {
  [[ -x "$DC_BIN/crictl" && -f "$DC_DATA/containerd.toml" ]] || return 0
  # kubelet would recreate what we remove
  stop_pid kubelet
  # Pods' sandboxes hold network namespaces and veths that only a CNI DEL releases, so containerd
  # must be running for this even when the rest of the cluster was killed.
  if ! dc_pid_alive containerd; then
    mkdir -p "$DC_PIDS" "$DC_LOGS"
    setsid containerd --config "$DC_DATA/containerd.toml" >>"$DC_LOGS/containerd.log" 2>&1 </dev/null &
    echo $! >"$DC_PIDS/containerd.pid"
    sleep 0.2
    cut -d' ' -f22 "/proc/$(cat "$DC_PIDS/containerd.pid")/stat" >"$DC_PIDS/containerd.start" 2>/dev/null || true
    local i
    for i in $(seq 1 50); do ctr --address "$DC_CONTAINERD_SOCK" version >/dev/null 2>&1 && break; sleep 0.2; done
  fi
  local n
  n="$(dc_crictl pods -q 2>/dev/null | wc -l)"
  if ((n > 0)); then
    dc_crictl rmp -a -f >/dev/null 2>&1 || dc_crictl rmp -a -f >/dev/null 2>&1 || true
    say "removed $n pod sandboxes"
  fi
}

stop_components() {
  local i
  for ((i = ${#DC_COMPONENTS[@]} - 1; i >= 0; i--)); do stop_pid "${DC_COMPONENTS[$i]}"; done
}

unmount_all() {
  local m
  # deepest first; our mounts all live below our two folders
  findmnt -rn -o TARGET | awk -v a="$DC_DATA" -v b="$DC_RUN" 'index($0, a "/") == 1 || index($0, b "/") == 1 || $0 == a || $0 == b' |
    sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

iptables_cleanup() {
  [[ -x "$DC_BIN/kube-proxy" ]] && "$DC_BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
  # kubelet's canaries and firewall chains, the CNI plugins' chains and our own isolation chain:
  # all named KUBE-* / CNI-* / GDC-*
  local ipt table chain rule
  for ipt in iptables ip6tables; do
    command -v "$ipt" >/dev/null || continue
    for table in filter nat mangle raw; do
      "$ipt" -t "$table" -S >/dev/null 2>&1 || continue
      # first the rules that jump into our chains from chains that are not ours
      { "$ipt" -t "$table" -S | grep -E -- '^-A .*-j (KUBE-|CNI-|GDC-)' | grep -vE '^-A (KUBE-|CNI-|GDC-)' || true; } |
        while read -r rule; do
          # shellcheck disable=SC2086
          eval "$ipt -t $table ${rule/-A /-D }" 2>/dev/null || true
        done
      for chain in $("$ipt" -t "$table" -S | awk '$1=="-N" && ($2 ~ /^KUBE-/ || $2 ~ /^CNI-/ || $2 ~ /^GDC-/) {print $2}'); do
        "$ipt" -t "$table" -F "$chain" 2>/dev/null || true
      done
      for chain in $("$ipt" -t "$table" -S | awk '$1=="-N" && ($2 ~ /^KUBE-/ || $2 ~ /^CNI-/ || $2 ~ /^GDC-/) {print $2}'); do
        "$ipt" -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
}

links_cleanup() {
  local l
  for l in "$DC_CNI_BRIDGE" "$DC_NODE_DEV" kube-ipvs0; do
    ip link show "$l" >/dev/null 2>&1 && ip link delete "$l" 2>/dev/null || true
  done
}

cgroups_cleanup() {
  # kubelet's cgroup tree (cgroupfs driver): remove bottom-up, only empty ones can go
  local root
  for root in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/*/kubepods.slice /sys/fs/cgroup/unified/kubepods; do
    [[ -d "$root" ]] || continue
    find "$root" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}

host_restore() {
  [[ -d "$DC_STATE" ]] || return 0
  local v
  if v="$(cat "$DC_STATE/forward-policy" 2>/dev/null)" && [[ -n "$v" ]]; then iptables -P FORWARD "$v" || true; fi
  if v="$(cat "$DC_STATE/ip-forward" 2>/dev/null)"; then sysctl -qw "net.ipv4.ip_forward=$v" || true; fi
  if v="$(cat "$DC_STATE/bridge-nf-iptables" 2>/dev/null)"; then sysctl -qw "net.bridge.bridge-nf-call-iptables=$v" 2>/dev/null || true; fi
  if v="$(cat "$DC_STATE/route-localnet" 2>/dev/null)"; then sysctl -qw "net.ipv4.conf.all.route_localnet=$v" || true; fi
  if v="$(cat "$DC_STATE/root-propagation" 2>/dev/null)"; then
    case "$v" in
      private) mount --make-rprivate / ;;
      shared) mount --make-shared / ;;
      slave) mount --make-rslave / ;;
    esac
  fi
}

remove_pods
stop_components
unmount_all
iptables_cleanup
links_cleanup
cgroups_cleanup
host_restore
rm -rf "$DC_RUN" "$DC_DATA" "$DC_REPO_KUBECONFIG"
say "devcluster removed"
