#!/usr/bin/env bash
# hack/dataplane.sh - build the real Knative Kafka data plane (the KafkaSink receiver and the
# KafkaSource dispatcher of eventing-kafka-broker, at the tag the docs pin) from source and run
# the Knative-mode end-to-end tests against it instead of the stand-ins, without Kubernetes.
#
# Usage:
#   hack/dataplane.sh build   build (or reuse) the two jars; prints one line SHOP_DATAPLANE=<dir>
#   hack/dataplane.sh test    build, then go test ./test/harness (the stand-ins' behaviour tests) and
#                             ./test/e2e with SHOP_DATAPLANE set (make test-dataplane)
#
# The data plane is not published anywhere (1.0-SNAPSHOT): it is built with Maven from a checkout.
# Where the source comes from, in order:
#   EKB_SOURCE   a checkout of eventing-kafka-broker (a directory holding data-plane/ and proto/),
#                or a git repository (bare mirror or clone) that has the tag EKB_TAG;
#   a clone      git clone --branch EKB_TAG --depth 1 of EKB_REPO, when the network allows.
# With no source or no Java >= 21 it prints "skipped: <why>" and exits 0: the target is optional
# (CI cannot reach the source).
#
# Environment (all optional):
#   EKB_TAG       eventing-kafka-broker tag (default knative-v1.23.0, the one docs/deploy.md pins)
#   EKB_REPO      clone URL (default https://github.com/knative-extensions/eventing-kafka-broker)
#   DP_CACHE      where the jars and the data-plane ConfigMaps are kept (default .cache/dataplane/<tag>)
#   JAVA_HOME     a JDK >= 21; else the first java >= 21 on PATH or under /usr/lib/jvm
#   MVN           mvn executable (default mvn)
#   DP_HARNESS    the -run pattern of the stand-ins' behaviour tests in test/harness run against
#                 the real data plane (default HARNESS_TESTS; "none" skips them)
#   DP_TESTS      the -run pattern of the end-to-end tests (default: the Knative-mode ones, E2E_TESTS)
#   DP_THROUGHPUT set to 0 to skip the throughput measurement
#   DP_PARALLEL   go test -parallel for them (default 2: each test runs two or three JVMs)
#   TEST_FLAGS    extra flags for that go test
#   BENCH_LOCK    the lock the throughput measurement waits for (default /tmp/bench.lock)
#   KAFKA_BROKERS used as is by the tests that share a broker; else the script starts its own
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
EKB_TAG="${EKB_TAG:-knative-v1.23.0}"
EKB_REPO="${EKB_REPO:-https://github.com/knative-extensions/eventing-kafka-broker}"
DP_CACHE="${DP_CACHE:-$ROOT/.cache/dataplane/$EKB_TAG}"
MVN="${MVN:-mvn}"
BENCH_LOCK="${BENCH_LOCK:-/tmp/bench.lock}"
# The Knative-mode end-to-end tests: those that start a KafkaSink or a KafkaSource (the harness
# runs the real ones under SHOP_DATAPLANE) and the ones written for the real data plane.
E2E_TESTS='^(TestKnativeModeCurlFlow|TestKnativePoisonGoesToDeadLettersAtOnce|TestKnativeStoreOutageDeadLettersNothing|TestKnativeSinkOverTLS|TestOrderPerUser|TestDuplicateEventIsOneDocument|TestShopctlRedrive.*|TestTracing_onePurchaseIsOneTrace|TestOnlyTheSourceSendsEvents|TestRetriesAfterLostAnswersAreOnePurchase|TestDataPlane(StoreOutageDeadLettersNothing|DispatcherCrash|BrokerOutage|RebalanceDuringOutage|DeadLetterSinkToken)|TestBuy503MayBeStoredAndItsRetryIsOnePurchase|TestKnativeDispatcherCrashRedeliversAsDuplicates|TestKnativeRebalanceDeliversTheInFlightEventTwice|TestStoreOutageKeepsCMAPIInService)$'
# The stand-ins' behaviour tests: under SHOP_DATAPLANE StartKafkaSink and StartKafkaSource start
# the real receiver and dispatcher, so the same assertions hold for both.
HARNESS_TESTS='^(TestKafkaSinkStandIn_.*|TestKafkaSourceStandIn_.*)$'
# The data plane's logback configuration (the ConfigMap kafka-config-logging: JSON, INFO).
LOGGING_DIR=control-plane/config/eventing-kafka-broker/200-controller
LOGGING_CM="$LOGGING_DIR/100-config-logging.yaml"

# cleanup removes the build's scratch copy and stops the broker this script started, if any.
WORK_DIR="" OWN_KAFKA=""
cleanup() {
  [ -z "$WORK_DIR" ] || rm -rf "$WORK_DIR"
  [ -z "$OWN_KAFKA" ] || "$ROOT/hack/kafka.sh" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

say() { echo "test-dataplane: $*" >&2; }
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
skip() { echo "test-dataplane: skipped: $*"; exit 0; }

# java_major prints the feature version of a java executable (17, 21, 25, ...).
java_major() {
  "$1" -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2; exit}'
}

# find_java prints a java >= 21: JAVA_HOME first, then PATH, then the JDKs under /usr/lib/jvm.
find_java() {
  local c
  for c in ${JAVA_HOME:+"$JAVA_HOME/bin/java"} "$(command -v java || true)" /usr/lib/jvm/*/bin/java; do
    [ -n "$c" ] && [ -x "$c" ] || continue
    local v; v="$(java_major "$c")"
    if [ -n "$v" ] && [ "${v%%.*}" -ge 21 ]; then echo "$c"; return 0; fi
  done
  return 1
}

# fetch_source fills $1 with data-plane/ and proto/ at EKB_TAG.
fetch_source() {
  local dst="$1"
  if [ -n "${EKB_SOURCE:-}" ]; then
    if [ -d "$EKB_SOURCE/data-plane" ]; then
      say "source: checkout $EKB_SOURCE (its data-plane/ is used as it is; make sure it is at $EKB_TAG)"
      cp -r "$EKB_SOURCE/data-plane" "$EKB_SOURCE/proto" "$dst/"
      mkdir -p "$dst/$LOGGING_DIR" && cp "$EKB_SOURCE/$LOGGING_CM" "$dst/$LOGGING_DIR/"
      return 0
    fi
    if git --git-dir="$EKB_SOURCE" rev-parse -q --verify "refs/tags/$EKB_TAG" >/dev/null 2>&1 ||
       git -C "$EKB_SOURCE" rev-parse -q --verify "refs/tags/$EKB_TAG" >/dev/null 2>&1; then
      local gd="$EKB_SOURCE"; [ -d "$EKB_SOURCE/.git" ] && gd="$EKB_SOURCE/.git"
      say "source: $EKB_TAG from the git repository $EKB_SOURCE"
      git --git-dir="$gd" archive "$EKB_TAG" data-plane proto "$LOGGING_CM" | tar -x -C "$dst"
      return 0
    fi
    skip "EKB_SOURCE=$EKB_SOURCE is neither a checkout (no data-plane/) nor a git repository with the tag $EKB_TAG"
  fi
  say "source: cloning $EKB_REPO at $EKB_TAG (set EKB_SOURCE=<checkout or mirror> to avoid the network)"
  if ! GIT_TERMINAL_PROMPT=0 timeout 300 git clone -q --branch "$EKB_TAG" --depth 1 "$EKB_REPO" "$dst/clone" >&2; then
    skip "no eventing-kafka-broker source: EKB_SOURCE is unset and $EKB_REPO cannot be cloned"
  fi
  mv "$dst/clone/data-plane" "$dst/clone/proto" "$dst/"
  mkdir -p "$dst/$LOGGING_DIR" && mv "$dst/clone/$LOGGING_CM" "$dst/$LOGGING_DIR/"
  rm -rf "$dst/clone"
}

build() {
  JAVA="$(find_java)" || skip "no Java 21 or newer (set JAVA_HOME; the data plane's pom needs 21)"
  export JAVA_HOME; JAVA_HOME="$(cd "$(dirname "$JAVA")/.." && pwd)"
  if [ -f "$DP_CACHE/.complete" ]; then
    say "using the jars built before in $DP_CACHE (remove it to rebuild)"
    return 0
  fi
  command -v "$MVN" >/dev/null || skip "no mvn on PATH (the data plane is built with Maven)"
  local work; work="$(mktemp -d)"; WORK_DIR="$work"
  fetch_source "$work"
  # The pom lists a snapshots repository that cannot be reached: one mirror of everything on
  # Maven Central instead.
  cat >"$work/settings.xml" <<'EOF'
<settings><mirrors><mirror><id>central</id><mirrorOf>*</mirrorOf>
<url>https://repo.maven.apache.org/maven2</url></mirror></mirrors></settings>
EOF
  say "building receiver-loom and dispatcher-loom with $JAVA_HOME (about 3 minutes the first time)"
  # Only the two programs and what they need. -Dmaven.test.skip=true would fail: the receiver
  # needs core's tests jar. protoc is not needed: the contract's Java is checked in.
  (cd "$work/data-plane" && "$MVN" -B -q -T1 -s "$work/settings.xml" -DskipTests -Djacoco.skip=true \
    -Dlicense.skip=true -Dlicense.skipAggregateDownloadLicenses=true \
    -Dlicense.skipAggregateAddThirdParty=true -Dspotless.skip=true -Denforcer.skip=true \
    -pl receiver-loom,dispatcher-loom -am package) >&2
  mkdir -p "$DP_CACHE/config"
  cp "$work/data-plane/receiver-loom/target/receiver-loom-1.0-SNAPSHOT.jar" "$DP_CACHE/receiver.jar"
  cp "$work/data-plane/dispatcher-loom/target/dispatcher-loom-1.0-SNAPSHOT.jar" "$DP_CACHE/dispatcher.jar"
  # The data plane's ConfigMaps as shipped: the harness takes the .properties from them.
  cp "$work/data-plane/config/sink/100-config-kafka-sink-data-plane.yaml" \
     "$work/data-plane/config/source/100-config-kafka-source-data-plane.yaml" \
     "$work/$LOGGING_CM" "$DP_CACHE/config/"
  echo "$EKB_TAG" >"$DP_CACHE/.complete"
  say "built $DP_CACHE/receiver.jar and dispatcher.jar"
}

case "${1:-}" in
  build)
    build
    echo "SHOP_DATAPLANE=$DP_CACHE"
    ;;
  test)
    build
    export SHOP_DATAPLANE="$DP_CACHE" SHOP_DATAPLANE_JAVA="$JAVA"
    failed=0
    if [ -z "${KAFKA_BROKERS:-}" ]; then
      # A broker of its own on free loopback ports (another may hold the default 19092).
      OWN_KAFKA=1
      KAFKA_PORT="$(free_port)" KAFKA_CONTROLLER_PORT="$(free_port)"
      export KAFKA_PORT KAFKA_CONTROLLER_PORT
      started="$("$ROOT/hack/kafka.sh" start)" || { say "could not start a Kafka broker"; exit 1; }
      eval "$started"
      export KAFKA_BROKERS
      say "real Kafka broker at $KAFKA_BROKERS"
    fi
    if [ "${DP_HARNESS:-}" != none ]; then
      say "running the stand-ins' behaviour tests against the real data plane ($SHOP_DATAPLANE, $JAVA)"
      # shellcheck disable=SC2086
      (cd "$ROOT/test" && go test -count=1 -v -timeout 20m -parallel "${DP_PARALLEL:-2}" \
        -run "${DP_HARNESS:-$HARNESS_TESTS}" ${TEST_FLAGS:-} ./harness/) || failed=1
    fi
    say "running the Knative-mode end-to-end tests against the real data plane ($SHOP_DATAPLANE, $JAVA)"
    # shellcheck disable=SC2086
    (cd "$ROOT/test" && go test -count=1 -v -timeout 40m -parallel "${DP_PARALLEL:-2}" \
      -run "${DP_TESTS:-$E2E_TESTS}" ${TEST_FLAGS:-} ./e2e/) || failed=1
    [ "${DP_THROUGHPUT:-1}" != 0 ] || exit "$failed"
    # The load measurement runs alone: the machine's cores are shared.
    say "measuring the dispatcher's throughput (under flock $BENCH_LOCK)"
    lock=(); command -v flock >/dev/null && lock=(flock "$BENCH_LOCK")
    (cd "$ROOT/test" && "${lock[@]}" go test -count=1 -v -timeout 20m -run '^TestDataPlaneThroughput$' ./e2e/) |
      grep -E 'events/s|^(---|ok|FAIL|PASS)|^\s+---'
    exit "$failed"
    ;;
  *)
    echo "usage: hack/dataplane.sh build|test" >&2
    exit 2
    ;;
esac
