#!/usr/bin/env bash
# Stages the Node runtime the Carrier image runs on: this machine's own node (the one the product
# requires, 20 or newer) into images/carrier/dist/runtime/node, when it is a standalone build that
# needs nothing beyond glibc and libstdc++ (as the upstream and NodeSource builds are). Otherwise the
# folder is left empty and the Dockerfile installs Debian's nodejs (18 on bookworm), which costs
# Carrier about 30 % more CPU per request (docs/decisions/0025-carrier-runs-on-node-20.md).
#   bash images/carrier/stage-node.sh       (images/carrier/prebuild runs it after the bundle)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dest="$here/dist/runtime"
mkdir -p "$dest"

fallback() {
  rm -f "$dest/node"
  printf 'carrier image: %s; it runs on Debian'"'"'s nodejs instead (slower)\n' "$1" >&2
  exit 0
}

node_bin="$(command -v node || true)"
[[ -n "$node_bin" ]] || fallback "no node on PATH"
node_bin="$(readlink -f "$node_bin")"
major="$("$node_bin" -p 'process.versions.node.split(".")[0]')"
((major >= 20)) || fallback "this machine's node is $("$node_bin" -v), not 20 or newer"
[[ "$("$node_bin" -p 'process.arch')" == x64 || "$("$node_bin" -p 'process.arch')" == arm64 ]] || fallback "unsupported architecture"
# a distribution's node linked against libnode, libuv, openssl… would not start in the image
libs="$(ldd "$node_bin" 2>/dev/null || true)"
extra="$(awk '{print $1}' <<<"$libs" | grep -vE '^(linux-vdso|libdl|libstdc\+\+|libm|libgcc_s|libpthread|libc)\.so|ld-linux' | tr '\n' ' ' || true)"
[[ -z "${extra// /}" ]] || fallback "$node_bin links $extra"
grep -q "not found" <<<"$libs" && fallback "$node_bin misses libraries"

# copied only when it changed, so docker's layer cache holds
if ! cmp -s "$node_bin" "$dest/node"; then
  cp "$node_bin" "$dest/node.tmp" && chmod 0755 "$dest/node.tmp" && mv "$dest/node.tmp" "$dest/node"
fi
echo "carrier image runtime: node $("$dest/node" -v) from $node_bin"
