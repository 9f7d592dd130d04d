#!/usr/bin/env bash
# hack/bench.sh - what `make bench` runs: the load generator (hack/loadgen)
# against a real Apache Kafka broker, started here unless KAFKA_BROKERS is set,
# and the embedded FerretDB unless MONGODB_URI is set. Arguments go to loadgen:
#   hack/bench.sh -quick            # the ~3 minute smoke run (make bench-quick)
#   hack/bench.sh -scenarios buy    # one scenario
# The Markdown table goes to stdout, progress to stderr, the figures to
# bench-results.json (-json to change).
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=hack/broker-env.sh
source hack/broker-env.sh bench

# The floor the Kafka client alone puts under cm-server's CPU per purchase
# (sarama, and franz-go for comparison), on the same broker
# (docs/performance.md "CPU per purchase"); to stderr, with the progress.
go test -run '^$' -bench BenchmarkProducerCPU -benchtime 20000x ./functions/internal/broker >&2

# The KafkaSource stand-in's delivery ceiling for one consumer with the data
# plane's poll loop (a poll at most every 200 ms of at most 50 records): the
# real dispatcher's is about 250 events/s (docs/performance.md); to stderr.
go test -run '^$' -bench BenchmarkKafkaSourceStandInCeiling -benchtime 1000x ./test/harness >&2

go run ./hack/loadgen "$@"
