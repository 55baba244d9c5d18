# The digital-yen CBDC sandbox. `make run` starts it; `make test` checks it.
GO      ?= go
BIN     := bin/cbdc
PKGS    := ./...
BENCHTIME ?= 2s
COUNT   ?= 1

.PHONY: run build test lint fmt-check vet bench clean

run: build
	./$(BIN) sandbox -data data

build:
	$(GO) build -o $(BIN) ./cmd/cbdc

test: fmt-check vet
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

lint: fmt-check vet

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

# Benchmarks print transfers/s, p50-ms and p99-ms per sub-benchmark; compare
# runs with benchstat. COUNT=5 gives benchstat enough samples for medians.
bench:
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -count $(COUNT) -timeout 60m ./ledger/

clean:
	rm -rf bin
