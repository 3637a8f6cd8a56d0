# foghorn — see README.md. All targets work on a fresh Debian machine with Go.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
GO      ?= go
# Debian packages the tests use as real peers (snmpd, ipmi_sim, Nagios plugins, nftables, Chromium).
PEERS   := snmpd snmp monitoring-plugins-basic nftables fping openipmi ipmitool iproute2 chromium

.PHONY: all build demo test vet fmt-check deps bench soak fuzz clean

all: build

## build: one static binary, version stamped, in bin/foghorn
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/foghorn ./cmd/foghorn

## demo: run foghorn on the embedded demo config (no accounts, all on loopback)
demo: build
	./bin/foghorn demo

## test: the whole suite: format, vet, and every test with the race detector
test: fmt-check vet
	$(GO) test -race -count=1 -timeout 25m ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

## deps: install the real peers the tests talk to (needs root; .ci/run does this)
deps:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(PEERS)

## bench: every benchmark, summed up in one table (about two minutes; heavy: 10,000 targets on one core)
bench:
	$(GO) run ./bench

## soak: the hostile world: default limits, warning bursts then criticals, a failing Twilio simulator, kills at random and at failpoints
##       (a -tags failpoints build of its own), the network cut for 75s (needs root), acks four ways, a reload
##       (SOAKTIME of chaos + 100s settling + the build: under 10 minutes; not in CI)
SOAKTIME ?= 6m
soak:
	$(GO) run ./soak -duration $(SOAKTIME)

## fuzz: each fuzz target in turn for FUZZTIME (CI runs each for 10s)
FUZZTIME ?= 60s
FUZZ     := ./configs:FuzzParse ./pager:FuzzParse ./pager:FuzzWebhooks ./probes:FuzzPerfdata ./escalation:FuzzAlertmanager
fuzz:
	@set -e; for t in $(FUZZ); do pkg=$${t%%:*}; fn=$${t##*:}; \
	  echo "fuzz: $$fn in $$pkg for $(FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) -parallel 1 $$pkg; \
	done

clean:
	rm -rf bin
