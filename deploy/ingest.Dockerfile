# Image of the ingest service (upload API, S3 notification consumer, outbox relay), with authctl
# beside it: the compose stack's one-shot `migrate` job runs `authctl migrate -create` from it.
#
# Build from the repository root (the build context must hold go.mod):
#   docker build -f deploy/ingest.Dockerfile -t artauth/ingest:local .
# BuildKit (the default builder since Docker 23) is assumed: RUN --mount caches, and
# deploy/ingest.Dockerfile.dockerignore trimming the context.

# Builder on Debian bookworm, the runtime stage's release, so that cgo links against the same
# libturbojpeg ABI (libturbojpeg.so.0) the runtime stage installs. The official golang image
# sets GOTOOLCHAIN=local, so go.mod's go line (1.26.x) must not be newer than this image's Go.
FROM golang:1.26-bookworm AS build
RUN apt-get update \
	&& apt-get install -y --no-install-recommends libturbojpeg0-dev \
	&& rm -rf /var/lib/apt/lists/*
# cgo on: JPEG decoding goes through libturbojpeg; without cgo it falls back to Go's image/jpeg,
# which is not bit-exact with the training pipeline's decoder.
ENV CGO_ENABLED=1
WORKDIR /src
# Modules before sources, so that editing code does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
	go build -trimpath -ldflags='-s -w' -o /out/ ./cmd/ingest ./cmd/authctl

# Runtime: glibc (cgo binary) with only the shared libraries the binaries load: libturbojpeg0,
# and ca-certificates for TLS to a real S3 or Postgres. bash stays (it is in the base image):
# the compose health check speaks HTTP through bash's /dev/tcp, so no curl is installed.
FROM debian:bookworm-slim
RUN apt-get update \
	&& apt-get install -y --no-install-recommends libturbojpeg0 ca-certificates \
	&& rm -rf /var/lib/apt/lists/*
# A fixed numeric non-root user, so that Kubernetes' runAsNonRoot can verify it.
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin artauth
COPY --from=build /out/ingest /out/authctl /usr/local/bin/
USER 10001:10001
# The binary's default (127.0.0.1:8080) is unreachable from outside a container.
ENV HTTP_ADDR=0.0.0.0:8080
EXPOSE 8080
# CMD, not ENTRYPOINT, so that `docker run IMAGE authctl migrate` needs no --entrypoint.
CMD ["ingest"]
