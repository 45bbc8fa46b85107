#!/usr/bin/env bash
# npm run bench                      every benchmark
# npm run bench:failover -- --runs N  one of them, with its flags
# Each benchmark prints a table and, as its last stdout line, one JSON object.
source "$(dirname "$0")/lib.sh"
ensure_built >&2
which=${1:-all}; shift || true
case $which in
  failover|all) with_services >&2; node dist/bench/failover.js "$@" ;;
  *) echo "unknown benchmark '$which' (known: failover)" >&2; exit 2 ;;
esac
