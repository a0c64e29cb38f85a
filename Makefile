# slbdrain: see README.md. `make run` and `make test` are the two commands a fresh machine needs.
GO        ?= go
BIN       := bin
PKGS      := ./...
export GOFLAGS ?= -buildvcs=false

.PHONY: all build test vet fmt fmt-check lint run bench clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

vet:
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# test: what CI runs. Vet, formatting, then every package with the race detector.
test: fmt-check vet
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

# lint: staticcheck, installed through the Go module proxy by the Makefile itself.
lint:
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)

# run: the SLB emulator, drainworker with its embedded JetStream server, a
# sample drain and its event; keeps serving until Ctrl-C (scripts/run.sh).
run: build
	./scripts/run.sh

# bench: micro-benchmarks, then the end-to-end harness (quick set, a few minutes).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./messages/ ./retry/ ./worker/ ./internal/slbsim/
	$(GO) run ./cmd/drainbench

clean:
	rm -rf $(BIN) data .run
