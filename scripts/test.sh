#!/usr/bin/env bash
# The test command: set up, then type-check, lint, and run every test (unit and real-libvirt hosts).
# Ends with one plain line "tests: N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

report=$(mktemp -d)
trap 'rm -rf "$report"' EXIT
status=0
# Each part says how long it took (what the README's "Tests" table reports).
timed() {
  local name=$1 start=$SECONDS
  shift
  "$@" || status=1
  echo "test.sh: $name took $((SECONDS - start)) s"
}
timed typecheck npm run --silent typecheck
timed lint npm run --silent lint
timed vitest npx vitest run --reporter=default --reporter=json --outputFile.json="$report/vitest.json"
if [ -f "$report/vitest.json" ]; then
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const skipped = r.numPendingTests + r.numTodoTests;
    // The unit project runs first, then the hosts project: each from the start of its first file to the end of its last.
    for (const project of ["unit", "hosts"]) {
      const files = r.testResults.filter((f) => f.name.includes(`/test/${project}/`));
      if (files.length === 0) continue;
      const took = (Math.max(...files.map((f) => f.endTime)) - Math.min(...files.map((f) => f.startTime))) / 1000;
      console.log(`test.sh: ${project} project took ${Math.round(took)} s (${files.length} files)`);
    }
    console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
  ' "$report/vitest.json"
else
  echo "tests: 0 passed, 1 failed"
  status=1
fi
exit "$status"
