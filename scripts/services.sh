#!/usr/bin/env bash
# Local real services for the demo, the tests, the benchmarks and CI.
#
#   scripts/services.sh install          fetch what is missing (apt: etcd-server; Maven: Kafka jars)
#   scripts/services.sh up               install, then start every service that is not running
#   scripts/services.sh down             stop everything and delete the state directory
#   scripts/services.sh status           one line per service
#   scripts/services.sh start|stop|kill SERVICE   (kill = SIGKILL, for fault tests)
#   scripts/services.sh fault flink-a|flink-b poison|slow [MS]|ckstall|clear   (a room's stream job, for tests)
#   scripts/services.sh env              the endpoints, as shell assignments
#   scripts/services.sh install-mm2      fetch MirrorMaker 2's jars (Maven) for bench:peer; prints their folder
#
# Services and their fixed loopback ports (one Kafka broker per room, KRaft mode):
#   etcd      client 127.0.0.1:23790  peer 23800
#   kafka-a   broker 127.0.0.1:19092  controller 19093  cuttable 19094 -> 19095   (room-a)
#   kafka-b   broker 127.0.0.1:29092  controller 29093  cuttable 29094 -> 29095   (room-b)
#   (cuttable: a second listener on n9094 that advertises n9095, where a test puts a proxy it can
#   cut; a client bootstrapped at n9095 keeps every connection through that proxy, so one
#   observer's path to a room can be cut while the others still reach it.)
#   clickhouse-a  http 127.0.0.1:18123  tcp 19000  interserver 19009   (room-a)
#   clickhouse-b  http 127.0.0.1:28123  tcp 29000  interserver 29009   (room-b)
#   clickhouse-secure  https 127.0.0.1:38443  http 38123  tcp 39000   (issue 18: the default user has
#   a password; certificate and password in $SWITCHYARD_STATE/clickhouse-secure/pki)
#   flink-a   REST 127.0.0.1:18081, job dashboard-agg-a: dashboard-events -> dashboard-events-out in kafka-a
#   flink-b   REST 127.0.0.1:28081, job dashboard-agg-b: the same in kafka-b
#   (a Flink MiniCluster per room, built from Maven Central jars by scripts/flink/pom.xml; the
#   job checkpoints every 2 s and restarts 3 times, 1 s apart, before it is FAILED.)
#   etcd-secure     https 127.0.0.1:23791  peer 23801   (issue 18: TLS with client certificates,
#   auth on: users root, switchyard (read-write under /switchyard-secure/) and sdk (reads routes,
#   writes only its own watermarks, acks and presence); certificates and passwords in
#   $SWITCHYARD_STATE/etcd-secure/pki)
#   kafka-secure    SASL_SSL 127.0.0.1:39092 (SCRAM-SHA-512 and PLAIN)  SSL 39094 (client certificate
#   required)  controller 39093   (issue 18: SCRAM users switchyard and sdk made by the storage tool
#   at format, PLAIN user plain; certificates and passwords in $SWITCHYARD_STATE/kafka-secure/pki)
#   kube-etcd       client 127.0.0.1:26379  peer 26380   (the API server's own store)
#   kube-apiserver  https 127.0.0.1:26443   (built by scripts/k8s/build.sh; no kubelet: Pods stay
#   Pending; admin kubeconfig in $SWITCHYARD_STATE/kube-apiserver/kubeconfig)
#
# State lives in $SWITCHYARD_STATE (default /tmp/switchyard-local); Kafka's jars are cached in
# $SWITCHYARD_CACHE (default ~/.cache/switchyard). Every wait is bounded ($SWITCHYARD_WAIT_S, 40 s).
# $SWITCHYARD_KAFKA_VERSION picks the brokers' Kafka: 3.9.1 (default) or 4.1.1 (ADR 0003); a
# broker's data is formatted again when the version changes.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE=${SWITCHYARD_STATE:-/tmp/switchyard-local}
CACHE=${SWITCHYARD_CACHE:-$HOME/.cache/switchyard}
WAIT_S=${SWITCHYARD_WAIT_S:-40}
KAFKA_VERSION=${SWITCHYARD_KAFKA_VERSION:-3.9.1}
case $KAFKA_VERSION in 3.9.1|4.1.1) ;; *) echo "services: SWITCHYARD_KAFKA_VERSION=$KAFKA_VERSION is not one the local stack is tested with (3.9.1, 4.1.1)" >&2; exit 2 ;; esac
KAFKA_LIBS=$CACHE/kafka-$KAFKA_VERSION/libs
FLINK_VERSION=2.2.1
FLINK_BUILD=$CACHE/flink-$FLINK_VERSION
FLINK_JAR=$FLINK_BUILD/switchyard-local-flink-1-cluster.jar
# Flink starts after the brokers it reads from.
BASE_SERVICES=(etcd etcd-secure kafka-a kafka-b clickhouse-a clickhouse-b clickhouse-secure)
# Started by the tests that need it, and stopped after them: one JVM less for everything else.
ON_DEMAND_SERVICES=(kafka-secure)
FLINK_SERVICES=(flink-a flink-b)
# A real Kubernetes API server (issue 17): its own etcd, then the server.
K8S_SERVICES=(kube-etcd kube-apiserver)
ALL_SERVICES=("${BASE_SERVICES[@]}" "${ON_DEMAND_SERVICES[@]}" "${FLINK_SERVICES[@]}" "${K8S_SERVICES[@]}")

die() { echo "services: $*" >&2; exit 1; }
say() { echo "services: $*" >&2; }

port_of() {
  case $1 in
    etcd) echo 23790 ;;
    etcd-secure) echo 23791 ;;
    kafka-a) echo 19092 ;;
    kafka-b) echo 29092 ;;
    kafka-secure) echo 39092 ;;
    clickhouse-a) echo 18123 ;;
    clickhouse-b) echo 28123 ;;
    clickhouse-secure) echo 38443 ;;
    flink-a) echo 18081 ;;
    flink-b) echo 28081 ;;
    kube-etcd) echo 26379 ;;
    kube-apiserver) echo 26443 ;;
    *) die "unknown service '$1' (known: ${ALL_SERVICES[*]})" ;;
  esac
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pid_of() {
  local f=$STATE/$1/pid
  [[ -f $f ]] || return 1
  local pid; pid=$(<"$f")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

need_root_for() {
  [[ $(id -u) -eq 0 ]] || die "$1 is missing; install it with: sudo apt-get install -y $2"
}

install_etcd() {
  command -v etcd >/dev/null && return 0
  need_root_for etcd etcd-server
  say "installing etcd-server (apt)"
  command -v apt-get >/dev/null || die "etcd is missing and apt-get is not available; install etcd 3.4+ on PATH"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null
  command -v etcd >/dev/null || die "apt-get installed etcd-server but no etcd binary is on PATH"
}

install_clickhouse() {
  command -v clickhouse-server >/dev/null && return 0
  need_root_for clickhouse-server clickhouse-server
  say "installing clickhouse-server (apt)"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clickhouse-server >/dev/null
  command -v clickhouse-server >/dev/null || die "apt-get installed clickhouse-server but no clickhouse-server binary is on PATH"
}

install_kafka() {
  command -v java >/dev/null || die "java is missing; install a JDK 17+ (e.g. apt-get install -y openjdk-17-jre-headless)"
  if [[ -f $KAFKA_LIBS/.complete ]]; then return 0; fi
  command -v mvn >/dev/null || die "mvn is missing; install Maven (apt-get install -y maven) to fetch Kafka's jars"
  say "fetching Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_LIBS (first time only)"
  rm -rf "$KAFKA_LIBS" && mkdir -p "$KAFKA_LIBS"
  if ! timeout 900 mvn -q -B -f "$HERE/kafka/pom.xml" dependency:copy-dependencies \
        -Dkafka.version="$KAFKA_VERSION" -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS" >"$CACHE/mvn.log" 2>&1; then
    tail -n 20 "$CACHE/mvn.log" >&2
    die "Maven could not fetch Kafka's jars (log: $CACHE/mvn.log)"
  fi
  touch "$KAFKA_LIBS/.complete"
}

# MirrorMaker 2 (connect-mirror and the Connect runtime), only for the side-by-side bench
# (npm run bench:peer): the bench starts it itself (bench/support/mirror-maker.ts).
MM2_VERSION=3.9.1
MM2_LIBS=$CACHE/mm2-$MM2_VERSION
install_mm2() {
  command -v java >/dev/null || die "java is missing; install a JDK 17+ (e.g. apt-get install -y openjdk-17-jre-headless)"
  if [[ -f $MM2_LIBS/.complete ]]; then return 0; fi
  command -v mvn >/dev/null || die "mvn is missing; install Maven (apt-get install -y maven) to fetch MirrorMaker 2's jars"
  say "fetching MirrorMaker 2 ($MM2_VERSION) jars from Maven Central into $MM2_LIBS (first time only)"
  mkdir -p "$CACHE"
  rm -rf "$MM2_LIBS" && mkdir -p "$MM2_LIBS"
  if ! timeout 600 mvn -q -B -f "$HERE/mm2/pom.xml" dependency:copy-dependencies \
        -Dmm2.version="$MM2_VERSION" -DincludeScope=runtime -DoutputDirectory="$MM2_LIBS" >"$CACHE/mm2-mvn.log" 2>&1; then
    tail -n 20 "$CACHE/mm2-mvn.log" >&2
    die "Maven could not fetch MirrorMaker 2's jars within 600 s (log: $CACHE/mm2-mvn.log)"
  fi
  [[ -f $MM2_LIBS/connect-mirror-$MM2_VERSION.jar ]] || die "Maven ran but $MM2_LIBS has no connect-mirror-$MM2_VERSION.jar (log: $CACHE/mm2-mvn.log)"
  touch "$MM2_LIBS/.complete"
}

# kube-apiserver and helm, built once from the Go module proxy and cached (scripts/k8s/build.sh).
install_k8s() {
  bash "$HERE/k8s/build.sh" >/dev/null
}

# A CA, the server's certificate, the service-account signing key and an admin token, once per state dir.
kube_pki() { # dir
  local p=$1/pki
  [[ -s $p/admin.token ]] && return 0
  command -v openssl >/dev/null || die "openssl is missing (apt-get install -y openssl)"
  mkdir -p "$p"
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -keyout "$p/ca.key" -out "$p/ca.crt" -subj /CN=switchyard-local-ca \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign,digitalSignature >/dev/null 2>&1 || die "openssl: CA"
  openssl req -newkey rsa:2048 -nodes -sha256 -keyout "$p/server.key" -out "$p/server.csr" -subj /CN=kube-apiserver >/dev/null 2>&1 || die "openssl: server key"
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,DNS:kubernetes.default.svc,IP:127.0.0.1,IP:10.0.0.1\n' >"$p/server.ext"
  openssl x509 -req -sha256 -days 3650 -in "$p/server.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial -extfile "$p/server.ext" -out "$p/server.crt" >/dev/null 2>&1 || die "openssl: server certificate"
  { openssl genrsa -out "$p/sa.key" 2048 && openssl rsa -in "$p/sa.key" -pubout -out "$p/sa.pub"; } >/dev/null 2>&1 || die "openssl: service-account key"
  openssl rand -hex 24 >"$p/admin.token"
  printf '%s,admin,admin,"system:masters"\n' "$(cat "$p/admin.token")" >"$p/tokens.csv"
  chmod 600 "$p"/*.key "$p/admin.token" "$p/tokens.csv"
}

start_kube_apiserver() {
  local dir=$STATE/kube-apiserver apiserver
  mkdir -p "$dir"
  apiserver=$(bash "$HERE/k8s/build.sh" | sed -n 's/^KUBE_APISERVER=//p')
  kube_pki "$dir"
  {
    echo 'apiVersion: v1'
    echo 'kind: Config'
    echo "clusters: [{ name: local, cluster: { server: \"https://127.0.0.1:26443\", certificate-authority-data: \"$(base64 -w0 <"$dir/pki/ca.crt")\" } }]"
    echo "users: [{ name: admin, user: { token: \"$(cat "$dir/pki/admin.token")\" } }]"
    echo 'contexts: [{ name: local, context: { cluster: local, user: admin, namespace: default } }]'
    echo 'current-context: local'
  } >"$dir/kubeconfig"
  chmod 600 "$dir/kubeconfig"
  # No controller-manager runs, so nobody creates namespaces' "default" ServiceAccount: the
  # ServiceAccount admission plugin is off (as in envtest). No kubelet either: Pods stay Pending.
  setsid "$apiserver" --etcd-servers http://127.0.0.1:26379 \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port 26443 \
    --cert-dir "$dir/pki" --tls-cert-file "$dir/pki/server.crt" --tls-private-key-file "$dir/pki/server.key" \
    --client-ca-file "$dir/pki/ca.crt" --token-auth-file "$dir/pki/tokens.csv" --authorization-mode RBAC \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$dir/pki/sa.pub" --service-account-signing-key-file "$dir/pki/sa.key" \
    --service-cluster-ip-range 10.0.0.0/24 --endpoint-reconciler-type none --profiling=false \
    --disable-admission-plugins=ServiceAccount >"$dir/log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
}

# The port opens before the server can serve: wait for /readyz.
wait_kube_ready() {
  local dir=$STATE/kube-apiserver deadline=$((SECONDS + WAIT_S))
  command -v curl >/dev/null || die "curl is missing (apt-get install -y curl): it checks kube-apiserver's /readyz"
  until curl -fsS --max-time 2 --cacert "$dir/pki/ca.crt" -H "Authorization: Bearer $(cat "$dir/pki/admin.token")" https://127.0.0.1:26443/readyz >/dev/null 2>&1; do
    pid_of kube-apiserver >/dev/null || { tail -n 30 "$dir/log" >&2; die "kube-apiserver exited during start-up (log: $dir/log)"; }
    ((SECONDS < deadline)) || { tail -n 30 "$dir/log" >&2; die "kube-apiserver not ready within ${WAIT_S}s (log: $dir/log)"; }
    sleep 0.3
  done
}

# Headless Chromium opens the runbook report in a test (issue 16): Debian's package.
install_chromium() {
  command -v chromium >/dev/null && return 0
  need_root_for chromium chromium
  say "installing chromium (apt)"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  command -v chromium >/dev/null || die "apt-get installed chromium but no chromium binary is on PATH"
}

install_flink() {
  command -v java >/dev/null || die "java is missing; install a JDK 17+ (e.g. apt-get install -y openjdk-17-jdk-headless)"
  # Rebuilt when the job's sources are newer than the jar (and only then).
  if [[ -f $FLINK_JAR && -z $(find "$HERE/flink" -type f -newer "$FLINK_JAR" | head -1) ]]; then return 0; fi
  command -v mvn >/dev/null || die "mvn is missing; install Maven (apt-get install -y maven) to build the local Flink cluster"
  say "building the local Flink $FLINK_VERSION cluster from Maven Central jars into $FLINK_BUILD (first time: a few minutes)"
  mkdir -p "$FLINK_BUILD"
  if ! timeout 1200 mvn -q -B -f "$HERE/flink/pom.xml" package -Dout.dir="$FLINK_BUILD" >"$CACHE/flink-build.log" 2>&1; then
    tail -n 30 "$CACHE/flink-build.log" >&2
    die "Maven could not build the local Flink cluster (log: $CACHE/flink-build.log)"
  fi
  [[ -f $FLINK_JAR ]] || die "the Flink build produced no $FLINK_JAR (log: $CACHE/flink-build.log)"
}

cmd_install() {
  mkdir -p "$CACHE"
  install_etcd
  install_kafka
  install_clickhouse
  install_flink
  install_chromium
  install_k8s
}

wait_port() { # service port
  local svc=$1 port=$2 deadline=$((SECONDS + WAIT_S))
  until port_open "$port"; do
    if ! pid_of "$svc" >/dev/null; then
      tail -n 30 "$STATE/$svc/log" >&2 || true
      die "$svc exited during start-up (log: $STATE/$svc/log)"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 30 "$STATE/$svc/log" >&2 || true
      die "$svc did not open port $port within ${WAIT_S}s (log: $STATE/$svc/log)"
    fi
    sleep 0.2
  done
}

# A one-member etcd on loopback: the controllers' (etcd) or the Kubernetes API server's (kube-etcd).
start_etcd() { # service name client-port peer-port
  local svc=${1:-etcd} name=${2:-switchyard-local} client=${3:-23790} peer=${4:-23800} dir
  dir=$STATE/$svc
  mkdir -p "$dir"
  setsid etcd --name "$name" --data-dir "$dir/data" \
    --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "$name=http://127.0.0.1:$peer" \
    --auto-compaction-mode=periodic --auto-compaction-retention=10m \
    --log-level warn >"$dir/log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
}

# One CA (once per state dir) and certificates signed by it: a server's (loopback SANs), or a client's (its CN).
local_ca() { # dir
  [[ -s $1/ca.crt ]] && return 0
  command -v openssl >/dev/null || die "openssl is missing (apt-get install -y openssl)"
  mkdir -p "$1"
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -keyout "$1/ca.key" -out "$1/ca.crt" -subj /CN=switchyard-local-secure-ca \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign,digitalSignature >/dev/null 2>&1 || die "openssl: CA in $1"
}

signed_cert() { # dir name server|client
  local d=$1 n=$2 usage
  [[ -s $d/$n.crt ]] && return 0
  if [[ $3 == server ]]; then usage='extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1'
  else usage='extendedKeyUsage=clientAuth'; fi
  openssl req -newkey rsa:2048 -nodes -sha256 -keyout "$d/$n.key" -out "$d/$n.csr" -subj "/CN=$n" >/dev/null 2>&1 || die "openssl: key $n"
  printf "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n$usage\n" >"$d/$n.ext"
  openssl x509 -req -sha256 -days 3650 -in "$d/$n.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -extfile "$d/$n.ext" -out "$d/$n.crt" >/dev/null 2>&1 || die "openssl: certificate $n"
  chmod 600 "$d/$n.key"
}

# etcd with TLS, client certificates and auth: what a production etcd for Switchyard looks like.
start_etcd_secure() {
  local dir=$STATE/etcd-secure p
  p=$dir/pki
  mkdir -p "$dir"
  local_ca "$p"
  signed_cert "$p" server server
  signed_cert "$p" switchyard client
  signed_cert "$p" sdk client
  signed_cert "$p" root client
  for u in root switchyard sdk; do [[ -s $p/$u.password ]] || { openssl rand -hex 16 >"$p/$u.password"; chmod 600 "$p/$u.password"; }; done
  setsid etcd --name switchyard-secure --data-dir "$dir/data" \
    --listen-client-urls https://127.0.0.1:23791 --advertise-client-urls https://127.0.0.1:23791 \
    --listen-peer-urls http://127.0.0.1:23801 --initial-advertise-peer-urls http://127.0.0.1:23801 \
    --initial-cluster switchyard-secure=http://127.0.0.1:23801 \
    --cert-file "$p/server.crt" --key-file "$p/server.key" --trusted-ca-file "$p/ca.crt" --client-cert-auth \
    --log-level warn >"$dir/log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
}

# Users, roles and auth on, through etcd's JSON gateway (no etcdctl needed), once per data dir.
etcd_secure_auth() {
  local dir=$STATE/etcd-secure p prefix=/switchyard-secure
  p=$dir/pki
  [[ -f $dir/auth.done ]] && return 0
  command -v curl >/dev/null || die "curl is missing (apt-get install -y curl)"
  b64() { printf '%s' "$1" | base64 -w0; }
  call() { # path json
    local out
    out=$(curl -sS --max-time 5 --cacert "$p/ca.crt" --cert "$p/root.crt" --key "$p/root.key" -X POST "https://127.0.0.1:23791/v3/$1" -d "$2") || die "etcd-secure: $1 failed"
    [[ $out != *'"error"'* ]] || die "etcd-secure: $1: $out"
  }
  grant() { # role READ|WRITE|READWRITE key-prefix-ending-in-slash: the range [prefix, prefix-with-"0"-for-"/")
    local end="${3%/}0"
    call auth/role/grant "{\"name\":\"$1\",\"perm\":{\"permType\":\"$2\",\"key\":\"$(b64 "$3")\",\"range_end\":\"$(b64 "$end")\"}}"
  }
  for u in root switchyard sdk; do
    call auth/user/add "{\"name\":\"$u\",\"password\":\"$(cat "$p/$u.password")\"}"
    call auth/role/add "{\"name\":\"$u\"}"
    call auth/user/grant "{\"user\":\"$u\",\"role\":\"$u\"}"
  done
  call auth/user/grant '{"user":"root","role":"root"}'
  # The controller: everything under its prefix, nothing else.
  grant switchyard READWRITE "$prefix/"
  # SDK clients: read routes, query routes and caps; write watermarks, presence, acks and signals (in
  # production scoped per application: docs/security.md).
  for k in routes query-routes caps; do grant sdk READ "$prefix/$k/"; done
  for k in watermarks consumers acks signals; do grant sdk READWRITE "$prefix/$k/"; done
  call auth/enable '{}'
  touch "$dir/auth.done"
}

# The broker's listeners and security, per service.
kafka_listeners() { # service n dir
  local n=$2 p=$3/pki
  if [[ $1 != kafka-secure ]]; then
    cat <<EOF
listeners=PLAINTEXT://127.0.0.1:${n}9092,CONTROLLER://127.0.0.1:${n}9093,CUTTABLE://127.0.0.1:${n}9094
advertised.listeners=PLAINTEXT://127.0.0.1:${n}9092,CUTTABLE://127.0.0.1:${n}9095
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,CUTTABLE:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
EOF
    return
  fi
  # No plaintext listener for clients: SASL over TLS, or TLS with a client certificate. The
  # broker talks to itself over the certificate listener.
  cat <<EOF
listeners=SASL_SSL://127.0.0.1:39092,CONTROLLER://127.0.0.1:39093,SSL://127.0.0.1:39094
advertised.listeners=SASL_SSL://127.0.0.1:39092,SSL://127.0.0.1:39094
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT,SSL:SSL
inter.broker.listener.name=SSL
ssl.keystore.type=PEM
ssl.keystore.location=$p/server.pem
ssl.truststore.type=PEM
ssl.truststore.location=$p/ca.crt
listener.name.ssl.ssl.client.auth=required
sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_plain="$(cat "$p/plain.password")";
EOF
}

# Certificates and passwords for kafka-secure, once per state dir.
kafka_secure_pki() {
  local p=$STATE/kafka-secure/pki
  local_ca "$p"
  signed_cert "$p" server server
  signed_cert "$p" switchyard client
  [[ -s $p/server.pem ]] || { cat "$p/server.key" "$p/server.crt" >"$p/server.pem"; chmod 600 "$p/server.pem"; }
  for u in switchyard sdk plain; do [[ -s $p/$u.password ]] || { openssl rand -hex 16 >"$p/$u.password"; chmod 600 "$p/$u.password"; }; done
}

start_kafka() { # service
  local svc=$1 n dir format_extra=()
  case $svc in kafka-a) n=1 ;; kafka-b) n=2 ;; kafka-secure) n=3 ;; esac
  dir=$STATE/$svc
  mkdir -p "$dir"
  if [[ $svc == kafka-secure ]]; then
    kafka_secure_pki
    # SCRAM credentials go into the cluster metadata when the storage is formatted (KRaft).
    for u in switchyard sdk; do format_extra+=(--add-scram "SCRAM-SHA-512=[name=$u,password=$(cat "$dir/pki/$u.password")]"); done
  fi
  # Another Kafka version formatted this data: start afresh (the local stack keeps nothing worth migrating).
  if [[ -f $dir/data/meta.properties && $(cat "$dir/kafka-version" 2>/dev/null || echo 3.9.1) != "$KAFKA_VERSION" ]]; then
    say "$svc: data was formatted by Kafka $(cat "$dir/kafka-version" 2>/dev/null || echo 3.9.1), now $KAFKA_VERSION: formatting again"
    rm -rf "$dir/data"
  fi
  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${n}9093
$(kafka_listeners "$svc" "$n" "$dir")
controller.listener.names=CONTROLLER
log.dirs=$dir/data
num.partitions=3
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
min.insync.replicas=1
# Local stack only: a group's first join should not wait 3 s for more members.
group.initial.rebalance.delay.ms=0
log.segment.bytes=16777216
# Client quotas (source caps for consumers without the SDK, ADR 0011) are measured over
# quota.window.num samples of quota.window.size.seconds. With Kafka's default 11 x 1 s a
# throttled consumer reads ~10 s of its quota in one burst every 11 s; with 2 x 1 s it reads in
# steps of a fetch (measured: ADR 0011).
quota.window.num=2
quota.window.size.seconds=1
log.retention.ms=3600000
# Local stack only: a deleted topic's files go at once, not a minute later, when another test or
# bench part may be measuring (bench:scale deletes 2,000 topics between its parts).
file.delete.delay.ms=1000
EOF
  chmod 600 "$dir/server.properties"
  cat >"$dir/log4j.properties" <<EOF
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
EOF
  # Kafka 4 also logs through log4j2 (its jars carry log4j-core); 3.9 ignores this file.
  cat >"$dir/log4j2.properties" <<EOF
status = error
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.out.ref = OUT
logger.broker.name = kafka.server.BrokerServer
logger.broker.level = info
EOF
  local java_opts=(-Xms128m -Xmx384m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true
    "-Dlog4j.configuration=file:$dir/log4j.properties" "-Dlog4j2.configurationFile=$dir/log4j2.properties")
  if [[ ! -f $dir/data/meta.properties ]]; then
    java "${java_opts[@]}" -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool format \
      -t "switchyard-local-room-$n-aaaaa" -c "$dir/server.properties" "${format_extra[@]}" >"$dir/format.log" 2>&1 \
      || { cat "$dir/format.log" >&2; die "could not format $svc's storage"; }
    echo "$KAFKA_VERSION" >"$dir/kafka-version"
  fi
  setsid java "${java_opts[@]}" -cp "$KAFKA_LIBS/*" kafka.Kafka "$dir/server.properties" \
    >"$dir/log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
}

start_clickhouse() { # service
  local svc=$1 n dir
  case $svc in clickhouse-a) n=1 ;; clickhouse-b) n=2 ;; esac
  dir=$STATE/$svc
  mkdir -p "$dir/data" "$dir/tmp" "$dir/uf" "$dir/fs"
  # The stock config with per-room overrides after `--` (see LIBRARY-NOTES); loopback only.
  setsid clickhouse-server --config-file=/etc/clickhouse-server/config.xml -- \
    --http_port=${n}8123 --tcp_port=${n}9000 --interserver_http_port=${n}9009 --listen_host=127.0.0.1 \
    --path="$dir/data/" --tmp_path="$dir/tmp/" --user_files_path="$dir/uf/" --format_schema_path="$dir/fs/" \
    --logger.log="$dir/server.log" --logger.errorlog="$dir/error.log" --logger.level=warning \
    >"$dir/log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
}

# ClickHouse as production runs it: HTTPS with a certificate from the local CA, and a default user
# with a password (users.xml of its own; the stock config otherwise).
start_clickhouse_secure() {
  local dir=$STATE/clickhouse-secure p hash
  p=$dir/pki
  mkdir -p "$dir/data" "$dir/tmp" "$dir/uf" "$dir/fs"
  local_ca "$p"
  signed_cert "$p" server server
  [[ -s $p/default.password ]] || { openssl rand -hex 16 >"$p/default.password"; chmod 600 "$p/default.password"; }
  hash=$(printf '%s' "$(cat "$p/default.password")" | sha256sum | cut -d' ' -f1)
  cat >"$dir/users.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>1000000000</max_memory_usage></default></profiles>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
  <users>
    <default>
      <password_sha256_hex>$hash</password_sha256_hex>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
</yandex>
EOF
  setsid clickhouse-server --config-file=/etc/clickhouse-server/config.xml -- \
    --http_port=38123 --https_port=38443 --tcp_port=39000 --interserver_http_port=39009 --listen_host=127.0.0.1 \
    --users_config="$dir/users.xml" \
    --openSSL.server.certificateFile="$p/server.crt" --openSSL.server.privateKeyFile="$p/server.key" --openSSL.server.dhParamsFile= \
    --path="$dir/data/" --tmp_path="$dir/tmp/" --user_files_path="$dir/uf/" --format_schema_path="$dir/fs/" \
    --logger.log="$dir/server.log" --logger.errorlog="$dir/error.log" --logger.level=warning \
    >"$dir/log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
}

start_flink() { # service
  local svc=$1 n room dir
  case $svc in flink-a) n=1 room=a ;; flink-b) n=2 room=b ;; esac
  dir=$STATE/$svc
  rm -rf "$dir/checkpoints" "$dir/flags" "$dir/job-id" && mkdir -p "$dir/flags"
  # --add-opens: what Flink's own scripts pass on Java 17; a job run through REST needs them.
  setsid java --add-opens java.base/java.util=ALL-UNNAMED --add-opens java.base/java.lang=ALL-UNNAMED \
    -Xms64m -Xmx384m -XX:MaxDirectMemorySize=96m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    -cp "$FLINK_JAR" io.switchyard.flink.RoomCluster --dir "$dir" --rest-port "${n}8081" \
    --bootstrap "127.0.0.1:${n}9092" --in dashboard-events --out dashboard-events-out \
    --room "room-$room" --job-name "dashboard-agg-$room" >"$dir/log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
}

# The REST port opens before the job runs: wait until /jobs/overview shows it RUNNING with every task.
wait_flink_job() { # service
  local svc=$1 port deadline
  port=$(port_of "$svc"); deadline=$((SECONDS + WAIT_S))
  until node -e '
    fetch(process.argv[1]).then((r) => r.json()).then((o) => {
      const ok = o.jobs.some((j) => j.state === "RUNNING" && j.tasks.total > 0 && j.tasks.running === j.tasks.total);
      process.exit(ok ? 0 : 1);
    }, () => process.exit(1));' "http://127.0.0.1:$port/jobs/overview" 2>/dev/null; do
    pid_of "$svc" >/dev/null || { tail -n 30 "$STATE/$svc/log" >&2; die "$svc exited during start-up (log: $STATE/$svc/log)"; }
    ((SECONDS < deadline)) || { tail -n 30 "$STATE/$svc/log" >&2; die "$svc's job is not RUNNING within ${WAIT_S}s (log: $STATE/$svc/log)"; }
    sleep 0.5
  done
}

cmd_fault() { # flink-a|flink-b poison|slow [ms]|ckstall|clear
  local svc=${1:?service} what=${2:?fault} flags
  [[ $svc == flink-a || $svc == flink-b ]] || die "faults are for flink-a or flink-b, not '$svc'"
  flags=$STATE/$svc/flags
  mkdir -p "$flags"
  case $what in
    poison|ckstall) touch "$flags/$what" ;;
    slow) echo "${3:-100}" >"$flags/slow" ;;
    clear) rm -f "$flags"/* ;;
    *) die "unknown fault '$what' (poison, slow [ms], ckstall, clear)" ;;
  esac
}

cmd_start() {
  local svc=$1 port; port=$(port_of "$svc")
  # A broker running another Kafka version than asked for is restarted on this one.
  if [[ $svc == kafka-* ]] && pid_of "$svc" >/dev/null && [[ $(cat "$STATE/$svc/kafka-version" 2>/dev/null || echo 3.9.1) != "$KAFKA_VERSION" ]]; then
    say "$svc runs Kafka $(cat "$STATE/$svc/kafka-version" 2>/dev/null || echo 3.9.1); restarting it on $KAFKA_VERSION"
    cmd_stop "$svc"
  fi
  if pid_of "$svc" >/dev/null && port_open "$port"; then return 0; fi
  if port_open "$port"; then die "port $port for $svc is taken by another process"; fi
  case $svc in
    etcd) install_etcd; start_etcd ;;
    etcd-secure) install_etcd; start_etcd_secure ;;
    kafka-*) install_kafka; start_kafka "$svc" ;;
    clickhouse-secure) install_clickhouse; start_clickhouse_secure ;;
    clickhouse-*) install_clickhouse; start_clickhouse "$svc" ;;
    flink-*) install_flink; cmd_start "kafka-${svc#flink-}"; start_flink "$svc" ;;
    kube-etcd) install_etcd; start_etcd kube-etcd switchyard-kube 26379 26380 ;;
    kube-apiserver) install_k8s; cmd_start kube-etcd; start_kube_apiserver ;;
  esac
  wait_port "$svc" "$port"
  [[ $svc == flink-* ]] && wait_flink_job "$svc"
  [[ $svc == kube-apiserver ]] && wait_kube_ready
  [[ $svc == etcd-secure ]] && etcd_secure_auth
  say "$svc up on 127.0.0.1:$port"
}

cmd_stop() { # service [signal]
  local svc=$1 sig=${2:-TERM} pid deadline
  pid=$(pid_of "$svc") || return 0
  kill "-$sig" "$pid" 2>/dev/null || true
  deadline=$((SECONDS + WAIT_S))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then kill -KILL "$pid" 2>/dev/null || true; fi
    sleep 0.1
  done
  rm -f "$STATE/$svc/pid"
}

cmd_up() {
  cmd_install
  local pids=() svc rc=0
  for svc in "${BASE_SERVICES[@]}"; do cmd_start "$svc" & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  ((rc == 0)) || die "some services failed to start (see above)"
  pids=()
  for svc in "${FLINK_SERVICES[@]}"; do cmd_start "$svc" & pids+=($!); done
  cmd_start kube-apiserver & pids+=($!)
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  ((rc == 0)) || die "some services failed to start (see above)"
}

cmd_down() {
  local i
  # In reverse: each service stops before what it depends on (Flink before Kafka, the API server before its etcd).
  for ((i = ${#ALL_SERVICES[@]} - 1; i >= 0; i--)); do cmd_stop "${ALL_SERVICES[i]}"; done
  rm -rf "$STATE"
}

cmd_status() {
  local svc port
  for svc in "${ALL_SERVICES[@]}"; do
    port=$(port_of "$svc")
    if pid_of "$svc" >/dev/null && port_open "$port"; then echo "$svc up 127.0.0.1:$port"
    else echo "$svc down 127.0.0.1:$port"; fi
  done
}

cmd_env() {
  echo "SWITCHYARD_ETCD=http://127.0.0.1:23790"
  echo "SWITCHYARD_ETCD_SECURE=https://127.0.0.1:23791"
  echo "SWITCHYARD_KAFKA_ROOM_A=127.0.0.1:19092"
  echo "SWITCHYARD_KAFKA_ROOM_B=127.0.0.1:29092"
  echo "SWITCHYARD_KAFKA_SECURE=127.0.0.1:39092"
  echo "SWITCHYARD_KAFKA_VERSION=$KAFKA_VERSION"
  echo "SWITCHYARD_CLICKHOUSE_ROOM_A=http://127.0.0.1:18123"
  echo "SWITCHYARD_CLICKHOUSE_ROOM_B=http://127.0.0.1:28123"
  echo "SWITCHYARD_CLICKHOUSE_SECURE=https://127.0.0.1:38443"
  echo "SWITCHYARD_FLINK_ROOM_A=http://127.0.0.1:18081"
  echo "SWITCHYARD_FLINK_ROOM_B=http://127.0.0.1:28081"
  echo "KUBECONFIG=$STATE/kube-apiserver/kubeconfig"
  echo "SWITCHYARD_HELM=$(bash "$HERE/k8s/build.sh" --paths | sed -n 's/^HELM=//p')"
}

case ${1:-} in
  install) cmd_install ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  start) cmd_start "${2:?service}" ;;
  stop) cmd_stop "${2:?service}" ;;
  kill) cmd_stop "${2:?service}" KILL ;;
  env) cmd_env ;;
  fault) shift; cmd_fault "$@" ;;
  install-mm2) install_mm2; echo "$MM2_LIBS" ;;
  *) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
