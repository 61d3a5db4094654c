#!/usr/bin/env bash
# npm run cluster:up — a real single-node Kubernetes on this machine, every component a real one:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet on containerd (runc),
# kube-proxy (iptables), a CNI bridge network and CoreDNS. Idempotent: a healthy cluster is reused.
set -euo pipefail
# shellcheck source=config.sh
source "$(dirname "${BASH_SOURCE[0]}")/config.sh"

[[ $EUID -eq 0 ]] || dc_die "the devcluster runs kubelet, containerd and iptables changes and needs root: run as root (sudo npm run cluster:up)"
T_START=$SECONDS

setup_system() {
  if [[ -f "$DC_REPO_ROOT/scripts/setup-system.sh" ]]; then
    bash "$DC_REPO_ROOT/scripts/setup-system.sh" --for test
  fi
  for cmd in containerd runc ctr iptables ip openssl docker; do
    command -v "$cmd" >/dev/null || dc_die "$cmd is missing: run 'bash scripts/setup-system.sh --for test' (or apt-get install containerd runc iptables iproute2 openssl docker.io)"
  done
  [[ -x /usr/lib/cni/bridge ]] || dc_die "CNI plugins are missing: apt-get install containernetworking-plugins"
  docker info >/dev/null 2>&1 || dc_die "no Docker engine answers: run 'bash scripts/setup-system.sh --for test' or start dockerd"
}

binaries() {
  DC_BIN="$(bash "$DC_REPO_ROOT/e2e/devcluster/build-binaries.sh")"
  export DC_BIN
}

cluster_healthy() {
  local c
  for c in "${DC_COMPONENTS[@]}"; do dc_pid_alive "$c" || return 1; done
  dc_kubectl get --raw /readyz >/dev/null 2>&1 || return 1
  dc_kubectl get node "$DC_NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -q True
}

# ---------------------------------------------------------------- host
host_prepare() {
  mkdir -p "$DC_RUN" "$DC_PIDS" "$DC_DATA" "$DC_LOGS" "$DC_STATE"
  # Remember what we change so that down puts the machine back exactly.
  record() { [[ -f "$DC_STATE/$1" ]] || printf '%s\n' "$2" >"$DC_STATE/$1"; }
  record root-propagation "$(findmnt -no PROPAGATION / || echo private)"
  record forward-policy "$(iptables -S FORWARD | awk '$1=="-P"{print $3}')"
  record ip-forward "$(sysctl -n net.ipv4.ip_forward)"
  record bridge-nf-iptables "$(sysctl -n net.bridge.bridge-nf-call-iptables 2>/dev/null || echo 0)"
  record route-localnet "$(sysctl -n net.ipv4.conf.all.route_localnet)"
  # kubelet's volume mounts must propagate into containers
  mount --make-rshared /
  sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
  # dockerd sets FORWARD to DROP, which would cut pods off from Docker networks and the host
  iptables -P FORWARD ACCEPT
  isolate_docker_networks
  if ! ip link show "$DC_NODE_DEV" >/dev/null 2>&1; then
    # a port-less bridge: this kernel has no dummy driver, and a bridge holds a local address as well
    ip link add "$DC_NODE_DEV" type bridge
  fi
  ip addr replace "$DC_NODE_IP/32" dev "$DC_NODE_DEV"
  ip link set "$DC_NODE_DEV" up
}

# Docker containers on this machine could otherwise reach pod and Service IPs through the host's
# own routes and kube-proxy rules, which no remote cluster allows and which would let traffic
# bypass the product's tunnel unnoticed. Like a kind node, the devcluster lets Docker networks reach
# only the node's address (NodePorts, the API server); everything else must come through a tunnel.
isolate_docker_networks() {
  iptables -N GDC-ISOLATION 2>/dev/null || iptables -F GDC-ISOLATION
  # DOCKER-USER is where Docker wants such rules: dockerd puts its own ACCEPTs at the top of
  # FORWARD whenever a network is created, and jumps to DOCKER-USER first.
  local hook=FORWARD
  iptables -S DOCKER-USER >/dev/null 2>&1 && hook=DOCKER-USER
  iptables -C "$hook" -j GDC-ISOLATION 2>/dev/null || iptables -I "$hook" 1 -j GDC-ISOLATION
  iptables -A GDC-ISOLATION -o "$DC_CNI_BRIDGE" -m conntrack --ctstate NEW --ctorigdst "$DC_NODE_IP" -j RETURN
  # frames bridged inside one Docker network (br_netfilter shows them here) are not ours to judge
  iptables -A GDC-ISOLATION -i docker0 -o docker0 -j RETURN
  iptables -A GDC-ISOLATION -i br-+ -o br-+ -j RETURN
  iptables -A GDC-ISOLATION -i docker0 -o "$DC_CNI_BRIDGE" -m conntrack --ctstate NEW -j DROP
  iptables -A GDC-ISOLATION -i br-+ -o "$DC_CNI_BRIDGE" -m conntrack --ctstate NEW -j DROP
  # Service IPs are not DNAT-ed for Docker bridges (below); refuse them here so that such a packet
  # fails at once instead of leaving the machine by its default route.
  iptables -A GDC-ISOLATION -i docker0 -d "$DC_SERVICE_CIDR" -j REJECT
  iptables -A GDC-ISOLATION -i br-+ -d "$DC_SERVICE_CIDR" -j REJECT
}

# With br_netfilter, kube-proxy's nat rules (in this host's namespace) would also rewrite frames
# *bridged* between two containers of one Docker network: a packet from an app container to a
# Service IP, addressed to Cargo, would be DNAT-ed to a pod IP by the host and never enter the
# tunnel. No remote cluster touches a laptop's Docker bridges, so neither does the devcluster.
# Runs after kube-proxy's first sync: it puts its own jump at the top of PREROUTING once (only
# checking later that it exists), and ours must come before it. Its healthz answers before that
# first sync, so on a new machine the jump is waited for, not assumed.
docker_bridges_skip_kube_proxy() {
  local waited=0
  until iptables -t nat -S PREROUTING | grep -q -- "-j KUBE-SERVICES"; do
    if ((waited >= 300)); then
      echo "[devcluster] kube-proxy has not added its KUBE-SERVICES jump to nat PREROUTING after 30 s: see $DC_LOGS/kube-proxy.log" >&2
      return 1
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  iptables -t nat -N GDC-DOCKER-BRIDGES 2>/dev/null || iptables -t nat -F GDC-DOCKER-BRIDGES
  iptables -t nat -D PREROUTING -j GDC-DOCKER-BRIDGES 2>/dev/null || true
  iptables -t nat -I PREROUTING 1 -j GDC-DOCKER-BRIDGES
  local iface
  for iface in docker0 br-+; do
    iptables -t nat -A GDC-DOCKER-BRIDGES -i "$iface" -d "$DC_SERVICE_CIDR" -j ACCEPT
  done
}

# ---------------------------------------------------------------- certificates
gen_cert() { # name CN O [SANs]
  local name="$1" cn="$2" org="$3" sans="${4:-}"
  [[ -f "$DC_PKI/$name.crt" ]] && return
  local ext
  ext="$(mktemp)"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=serverAuth,clientAuth"
    [[ -n "$sans" ]] && echo "subjectAltName=$sans"
  } >"$ext"
  local subj="/CN=$cn"
  [[ -n "$org" ]] && subj="/O=$org/CN=$cn"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$DC_PKI/$name.key" \
    -subj "$subj" -out "$DC_PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$DC_PKI/$name.csr" -CA "$DC_PKI/ca.crt" -CAkey "$DC_PKI/ca.key" -CAcreateserial \
    -days 3650 -extfile "$ext" -out "$DC_PKI/$name.crt" 2>/dev/null
  rm -f "$ext" "$DC_PKI/$name.csr"
}

kubeconfig_for() { # name client-cert-name
  local file="$DC_DATA/$1.kubeconfig"
  [[ -f "$file" ]] && return
  local k=("$DC_BIN/kubectl" --kubeconfig "$file")
  "${k[@]}" config set-cluster devcluster --server "https://$DC_NODE_IP:$DC_API_PORT" --certificate-authority "$DC_PKI/ca.crt" --embed-certs >/dev/null
  "${k[@]}" config set-credentials "$1" --client-certificate "$DC_PKI/$2.crt" --client-key "$DC_PKI/$2.key" --embed-certs >/dev/null
  "${k[@]}" config set-context gefyra-devcluster --cluster devcluster --user "$1" >/dev/null
  "${k[@]}" config use-context gefyra-devcluster >/dev/null
}

pki() {
  mkdir -p "$DC_PKI"
  if [[ ! -f "$DC_PKI/ca.crt" ]]; then
    openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -keyout "$DC_PKI/ca.key" \
      -subj "/CN=gefyra-devcluster-ca" -days 3650 -out "$DC_PKI/ca.crt" 2>/dev/null
  fi
  if [[ ! -f "$DC_PKI/sa.key" ]]; then
    openssl genrsa -out "$DC_PKI/sa.key" 2048 2>/dev/null
    openssl rsa -in "$DC_PKI/sa.key" -pubout -out "$DC_PKI/sa.pub" 2>/dev/null
  fi
  gen_cert apiserver kube-apiserver "" "IP:$DC_NODE_IP,IP:$DC_KUBERNETES_SVC_IP,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  gen_cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
  gen_cert admin gefyra-devcluster-admin system:masters
  gen_cert controller-manager system:kube-controller-manager ""
  gen_cert scheduler system:kube-scheduler ""
  gen_cert kubelet-client "system:node:$DC_NODE_NAME" system:nodes
  gen_cert kubelet-serving "$DC_NODE_NAME" "" "IP:$DC_NODE_IP,IP:127.0.0.1,DNS:$DC_NODE_NAME,DNS:localhost"
  gen_cert kube-proxy system:kube-proxy ""
  kubeconfig_for admin admin
  kubeconfig_for controller-manager controller-manager
  kubeconfig_for scheduler scheduler
  kubeconfig_for kubelet kubelet-client
  kubeconfig_for kube-proxy kube-proxy
}

# ---------------------------------------------------------------- processes
start_component() { # name cmd...
  local name="$1"; shift
  if dc_pid_alive "$name"; then return; fi
  # setsid: the cluster outlives the shell that started it (npm, a test run)
  setsid "$@" >>"$DC_LOGS/$name.log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$DC_PIDS/$name.pid"
  # the start time tells our process from a later one that got the same pid
  local i
  for i in 1 2 3 4 5; do
    [[ -r "/proc/$pid/stat" ]] && break
    sleep 0.1
  done
  cut -d' ' -f22 "/proc/$pid/stat" >"$DC_PIDS/$name.start" 2>/dev/null || true
}

wait_for() { # name timeout-seconds check-command...
  local name="$1" timeout="$2"; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ! dc_pid_alive "$name"; then
      dc_log "$name exited. Last lines of $DC_LOGS/$name.log:"
      tail -n 30 "$DC_LOGS/$name.log" >&2 || true
      dc_die "$name did not start (see its log above; 'npm run cluster:down' cleans up)"
    fi
    if ((SECONDS >= deadline)); then
      dc_log "$name not healthy after ${timeout}s. Last lines of $DC_LOGS/$name.log:"
      tail -n 30 "$DC_LOGS/$name.log" >&2 || true
      dc_die "$name did not become healthy within ${timeout}s"
    fi
    sleep 0.3
  done
}

https_ok() { curl -fsk --max-time 2 "$1"; }

capsh_has_sys_resource() { # CAP_SYS_RESOURCE is bit 24 of the effective set
  local eff
  eff="$(awk '/^CapEff/ {print $2}' /proc/self/status)"
  (((16#$eff >> 24) & 1))
}

containerd_up() {
  mkdir -p "$DC_RUN/containerd" "$DC_DATA/containerd" "$DC_DATA/cni/net.d"
  cat >"$DC_DATA/containerd.toml" <<TOML
version = 2
root = "$DC_DATA/containerd"
state = "$DC_RUN/containerd-state"
[grpc]
  address = "$DC_CONTAINERD_SOCK"
[ttrpc]
  address = "$DC_CONTAINERD_SOCK.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$DC_PAUSE_IMAGE"
  # This machine withholds CAP_SYS_RESOURCE, so runc cannot lower oom_score_adj below the
  # caller's (kubelet asks -998 for sandboxes): clamp instead of failing every pod.
  restrict_oom_score_adj = $(capsh_has_sys_resource && echo false || echo true)
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$DC_RUN/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$DC_DATA/cni/net.d"
[plugins."io.containerd.internal.v1.opt"]
  path = "$DC_DATA/containerd-opt"
TOML
  start_component containerd containerd --config "$DC_DATA/containerd.toml"
  wait_for containerd 30 ctr --address "$DC_CONTAINERD_SOCK" version
}

etcd_up() {
  start_component etcd "$DC_BIN/etcd" --name devcluster --data-dir "$DC_DATA/etcd" \
    --listen-client-urls "http://127.0.0.1:$DC_ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$DC_ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$DC_ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$DC_ETCD_PEER_PORT" \
    --initial-cluster "devcluster=http://127.0.0.1:$DC_ETCD_PEER_PORT" --quota-backend-bytes 2147483648 \
    --snapshot-count 10000 --log-level warn
  wait_for etcd 30 curl -fs --max-time 2 "http://127.0.0.1:$DC_ETCD_PORT/health"
}

apiserver_up() {
  start_component kube-apiserver "$DC_BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$DC_ETCD_PORT" \
    --bind-address "$DC_NODE_IP" --advertise-address "$DC_NODE_IP" --secure-port "$DC_API_PORT" \
    --tls-cert-file "$DC_PKI/apiserver.crt" --tls-private-key-file "$DC_PKI/apiserver.key" \
    --client-ca-file "$DC_PKI/ca.crt" \
    --kubelet-client-certificate "$DC_PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$DC_PKI/apiserver-kubelet-client.key" \
    --service-account-issuer "https://kubernetes.default.svc.cluster.local" \
    --service-account-key-file "$DC_PKI/sa.pub" --service-account-signing-key-file "$DC_PKI/sa.key" \
    --service-cluster-ip-range "$DC_SERVICE_CIDR" \
    --authorization-mode Node,RBAC --allow-privileged=true \
    --kubelet-preferred-address-types InternalIP,Hostname \
    --enable-admission-plugins NodeRestriction \
    --profiling=false --v=1
  wait_for kube-apiserver 90 dc_kubectl get --raw /readyz
}

controllers_up() {
  start_component kube-controller-manager "$DC_BIN/kube-controller-manager" \
    --kubeconfig "$DC_DATA/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$DC_DATA/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$DC_DATA/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials \
    --service-account-private-key-file "$DC_PKI/sa.key" --root-ca-file "$DC_PKI/ca.crt" \
    --cluster-signing-cert-file "$DC_PKI/ca.crt" --cluster-signing-key-file "$DC_PKI/ca.key" \
    --service-cluster-ip-range "$DC_SERVICE_CIDR" \
    --allocate-node-cidrs --cluster-cidr "$DC_POD_CIDR" --node-cidr-mask-size 24 --v=1
  start_component kube-scheduler "$DC_BIN/kube-scheduler" \
    --kubeconfig "$DC_DATA/scheduler.kubeconfig" \
    --authentication-kubeconfig "$DC_DATA/scheduler.kubeconfig" \
    --authorization-kubeconfig "$DC_DATA/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --v=1
  wait_for kube-controller-manager 60 https_ok https://127.0.0.1:10257/healthz
  wait_for kube-scheduler 60 https_ok https://127.0.0.1:10259/healthz
}

kubelet_up() {
  cat >"$DC_DATA/cni/net.d/10-devcluster.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "devcluster",
  "plugins": [
    {
      "type": "bridge", "bridge": "$DC_CNI_BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
      "ipam": { "type": "host-local", "ranges": [[{ "subnet": "$DC_NODE_POD_CIDR" }]], "routes": [{ "dst": "0.0.0.0/0" }],
                "dataDir": "$DC_DATA/cni/ipam" }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
JSON
  cat >"$DC_DATA/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $DC_NODE_IP
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: $DC_PKI/ca.crt }
authorization: { mode: Webhook }
cgroupDriver: cgroupfs
# This machine mounts cgroup v1; 1.34 still runs on it when told so (see docs/decisions/0001).
failCgroupV1: false
failSwapOn: false
clusterDNS: [$DC_DNS_IP]
clusterDomain: cluster.local
containerRuntimeEndpoint: unix://$DC_CONTAINERD_SOCK
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $DC_PKI/kubelet-serving.crt
tlsPrivateKeyFile: $DC_PKI/kubelet-serving.key
resolvConf: /etc/resolv.conf
# a developer machine's disk is often fuller than a server's: evict only when truly out of space
evictionHard: { memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%" }
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
maxPods: 250
YAML
  start_component kubelet "$DC_BIN/kubelet" --config "$DC_DATA/kubelet.yaml" \
    --kubeconfig "$DC_DATA/kubelet.kubeconfig" --root-dir "$DC_DATA/kubelet" \
    --hostname-override "$DC_NODE_NAME" --node-ip "$DC_NODE_IP" --v=1
  wait_for kubelet 60 curl -fs --max-time 2 http://127.0.0.1:10248/healthz
  wait_for kubelet 90 node_ready
}

node_ready() {
  dc_kubectl get node "$DC_NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' | grep -q True
}

proxy_up() {
  cat >"$DC_DATA/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: { kubeconfig: $DC_DATA/kube-proxy.kubeconfig }
hostnameOverride: $DC_NODE_NAME
mode: iptables
clusterCIDR: $DC_POD_CIDR
# NodePorts answer on the node's address only, never on the machine's real interfaces
nodePortAddresses: ["$DC_NODE_IP/32"]
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# leave the host's conntrack sysctls alone (as hack/local-up-cluster.sh does)
conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s }
YAML
  start_component kube-proxy "$DC_BIN/kube-proxy" --config "$DC_DATA/kube-proxy.yaml" --v=1
  wait_for kube-proxy 60 curl -fs --max-time 2 http://127.0.0.1:10256/healthz
}

# ---------------------------------------------------------------- images and add-ons
image_in_cluster() { dc_ctr images ls -q 2>/dev/null | grep -qx "$1"; }

pause_image() {
  image_in_cluster "$DC_PAUSE_IMAGE" && return
  if ! docker image inspect "$DC_PAUSE_IMAGE" >/dev/null 2>&1; then
    bash "$DC_REPO_ROOT/images/build.sh" --no-load pause
  fi
  bash "$DC_REPO_ROOT/e2e/devcluster/load.sh" "$DC_PAUSE_IMAGE"
}

coredns_image() {
  image_in_cluster "docker.io/$DC_COREDNS_IMAGE" && return
  if ! docker image inspect "$DC_COREDNS_IMAGE" >/dev/null 2>&1; then
    local ctx
    ctx="$(mktemp -d)"
    cp "$DC_BIN/coredns" "$ctx/coredns"
    printf 'FROM scratch\nCOPY coredns /coredns\nEXPOSE 53 53/udp\nENTRYPOINT ["/coredns"]\n' >"$ctx/Dockerfile"
    docker build -q -t "$DC_COREDNS_IMAGE" "$ctx" >/dev/null
    rm -rf "$ctx"
  fi
  bash "$DC_REPO_ROOT/e2e/devcluster/load.sh" "$DC_COREDNS_IMAGE"
}

coredns_up() {
  sed -e "s|@DNS_IP@|$DC_DNS_IP|g" -e "s|@IMAGE@|$DC_COREDNS_IMAGE|g" \
    "$DC_REPO_ROOT/e2e/devcluster/manifests/coredns.yaml" | dc_kubectl apply -f - >/dev/null
  dc_kubectl -n kube-system rollout status deployment/coredns --timeout=120s >/dev/null ||
    { dc_kubectl -n kube-system describe pods -l k8s-app=kube-dns | tail -n 30 >&2; dc_die "CoreDNS did not become ready"; }
}

default_service_account() {
  local deadline=$((SECONDS + 60))
  until dc_kubectl get serviceaccount default -n default >/dev/null 2>&1; do
    ((SECONDS < deadline)) || dc_die "the default ServiceAccount never appeared (kube-controller-manager: $DC_LOGS/kube-controller-manager.log)"
    sleep 0.5
  done
}

publish_kubeconfig() {
  mkdir -p "$(dirname "$DC_REPO_KUBECONFIG")"
  cp "$DC_KUBECONFIG" "$DC_REPO_KUBECONFIG"
  chmod 600 "$DC_REPO_KUBECONFIG"
}

# ---------------------------------------------------------------- main
dc_phase "system packages and Docker engine" setup_system
dc_phase "Kubernetes binaries ($DC_KUBE_VERSION)" binaries

if cluster_healthy; then
  dc_log "devcluster already running"
  # cheap and idempotent: put back the host rules should anything have removed them
  isolate_docker_networks
  docker_bridges_skip_kube_proxy
else
  if [[ -d "$DC_RUN" || -d "$DC_DATA" ]] && ls "$DC_PIDS"/*.pid >/dev/null 2>&1; then
    dc_phase "cleaning up a previous devcluster that is no longer healthy" bash "$DC_REPO_ROOT/e2e/devcluster/down.sh" --quiet
  fi
  dc_phase "host network and mounts" host_prepare
  dc_phase "certificates and kubeconfigs" pki
  dc_phase "containerd" containerd_up
  dc_phase "etcd" etcd_up
  dc_phase "kube-apiserver" apiserver_up
  dc_phase "kube-controller-manager and kube-scheduler" controllers_up
  dc_phase "kubelet (node Ready)" kubelet_up
  dc_phase "kube-proxy" proxy_up
  dc_phase "Docker bridges kept out of kube-proxy's DNAT" docker_bridges_skip_kube_proxy
  dc_phase "pause image" pause_image
  dc_phase "CoreDNS image" coredns_image
  dc_phase "CoreDNS" coredns_up
  dc_phase "default ServiceAccount" default_service_account
fi
publish_kubeconfig
dc_log "devcluster ready in $((SECONDS - T_START)) s: Kubernetes $DC_KUBE_VERSION, node $DC_NODE_NAME ($DC_NODE_IP)"
echo "$DC_REPO_KUBECONFIG"
