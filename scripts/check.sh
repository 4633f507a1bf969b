#!/usr/bin/env bash
# The whole test suite: lint + format check, typecheck, every test. Exits non-zero when anything fails
# and ends with one plain line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PWD/.venv/bin:$PATH"
status=0

echo "== biome (lint + format)"
biome check . || status=1
echo "== typecheck"
tsc -p tsconfig.json || status=1
for cfg in packages/*/tsconfig*.json; do
  [ -f "$cfg" ] && { tsc -p "$cfg" || status=1; }
done

echo "== tests"
report=$(mktemp -d)/vitest.json
vitest run --reporter=default --reporter=json --outputFile.json="$report" || status=1
if [ -f "$report" ]; then
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const skipped = r.numPendingTests + r.numTodoTests;
    console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
    if (r.numTotalTests === 0 || r.numFailedTests > 0 || !r.success) process.exit(1);
  ' "$report" || status=1
else
  echo "tests: 0 passed, 1 failed"
  status=1
fi
exit $status
