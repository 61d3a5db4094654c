#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Makes the base image `debian:bookworm-slim` in the Docker engine when it is missing, without a
# registry: debootstrap a minimal Debian from the mirror this machine's apt already uses, then
# `docker import` it. The rootfs tarball is cached outside the repo, so a rebuild is one import.
#
#   bash images/base/build.sh [--force]     --force: re-import even if the image exists
#   GEFYRA_DEBIAN_MIRROR=URL                 use this mirror instead of the one in /etc/apt
#
# On a machine that can pull, `docker pull debian:bookworm-slim` gives the same tag and this script
# then does nothing. See docs/decisions/0005-local-base-images.md.
set -euo pipefail
# shellcheck disable=SC2034 # read by scripts/lib/common.sh
GEFYRA_LOG_PREFIX="${GEFYRA_LOG_PREFIX:-images/base}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../../scripts/lib/common.sh
source "$HERE/../../scripts/lib/common.sh"
# shellcheck source=../../scripts/lib/debian.sh
source "$HERE/../../scripts/lib/debian.sh"

IMAGE="${GEFYRA_BASE_IMAGE:-debian:bookworm-slim}" # another tag only for testing this script
SUITE=bookworm
force=0
for a in "$@"; do
  case "$a" in
    --force) force=1 ;;
    *) gefyra_die "unknown argument '$a'; usage: bash images/base/build.sh [--force]" ;;
  esac
done

if ((!force)) && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  gefyra_log "$IMAGE present ($(docker image inspect -f '{{.Id}}' "$IMAGE" | cut -c1-19))"
  exit 0
fi

arch="$(dpkg --print-architecture 2>/dev/null || echo amd64)"
cache="$(gefyra_cache_dir base)/debian-$SUITE-minbase-$arch.tar"

make_rootfs_tarball() {
  [[ "$(id -u)" == 0 ]] || gefyra_die "debootstrap needs root; rerun as root, or docker pull $IMAGE where a registry is reachable"
  gefyra_require_cmd debootstrap debootstrap
  local mirror work
  mirror="$(debian_mirror "$SUITE")"
  # not under /tmp: debootstrap needs exec and device nodes, which a tmpfs /tmp may forbid
  work="$(mktemp -d /var/tmp/gefyra-rootfs.XXXXXX)"
  # shellcheck disable=SC2064 # expand $work now
  trap "rm -rf '$work'" EXIT
  gefyra_log "debootstrap --variant=minbase $SUITE from $mirror (about half a minute)"
  if ! debootstrap --variant=minbase --arch="$arch" "$SUITE" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1; then
    tail -n 20 "$work/debootstrap.log" >&2
    gefyra_die "debootstrap of $SUITE from $mirror failed (log above); check the mirror or set GEFYRA_DEBIAN_MIRROR"
  fi
  # Slim it the way the official image is: no package caches or lists, no docs, apt keeps it so.
  local r="$work/rootfs"
  rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/* "$r"/var/log/*.log "$r"/usr/share/man/* \
    "$r"/usr/share/info/* "$r"/usr/share/locale/*
  find "$r/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  cat >"$r/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
  # apt sources: debootstrap wrote the main suite; add -updates and -security when this machine has them
  if [[ -z "${GEFYRA_DEBIAN_MIRROR:-}" ]]; then
    local s u
    for s in "$SUITE-updates" "$SUITE-security"; do
      u="$(debian_mirror "$s" 2>/dev/null)" || continue
      printf 'deb %s %s main\n' "$u" "$s" >>"$r/etc/apt/sources.list"
    done
  fi
  cat >"$r/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  # /dev, /proc and /sys are provided by the container runtime; keep the empty directories only.
  tar --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
    -C "$r" -cf "$cache.tmp" .
  mv "$cache.tmp" "$cache"
  rm -rf "$work"
  trap - EXIT
  gefyra_log "cached rootfs $cache ($(du -h "$cache" | cut -f1))"
}

if [[ -s "$cache" ]]; then
  gefyra_log "using cached rootfs $cache"
else
  gefyra_phase "debootstrap rootfs" make_rootfs_tarball
fi

import_image() {
  docker import \
    --change 'CMD ["bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --message "debootstrap --variant=minbase $SUITE ($arch), imported by images/base/build.sh" \
    - "$IMAGE" <"$cache" >/dev/null
}
gefyra_phase "docker import $IMAGE" import_image
gefyra_log "$IMAGE ready ($(docker image inspect -f '{{.Id}}' "$IMAGE" | cut -c1-19))"
