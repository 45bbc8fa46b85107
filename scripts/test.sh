#!/usr/bin/env bash
# Every test: unit (pure core, no servers), then integration and e2e against real etcd, Kafka,
# ClickHouse and Flink, started here and torn down afterwards. Ends with one line: "N passed, N failed".
source "$(dirname "$0")/lib.sh"
ensure_built
mkdir -p .test-results && rm -f .test-results/*.json
status=0
# The newer Kafka the Kafka-facing suites also run on (scripts/services.sh accepts it).
KAFKA_NEXT=4.1.1
echo "==> unit tests" >&2
npx vitest run --config vitest.config.ts --reporter=default --reporter=json --outputFile.json=.test-results/unit.json || status=1
with_services
echo "==> integration and e2e tests (real services)" >&2
npx vitest run --config vitest.integration.config.ts --reporter=default --reporter=json --outputFile.json=.test-results/integration.json || status=1
# The Kafka-facing suites again on today's Kafka (ADR 0003): the brokers are formatted afresh on
# 4.1.1 (Flink, which reads them, is stopped first), then put back on 3.9.1 if they were running
# before this run.
echo "==> Kafka suites again on Kafka $KAFKA_NEXT" >&2
for svc in flink-a flink-b; do bash scripts/services.sh stop "$svc" || status=1; done
SWITCHYARD_KAFKA_VERSION=$KAFKA_NEXT bash scripts/services.sh install || status=1
pids=()
for svc in kafka-a kafka-b; do SWITCHYARD_KAFKA_VERSION=$KAFKA_NEXT bash scripts/services.sh start "$svc" & pids+=($!); done
for p in "${pids[@]}"; do wait "$p" || status=1; done
SWITCHYARD_KAFKA_VERSION=$KAFKA_NEXT npx vitest run --config vitest.kafka-next.config.ts --reporter=default --reporter=json --outputFile.json=.test-results/kafka-next.json || status=1
if [[ $STARTED_SERVICES == 0 ]]; then
  for svc in kafka-a kafka-b flink-a flink-b; do bash scripts/services.sh start "$svc" || status=1; done
fi
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
