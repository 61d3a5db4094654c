#!/bin/sh
# Cargo entrypoint. Configuration is copied into /etc/cargo before start (never in the env):
#   /etc/cargo/env          shell variables: ADDRESS (tunnel ip), PEER_PUBLIC_KEY, ENDPOINT (host:port),
#                           ROUTES (space-separated CIDRs through the tunnel), MTU, CLUSTER_DNS,
#                           CLUSTER_DOMAIN, API_SERVER (https://ip:port inside the cluster),
#                           LEASE (namespace/name), HEARTBEAT_SECONDS
#   /etc/cargo/privateKey   the peer's WireGuard private key
#   /etc/cargo/token        ServiceAccount token that may only renew that one Lease
#   /etc/cargo/ca.crt       the cluster CA
set -eu
IFACE=wg0
log() { echo "cargo: $*"; }
# shellcheck disable=SC1091
. /etc/cargo/env
: "${MTU:=1340}" "${CLUSTER_DOMAIN:=cluster.local}" "${HEARTBEAT_SECONDS:=10}"

gw="$(ip -4 route show default | awk '{print $3; exit}')"
self="$(ip -4 -o address show dev eth0 | awk '{split($4,a,"/"); print a[1]; exit}')"

mkdir -p /var/run/wireguard
wireguard-go "$IFACE"
wg set "$IFACE" private-key /etc/cargo/privateKey
allowed="$(echo "$ROUTES" | tr ' ' ',')"
wg set "$IFACE" peer "$PEER_PUBLIC_KEY" endpoint "$ENDPOINT" allowed-ips "$allowed" persistent-keepalive 25
ip address add "$ADDRESS/32" dev "$IFACE"
ip link set "$IFACE" mtu "$MTU" up
# the endpoint itself always leaves through eth0, even if it lies inside a routed CIDR
ehost="${ENDPOINT%:*}"
case "$ehost" in *[!0-9.]*) ;; *) ip route replace "$ehost/32" via "$gw" dev eth0 ;; esac
for r in $ROUTES; do ip route replace "$r" dev "$IFACE"; done

# gateway for app containers: NAT into the tunnel and out to the Docker network's gateway
iptables -t nat -A POSTROUTING -o "$IFACE" -j MASQUERADE
iptables -t nat -A POSTROUTING -o eth0 ! -d "$(ip -4 -o route show dev eth0 scope link | awk '{print $1; exit}')" -j MASQUERADE
iptables -t mangle -A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu

# DNS for app containers: cluster names through the tunnel, the rest to Docker's embedded resolver
cat >/etc/cargo/dnsmasq.conf <<CONF
no-resolv
no-hosts
listen-address=$self
bind-interfaces
cache-size=1000
server=/$CLUSTER_DOMAIN/$CLUSTER_DNS
server=/in-addr.arpa/$CLUSTER_DNS
server=127.0.0.11
CONF
dnsmasq --conf-file=/etc/cargo/dnsmasq.conf --keep-in-foreground --log-facility=- &
dns=$!
log "wg0 $ADDRESS -> $ENDPOINT, routes $ROUTES, mtu $MTU, dns on $self"
touch /tmp/ready

# heartbeat: renew the connection's Lease through the tunnel with a token limited to that Lease
ns="${LEASE%/*}"
name="${LEASE#*/}"
beat() {
  now="$(date -u +%Y-%m-%dT%H:%M:%S.000000Z)"
  curl -sS -o /dev/null -w '%{http_code}' --max-time 5 --cacert /etc/cargo/ca.crt \
    -H "Authorization: Bearer $(cat /etc/cargo/token)" -H 'Content-Type: application/merge-patch+json' \
    -X PATCH --data "{\"spec\":{\"renewTime\":\"$now\"}}" \
    "$API_SERVER/apis/coordination.k8s.io/v1/namespaces/$ns/leases/$name" 2>/dev/null || true
}
trap 'log "stopping"; kill "$dns" 2>/dev/null; ip link del "$IFACE" 2>/dev/null; exit 0' TERM INT
last=""
while :; do
  code="$(beat)"
  if [ "$code" != "$last" ]; then log "heartbeat: HTTP $code"; last="$code"; fi
  if [ "$code" = 200 ]; then
    touch /tmp/heartbeat
    sleep "$HEARTBEAT_SECONDS" & wait $!
  else
    # not renewed (tunnel still coming up, API server busy): retry soon, well within the TTL
    sleep 1 & wait $!
  fi
done
