#!/usr/bin/env bash
# `npm start`: prepare what is missing, build the dashboard if needed, then serve it on
# 127.0.0.1 and print http://127.0.0.1:PORT/?token=TOKEN. Extra args go to the server:
#   npm start -- --port 7300 | --host 0.0.0.0 | --data-dir DIR | --dev | --no-web
# `bash scripts/start.sh --prepare-only` only generates the Prisma client and (re)builds the
# dashboard when needed, then exits (used by the browser test fixture).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export NEXT_TELEMETRY_DISABLED=1

prepare_only=0
if [[ "${1:-}" == "--prepare-only" ]]; then prepare_only=1; shift; fi

# 1. system prerequisites (written by another part of the repo; only when present)
if [[ $prepare_only == 0 && -f scripts/setup-system.sh ]]; then
  bash scripts/setup-system.sh --for start
fi

# 2. npm dependencies exactly as locked (a fresh clone has none)
GEFYRA_REPO_ROOT="$root"
# shellcheck source=lib/node-deps.sh
source scripts/lib/node-deps.sh
ensure_node_modules

# 3. the Prisma client (generated, gitignored)
bash apps/server/scripts/prisma.sh generate-if-missing

# 4. the dashboard's production build, when missing or older than its sources
dev=0
for arg in "$@"; do [[ "$arg" == "--dev" || "$arg" == "--no-web" ]] && dev=1; done
if [[ $dev == 0 ]]; then
  # the static export's entry page (apps/web/next.config.ts: output "export")
  build_id="apps/web/out/index.html"
  newer=""
  if [[ -f "$build_id" ]]; then
    # any source of the dashboard (or of the API types it imports) newer than the build
    newer="$(find apps/web apps/server/src/trpc packages/shared/src \
      \( -name node_modules -o -name .next -o -path apps/web/out -o -name generated \) -prune -o -type f \
      \( -name '*.ts' -o -name '*.tsx' -o -name '*.css' -o -name '*.js' -o -name '*.mjs' -o -name '*.json' -o -path '*/public/*' \) \
      ! -name next-env.d.ts ! -name '*.test.ts' -newer "$build_id" -print -quit 2>/dev/null || true)"
  fi
  if [[ ! -f "$build_id" || -n "$newer" ]]; then
    echo "gefyra-ts: building the dashboard${newer:+ (changed: ${newer})}..." >&2
    (cd apps/web && "$root/node_modules/.bin/next" build >&2)
  fi
fi

[[ $prepare_only == 1 ]] && exit 0

# 5. the server, bundled into one file and run by plain node (under tsx it takes ~165 MB more:
#    a second process and tsx's loader; see apps/server/src/http/bundle.ts); exec so Ctrl-C
#    (SIGINT) and SIGTERM reach it directly and it shuts down cleanly
#    with the node flags it was bundled with (a heap limit; apps/server/src/http/bundle.ts)
"$root/node_modules/.bin/tsx" apps/server/src/http/bundle.ts
read -r -a node_flags < apps/server/dist/http/main.mjs.node-flags
exec node "${node_flags[@]}" apps/server/dist/http/main.mjs "$@"
