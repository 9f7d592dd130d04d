#!/usr/bin/env bash
# hack/test.sh - what `make test` runs: vet, then every test in the module
# (the functions' with -race) against a real Apache Kafka broker (started here unless KAFKA_BROKERS is
# set) and an embedded FerretDB (unless MONGODB_URI is set).
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

unformatted="$(gofmt -l functions hack test)"
if [ -n "${unformatted}" ]; then
  echo "test: gofmt would change: ${unformatted}" >&2
  exit 1
fi
go vet ./...

# The functions' own packages (batcher, consumer, rate limiter, handlers) run
# under the race detector, which needs cgo and a C compiler (CI installs gcc).
race=()
if [ "$(go env CGO_ENABLED)" = 1 ]; then
  race=(-race)
else
  echo "test: no C compiler for cgo: the functions' tests run without -race" >&2
fi
go test -count=1 -timeout 20m -parallel 4 "${race[@]}" ${GO_TEST_FLAGS:-} ./functions/...
# shellcheck disable=SC2046 # one package path per word
go test -count=1 -timeout 20m -parallel 4 ${GO_TEST_FLAGS:-} $(go list ./... | grep -v '/functions/')
