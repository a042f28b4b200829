# Art-authentication platform. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
CACHE ?= $(HOME)/.cache/artauth
ENV := set -a; . $(CACHE)/env.sh; set +a;
GO_TEST_FLAGS ?= -count=1 -p 2 -timeout 20m

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_\/-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: deps
deps: ## install or reuse every dependency (cached under ~/.cache/artauth) and start services
	@scripts/deps.sh

.PHONY: build
build: deps ## build the binaries into bin/
	@$(ENV) go build -o bin/ ./cmd/...

.PHONY: test
test: deps ## run the whole test suite against real Postgres, NATS, versitygw and ONNX Runtime
	@$(ENV) go vet ./... && go test $(GO_TEST_FLAGS) ./...

.PHONY: test/short
test/short: deps ## the tests without the end-to-end process test
	@$(ENV) go test $(GO_TEST_FLAGS) -short ./...

.PHONY: bench
bench: deps ## measure the worker against raw ONNX Runtime and PyTorch; writes docs/BENCHMARKS.md
	@$(ENV) ARTAUTH_BENCH=1 go test ./bench -run TestBench -count=1 -v -timeout 60m

.PHONY: demo
demo: build ## run the stack locally, classify a few real images and print the table
	@$(ENV) scripts/demo.sh

.PHONY: fmt
fmt: ## gofmt every Go file
	@gofmt -l -w $$(git ls-files '*.go')

.PHONY: clean
clean: ## remove build outputs (the dependency cache stays)
	rm -rf bin .demo
