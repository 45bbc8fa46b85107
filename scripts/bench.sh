#!/usr/bin/env bash
# npm run bench                      every benchmark
# npm run bench:failover -- --runs N  one of them, with its flags (also: bench:decide, bench:flink-probe, bench:takeover, bench:query-failover, bench:data, bench:caps, bench:soak, bench:standby-cost, bench:scale, bench:peer)
# Each benchmark prints a table and, as its last stdout line, one JSON object.
source "$(dirname "$0")/lib.sh"
ensure_built >&2
which=${1:-all}; shift || true
case $which in
  decide) node dist/bench/decide.js "$@" ;;
  flink-probe) node dist/bench/flink-probe.js "$@" ;;
  failover) with_services >&2; node dist/bench/failover.js "$@" ;;
  takeover) with_services >&2; node dist/bench/takeover.js "$@" ;;
  query-failover) with_services >&2; node dist/bench/query-failover.js "$@" ;;
  data) with_services >&2; node dist/bench/data.js "$@" ;;
  caps) with_services >&2; node dist/bench/caps.js "$@" ;;
  soak) with_services >&2; node dist/bench/soak.js "$@" ;;
  standby-cost) with_services >&2; node --expose-gc dist/bench/standby-cost.js "$@" ;;
  scale) with_services >&2; node dist/bench/scale.js "$@" ;;
  peer) with_services >&2; bash scripts/services.sh install-mm2 >/dev/null; node dist/bench/peer.js "$@" ;;
  all)
    node dist/bench/decide.js
    node dist/bench/flink-probe.js
    with_services >&2
    node dist/bench/failover.js
    node dist/bench/takeover.js
    node dist/bench/query-failover.js
    node dist/bench/data.js
    node dist/bench/caps.js
    ;;
  *) echo "unknown benchmark '$which' (known: decide, flink-probe, failover, takeover, query-failover, data, caps, soak, standby-cost, scale, peer)" >&2; exit 2 ;;
esac
