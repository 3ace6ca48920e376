# retrylab: make build | test | bench | lint | fmt | demo | clean
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/retrylab/retrylab/internal/version.Version=$(VERSION)
DIST      := dist
PROFILE   ?= profiles/quickstart.yaml
BENCHTIME ?= 1s

.PHONY: all build test test-short bench bench-big bench-proxy lint fmt demo demo-broken screenshot soak clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(DIST)/loadgen ./cmd/loadgen
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(DIST)/faultproxy ./cmd/faultproxy

## test: go vet and the whole default suite with the race detector
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 12m ./...
	# the proxy's suite again with every request on its fasthttp path (no event loops)
	NOFAST=1 $(GO) test -race -count=1 -timeout 5m ./internal/proxy

test-short:
	$(GO) test -count=1 ./...

## bench: every benchmark (proxy vs direct, journal codec, analysis, charts, load accuracy)
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...
	$(MAKE) bench-big

## bench-big: analysis over a generated 5-million-record journal (records/s and peak RSS)
bench-big:
	$(GO) run ./analysis/internal/benchjournal -n 5000000

## bench-proxy: faultproxy vs nginx vs direct under wrk, side by side (installs nginx and wrk)
bench-proxy:
	./scripts/bench-proxy.sh

lint:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

fmt:
	gofmt -w .

## demo: the quickstart scenario on the built-in target, end to end
demo: build
	./$(DIST)/loadgen run $(PROFILE)

## demo-broken: the same scenario with a client that ignores Retry-After (exits 1)
demo-broken: build
	./$(DIST)/loadgen run $(PROFILE) --policy ignores-retry-after || test $$? -eq 1

## screenshot: render a report.html in headless Chromium into docs/report-screenshot.png
screenshot:
	$(GO) test -tags browser -run TestBrowserScreenshot -count=1 ./internal/chart/

## soak: the long suites behind the soak build tag
soak:
	$(GO) test -tags soak -count=1 -timeout 60m ./...

clean:
	rm -rf $(DIST)
	find results -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
