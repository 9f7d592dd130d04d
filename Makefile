# scalable-shop: `make run` starts the whole shop on this machine,
# `make test` runs every test (it starts a real Kafka broker itself).

GO        ?= go
BIN       := $(CURDIR)/bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/scalable-shop/scalable-shop/functions/internal/buildinfo.Version=$(VERSION)
FUNCTIONS := cm-server cm-api
# The operator's tool (cmd/shopctl), built and released with them.
# The three modules go.work ties together: the functions (the root module),
# the dev stack and load generator (hack/), the end-to-end, browser and
# manifest tests (test/). In workspace mode ./... matches the root module
# only, so every target that means "all the code" names all three.
PACKAGES  := ./... ./hack/... ./test/...

export KO_CONFIG_PATH := $(CURDIR)/ko.yaml

.PHONY: run test test-dataplane test-short bench bench-quick bench-micro fuzz schemathesis build vet kafka-start kafka-stop tools deploy clean clean-store help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

# Built and run rather than `go run`: go run exits 1 after an interrupt even
# when the program stopped cleanly, which made Ctrl-C end in "make: *** Error 1".
run: ## run the whole shop: cm-server :8080, cm-api :8081, embedded Kafka and MongoDB
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/devstack ./hack/devstack
	$(BIN)/devstack

test: ## all tests: unit, integration and end-to-end on a real Kafka broker
	hack/test.sh

# Optional: needs an eventing-kafka-broker checkout or mirror (EKB_SOURCE=<path>,
# else it tries a clone), Maven and a Java 21+; says "skipped: ..." without them.
test-dataplane: ## the stand-ins' behaviour tests and the Knative-mode end-to-end tests against the real KafkaSink receiver and KafkaSource dispatcher, built from source (EKB_SOURCE=<checkout or mirror>)
	hack/dataplane.sh test

test-short: ## unit tests only (no broker, no store)
	$(GO) test -short $(PACKAGES)

bench: bench-micro ## micro-benchmarks, then the load test on a real Kafka broker: Markdown table + bench-results.json (~10 min; BENCH_FLAGS=...)
	hack/bench.sh $(BENCH_FLAGS)

bench-quick: ## the load test as a short smoke run (~3 min)
	hack/bench.sh -quick $(BENCH_FLAGS)

bench-micro: ## micro-benchmarks of the hot paths (parsing, events, /buy handler, store batches) and of the dev store's inserts
	$(GO) test -run '^$$' -bench . -benchmem ./functions/... ./hack/stack

fuzz: ## fuzz every FuzzX of the three modules (parsers, /buy, cm-api's POST /) for FUZZTIME each (default 10s)
	hack/fuzz.sh

schemathesis: ## property-based API test of a running function: make schemathesis URL=http://127.0.0.1:8080
	hack/schemathesis.sh $(or $(URL),http://127.0.0.1:8080)

# GOWORK=off: released binaries are built from the functions' module alone
# (go.mod at the root), as ko builds the images (ko.yaml), not the workspace.
build: ## build both functions and shopctl, the operator's tool, into ./bin with the version stamped in
	@mkdir -p $(BIN)
	$(foreach f,$(FUNCTIONS),CGO_ENABLED=0 GOWORK=off $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/$(f) ./functions/$(f) &&) true
	CGO_ENABLED=0 GOWORK=off $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/shopctl ./cmd/shopctl

vet: ## go vet and gofmt
	$(GO) vet $(PACKAGES)
	@test -z "$$(gofmt -l cmd functions hack test)" || (gofmt -l cmd functions hack test; exit 1)

kafka-start: ## start a real Kafka broker on 127.0.0.1:19092 (prints KAFKA_BROKERS=...)
	hack/kafka.sh start

kafka-stop: ## stop the broker kafka-start started
	hack/kafka.sh stop

tools: ## install the pinned helm and ko into ./bin
	GOBIN=$(BIN) $(GO) install helm.sh/helm/v3/cmd/helm@v3.22.0
	GOBIN=$(BIN) $(GO) install github.com/google/ko@v0.19.1

# The KafkaSource's consumer asks for its topic as soon as it runs; on a Kafka
# that auto-creates topics it would make purchases with the broker's default
# partitions. So the topics must be there, not just asked for, before eventing/.
deploy: ## create the topics (Strimzi KafkaTopics) and wait until they exist, then build with ko and apply config/ and eventing/ to the current kube context (needs KO_DOCKER_REPO)
	kubectl apply -f eventing/topics/
	kubectl -n kafka wait kafkatopic/purchases kafkatopic/purchases-dlq --for=condition=Ready --timeout=5m
	$(BIN)/ko apply -f config/ -f eventing/

clean: clean-store ## remove built binaries (helm and ko too) and the dev store
	rm -rf $(BIN)

# .data holds the dev store (the PostgreSQL cluster or SQLite files behind
# FerretDB) and devstack's builds; Kafka under make run lives in memory.
clean-store: ## reset the dev store: delete every purchase make run kept in .data (stop make run first)
	@pid=$$(head -n 1 .data/ferretdb/postgresql/postmaster.pid 2>/dev/null); \
	if [ -n "$$pid" ] && kill -0 "$$pid" 2>/dev/null; then \
	  echo "clean-store: make run is still running (its PostgreSQL is process $$pid): stop it first" >&2; exit 1; \
	fi
	rm -rf .data
