# Art-authentication platform. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
CACHE ?= $(HOME)/.cache/artauth
ENV := set -a; . $(CACHE)/env.sh; set +a;
GO_TEST_FLAGS ?= -count=1 -p 2 -timeout 20m

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_\/-]+:.*## / {printf "  %-22s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

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

DETECTOR ?= models/ai-detector/0.1.0
AI_GENS := cyclegan-resnet_kaggle-exp2_konstantine25b cyclegan-unet-ngf16_kaggle-exp4_konstantine25b \
	stylepix2pix-monet-label_jrtaloma
VG_AI := $(ART)/ai_other_style/stylepix2pix-vangogh-label_jrtaloma

.PHONY: eval/ai-detector
eval/ai-detector: build ## evaluate the shipped AI-image detector on its held-out split, per generator
	@$(ENV) bin/authctl eval -model $(DETECTOR) -check-golden \
		-positive $(ART)/ai_monet_style -positive $(ART)/ai_other_style \
		-negative $(ART)/monet -negative $(ART)/other_artists \
		-split $(DETECTOR)/split.csv -split-part test

# The leave-one-generator-out detectors are not shipped: `make train/shipped` makes them.
.PHONY: eval/ai-detector-logo
eval/ai-detector-logo: build ## evaluate the leave-one-generator-out detectors in .train/
	@set -e; $(ENV) for g in cyclegan-resnet cyclegan-unet stylepix2pix; do \
		d=.train/ai-detector/0.1.0-logo-$$g; \
		pos=; ai=; for full in $(AI_GENS); do case $$full in \
			$$g*) ai="$$ai -ai $(ART)/ai_monet_style/$$full";; \
			*) pos="$$pos -positive $(ART)/ai_monet_style/$$full";; esac; done; \
		if [ $$g = stylepix2pix ]; then ai="$$ai -ai $(VG_AI)"; else pos="$$pos -positive $(VG_AI)"; fi; \
		echo "== generator left out: $$g"; \
		bin/authctl eval -model $$d $$pos $$ai -negative $(ART)/monet \
			-negative $(ART)/other_artists -split $$d/split.csv -split-part test $(EVAL_FLAGS); \
	done

ATTRIBUTION_MODELS := cezanne@0.1.0 monet@0.1.0 vangogh@0.1.0

.PHONY: eval/attribution
eval/attribution: build ## rank held-out paintings by Monet, Van Gogh and Cezanne with the three models
	@$(ENV) bin/authctl attribution -models-dir models $(addprefix -model ,$(ATTRIBUTION_MODELS)) \
		-images monet=$(ART)/monet -images vangogh=$(ART)/other_artists/vincent_van_gogh \
		-images cezanne=$(ART)/other_artists/paul_cezanne

.PHONY: train/shipped
train/shipped: deps ## retrain the detector, its leave-one-generator-out variants, Van Gogh and Cezanne into .train/ (about 1.5 h)
	training/train_shipped.sh

.PHONY: fmt
fmt: ## gofmt every Go file
	@gofmt -l -w $$(git ls-files '*.go')

.PHONY: clean
clean: ## remove build outputs (the dependency cache stays)
	rm -rf bin .demo
