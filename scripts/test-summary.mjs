// Prints the suite's closing line, `N passed, N failed[, N skipped]`, from the JSON reports of
// Vitest and Playwright given as arguments, so one line tells the whole run's outcome.
// A report that is missing counts as a failure: a runner that never reported did not pass.
import { existsSync, readFileSync } from "node:fs";
import { basename } from "node:path";

let passed = 0;
let failed = 0;
let skipped = 0;

const args = process.argv.slice(2);
const checksAt = args.indexOf("--failed-checks");
if (checksAt >= 0) {
  // static checks (typecheck, lint) that failed before the runners
  failed += Number(args[checksAt + 1] ?? 0);
  args.splice(checksAt, 2);
}

for (const file of args) {
  if (!existsSync(file)) {
    console.log(`no report: ${basename(file)}`);
    failed += 1;
    continue;
  }
  const report = JSON.parse(readFileSync(file, "utf8"));
  if (report.stats) {
    // Playwright
    const s = report.stats;
    passed += (s.expected ?? 0) + (s.flaky ?? 0);
    failed += s.unexpected ?? 0;
    skipped += s.skipped ?? 0;
  } else {
    // Vitest (Jest-compatible JSON); a file that failed to load has no tests but success=false
    passed += report.numPassedTests ?? 0;
    failed += report.numFailedTests ?? 0;
    if (report.success === false && !report.numFailedTests) failed += report.numFailedTestSuites || 1;
    skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  }
}

console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed > 0 ? 1 : 0);
