# shellcheck shell=bash
# scripts/lib/node-deps.sh: the npm dependencies, installed exactly from package-lock.json.
#   ensure_node_modules   runs `npm ci` when node_modules is missing or older than the lockfile
[[ -n "${_GEFYRA_LIB_NODE_DEPS:-}" ]] && return 0
_GEFYRA_LIB_NODE_DEPS=1

ensure_node_modules() {
  local root="${GEFYRA_REPO_ROOT:?}"
  local stamp="$root/node_modules/.package-lock.json"
  if [[ -f "$stamp" && ! "$root/package-lock.json" -nt "$stamp" ]]; then
    return 0
  fi
  command -v npm >/dev/null || { printf 'error: npm is missing: install Node.js 20 or newer (apt-get install nodejs npm)\n' >&2; return 1; }
  # Prisma's install hooks would try to fetch native engines; this project uses the Rust-free
  # client and generates it itself (docs/decisions/0003-prisma-rust-free-client.md).
  (cd "$root" && PRISMA_SKIP_POSTINSTALL_GENERATE=1 PRISMA_ENGINES_CHECKSUM_IGNORE_MISSING=1 \
    npm ci --no-audit --no-fund --loglevel=error)
}
