#!/usr/bin/env bash
# hack/test.sh - what `make test` runs: vet, then every test of the three
# modules go.work ties (the functions' with -race) against a real Apache Kafka broker (started here unless KAFKA_BROKERS is
# set) and an embedded FerretDB, the store make run uses (unless MONGODB_URI
# is set; hack/ferretdb for the functions' tests, in-process for the
# end-to-end tests; on PostgreSQL when installed, DEV_STORE chooses).
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=hack/broker-env.sh
source hack/broker-env.sh test

# Helm, pinned, for the chart tests in test/manifest.
HELM_VERSION=v3.22.0
# A helm built by go install reports only "v3.22", so a stamp file records
# which version bin/helm is.
if [ ! -x bin/helm ] || [ "$(cat bin/.helm-version 2>/dev/null)" != "${HELM_VERSION}" ]; then
  echo "test: installing helm ${HELM_VERSION} into bin/ (go install)" >&2
  GOBIN="$PWD/bin" go install "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
  echo "${HELM_VERSION}" > bin/.helm-version
fi
export HELM="$PWD/bin/helm"

# promtool, pinned, for the alerting rules' tests in test/manifest. Its
# module's go.mod has replace and exclude directives, which `go install
# ...@version` refuses, so hack/promtool/go.mod pins it (a module outside
# go.work) and it is built from there; a stamp file records the version.
PROMTOOL_VERSION="$(GOWORK=off go -C hack/promtool list -m -f '{{.Version}}' github.com/prometheus/prometheus)"
if [ ! -x bin/promtool ] || [ "$(cat bin/.promtool-version 2>/dev/null)" != "${PROMTOOL_VERSION}" ]; then
  echo "test: building promtool ${PROMTOOL_VERSION} into bin/ (hack/promtool/go.mod)" >&2
  GOWORK=off go -C hack/promtool build -o "$PWD/bin/promtool" github.com/prometheus/prometheus/cmd/promtool
  echo "${PROMTOOL_VERSION}" > bin/.promtool-version
fi
export PROMTOOL="$PWD/bin/promtool"

unformatted="$(gofmt -l cmd functions hack test)"
if [ -n "${unformatted}" ]; then
  echo "test: gofmt would change: ${unformatted}" >&2
  exit 1
fi
# In workspace mode ./... is the root module (the functions) only: the dev
# stack's module (hack/) and the tests' (test/) are named too.
go vet ./... ./hack/... ./test/...

# The functions' own packages (batcher, consumer, rate limiter, handlers) run
# under the race detector, which needs cgo and a C compiler (CI installs gcc).
race=()
if [ "$(go env CGO_ENABLED)" = 1 ]; then
  race=(-race)
else
  echo "test: no C compiler for cgo: the functions' tests run without -race" >&2
fi
# The functions' tests take their store from MONGODB_URI (they import nothing
# under hack/ or test/): unless it is set, an embedded FerretDB serves them.
functions_mongo="${MONGODB_URI:-}"
if [ -z "${functions_mongo}" ]; then
  ferretdb_dir="$(mktemp -d)"
  chmod 711 "${ferretdb_dir}" # as root, PostgreSQL runs as postgres, which must reach its cluster in here
  go build -o "${ferretdb_dir}/ferretdb" ./hack/ferretdb
  "${ferretdb_dir}/ferretdb" -dir "${ferretdb_dir}/data" -backend "${DEV_STORE:-auto}" > "${ferretdb_dir}/uri" &
  ferretdb_pid=$!
  stop_ferretdb() {
    [ -n "${ferretdb_pid}" ] || return 0
    kill "${ferretdb_pid}" 2>/dev/null || true
    wait "${ferretdb_pid}" 2>/dev/null || true
    rm -rf "${ferretdb_dir}"
    ferretdb_pid=""
  }
  # Keep broker-env.sh's exit trap (it stops the broker it started), if any.
  broker_trap="$(trap -p EXIT | sed -n "s/^trap -- '\(.*\)' EXIT$/\1/p")"
  trap "stop_ferretdb; ${broker_trap:-true}" EXIT
  for _ in $(seq 1 100); do
    grep -q '^MONGODB_URI=' "${ferretdb_dir}/uri" && break
    kill -0 "${ferretdb_pid}" 2>/dev/null || { echo "test: FerretDB did not start" >&2; exit 1; }
    sleep 0.1
  done
  functions_mongo="$(sed -n 's/^MONGODB_URI=//p' "${ferretdb_dir}/uri")"
  echo "test: FerretDB for the functions' tests at ${functions_mongo}" >&2
fi
MONGODB_URI="${functions_mongo}" go test -count=1 -timeout 20m -parallel 4 "${race[@]}" ${GO_TEST_FLAGS:-} ./functions/...
if [ -n "${ferretdb_pid:-}" ]; then
  stop_ferretdb # the end-to-end tests start their own stores
fi
# The dev stack's and the end-to-end, browser and manifest tests' modules.
go test -count=1 -timeout 20m -parallel 4 ${GO_TEST_FLAGS:-} ./hack/... ./test/...
