# hbuild — see README.md. `make demo` and `make test` install what they need.
GO      ?= go
BIN     := bin/hbuild
PKGS    := ./...
export PATH := $(PATH):$(shell $(GO) env GOPATH 2>/dev/null)/bin

.PHONY: all build deps lint unit rootless fuzz test bench demo clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/hbuild

deps:
	bash scripts/deps.sh

lint:
	$(GO) vet $(PKGS)
	staticcheck $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

unit:
	$(GO) test -timeout 75m $(PKGS)

rootless:
	bash scripts/rootless-tests.sh

fuzz:
	bash scripts/fuzz.sh

test: deps build lint unit rootless fuzz

bench: deps build
	bash bench/run.sh

demo: deps build
	bash scripts/demo.sh

clean:
	rm -rf bin
