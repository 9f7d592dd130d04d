#!/usr/bin/env bash
# hack/kafka.sh - run a real, single-node Apache Kafka 4.x broker (KRaft,
# combined broker+controller) on loopback for integration tests.
#
# Kafka is fetched from Maven Central with mvn (org.apache.kafka:kafka_2.13 and
# its runtime dependencies, plus the log4j2 binding for slf4j) into a cache
# directory, and started straight from those jars with java (17+).
#
# Usage:
#   hack/kafka.sh fetch   download Kafka into the cache (idempotent; instant when cached)
#   hack/kafka.sh start   fetch if needed, format a fresh data dir (or, with KAFKA_REUSE_DATA=1,
#                         keep a formatted one), start the broker in
#                         the background and wait until it is ready; prints exactly one
#                         line to stdout:  KAFKA_BROKERS=127.0.0.1:<port>
#                         so callers can:  eval "$(hack/kafka.sh start)"
#   hack/kafka.sh classpath  fetch if needed; print the Java classpath of Kafka's jars (for tests
#                         that run Kafka's own Java client)
#   hack/kafka.sh stop    stop the broker whose PID is in the pidfile (SIGTERM to its
#                         process group, SIGKILL after 20 s) and remove the pidfile
#
# Environment (all optional):
#   KAFKA_VERSION          Kafka version (default 4.4.0)
#   KAFKA_LOG4J_VERSION    version of org.apache.logging.log4j:log4j-slf4j-impl (default 2.25.5,
#                          the log4j version Kafka 4.4.0 depends on)
#   KAFKA_CACHE            jar cache (default $HOME/.cache/scalable-shop/kafka-<version>)
#   KAFKA_DATA             data dir (default: a new mktemp -d dir, removed again by stop;
#                          a dir given here is reused: its old Kafka state is wiped by start,
#                          unless KAFKA_REUSE_DATA=1, and it is kept by stop)
#   KAFKA_PORT             PLAINTEXT listener port (default 19092)
#   KAFKA_CONTROLLER_PORT  CONTROLLER listener port (default 19093)
#   KAFKA_PIDFILE          pidfile (default <data dir>/kafka.pid)
#   KAFKA_HEAP             heap flags (default "-Xmx512m -Xms128m")
#   KAFKA_JVM_OPTS         extra JVM flags
#   KAFKA_LOG_LEVEL        root log level for <data dir>/server.log (default WARN)
#   KAFKA_START_TIMEOUT    seconds to wait for readiness (default 90)
#   KAFKA_CLUSTER_ID       cluster id (default: random)
#   KAFKA_KEEP_DATA        1 = stop keeps a mktemp'd data dir instead of removing it
#   KAFKA_REUSE_DATA       1 = start keeps the state of an already formatted KAFKA_DATA dir
#                          (topics, records, committed offsets) instead of wiping and
#                          formatting it: a stop and a start with it is a broker restart
#   JAVA, MVN              java / mvn executables (default: java, mvn from PATH)
#
# stop finds the broker through KAFKA_DATA and/or KAFKA_PIDFILE when set, else the data dir
# and pidfile that the last start on KAFKA_PORT recorded in ${TMPDIR:-/tmp}/scalable-shop-kafka-<port>.run.
set -euo pipefail

KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
KAFKA_LOG4J_VERSION="${KAFKA_LOG4J_VERSION:-2.25.5}"
KAFKA_CACHE="${KAFKA_CACHE:-${HOME:-/root}/.cache/scalable-shop/kafka-${KAFKA_VERSION}}"
KAFKA_PORT="${KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19093}"
KAFKA_HEAP="${KAFKA_HEAP:--Xmx512m -Xms128m}"
KAFKA_JVM_OPTS="${KAFKA_JVM_OPTS:-}"
KAFKA_LOG_LEVEL="${KAFKA_LOG_LEVEL:-WARN}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
JAVA="${JAVA:-java}"
MVN="${MVN:-mvn}"

LIB_DIR="${KAFKA_CACHE}/lib"
MARKER="${KAFKA_CACHE}/.complete"
MARKER_CONTENT="kafka_2.13=${KAFKA_VERSION} log4j-slf4j-impl=${KAFKA_LOG4J_VERSION}"
POINTER="${TMPDIR:-/tmp}/scalable-shop-kafka-${KAFKA_PORT}.run"
TMP_MARKER=".created-by-kafka-sh"
READY_LINE="Kafka Server started"

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  printf 'usage: %s fetch|start|stop\n' "$0" >&2
  exit 2
}

# port_open PORT: true if something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# abs_path PATH: PATH made absolute (not resolved).
abs_path() {
  if [[ "$1" == /* ]]; then
    printf '%s' "$1"
  else
    printf '%s/%s' "$PWD" "$1"
  fi
}

# pid_alive PID: true if the process exists.
pid_alive() {
  kill -0 "$1" 2>/dev/null
}

# group_alive PGID: true if any process of the process group exists.
group_alive() {
  kill -0 -- "-$1" 2>/dev/null
}

cache_ok() {
  [[ -f "$MARKER" && "$(cat "$MARKER")" == "$MARKER_CONTENT" && -f "${LIB_DIR}/kafka_2.13-${KAFKA_VERSION}.jar" ]]
}

write_pom() {
  cat >"${KAFKA_CACHE}/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by hack/kafka.sh: only used to resolve Kafka's runtime jars. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.scalable-shop</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <!-- The broker (kafka.Kafka) and the storage tool (kafka.tools.StorageTool). -->
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>${KAFKA_VERSION}</version>
    </dependency>
    <!-- Kafka logs through slf4j 1.7: bind it to the log4j2 that Kafka already pulls in. -->
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>${KAFKA_LOG4J_VERSION}</version>
      <scope>runtime</scope>
    </dependency>
  </dependencies>
</project>
EOF
}

cmd_fetch() {
  if cache_ok; then
    return 0
  fi
  command -v "$MVN" >/dev/null 2>&1 || die "mvn not found (needed to fetch Kafka from Maven Central)"
  mkdir -p "$KAFKA_CACHE"
  # Serialise concurrent fetches into the same cache.
  if command -v flock >/dev/null 2>&1; then
    exec 9>"${KAFKA_CACHE}/.lock"
    flock 9
    if cache_ok; then
      exec 9>&-
      return 0
    fi
  fi
  log "fetching Kafka ${KAFKA_VERSION} from Maven Central into ${KAFKA_CACHE}"
  write_pom
  local tmp
  tmp="$(mktemp -d "${KAFKA_CACHE}/lib.tmp.XXXXXX")"
  if ! "$MVN" -B -Dstyle.color=never -f "${KAFKA_CACHE}/pom.xml" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" \
      >"${KAFKA_CACHE}/mvn.log" 2>&1 </dev/null; then
    rm -rf "$tmp"
    tail -n 50 "${KAFKA_CACHE}/mvn.log" >&2
    die "mvn failed to resolve org.apache.kafka:kafka_2.13:${KAFKA_VERSION} (log: ${KAFKA_CACHE}/mvn.log)"
  fi
  [[ -f "${tmp}/kafka_2.13-${KAFKA_VERSION}.jar" ]] || {
    rm -rf "$tmp"
    die "kafka_2.13-${KAFKA_VERSION}.jar missing after mvn"
  }
  rm -rf "$LIB_DIR"
  mv "$tmp" "$LIB_DIR"
  printf '%s\n' "$MARKER_CONTENT" >"$MARKER"
  log "fetched $(find "$LIB_DIR" -name '*.jar' | wc -l) jars"
  if command -v flock >/dev/null 2>&1; then
    exec 9>&-
  fi
}

# A Kafka Uuid: 16 random bytes, URL-safe base64 without padding; like
# Uuid.randomUuid, avoid ids starting with '-' (they look like CLI flags).
gen_cluster_id() {
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    if [[ ${#id} -eq 22 && "$id" != -* ]]; then
      printf '%s' "$id"
      return 0
    fi
  done
}

write_config() {
  local data="$1"
  cat >"${data}/server.properties" <<EOF
# Written by hack/kafka.sh: single-node KRaft (combined broker+controller) for tests.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${KAFKA_CONTROLLER_PORT}
listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORT},CONTROLLER://127.0.0.1:${KAFKA_CONTROLLER_PORT}
advertised.listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORT}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=${data}/kraft-logs
num.partitions=3
default.replication.factor=1
auto.create.topics.enable=true
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
  cat >"${data}/log4j2.properties" <<EOF
# Written by hack/kafka.sh
status = warn
# Keep logging until the JVM exits (shutdown lines stay in the file).
shutdownHook = disable
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = \${sys:kafka.log.path}
appender.file.append = true
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = ${KAFKA_LOG_LEVEL}
rootLogger.appenderRef.file.ref = FILE
# INFO for the start/stop lines ("Kafka Server started" is the readiness signal).
logger.raftserver.name = kafka.server.KafkaRaftServer
logger.raftserver.level = INFO
logger.kafka.name = kafka.Kafka
logger.kafka.level = INFO
EOF
}

print_failure_logs() {
  local data="$1" f shown=0
  for f in "${data}/storage-format.log" "${data}/kafka.out" "${data}/server.log"; do
    if [[ -s "$f" ]]; then
      log "---- last 50 lines of ${f} ----"
      tail -n 50 "$f" >&2
      shown=1
    fi
  done
  [[ $shown -eq 1 ]] || log "(no log output in ${data})"
}

# kill_group PID PIDFILE: SIGTERM the process group led by PID, SIGKILL after 20 s.
kill_group() {
  local pid="$1" i
  group_alive "$pid" || return 0
  kill -TERM -- "-$pid" 2>/dev/null || true
  for ((i = 0; i < 200; i++)); do
    group_alive "$pid" || return 0
    sleep 0.1
  done
  log "broker (pgid ${pid}) still running after 20 s: sending SIGKILL"
  kill -KILL -- "-$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    group_alive "$pid" || return 0
    sleep 0.1
  done
  log "warning: process group ${pid} still exists after SIGKILL"
}

cmd_start() {
  cmd_fetch

  local data created=0
  if [[ -n "${KAFKA_DATA:-}" ]]; then
    data="$KAFKA_DATA"
    mkdir -p "$data"
  else
    data="$(mktemp -d "${TMPDIR:-/tmp}/scalable-shop-kafka.XXXXXX")"
    created=1
    : >"${data}/${TMP_MARKER}"
  fi
  data="$(cd "$data" && pwd -P)"
  local pidfile
  pidfile="$(abs_path "${KAFKA_PIDFILE:-${data}/kafka.pid}")"

  if [[ -f "$pidfile" ]]; then
    local old
    old="$(cat "$pidfile" 2>/dev/null || true)"
    if [[ "$old" =~ ^[0-9]+$ ]] && pid_alive "$old"; then
      die "a broker is already running (pid ${old}, pidfile ${pidfile}); run: hack/kafka.sh stop"
    fi
    rm -f "$pidfile"
  fi
  local p
  for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
    if port_open "$p"; then
      [[ $created -eq 1 ]] && rm -rf "$data"
      die "port 127.0.0.1:${p} is already in use (another broker? try: hack/kafka.sh stop)"
    fi
  done

  # Fresh state: drop whatever an earlier run left in a reused data dir,
  # unless asked to restart on it (then only the logs go: readiness reads server.log).
  local reuse=0
  if [[ "${KAFKA_REUSE_DATA:-0}" == 1 && -f "${data}/kraft-logs/meta.properties" ]]; then
    reuse=1
    rm -f "${data}/server.log" "${data}/kafka.out"
  else
    rm -rf "${data}/kraft-logs" "${data}/server.log" "${data}/kafka.out" "${data}/storage-format.log"
  fi
  write_config "$data"

  local -a heap extra jvm
  read -r -a heap <<<"$KAFKA_HEAP"
  read -r -a extra <<<"$KAFKA_JVM_OPTS"
  jvm=(${heap[@]+"${heap[@]}"} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=${data}/log4j2.properties" "-Dkafka.logs.dir=${data}"
    ${extra[@]+"${extra[@]}"})
  local cp="${LIB_DIR}/*"

  if [[ $reuse -eq 1 ]]; then
    log "KAFKA_REUSE_DATA=1: restarting on the existing state in ${data}/kraft-logs"
  else
    local cluster_id="${KAFKA_CLUSTER_ID:-$(gen_cluster_id)}"
    log "formatting ${data}/kraft-logs (cluster id ${cluster_id})"
    if ! "$JAVA" "${jvm[@]}" "-Dkafka.log.path=${data}/storage-format.log" -cp "$cp" \
        kafka.tools.StorageTool format -t "$cluster_id" -c "${data}/server.properties" >&2 </dev/null; then
      print_failure_logs "$data"
      die "formatting the storage failed"
    fi
  fi

  # Own session and process group (setsid execs java: $! is java's pid and pgid).
  # All output goes to files so that $(hack/kafka.sh start) does not wait on it.
  setsid "$JAVA" "${jvm[@]}" "-Dkafka.log.path=${data}/server.log" -cp "$cp" \
    kafka.Kafka "${data}/server.properties" >"${data}/kafka.out" 2>&1 </dev/null &
  local pid=$!
  printf '%s\n' "$pid" >"$pidfile"
  printf '%s\n%s\n' "$data" "$pidfile" >"$POINTER"
  log "broker starting: pid ${pid}, data dir ${data}, log ${data}/server.log"

  local deadline=$((SECONDS + KAFKA_START_TIMEOUT))
  while :; do
    if ! pid_alive "$pid"; then
      print_failure_logs "$data"
      rm -f "$pidfile"
      die "broker exited during startup (data dir ${data})"
    fi
    if grep -qF "$READY_LINE" "${data}/server.log" 2>/dev/null && port_open "$KAFKA_PORT"; then
      break
    fi
    if ((SECONDS >= deadline)); then
      print_failure_logs "$data"
      kill_group "$pid"
      rm -f "$pidfile"
      die "broker not ready after ${KAFKA_START_TIMEOUT} s (data dir ${data})"
    fi
    sleep 0.2
  done

  log "Kafka ${KAFKA_VERSION} ready on 127.0.0.1:${KAFKA_PORT} (pid ${pid}, KAFKA_DATA=${data}, pidfile ${pidfile})"
  printf 'KAFKA_BROKERS=127.0.0.1:%s\n' "$KAFKA_PORT"
}

cmd_stop() {
  local data="" pidfile="" rec_data="" rec_pidfile=""
  if [[ -f "$POINTER" ]]; then
    { IFS= read -r rec_data || true; IFS= read -r rec_pidfile || true; } <"$POINTER"
  fi
  if [[ -n "${KAFKA_DATA:-}" ]]; then
    data="$(cd "$KAFKA_DATA" 2>/dev/null && pwd -P || printf '%s' "$KAFKA_DATA")"
    if [[ -n "${KAFKA_PIDFILE:-}" ]]; then
      pidfile="$KAFKA_PIDFILE"
    elif [[ "$rec_data" == "$data" && -n "$rec_pidfile" ]]; then
      pidfile="$rec_pidfile"
    else
      pidfile="${data}/kafka.pid"
    fi
  elif [[ -n "${KAFKA_PIDFILE:-}" ]]; then
    pidfile="$(abs_path "$KAFKA_PIDFILE")"
    if [[ "$rec_pidfile" == "$pidfile" ]]; then
      data="$rec_data"
    fi
  elif [[ -n "$rec_data" ]]; then
    data="$rec_data"
    pidfile="${rec_pidfile:-${data}/kafka.pid}"
  else
    log "no broker recorded for port ${KAFKA_PORT} (set KAFKA_DATA or KAFKA_PIDFILE); nothing to stop"
    return 0
  fi

  if [[ ! -f "$pidfile" ]]; then
    log "no pidfile ${pidfile}; nothing to stop"
  else
    local pid
    pid="$(cat "$pidfile" 2>/dev/null || true)"
    if [[ ! "$pid" =~ ^[0-9]+$ ]]; then
      log "warning: pidfile ${pidfile} holds no pid; removing it"
    elif ! pid_alive "$pid" && ! group_alive "$pid"; then
      log "broker (pid ${pid}) is not running"
    elif pid_alive "$pid" && ! tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null | grep -qF 'kafka.Kafka'; then
      # The pid was reused by something else: never kill that.
      log "warning: pid ${pid} is not a Kafka broker; not killing it"
    else
      log "stopping broker (pgid ${pid})"
      kill_group "$pid"
    fi
    rm -f "$pidfile"
  fi

  if [[ -n "$rec_data" && ( "$rec_data" == "$data" || "$rec_pidfile" == "$pidfile" ) ]]; then
    rm -f "$POINTER"
  fi
  if [[ -n "$data" && -f "${data}/${TMP_MARKER}" && "${KAFKA_KEEP_DATA:-0}" != 1 ]]; then
    rm -rf "$data"
  fi
}

[[ $# -eq 1 ]] || usage
case "$1" in
  fetch) cmd_fetch ;;
  classpath) cmd_fetch >&2 && echo "${LIB_DIR}/*" ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  *) usage ;;
esac
