# foghorn — see README.md. All targets work on a fresh Debian machine with Go.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
GO      ?= go
GOFMT   ?= gofmt
# Where build puts the binary (and package the .deb, test its log).
BIN     ?= bin
# Debian packages the tests use as real peers (snmpd, ipmi_sim, Nagios plugins, nftables, Chromium),
# and gcc + libc6-dev for the race detector (-race needs cgo).
PEERS   := snmpd snmp monitoring-plugins-basic nftables fping openipmi ipmitool iproute2 chromium
DEBS    := gcc libc6-dev $(PEERS)
# The .deb's version: a tag without its "v", else 0.0.0~COMMIT (dpkg wants a leading digit).
PKGVERSION ?= $(shell echo '$(VERSION)' | sed -e 's/^v//' -e '/^[0-9][0-9]*\.[0-9]/!s/^/0.0.0~/' -e 's/-/+/g')
PKGARCH    ?= $(shell $(GO) env GOARCH)
DEB        := $(BIN)/foghorn_$(PKGVERSION)_$(PKGARCH).deb

.PHONY: all build demo test cluster-test vet lint fmt-check deps package bench soak fuzz clean

all: build

## build: one static binary, version stamped, in bin/foghorn
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/foghorn ./cmd/foghorn

## demo: run foghorn on the embedded demo config (no accounts, all on loopback)
demo: build
	$(BIN)/foghorn demo

## test: the whole suite: the peers it needs (deps), format, vet, lint, and every test with the race detector;
##       the full log is in bin/test.log, and the last lines say how many tests ran, failed and skipped
test: deps fmt-check vet lint
	$(GO) run ./tools/testsum -log $(BIN)/test.log -- $(GO) test -race -count=1 -timeout 45m ./...

## cluster-test: the cluster's tests (issue 15) in full, two and three real foghorns on loopback with one Twilio
##               simulator: test 2 (kill the sender) over HA_KILL_TRIALS, test 4 (ack on one, the other's call hung up)
##               over HA_ACK_TRIALS; the figures are printed at the end, the log is in bin/cluster-test.log, a failed test's node logs in bin/ha-logs.
##               Needs root (nftables). The three-node tests are built only here (-tags clustertest); `make test`
##               runs the two-node ones with 6 trials each. About 13 minutes for the two-node ones, 20 more for the three.
HA_KILL_TRIALS ?= 20
HA_ACK_TRIALS  ?= 50
CLUSTER_TESTS  := ^(TestHA|TestCluster|TestTwoFoghorns|TestVantage|TestLostPeer|TestANodeThatNeverReachedAPeer|TestShare|TestPower(CodeOffered|Conflicting|AutomatedStepRunsOnce))
cluster-test:
	@mkdir -p $(BIN)/ha-logs; FOGHORN_HA_LOGS=$(abspath $(BIN))/ha-logs FOGHORN_HA_KILL_TRIALS=$(HA_KILL_TRIALS) FOGHORN_HA_ACK_TRIALS=$(HA_ACK_TRIALS) \
	  $(GO) vet -tags clustertest ./cmd/foghorn && $(GO) run ./tools/testsum -log $(BIN)/cluster-test.log -- $(GO) test -tags clustertest -race -count=1 -timeout 80m -run '$(CLUSTER_TESTS)' ./cmd/foghorn; \
	rc=$$?; echo "cluster-test: the figures:"; \
	grep -hE '^=== RUN|trials:|decided by|acknowledged on|healed:|split:|after the kill' $(BIN)/cluster-test.log | grep -v '^=== RUN.*/' || true; exit $$rc

vet:
	$(GO) vet ./...

## lint: staticcheck on the code outside tests, and deadcode (what neither main nor a test reaches);
##       any finding fails. Both are pinned in go.mod as tools (go tool staticcheck, go tool deadcode).
lint:
	$(GO) tool staticcheck -tests=false ./...
	@out=$$($(GO) tool deadcode -test ./...) || { echo "$$out"; exit 1; }; \
	if [ -n "$$out" ]; then echo "deadcode: unreachable functions:"; echo "$$out"; exit 1; fi

# A missing gofmt must fail, not pass as "nothing to format".
fmt-check:
	@command -v $(GOFMT) >/dev/null || { echo "fmt-check: $(GOFMT) not found: put Go's bin directory on PATH ($$($(GO) env GOROOT)/bin)"; exit 1; }
	@out=$$($(GOFMT) -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')) || { echo "fmt-check: $(GOFMT) failed"; exit 1; }; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

## deps: install what the tests need (the real peers, gcc for -race); quick when all are there.
##       As root it installs what is missing; otherwise it stops with the command to run.
deps:
	@command -v dpkg-query >/dev/null || { echo "deps: not a Debian system: install by hand: $(DEBS)"; exit 0; }; \
	missing=$$(for p in $(DEBS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed$$' || echo $$p; done); \
	missing=$$(echo $$missing); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "deps: the tests need Debian packages that are not installed: $$missing"; \
	  echo "deps: install them with:  sudo apt-get install -y --no-install-recommends $$missing"; \
	  echo "deps: (or run 'sudo make deps'), then 'make test' again"; exit 1; \
	fi; \
	echo "deps: installing $$missing"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing

## package: a .deb (bin/foghorn_VERSION_ARCH.deb) built by nfpm, pinned in go.mod as a tool:
##          /usr/bin/foghorn, the systemd unit, /etc/foghorn/foghorn.toml.example, the foghorn user
package: build
	FOGHORN_BIN=$(BIN) FOGHORN_VERSION=$(PKGVERSION) FOGHORN_ARCH=$(PKGARCH) \
	  $(GO) tool nfpm package --config packaging/nfpm.yaml --packager deb --target $(DEB)

## bench: every benchmark, summed up in one table (about two minutes; heavy: 10,000 targets on one core)
bench:
	$(GO) run ./bench

## soak: the hostile world: default limits, warning bursts then criticals, a failing Twilio simulator, kills at random and at failpoints
##       (a -tags failpoints build of its own), the network cut for 75s (needs root), acks four ways, a reload
##       (SOAKTIME of chaos + 100s settling + the build: under 10 minutes; not in CI)
SOAKTIME ?= 6m
soak:
	$(GO) run ./soak -duration $(SOAKTIME)

## fuzz: each fuzz target in turn for FUZZTIME (CI runs each for 10s); each input worth keeping is minimized
##       for at most FUZZMINIMIZE (go test's 60s default ate a short run: the config fuzzer spent its 10s there);
##       Go 1.26's end-of-run deadline race (go.dev/issue/75804) is told apart from a finding by tools/fuzz.sh
FUZZTIME ?= 60s
FUZZMINIMIZE ?= 1s
FUZZ     := ./configs:FuzzParse ./pager:FuzzParse ./pager:FuzzWebhooks ./probes:FuzzPerfdata ./escalation:FuzzAlertmanager
fuzz:
	@set -e; for t in $(FUZZ); do pkg=$${t%%:*}; fn=$${t##*:}; \
	  echo "fuzz: $$fn in $$pkg for $(FUZZTIME)"; \
	  GO=$(GO) tools/fuzz.sh $$pkg $$fn $(FUZZTIME) $(FUZZMINIMIZE); \
	done

clean:
	rm -rf bin
