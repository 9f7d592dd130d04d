# hack/broker-env.sh - sourced by hack/test.sh and hack/bench.sh: make sure
# KAFKA_BROKERS names a real Kafka broker. Unless it is already set, start one
# with hack/kafka.sh on free loopback ports and stop it when the caller exits.
# Usage: source hack/broker-env.sh <name for messages>

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Kafka's own jars, for tests that compare with its Java client.
KAFKA_CLASSPATH="${KAFKA_CLASSPATH:-$(hack/kafka.sh classpath)}"
export KAFKA_CLASSPATH

if [ -z "${KAFKA_BROKERS:-}" ]; then
  KAFKA_PORT="$(free_port)"
  KAFKA_CONTROLLER_PORT="$(free_port)"
  export KAFKA_PORT KAFKA_CONTROLLER_PORT
  trap 'hack/kafka.sh stop || true' EXIT
  eval "$(hack/kafka.sh start)"
  export KAFKA_BROKERS
  echo "$1: real Kafka broker at ${KAFKA_BROKERS}" >&2
else
  echo "$1: using the Kafka broker at ${KAFKA_BROKERS}" >&2
fi
