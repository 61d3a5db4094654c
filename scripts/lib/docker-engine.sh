# shellcheck shell=bash source-path=SCRIPTDIR
# scripts/lib/docker-engine.sh: make sure a Docker engine answers, starting dockerd when needed.
#
# Source it; it sources common.sh itself. There is no systemd on the machines this repo targets,
# so the engine is started as a plain background process that outlives the calling script.
#
# Stable interface (other scripts depend on these names; add, don't rename):
#   docker_engine_answers [HOST]  status 0 when `docker info` answers at HOST (a DOCKER_HOST-style
#                                 URL; default: the client's own choice, i.e. DOCKER_HOST or the
#                                 default socket)
#   docker_engine_version [HOST]  prints the engine's server version
#   ensure_docker_engine          ensures an engine answers:
#                                 - DOCKER_HOST set: it must answer there, else one-line error and
#                                   status 1 (nothing is started for a remote or custom engine);
#                                 - otherwise, if nothing answers at unix://$GEFYRA_DOCKERD_SOCK, starts
#                                   `dockerd --host unix://$GEFYRA_DOCKERD_SOCK` in its own session,
#                                   logging to $GEFYRA_DOCKERD_LOG, pid in $GEFYRA_DOCKERD_PIDFILE, and
#                                   waits up to $GEFYRA_DOCKERD_TIMEOUT s; on failure prints the log tail.
#                                 Dies (exit 1) on failure, with one line saying what to do.
#   docker_use_classic_builder_if_needed
#                                 exports DOCKER_BUILDKIT=0 when the client has no buildx plugin (a
#                                 recent client would otherwise refuse `docker build`), unless the
#                                 caller already set DOCKER_BUILDKIT
#
# Settings (environment, all optional):
#   GEFYRA_DOCKERD_SOCK     socket dockerd listens on        (default /var/run/docker.sock)
#   GEFYRA_DOCKERD_LOG      dockerd's log                    (default /var/log/gefyra-dockerd.log)
#   GEFYRA_DOCKERD_PIDFILE  pid of the dockerd started here  (default /run/gefyra-dockerd.pid)
#   GEFYRA_DOCKERD_TIMEOUT  seconds to wait for it to answer (default 60)
#   GEFYRA_DOCKERD_ARGS     extra dockerd arguments, word-split. A second engine beside a running one
#                           needs its own --data-root, --exec-root and --pidfile, --iptables=false, and a
#                           bridge of its own (`ip link add B type bridge`, then --bridge B). Never
#                           `--bridge none` there: dockerd then deletes the docker0 of the other engine.

[[ -n "${_GEFYRA_LIB_DOCKER_ENGINE:-}" ]] && return 0
_GEFYRA_LIB_DOCKER_ENGINE=1
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

docker_engine_answers() {
  local args=()
  [[ -n "${1:-}" ]] && args=(-H "$1")
  timeout 15 docker "${args[@]}" info --format '{{.ServerVersion}}' >/dev/null 2>&1
}

docker_engine_version() {
  local args=()
  [[ -n "${1:-}" ]] && args=(-H "$1")
  timeout 15 docker "${args[@]}" info --format '{{.ServerVersion}}' 2>/dev/null
}

# a pid from our pid file that still runs dockerd (or the shell that is about to exec it)
_docker_pid_alive() {
  [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null || return 1
  case "$(cat "/proc/$1/comm" 2>/dev/null)" in dockerd | bash) return 0 ;; *) return 1 ;; esac
}

ensure_docker_engine() {
  gefyra_require_cmd docker docker.io
  if [[ -n "${DOCKER_HOST:-}" ]]; then
    docker_engine_answers "$DOCKER_HOST" ||
      gefyra_die "DOCKER_HOST=$DOCKER_HOST is set but no Docker engine answers there; start that engine or unset DOCKER_HOST to use the local one"
    gefyra_log "Docker engine $(docker_engine_version "$DOCKER_HOST") answers at DOCKER_HOST=$DOCKER_HOST"
    return 0
  fi

  local sock="${GEFYRA_DOCKERD_SOCK:-/var/run/docker.sock}"
  local log="${GEFYRA_DOCKERD_LOG:-/var/log/gefyra-dockerd.log}"
  local pidfile="${GEFYRA_DOCKERD_PIDFILE:-/run/gefyra-dockerd.pid}"
  local timeout_s="${GEFYRA_DOCKERD_TIMEOUT:-60}"
  local host="unix://$sock" pid="" start

  if docker_engine_answers "$host"; then
    gefyra_log "Docker engine $(docker_engine_version "$host") answers at $host"
    return 0
  fi

  if [[ -S "$sock" && ! -w "$sock" ]]; then
    gefyra_die "no permission to use the Docker engine socket $sock as $(id -un); rerun as root or join its group ($(stat -c %G "$sock"))"
  fi
  [[ -f "$pidfile" ]] && pid="$(cat "$pidfile" 2>/dev/null || true)"
  if _docker_pid_alive "$pid"; then
    gefyra_log "dockerd (pid $pid, from $pidfile) is running but not answering yet; waiting"
  else
    gefyra_require_cmd dockerd docker.io
    [[ "$(id -u)" == 0 ]] ||
      gefyra_die "no Docker engine answers at $host and starting dockerd needs root; rerun as root or start the engine yourself"
    mkdir -p "$(dirname "$log")" "$(dirname "$pidfile")" "$(dirname "$sock")"
    printf '\n===== %s gefyra: starting dockerd --host %s %s\n' "$(date -u +%FT%TZ)" "$host" "${GEFYRA_DOCKERD_ARGS:-}" >>"$log"
    rm -f "$pidfile" # stale: its process is gone
    # Own session so it outlives this script and its process group; the inner shell writes its
    # own pid (the one dockerd then has, via exec) so the pid file is right even if setsid forks.
    # shellcheck disable=SC2016,SC2086 # $$ is expanded by the inner shell; the extra args are word-split
    setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$pidfile" \
      dockerd --host "$host" ${GEFYRA_DOCKERD_ARGS:-} </dev/null >>"$log" 2>&1 &
    local _
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      [[ -s "$pidfile" ]] && break
      sleep 0.05
    done
    pid="$(cat "$pidfile" 2>/dev/null || true)"
    gefyra_log "started dockerd (pid ${pid:-?}), log $log, pid file $pidfile; waiting up to ${timeout_s} s"
  fi

  start="$(gefyra_now)"
  local deadline=$((SECONDS + timeout_s))
  while ((SECONDS < deadline)); do
    if docker_engine_answers "$host"; then
      gefyra_log "Docker engine $(docker_engine_version "$host") answers at $host after $(gefyra_elapsed "$start") s"
      return 0
    fi
    if ! _docker_pid_alive "$pid"; then
      sleep 0.2 # let its last words reach the log
      break
    fi
    sleep 0.25
  done
  {
    printf -- '--- last lines of %s ---\n' "$log"
    tail -n 30 "$log" 2>/dev/null || true
    printf -- '---\n'
  } >&2
  if _docker_pid_alive "$pid"; then
    gefyra_die "dockerd (pid $pid) did not answer at $host within ${timeout_s} s; see its log above ($log)"
  fi
  gefyra_die "dockerd exited before answering at $host; see its log above ($log)"
}

docker_use_classic_builder_if_needed() {
  [[ -n "${DOCKER_BUILDKIT:-}" ]] && return 0
  if ! docker buildx version >/dev/null 2>&1; then
    export DOCKER_BUILDKIT=0
  fi
}
