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

ART ?= $(or $(ARTAUTH_ART_DIR),../shared/data/art)
MONET ?= models/monet/0.1.0

.PHONY: eval/monet
eval/monet: build ## evaluate the shipped Monet model on its held-out test split and the AI images
	@$(ENV) bin/authctl eval -model $(MONET) -check-golden -positive $(ART)/monet \
		-negative $(ART)/other_artists -ai $(ART)/ai_monet_style \
		-split $(MONET)/split.csv -split-part test

.PHONY: train/monet
train/monet: deps ## retrain the shipped Monet model's recipe into .train/ (about 10 min on 2 cores)
	/usr/bin/python3 training/train.py --artist monet --version 0.1.0 \
		--positive $(ART)/monet --negative $(ART)/other_artists \
		--arch resnet18 --size 128 --lr 1e-3 --stop-patience 8 --weights-dtype float16 \
		--out .train/monet/0.1.0 --force

.PHONY: fmt
fmt: ## gofmt every Go file
	@gofmt -l -w $$(git ls-files '*.go')

.PHONY: clean
clean: ## remove build outputs (the dependency cache stays)
	rm -rf bin .demo
