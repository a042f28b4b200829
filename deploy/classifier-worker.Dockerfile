# Image of the classifier worker, with authctl beside it, and the CPU build of ONNX Runtime.
# Models are not in the image: the worker fetches the active versions from the model registry
# (S3 bucket MODELS_BUCKET + Postgres) into MODEL_CACHE_DIR; `authctl models register` puts
# them there (the compose stack's `models` job does it for ./models).
#
# Build from the repository root (the build context must hold go.mod):
#   docker build -f deploy/classifier-worker.Dockerfile -t artauth/classifier-worker:local .
#
# linux/amd64 only: the ONNX Runtime file and checksum below are the x64 ones.
# CPU only: the npm package ships no CUDA execution provider, so DEVICE=cuda:N fails in this
# image (see deploy/README.md, "GPUs").

# ONNX Runtime comes from the npm package onnxruntime-node, as scripts/deps.sh fetches it for
# the tests: `npm pack` downloads the tarball without running its install scripts; only the
# one shared library is kept, and it must match the sha256 pinned in scripts/deps.sh (the
# deploy tests fail when the two differ).
FROM node:20-bookworm-slim AS ort
ARG ORT_VERSION=1.24.1
ARG ORT_SHA256=53ef1ac028dd1b05554b8da28d9159eb3876f99868193d2aaa6e67f0243c23d4
ARG ORT_FILE=package/bin/napi-v6/linux/x64/libonnxruntime.so.1
WORKDIR /ort
RUN npm pack --silent --cache /tmp/npm-cache "onnxruntime-node@${ORT_VERSION}" >/dev/null \
	&& tar -xzf "onnxruntime-node-${ORT_VERSION}.tgz" "${ORT_FILE}" \
	&& echo "${ORT_SHA256}  ${ORT_FILE}" | sha256sum -c - \
	&& mv "${ORT_FILE}" /ort/libonnxruntime.so.1 \
	&& rm -rf package onnxruntime-node-*.tgz /tmp/npm-cache

# Builder on Debian bookworm like the runtime stage, so cgo links the same libturbojpeg ABI.
FROM golang:1.26-bookworm AS build
RUN apt-get update \
	&& apt-get install -y --no-install-recommends libturbojpeg0-dev \
	&& rm -rf /var/lib/apt/lists/*
# cgo on: ONNX Runtime is reached through cgo, and JPEG decoding through libturbojpeg (Go's
# image/jpeg, the fallback without cgo, is not bit-exact with the training pipeline).
ENV CGO_ENABLED=1
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
	go build -trimpath -ldflags='-s -w' -o /out/ ./cmd/classifier-worker ./cmd/authctl

# Runtime: bookworm's glibc 2.36 is newer than the 2.27 the ONNX Runtime library needs, and
# libstdc++6 (which it links) is named explicitly although the base image already has it.
FROM debian:bookworm-slim
RUN [ "$(dpkg --print-architecture)" = amd64 ] \
	|| { echo "the ONNX Runtime library in this image is x64 only" >&2; exit 1; }
RUN apt-get update \
	&& apt-get install -y --no-install-recommends libturbojpeg0 libstdc++6 ca-certificates \
	&& rm -rf /var/lib/apt/lists/*
# A fixed numeric non-root user (Kubernetes' runAsNonRoot can verify it), owning the model
# cache: it has no home directory, so the default cache (~/.cache/artauth/models) is unusable.
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin artauth \
	&& mkdir -p /var/cache/artauth/models && chown -R 10001:10001 /var/cache/artauth
COPY --from=ort /ort/libonnxruntime.so.1 /usr/local/lib/libonnxruntime.so.1
COPY --from=build /out/classifier-worker /out/authctl /usr/local/bin/
USER 10001:10001
# All flags' environment variables (classifier-worker -h). Metrics listen on every interface:
# the binary's default, 127.0.0.1:9090, cannot be scraped from outside the container.
ENV ORT_LIB=/usr/local/lib/libonnxruntime.so.1 \
	MODEL_CACHE_DIR=/var/cache/artauth/models \
	METRICS_ADDR=0.0.0.0:9090
EXPOSE 9090
CMD ["classifier-worker"]
