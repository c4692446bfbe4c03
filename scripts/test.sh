#!/usr/bin/env bash
# The test command: set up, then type-check, lint, and run every test (unit and real-libvirt hosts).
# Ends with one plain line "tests: N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

report=$(mktemp -d)
trap 'rm -rf "$report"' EXIT
status=0
npm run --silent typecheck || status=1
npm run --silent lint || status=1
npx vitest run --reporter=default --reporter=json --outputFile.json="$report/vitest.json" || status=1
if [ -f "$report/vitest.json" ]; then
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const skipped = r.numPendingTests + r.numTodoTests;
    console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
  ' "$report/vitest.json"
else
  echo "tests: 0 passed, 1 failed"
  status=1
fi
exit "$status"
