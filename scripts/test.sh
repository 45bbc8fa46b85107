#!/usr/bin/env bash
# Every test: unit (pure core, no servers), then integration and e2e against real etcd, Kafka,
# ClickHouse and Flink, started here and torn down afterwards. Ends with one line: "N passed, N failed".
source "$(dirname "$0")/lib.sh"
ensure_built
mkdir -p .test-results && rm -f .test-results/*.json
status=0
echo "==> unit tests" >&2
npx vitest run --config vitest.config.ts --reporter=default --reporter=json --outputFile.json=.test-results/unit.json || status=1
with_services
echo "==> integration and e2e tests (real services)" >&2
npx vitest run --config vitest.integration.config.ts --reporter=default --reporter=json --outputFile.json=.test-results/integration.json || status=1
node -e '
  const fs = require("fs");
  let passed = 0, failed = 0, skipped = 0;
  for (const f of fs.readdirSync(".test-results")) {
    const r = JSON.parse(fs.readFileSync(".test-results/" + f, "utf8"));
    passed += r.numPassedTests; failed += r.numFailedTests + (r.numRuntimeErrors ?? 0); skipped += r.numPendingTests + r.numTodoTests;
  }
  console.log(`${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
'
exit $status
