#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# `npm run images`: build every image in images/ and load it into the local devcluster.
#
#   bash images/build.sh [--no-load] [--verbose] [NAME...]
#     NAME       only these images/<NAME>/ folders (default: every folder with a Dockerfile)
#     --no-load  build only; don't copy the images into the devcluster
#     --verbose  stream docker build's output (default: shown only when a build fails)
#
# Per folder images/<name>/:
#   Dockerfile  a conventional Dockerfile (FROM debian:bookworm-slim or scratch); required
#   context     optional: one line, the build context as a path relative to the repo root (e.g. `.`
#               when the image needs workspace sources); default: the folder itself
#   prebuild    optional: one line, a command run from the repo root before docker build (e.g.
#               `node operator/build.mjs` bundles TypeScript with the workspace's own esbuild, so
#               the Dockerfile only copies the bundle and needs no npm inside the build)
#   image       optional: one line, the full image reference to tag (pause uses
#               registry.k8s.io/pause:3.10); default: gefyra-ts/<name>:<version of root package.json>
#
# The base image debian:bookworm-slim is made first when missing (images/base/build.sh). Unchanged
# images rebuild from docker's layer cache in about a second. Loading uses e2e/devcluster/load.sh
# when the devcluster's containerd socket exists, and is skipped otherwise.
set -euo pipefail
# shellcheck disable=SC2034 # read by scripts/lib/common.sh
GEFYRA_LOG_PREFIX=images
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../scripts/lib/common.sh
source "$HERE/../scripts/lib/common.sh"
# shellcheck source=../scripts/lib/docker-engine.sh
source "$HERE/../scripts/lib/docker-engine.sh"
# shellcheck source=../scripts/lib/devcluster.sh
source "$HERE/../scripts/lib/devcluster.sh"

load=1
verbose=0
wanted=()
for a in "$@"; do
  case "$a" in
    --no-load) load=0 ;;
    --verbose) verbose=1 ;;
    -h | --help)
      gefyra_usage "${BASH_SOURCE[0]}"
      exit 0
      ;;
    -*) gefyra_die "unknown option '$a'; usage: bash images/build.sh [--no-load] [--verbose] [NAME...]" ;;
    *) wanted+=("$a") ;;
  esac
done

gefyra_require_cmd docker docker.io
docker_engine_answers ||
  gefyra_die "no Docker engine answers${DOCKER_HOST:+ at DOCKER_HOST=$DOCKER_HOST}; run bash scripts/setup-system.sh (npm run setup) first"
docker_use_classic_builder_if_needed

total="$(gefyra_now)"
version="$(gefyra_repo_version)"

all=()
for d in "$HERE"/*/; do
  [[ -f "$d/Dockerfile" ]] && all+=("$(basename "$d")")
done
if ((${#wanted[@]} == 0)); then
  names=("${all[@]}")
else
  names=()
  for n in "${wanted[@]}"; do
    [[ -f "$HERE/$n/Dockerfile" ]] || gefyra_die "no images/$n/Dockerfile; images that can be built: ${all[*]:-none}"
    names+=("$n")
  done
fi
((${#names[@]})) || gefyra_die "no images/<name>/Dockerfile found; nothing to build"

gefyra_phase "base image debian:bookworm-slim" bash "$HERE/base/build.sh"

# first non-empty, non-comment line of a file
first_line() { sed -e 's/#.*//' -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' "$1" | sed -n '/./{p;q}'; }

image_ref() {
  local n="$1" ref=""
  [[ -f "$HERE/$n/image" ]] && ref="$(first_line "$HERE/$n/image")"
  printf '%s\n' "${ref:-gefyra-ts/$n:$version}"
}

image_context() {
  local n="$1" rel
  if [[ -f "$HERE/$n/context" ]]; then
    rel="$(first_line "$HERE/$n/context")"
    [[ -n "$rel" && "$rel" != /* ]] || gefyra_die "images/$n/context must hold a path relative to the repo root, e.g. '.'"
    [[ -d "$GEFYRA_REPO_ROOT/$rel" ]] || gefyra_die "images/$n/context names '$rel', which is not a directory under the repo root"
    (cd "$GEFYRA_REPO_ROOT/$rel" && pwd)
  else
    printf '%s\n' "$HERE/$n"
  fi
}

refs=()
summary=()
for n in "${names[@]}"; do
  ref="$(image_ref "$n")"
  ctx="$(image_context "$n")"
  before="$(docker image inspect -f '{{.Id}}' "$ref" 2>/dev/null || true)"
  start="$(gefyra_now)"
  shown="${ctx#"$GEFYRA_REPO_ROOT"}"
  shown="${shown#/}"
  if [[ -f "$HERE/$n/prebuild" ]]; then
    pre="$(first_line "$HERE/$n/prebuild")"
    gefyra_log "prebuild of images/$n: $pre"
    (cd "$GEFYRA_REPO_ROOT" && bash -c "$pre") >&2 || gefyra_die "prebuild of images/$n failed ($pre); fix it and rerun bash images/build.sh $n"
  fi
  gefyra_log "building $ref from images/$n (context ${shown:-.})"
  out="$(mktemp)"
  if ((verbose)); then
    docker build -f "$HERE/$n/Dockerfile" -t "$ref" "$ctx" 2>&1 | tee "$out" >&2 || true
    status="${PIPESTATUS[0]}"
  else
    status=0
    docker build -f "$HERE/$n/Dockerfile" -t "$ref" "$ctx" >"$out" 2>&1 || status=$?
  fi
  if ((status != 0)); then
    tail -n 40 "$out" >&2
    rm -f "$out"
    gefyra_die "docker build of images/$n ($ref) failed (output above); fix images/$n/Dockerfile and rerun bash images/build.sh $n"
  fi
  rm -f "$out"
  after="$(docker image inspect -f '{{.Id}}' "$ref")"
  what=built
  [[ "$before" == "$after" ]] && what=unchanged
  secs="$(gefyra_elapsed "$start")"
  gefyra_log "$ref ${after:7:12} $what in $secs s"
  summary+=("$ref $what ${secs}s")
  refs+=("$ref")
done

if ((!load)); then
  gefyra_log "skipped loading into the devcluster (--no-load)"
elif devcluster_containerd_up; then
  gefyra_phase "load into devcluster" bash "$GEFYRA_REPO_ROOT/e2e/devcluster/load.sh" "${refs[@]}"
else
  gefyra_log "skipped loading: the devcluster is not up (no $GEFYRA_DEVCLUSTER_CONTAINERD_SOCK); after npm run cluster:up, run npm run cluster:load -- ${refs[*]}"
fi
gefyra_log "done in $(gefyra_elapsed "$total") s: ${summary[*]}"
