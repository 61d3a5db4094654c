#!/usr/bin/env bash
# `npm test`: the whole suite on this machine, from nothing: system packages and Docker engine,
# npm dependencies, static checks, the real devcluster, the product images, then Vitest (unit and
# end-to-end against the devcluster) and Playwright (Debian's Chromium). Ends with the line
# `N passed, N failed`. The devcluster is left running for a fast next run: `npm run cluster:down`.
#   GEFYRA_TEST_ONLY=unit|e2e|browser   run one layer (still prepares what it needs)
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
GEFYRA_LOG_PREFIX=test
# shellcheck source=lib/common.sh
source scripts/lib/common.sh
# shellcheck source=lib/node-deps.sh
source scripts/lib/node-deps.sh
export NEXT_TELEMETRY_DISABLED=1 WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1
only="${GEFYRA_TEST_ONLY:-all}"
t0="$(gefyra_now)"
results="$root/test-results"
mkdir -p "$results"
rm -f "$results/vitest.json" "$results/playwright.json"

need() { "$@" || { gefyra_log "setup failed: the suite did not run"; echo "0 passed, 1 failed"; exit 1; }; }

need gefyra_phase "system packages and Docker engine" bash scripts/setup-system.sh --for test
need gefyra_phase "npm dependencies" ensure_node_modules
need gefyra_phase "Prisma client" bash apps/server/scripts/prisma.sh generate-if-missing
# static checks do not stop the run, but each failed one counts as a failure in the summary
checks_failed=0
gefyra_phase "typecheck" node_modules/.bin/tsc -b || checks_failed=$((checks_failed + 1))
gefyra_phase "lint" node_modules/.bin/eslint . --max-warnings 0 || checks_failed=$((checks_failed + 1))
if [[ "$only" != unit ]]; then
  need gefyra_phase "devcluster" bash e2e/devcluster/up.sh
  need gefyra_phase "product images" bash images/build.sh
fi

rc=0
vitest_project=()
case "$only" in
  unit) vitest_project=(--project unit) ;;
  e2e) vitest_project=(--project e2e) ;;
esac
if [[ "$only" != browser ]]; then
  gefyra_phase "vitest" node_modules/.bin/vitest run "${vitest_project[@]}" \
    --reporter=default --reporter=json --outputFile.json="$results/vitest.json" || rc=1
fi
if [[ "$only" == all || "$only" == browser ]]; then
  need gefyra_phase "dashboard build" bash scripts/start.sh --prepare-only
  gefyra_phase "playwright" node_modules/.bin/playwright test -c e2e/playwright.config.ts || rc=1
fi

gefyra_log "whole run took $(gefyra_elapsed "$t0") s; the devcluster keeps running (npm run cluster:down stops it)"
reports=()
[[ "$only" != browser ]] && reports+=("$results/vitest.json")
[[ "$only" == all || "$only" == browser ]] && reports+=("$results/playwright.json")
node scripts/test-summary.mjs --failed-checks "$checks_failed" "${reports[@]}" || rc=1
exit "$rc"
