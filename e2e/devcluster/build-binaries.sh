#!/usr/bin/env bash
# Builds the devcluster's Kubernetes, etcd and CoreDNS binaries from their Go modules and caches
# them by version outside the repo, so only the first run on a machine pays for the compile.
# Why a wrapper module: k8s.io/kubernetes pins its staging modules at v0.0.0 with replace
# directives that only apply inside its own repo, so `go install` refuses it; a module of ours that
# requires it and replaces each staging module by its published v0.X.Y builds the same code.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.5}"
COREDNS_VERSION="${COREDNS_VERSION:-v1.14.7}"
CRICTL_VERSION="${CRICTL_VERSION:-v1.34.0}"
CACHE_ROOT="${GEFYRA_DEVCLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gefyra-devcluster}"
BIN_DIR="$CACHE_ROOT/bin/k8s-$KUBE_VERSION-etcd-$ETCD_VERSION-coredns-$COREDNS_VERSION"
KUBE_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)

log() { printf '[devcluster build] %s\n' "$*" >&2; }

all_present() {
  for b in "${KUBE_CMDS[@]}" etcd coredns crictl; do [[ -x "$BIN_DIR/$b" ]] || return 1; done
}

if all_present; then
  echo "$BIN_DIR"
  exit 0
fi

command -v go >/dev/null || { echo "error: Go is needed to build the devcluster (install Go >= 1.24 and retry)" >&2; exit 1; }
mkdir -p "$BIN_DIR"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export GOFLAGS="${GOFLAGS:-} -mod=mod" CGO_ENABLED=0 GOTOOLCHAIN=local

build_kubernetes() {
  local minor staging mod
  minor="$(echo "$KUBE_VERSION" | cut -d. -f2)"
  staging="v0.${KUBE_VERSION#v1.}"
  mod="$WORK/kubernetes"
  mkdir -p "$mod"
  log "resolving k8s.io/kubernetes@$KUBE_VERSION"
  local gomod
  gomod="$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')"
  {
    echo "module devcluster/kubernetes"
    echo "go 1.24.0"
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    # every staging module the upstream go.mod pins at v0.0.0 gets its published version
    grep -E '^\s+k8s\.io/[a-z0-9-]+ v0\.0\.0$' "$gomod" | awk -v v="$staging" '{print "replace " $1 " => " $1 " " v}'
  } >"$mod/go.mod"
  local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/component-base/version.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ) -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  (cd "$mod" && go mod download k8s.io/kubernetes >/dev/null 2>&1 || true)
  for c in "${KUBE_CMDS[@]}"; do
    [[ -x "$BIN_DIR/$c" ]] && continue
    log "building $c $KUBE_VERSION (cold builds take minutes)"
    local t0=$SECONDS
    (cd "$mod" && go build -trimpath -ldflags "$ldflags" -o "$BIN_DIR/$c.tmp" "k8s.io/kubernetes/cmd/$c")
    mv "$BIN_DIR/$c.tmp" "$BIN_DIR/$c"
    log "built $c in $((SECONDS - t0)) s"
  done
}

build_etcd() {
  [[ -x "$BIN_DIR/etcd" ]] && return
  local mod="$WORK/etcd"
  mkdir -p "$mod"
  # etcd's own main is a one-liner around etcdmain; ours is the same so the server module builds alone
  cat >"$mod/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  printf 'module devcluster/etcd\ngo 1.24.0\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" >"$mod/go.mod"
  log "building etcd $ETCD_VERSION"
  local t0=$SECONDS
  (cd "$mod" && go mod tidy >/dev/null && go build -trimpath -ldflags "-s -w" -o "$BIN_DIR/etcd.tmp" .)
  mv "$BIN_DIR/etcd.tmp" "$BIN_DIR/etcd"
  log "built etcd in $((SECONDS - t0)) s"
}

build_coredns() {
  [[ -x "$BIN_DIR/coredns" ]] && return
  log "building coredns $COREDNS_VERSION"
  local t0=$SECONDS
  GOBIN="$WORK/gobin" go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION"
  mv "$WORK/gobin/coredns" "$BIN_DIR/coredns"
  log "built coredns in $((SECONDS - t0)) s"
}

build_crictl() {
  [[ -x "$BIN_DIR/crictl" ]] && return
  log "building crictl $CRICTL_VERSION"
  GOBIN="$WORK/gobin" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
  mv "$WORK/gobin/crictl" "$BIN_DIR/crictl"
}

build_etcd
build_coredns
build_crictl
build_kubernetes
all_present || { echo "error: devcluster binaries incomplete in $BIN_DIR" >&2; exit 1; }
echo "$BIN_DIR"
