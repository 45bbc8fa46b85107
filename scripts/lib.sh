# Shared by test.sh, bench.sh and demo.sh. Source it; it changes into the project root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Installs node dependencies when missing or older than the lock file, then builds.
ensure_built() {
  command -v node >/dev/null || { echo "node is missing; install Node.js 20.19+ (https://nodejs.org or apt-get install nodejs)" >&2; exit 1; }
  if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
    echo "==> npm ci" >&2
    npm ci --no-audit --no-fund >&2
  else
    echo "==> build" >&2
    npx tsc -p tsconfig.json
  fi
}

# Starts the local services; stops them on exit only if this run started them.
with_services() {
  local before
  # (kafka-secure is started by the tests that need it, and is down otherwise.)
  before=$(bash scripts/services.sh status | grep -v '^kafka-secure ')
  # (Not `status | grep -q`: under pipefail, grep's early exit would make the test fail.)
  STARTED_SERVICES=0
  if [[ $before == *" down "* ]]; then
    STARTED_SERVICES=1
    trap 'echo "==> stopping services" >&2; bash scripts/services.sh down' EXIT
  fi
  echo "==> services up (etcd; Kafka, ClickHouse and Flink in room-a and room-b)" >&2
  bash scripts/services.sh up
}
