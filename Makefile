# The digital-yen CBDC sandbox. `make run` starts it; `make test` checks it.
SHELL   := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
GO      ?= go
BIN     := bin/cbdc
PKGS    := ./...
BENCHTIME ?= 2s
COUNT   ?= 1

PAYMENTS ?= 60000x
REPLICA_TRANSFERS ?= 2400000x

.PHONY: run build purse-wasm test lint fmt-check vet bench bench-ledger bench-replicas bench-payments bench-offline fuzz soak soak-replicas screenshots sim sim-demo sim-boj sim-lunch sim-outage sim-double-spend test-property architecture-diagram cluster demo-replicas room clean

run: build
	./$(BIN) sandbox -data data

build: purse-wasm
	$(GO) build -o $(BIN) ./cmd/cbdc

# The browser wallet's purse: the Go offline package as WebAssembly, with
# Go's wasm_exec.js of the same release, into walletapp/web for the cbdc
# binary (and the tests) to embed.
purse-wasm:
	cp "$$($(GO) env GOROOT)/lib/wasm/wasm_exec.js" walletapp/web/wasm_exec.js
	GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags=-s -o walletapp/web/purse.wasm ./cmd/purse-wasm

# Browser tests save their screenshots under ARTIFACTS.
ARTIFACTS ?= $(CURDIR)/test-artifacts
test: purse-wasm fmt-check vet
	@mkdir -p $(ARTIFACTS)
	$(GO) test -race -count=1 -timeout 20m -artifacts -outputdir $(ARTIFACTS) $(PKGS)

# Every fuzz test (decoders of records, vouchers, certificates, lists,
# receipts, purse files, key files, scenario files) for FUZZTIME each. A
# count of inputs, not a duration: Go 1.26's fuzzer can fail a target with
# "context deadline exceeded" when a duration runs out (go.dev/issue/75804).
FUZZTIME ?= 100000x
fuzz:
	for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# Crash soak: the ledger and two banks as processes under scenarios/soak.json,
# each SIGKILLed KILLS times (the banks in turn) over SOAKTIME and started
# again, and frozen with SIGSTOP FREEZES times and continued; every answered
# payment is then checked against the books and the ledger audited. A
# 24-second version runs in make test. Report in sim-reports/soak.json;
# data and logs in a temporary directory it names.
SOAKTIME ?= 10m
KILLS    ?= 6
FREEZES  ?= 3
soak: build
	mkdir -p sim-reports
	./$(BIN) soak -duration $(SOAKTIME) -kills $(KILLS) -freezes $(FREEZES) -json sim-reports/soak.json

# The same against a replicated ledger: REPLICAS replica processes (3),
# the banks given them all; the ledger side's kills and freezes take the
# replica that leads at the time and a follower in turn. Reports the
# failover (from a leader's SIGKILL to the next payment made), audits
# every replica and requires them all at one journal head. Report in
# sim-reports/soak-replicas.json.
REPLICAS ?= 3
soak-replicas: build
	mkdir -p sim-reports
	./$(BIN) soak -replicas $(REPLICAS) -duration $(SOAKTIME) -kills $(KILLS) -freezes $(FREEZES) -json sim-reports/soak-replicas.json

# The adversarial property test of offline settlement with new random
# seeds, for PROPTIME; a failure prints the command that repeats it.
# make test runs two fixed seeds.
PROPTIME ?= 2m
test-property:
	$(GO) test -count=1 -timeout 0 -run 'Adversarial$$' -v ./ledger/settlement/ -settlement.seed=0 -settlement.for=$(PROPTIME) \
	  | grep -E '^(=== RUN|--- FAIL|ok|FAIL|PASS)|property_test|economy_test|played' | grep -v '=== RUN.*/' 

lint: fmt-check vet

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

# Benchmarks print their figures in named units (transfers/s, payments/s,
# p50-ms, p99-ms, ...) and are kept in bench.txt; compare runs with
# benchstat. COUNT=5 gives benchstat enough samples for medians.
bench:
	@rm -f bench.txt
	$(MAKE) --no-print-directory bench-ledger bench-replicas bench-payments bench-offline

bench-ledger:
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -count $(COUNT) -timeout 60m ./ledger/ | tee -a bench.txt

# Majority-committed transfers with three replicas on this machine (in
# the benchmark's process, and with the followers in processes of their
# own), beside a lone ledger in the same run, at 10,000 and 1,000,000
# accounts. Each
# size is set up anew per run, so the count of transfers is fixed; long
# enough that checkpoints fall in the run as they do in a day's work, not
# only the one the setup's two million operations start.
bench-replicas:
	$(GO) test -run '^$$' -bench . -benchtime $(REPLICA_TRANSFERS) -count $(COUNT) -timeout 60m ./ledger/replica/ | tee -a bench.txt

# End to end through the websockets: 100,000 wallets at 5 banks, 5,000
# connected; PAYMENTS payments per figure, at GOMAXPROCS 2 and 4.
bench-payments:
	$(GO) test -run '^$$' -bench . -benchtime $(PAYMENTS) -cpu 2,4 -count $(COUNT) -timeout 60m ./intermediary/ | tee -a bench.txt

# Offline reconciliation at the central ledger: 10,000 and 100,000 signed
# vouchers handed in 100 per upload, 8 or 32 uploads at once.
bench-offline:
	$(GO) test -run '^$$' -bench . -benchtime 1x -count $(COUNT) -timeout 60m ./ledger/settlement/ | tee -a bench.txt

# The central ledger as three replica processes, with two banks that
# follow its leader and the demo page pointed at them, on this machine,
# until Ctrl-C (data in data/cluster); the demo's stop control kills the
# leader's process.
cluster: build
	./$(BIN) cluster -data data/cluster

# The sandbox with its central ledger as three replicas in one process,
# its banks failing over between them, and the demo page showing them,
# with a control to stop the leader (data in data/replicas).
demo-replicas: build
	./$(BIN) sandbox -replicas 3 -data data/replicas

# The sandbox served over HTTPS on this machine's LAN address, for the
# phones in a room to join at https://<address>:7500/join.
room: build
	./$(BIN) sandbox -room -data data

# The picture of the packages at the top of docs/architecture.md, redrawn
# from the code's imports (a test fails when it is out of date).
architecture-diagram:
	$(GO) test -count=1 -run TestArchitectureDiagramIsCurrent ./internal/archdoc/ -args -update

# Scenarios: each writes its report as JSON and HTML to sim-reports/ and
# prints it as a table. `make sim` runs every scenario in scenarios/.
SIM = mkdir -p sim-reports && ./$(BIN) sim -json sim-reports/$(1).json -html sim-reports/$(1).html scenarios/$(1).json

sim: build
	for f in scenarios/*.json; do n=$$(basename $$f .json); $(call SIM,$$n); done

sim-demo: build
	$(call SIM,demo)

# The BoJ proof-of-concept load: 3,000 payments/s held, then the closed-loop
# maximum.
sim-boj: build
	$(call SIM,boj-poc)
	$(call SIM,boj-poc-max)

sim-lunch: build
	$(call SIM,lunch-peak)

sim-outage: build
	$(call SIM,bank-outage)

# One double-spend campaign under each offline mode, to compare.
sim-double-spend: build
	$(call SIM,double-spend-staged)
	$(call SIM,double-spend-intermittent)

# The README's screenshots of the demo page, in English and Japanese, taken
# by the browser tests in headless Chromium (apt-get install -y chromium
# fonts-noto-cjk: without a Japanese font the Japanese pictures show boxes).
SCREENSHOTS := overview overview-ja banks wallets wallets-ja offline-payment offline-reconciled scenario-done feed presenter replicas \
	phone-signup phone-home phone-offline-request phone-offline-voucher phone-ja phone-synced presenter-phones
screenshots: purse-wasm
	@fc-list :lang=ja | grep -q . || { echo "screenshots: no Japanese font; apt-get install -y fonts-noto-cjk"; exit 1; }
	@rm -rf $(ARTIFACTS)/screenshots && mkdir -p $(ARTIFACTS)/screenshots docs/screenshots
	CI=true $(GO) test -count=1 -run Browser -artifacts -outputdir $(ARTIFACTS)/screenshots ./demo/
	CI=true $(GO) test -count=1 -run TestApp_TwoPhones -artifacts -outputdir $(ARTIFACTS)/screenshots ./walletapp/
	for n in $(SCREENSHOTS); do find $(ARTIFACTS)/screenshots -name "$$n.png" -exec cp {} docs/screenshots/ \; ; done
	ls docs/screenshots

clean:
	rm -rf bin
