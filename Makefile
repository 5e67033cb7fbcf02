# homelab-agent: `make demo` runs the agent on the sample lab, `make test`
# installs what the tests need and runs them. See README.md.
GO      ?= go
GOBIN   := $(shell $(GO) env GOPATH)/bin
export PATH := $(GOBIN):$(PATH)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --verify -q HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
BIN     := bin/homelab-agent

.PHONY: build demo test test-deps bench-deps e2e bench bench-go fuzz golden mutate clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/homelab-agent

# Apply every host of fixtures/lab into demo/<host> and show the plans.
demo: build
	./scripts/demo.sh $(BIN) fixtures/lab demo

test-deps:
	./scripts/test-deps.sh

# The parser's fuzz target runs for FUZZTIME on top of its committed corpus
# (agent/lab/testdata/fuzz): no input may panic it or yield an unlocated error.
FUZZTIME ?= 20s

test: test-deps
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 30m ./...
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./agent/lab

# The whole-lab drill (docs/e2e.md): the six guests as systemd containers,
# results in e2e-results.md. Needs root, the Docker Engine and debootstrap.
e2e: test-deps
	$(GO) test -tags e2e -count=1 -timeout 40m -v ./e2e/

# Every performance figure next to its target (scripts/bench.sh): start-up,
# the no-op pass against the Ansible peer, polls, push to applied, memory,
# restore overhead, binary size. BENCH_DATA=10240 for the 10 GiB restore.
bench: build bench-deps test-deps
	./scripts/bench.sh

bench-deps:
	./scripts/bench-deps.sh

# Every Go benchmark of the repo, once.
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./...

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 60s ./agent/lab

# Mutation testing of the core packages (slow; not in CI): efficacy per
# package, details in mutate-results/.
mutate:
	./scripts/mutate.sh

# Rewrite golden files after a deliberate change; review the diff.
golden:
	$(GO) test ./agent/ ./roles/all/ ./bootstrap/ -run Golden -update

clean:
	rm -rf bin demo
