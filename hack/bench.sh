#!/usr/bin/env bash
# hack/bench.sh - what `make bench` runs: the load generator (hack/loadgen)
# against a real Apache Kafka broker, started here unless KAFKA_BROKERS is set,
# and the embedded FerretDB unless MONGODB_URI is set. Arguments go to loadgen:
#   hack/bench.sh -quick            # the ~2 minute smoke run (make bench-quick)
#   hack/bench.sh -scenarios buy    # one scenario
# The Markdown table goes to stdout, progress to stderr, the figures to
# bench-results.json (-json to change).
set -euo pipefail
cd "$(dirname "$0")/.."

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

if [ -z "${KAFKA_BROKERS:-}" ]; then
  KAFKA_PORT="$(free_port)"
  KAFKA_CONTROLLER_PORT="$(free_port)"
  export KAFKA_PORT KAFKA_CONTROLLER_PORT
  trap 'hack/kafka.sh stop || true' EXIT
  eval "$(hack/kafka.sh start)"
  export KAFKA_BROKERS
  echo "bench: real Kafka broker at ${KAFKA_BROKERS}" >&2
else
  echo "bench: using the Kafka broker at ${KAFKA_BROKERS}" >&2
fi

go run ./hack/loadgen "$@"
