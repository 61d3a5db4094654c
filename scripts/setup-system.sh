#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Prepares this machine for `npm start` or `npm test`: installs the missing Debian packages and
# makes sure a Docker engine answers. Idempotent: a second run installs nothing and starts nothing.
#
#   bash scripts/setup-system.sh [--for start|test]     (default: --for test, the superset)
#
# Functions come from scripts/lib/ (documented at the top of each file there).
set -euo pipefail
# shellcheck disable=SC2034 # read by scripts/lib/common.sh
GEFYRA_LOG_PREFIX=setup
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/debian.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/debian.sh"
# shellcheck source=lib/docker-engine.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/docker-engine.sh"

purpose="test"
while (($#)); do
  case "$1" in
    --for)
      purpose="${2:-}"
      shift 2 || true
      ;;
    --for=*)
      purpose="${1#--for=}"
      shift
      ;;
    -h | --help)
      gefyra_usage "${BASH_SOURCE[0]}"
      exit 0
      ;;
    *) gefyra_die "unknown argument '$1'; usage: bash scripts/setup-system.sh [--for start|test]" ;;
  esac
done

# What `npm start` needs: the engine, the tunnel tools, and what images/base uses.
PACKAGES_START=(docker.io iptables iproute2 wireguard-go wireguard-tools debootstrap ca-certificates curl jq)
# What `npm test` adds: the devcluster's node runtime and networking, the browser, benchmarks, native builds.
PACKAGES_TEST=(containerd runc containernetworking-plugins conntrack socat ethtool kmod openssl
  chromium nginx-light wrk python3 make g++)

case "$purpose" in
  start) packages=("${PACKAGES_START[@]}") ;;
  test) packages=("${PACKAGES_START[@]}" "${PACKAGES_TEST[@]}") ;;
  *) gefyra_die "--for takes 'start' or 'test', not '$purpose'" ;;
esac

total="$(gefyra_now)"
gefyra_phase "packages (${#packages[@]} for $purpose)" ensure_debian_packages "${packages[@]}"
gefyra_phase "docker engine" ensure_docker_engine
gefyra_log "ready for $purpose in $(gefyra_elapsed "$total") s"
