# shellcheck shell=bash source-path=SCRIPTDIR
# scripts/lib/common.sh: logging, errors and phase timing shared by the repo's bash scripts.
#
# Source it (it defines functions and a few variables, runs nothing, and is safe to source twice):
#   source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/common.sh"
#
# Stable interface (other scripts depend on these names; add, don't rename):
#   GEFYRA_LOG_PREFIX        prefix of every line (default: the calling script's file name)
#   GEFYRA_REPO_ROOT         absolute path of the repository root (set on source)
#   gefyra_log MSG...        one line "[prefix] MSG" on stderr
#   gefyra_warn MSG...       one line "[prefix] warning: MSG" on stderr
#   gefyra_die MSG...        one line "error: MSG" on stderr, then exit 1 (the one-line-reason contract)
#   gefyra_now               seconds since the epoch with microseconds (from $EPOCHREALTIME)
#   gefyra_elapsed START     seconds since START (a gefyra_now value), formatted "1.23"
#   gefyra_phase NAME CMD... runs CMD with its arguments as a named phase: logs "NAME ..." before,
#                            "NAME done in 1.23 s" (or "NAME failed after 1.23 s") after, and
#                            returns CMD's status. Runs in the current shell (CMD may set variables).
#   gefyra_cache_dir [SUB]   prints (and creates) ${XDG_CACHE_HOME:-~/.cache}/gefyra-devcluster[/SUB];
#                            GEFYRA_DEVCLUSTER_CACHE overrides the root, as in e2e/devcluster/build-binaries.sh
#   gefyra_require_cmd CMD [PACKAGE]
#                            dies with "CMD is missing; install Debian package PACKAGE ..." when CMD is absent
#   gefyra_repo_version      prints the "version" of the root package.json
#   gefyra_usage FILE        prints FILE's leading comment block (after the shebang), for --help

[[ -n "${_GEFYRA_LIB_COMMON:-}" ]] && return 0
_GEFYRA_LIB_COMMON=1

GEFYRA_REPO_ROOT="${GEFYRA_REPO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
# shellcheck disable=SC2034 # read by scripts/lib/common.sh
GEFYRA_LOG_PREFIX="${GEFYRA_LOG_PREFIX:-$(basename "${BASH_SOURCE[-1]:-$0}" .sh)}"

gefyra_log() { printf '[%s] %s\n' "$GEFYRA_LOG_PREFIX" "$*" >&2; }
gefyra_warn() { printf '[%s] warning: %s\n' "$GEFYRA_LOG_PREFIX" "$*" >&2; }
gefyra_die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

gefyra_now() { printf '%s\n' "${EPOCHREALTIME:-$(date +%s.%N)}"; }

gefyra_elapsed() {
  local start="$1" now
  now="$(gefyra_now)"
  awk -v a="$start" -v b="$now" 'BEGIN { printf "%.2f\n", b - a }'
}

gefyra_phase() {
  local name="$1" start rc=0
  shift
  start="$(gefyra_now)"
  gefyra_log "$name ..."
  "$@" || rc=$?
  if ((rc == 0)); then
    gefyra_log "$name done in $(gefyra_elapsed "$start") s"
  else
    gefyra_log "$name failed after $(gefyra_elapsed "$start") s"
  fi
  return "$rc"
}

gefyra_cache_dir() {
  local dir="${GEFYRA_DEVCLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gefyra-devcluster}"
  [[ -n "${1:-}" ]] && dir="$dir/$1"
  mkdir -p "$dir"
  printf '%s\n' "$dir"
}

gefyra_require_cmd() {
  local cmd="$1" pkg="${2:-$1}"
  command -v "$cmd" >/dev/null 2>&1 ||
    gefyra_die "$cmd is missing; install the Debian package $pkg (bash scripts/setup-system.sh does it)"
}

gefyra_repo_version() {
  local v
  if command -v jq >/dev/null 2>&1; then
    v="$(jq -r '.version // empty' "$GEFYRA_REPO_ROOT/package.json")"
  else
    v="$(sed -n 's/^  "version": *"\([^"]*\)".*/\1/p' "$GEFYRA_REPO_ROOT/package.json" | head -n1)"
  fi
  [[ -n "$v" ]] || gefyra_die "no \"version\" in $GEFYRA_REPO_ROOT/package.json; add one"
  printf '%s\n' "$v"
}

gefyra_usage() {
  awk 'NR == 1 && /^#!/ { next } /^# shellcheck/ { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$1"
}
