#!/bin/sh
# Stowaway entrypoint: bring up wg0 (wireguard-go) with the key and the peers the operator keeps in
# Secrets, NAT tunnel traffic into the cluster, then stay in the foreground.
#   /etc/stowaway/key/privateKey   this Stowaway's private key (Secret stowaway-key)
#   /etc/stowaway/peers/peers      one peer per line: "<public key> <tunnel ip> <connection>" (Secret stowaway-peers)
# Env: TUNNEL_ADDRESS (e.g. 192.168.213.1/24), LISTEN_PORT (51820), MTU (1340).
# Peers are added and removed live by the operator (`wg set wg0 peer ...` through exec); this file
# only restores them when the pod restarts.
set -eu
IFACE=wg0
: "${TUNNEL_ADDRESS:=192.168.213.1/24}"
: "${LISTEN_PORT:=51820}"
: "${MTU:=1340}"
KEY=/etc/stowaway/key/privateKey
PEERS=/etc/stowaway/peers/peers
log() { echo "stowaway: $*"; }

[ -s "$KEY" ] || { log "no private key at $KEY"; exit 1; }
if [ "$(cat /proc/sys/net/ipv4/ip_forward)" != 1 ]; then
  echo 1 >/proc/sys/net/ipv4/ip_forward 2>/dev/null || { log "net.ipv4.ip_forward is 0 and cannot be set"; exit 1; }
fi

mkdir -p /var/run/wireguard
wireguard-go "$IFACE"
wg set "$IFACE" private-key "$KEY" listen-port "$LISTEN_PORT"
ip address add "$TUNNEL_ADDRESS" dev "$IFACE"
ip link set "$IFACE" mtu "$MTU" up
subnet="$(ip -o -4 route show dev "$IFACE" scope link | awk '{print $1; exit}')"
iptables -t nat -A POSTROUTING -s "$subnet" ! -d "$subnet" -j MASQUERADE
# clamp TCP MSS to the tunnel's MTU so large transfers never depend on PMTU discovery
iptables -t mangle -A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu

n=0
if [ -f "$PEERS" ]; then
  while read -r pub ip _rest; do
    [ -n "$pub" ] || continue
    wg set "$IFACE" peer "$pub" allowed-ips "$ip/32"
    n=$((n + 1))
  done <"$PEERS"
fi
log "wg0 up on udp/$LISTEN_PORT, address $TUNNEL_ADDRESS, mtu $MTU, $n peer(s) restored"
touch /tmp/ready

trap 'log "stopping"; ip link del "$IFACE" 2>/dev/null; exit 0' TERM INT
# stay alive while wireguard-go runs
while [ -S "/var/run/wireguard/$IFACE.sock" ]; do sleep 2 & wait $!; done
log "wireguard-go exited"
exit 1
