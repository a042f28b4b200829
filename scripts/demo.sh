#!/usr/bin/env bash
# Runs the whole stack on this machine and classifies the demo images: a versitygw S3 server
# publishing bucket notifications to NATS, ingest, one classifier worker on the CPU, and the
# Postgres and NATS that scripts/services.sh made sure of. Called by `make demo` after
# scripts/deps.sh; binaries come from bin/.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${ARTAUTH_CACHE:-$HOME/.cache/artauth}
RUN="$ROOT/.demo"
rm -rf "$RUN" && mkdir -p "$RUN/s3" "$RUN/model-cache"

port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
S3_PORT=$(port)
HTTP_PORT=$(port)

export DATABASE_URL=${DEMO_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/artauth_demo?sslmode=disable}
export NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}
export S3_ENDPOINT="http://127.0.0.1:$S3_PORT" S3_ACCESS_KEY_ID=demo S3_SECRET_ACCESS_KEY=demo-secret
export ARTAUTH_SUBJECT_PREFIX=artauth_demo ARTAUTH_STREAM=DEMO_CLASSIFY \
	ARTAUTH_CONSUMER=demo-classifier ARTAUTH_S3_EVENTS_STREAM=DEMO_S3_EVENTS \
	ARTAUTH_S3_EVENTS_SUBJECT=artauth_demo_s3.events ARTAUTH_S3_EVENTS_CONSUMER=demo-ingest-s3
export HTTP_ADDR="127.0.0.1:$HTTP_PORT" INGEST_URL="http://127.0.0.1:$HTTP_PORT"
export MODEL_CACHE_DIR="$RUN/model-cache" MODEL_NOTICE_SUBJECT=artauth_demo.models.activated
export METRICS_ADDR="127.0.0.1:$(port)" LOG_LEVEL=${LOG_LEVEL:-info}

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

echo "demo: fresh database and streams"
"$ROOT/bin/authctl" migrate -create -to 0 >/dev/null
"$ROOT/bin/authctl" events delete >/dev/null

"$VERSITYGW_BIN" --access demo --secret demo-secret --port "127.0.0.1:$S3_PORT" \
	--event-nats-url "$NATS_URL" --event-nats-topic "$ARTAUTH_S3_EVENTS_SUBJECT" \
	posix "$RUN/s3" >"$RUN/versitygw.log" 2>&1 &
pids+=($!)
"$ROOT/bin/ingest" >"$RUN/ingest.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
	curl -fs "$INGEST_URL/readyz" >/dev/null 2>&1 && break
	sleep 0.2
done
curl -fs "$INGEST_URL/readyz" >/dev/null || { echo "demo: ingest did not start:"; tail "$RUN/ingest.log"; exit 1; }

# The demo model is the one shipped in models/ (trained with training/train.py, see
# docs/MODEL_CARD.md); without one, the untrained ResNet-101 export from the cache.
MODEL_DIR=$(ls -d "$ROOT"/models/monet/*/ 2>/dev/null | sort -V | tail -n1)
if [ -n "$MODEL_DIR" ] && [ -f "$MODEL_DIR/model.onnx" ]; then
	NOTE="The model is monet@$(basename "$MODEL_DIR"), trained from scratch on CPU with the project's recipe; docs/MODEL_CARD.md gives its measured accuracy, which is far below the published figures (no ImageNet weights were available to fine-tune)."
else
	MODEL_DIR="$ARTAUTH_TEST_MODELS/demo/monet/0.0.0-untrained"
	NOTE="NOTE: this model is UNTRAINED (random seeded weights); its scores mean nothing. It exercises the real path: S3, JetStream, ONNX Runtime (ResNet-101), Postgres."
fi
VERSION=$(basename "$MODEL_DIR")
"$ROOT/bin/authctl" models register "$MODEL_DIR" >/dev/null
"$ROOT/bin/authctl" models activate "monet@$VERSION" >/dev/null

# The shipped AI-image detector runs on every image when it shares the Monet model's input
# (both 128 px); docs/AI_DETECTION.md gives its figures.
DETECTOR_DIR="$ROOT/models/ai-detector/0.1.0"
IMAGES=("$ROOT"/demo/images/*.jpg)
if [ -f "$DETECTOR_DIR/model.onnx" ] && [ "$VERSION" != 0.0.0-untrained ]; then
	"$ROOT/bin/authctl" models register "$DETECTOR_DIR" >/dev/null
	"$ROOT/bin/authctl" models activate ai-detector@0.1.0 >/dev/null
	NOTE="$NOTE
The AI-image detector ai-detector@0.1.0 scored every image (AI SCORE). On its test split it flagged half of the AI imitations and about one genuine painting in ten (docs/AI_DETECTION.md): expect misses and false alarms."
	# Two AI-made "Monets" from the detector's held-out test split, read from the shared data
	# set (third-party images, not copied into the repository).
	ART=${ARTAUTH_ART_DIR:-$ROOT/../shared/data/art}
	for f in cyclegan-resnet_kaggle-exp2_konstantine25b/konstantine25b__data--images_exp2--a86f13ae99.jpg \
		cyclegan-unet-ngf16_kaggle-exp4_konstantine25b/konstantine25b__data--images_exp4--350d2a84d5.jpg; do
		[ -f "$ART/ai_monet_style/$f" ] && IMAGES+=("$ART/ai_monet_style/$f")
	done
fi
"$ROOT/bin/classifier-worker" >"$RUN/worker.log" 2>&1 &
pids+=($!)

echo "demo: uploading ${#IMAGES[@]} images claimed as Monet (logs in .demo/)"
echo
"$ROOT/bin/authctl" submit -artist monet -wait -timeout 5m -note "
$NOTE" "${IMAGES[@]}"
