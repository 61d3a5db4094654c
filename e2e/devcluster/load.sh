#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# `npm run cluster:load -- IMAGE [IMAGE...]`: copy images from the local Docker engine into the
# devcluster's containerd (namespace k8s.io), what `kind load docker-image` does for kind:
#   docker save IMAGE... | ctr --address SOCK -n k8s.io images import --all-platforms -
# The import unpacks the layers (no --no-unpack), so a pod can start from the image at once; give
# such pods imagePullPolicy IfNotPresent (or Never) and a tag other than :latest.
#
# An image whose docker image id already matches the image of that name in the devcluster
# (containerd's config digest) is skipped, so repeated loads are fast.
#
# Settings: GEFYRA_DEVCLUSTER_CONTAINERD_SOCK (default /run/gefyra-devcluster/containerd/containerd.sock),
# CONTAINERD_SNAPSHOTTER (ctr's own variable; default: containerd's default, overlayfs).
set -euo pipefail
# shellcheck disable=SC2034 # read by scripts/lib/common.sh
GEFYRA_LOG_PREFIX=cluster:load
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../../scripts/lib/common.sh
source "$HERE/../../scripts/lib/common.sh"
# shellcheck source=../../scripts/lib/docker-engine.sh
source "$HERE/../../scripts/lib/docker-engine.sh"
# shellcheck source=../../scripts/lib/devcluster.sh
source "$HERE/../../scripts/lib/devcluster.sh"

(($#)) || gefyra_die "no image given; usage: npm run cluster:load -- IMAGE [IMAGE...] (images in the local Docker engine)"
for a in "$@"; do
  [[ "$a" == -h || "$a" == --help ]] && {
    gefyra_usage "${BASH_SOURCE[0]}"
    exit 0
  }
done

SOCK="$GEFYRA_DEVCLUSTER_CONTAINERD_SOCK"
devcluster_containerd_up ||
  gefyra_die "the devcluster is not up (no containerd socket at $SOCK); run npm run cluster:up first"
gefyra_require_cmd ctr containerd
gefyra_require_cmd jq jq
devcluster_ctr version >/dev/null 2>&1 ||
  gefyra_die "the devcluster's containerd does not answer at $SOCK; restart it with npm run cluster:down && npm run cluster:up"
gefyra_require_cmd docker docker.io
docker_engine_answers ||
  gefyra_die "no Docker engine answers${DOCKER_HOST:+ at DOCKER_HOST=$DOCKER_HOST}; run bash scripts/setup-system.sh (npm run setup) first"

total="$(gefyra_now)"
ARCH="$(dpkg --print-architecture 2>/dev/null || echo amd64)"

# The name containerd gives an image reference (docker's normalisation): "nginx" is
# docker.io/library/nginx:latest, "gefyra-ts/x:1" is docker.io/gefyra-ts/x:1.
normalize_ref() {
  local ref="$1" name digest="" first last
  if [[ "$ref" == *@* ]]; then
    digest="@${ref#*@}"
    ref="${ref%%@*}"
  fi
  name="$ref"
  first="${name%%/*}"
  if [[ "$name" != */* ]]; then
    name="docker.io/library/$name"
  elif [[ "$first" != *.* && "$first" != *:* && "$first" != localhost ]]; then
    name="docker.io/$name"
  fi
  last="${name##*/}"
  [[ -z "$digest" && "$last" != *:* ]] && name="$name:latest"
  printf '%s%s\n' "$name" "$digest"
}

# Prints "<config digest> <target digest>" of image NAME in the devcluster, or nothing if absent.
cluster_image_digests() {
  local name="$1" line mt dg json cfg
  line="$(devcluster_ctr images ls "name==$name" 2>/dev/null | awk 'NR == 2 { print $2, $3 }')"
  [[ -n "$line" ]] || return 0
  mt="${line%% *}"
  dg="${line#* }"
  json="$(devcluster_ctr content get "$dg" 2>/dev/null)" || return 0
  case "$mt" in
    *index* | *manifest.list*)
      local m
      m="$(jq -r --arg arch "$ARCH" \
        '[.manifests[] | select(.platform.os == "linux" and .platform.architecture == $arch)][0].digest // empty' <<<"$json")"
      [[ -n "$m" ]] || return 0
      json="$(devcluster_ctr content get "$m" 2>/dev/null)" || return 0
      ;;
  esac
  cfg="$(jq -r '.config.digest // empty' <<<"$json")"
  printf '%s %s\n' "${cfg:-none}" "$dg"
}

# image ids as the Docker engine knows them, and what to load
ids=()
names=()
to_load=()
for img in "$@"; do
  id="$(docker image inspect -f '{{.Id}}' "$img" 2>/dev/null)" ||
    gefyra_die "image $img is not in the Docker engine; docker build or docker pull it first"
  if [[ "$img" =~ ^(sha256:)?[0-9a-f]{12,64}$ && "$id" == *"${img#sha256:}"* ]]; then
    gefyra_die "$img is an image id, which would arrive in the devcluster without a name; tag it (docker tag $img NAME:TAG) and load NAME:TAG"
  fi
  name="$(normalize_ref "$img")"
  ids+=("$id")
  names+=("$name")
  read -r have_cfg have_target <<<"$(cluster_image_digests "$name")" || true
  if [[ -n "${have_cfg:-}" && ("$have_cfg" == "$id" || "$have_target" == "$id") ]]; then
    gefyra_log "$img: already in the devcluster as $name (${id:7:12}); skipped"
  else
    to_load+=("$img")
  fi
done

if ((${#to_load[@]})); then
  start="$(gefyra_now)"
  gefyra_log "importing ${to_load[*]} into containerd at $SOCK (namespace $GEFYRA_DEVCLUSTER_NAMESPACE)"
  out="$(mktemp)"
  set +e
  docker save "${to_load[@]}" | devcluster_ctr images import --all-platforms - >"$out" 2>&1
  st=("${PIPESTATUS[@]}")
  set -e
  if ((st[0] != 0 || st[1] != 0)); then
    tail -n 20 "$out" >&2
    rm -f "$out"
    gefyra_die "loading ${to_load[*]} failed (docker save exit ${st[0]}, ctr import exit ${st[1]}; output above)"
  fi
  rm -f "$out"
  gefyra_log "imported ${#to_load[@]} image(s) in $(gefyra_elapsed "$start") s"
fi

# confirm every image is there under its name with the docker image's id
for i in "${!names[@]}"; do
  read -r have_cfg have_target <<<"$(cluster_image_digests "${names[$i]}")" || true
  if [[ "${have_cfg:-}" != "${ids[$i]}" && "${have_target:-}" != "${ids[$i]}" ]]; then
    gefyra_die "after the import, ${names[$i]} in the devcluster is ${have_cfg:-missing}, not the Docker engine's ${ids[$i]}; rerun npm run cluster:load -- ${names[$i]}"
  fi
done
gefyra_log "${#names[@]} image(s) in the devcluster (${#to_load[@]} loaded, $((${#names[@]} - ${#to_load[@]})) already there) in $(gefyra_elapsed "$total") s"
