# S3 server for the compose stack: versitygw, the same version scripts/deps.sh builds for the
# tests, serving a POSIX directory and publishing bucket notifications to NATS.
#
#   docker build -f deploy/versitygw.Dockerfile -t artauth/versitygw:local deploy
# (it copies nothing from the context, so any small directory will do).

# Built from source with `go install`, as scripts/deps.sh does, rather than pulling upstream's
# image: the version is pinned in one place and it runs on the same base as the other images.
# cgo off (upstream's own Dockerfile builds it that way too): a static binary.
FROM golang:1.26-bookworm AS build
ARG VERSITYGW_VERSION=v1.8.0
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
	CGO_ENABLED=0 GOBIN=/out go install -trimpath \
	-ldflags="-s -w -X=main.Version=${VERSITYGW_VERSION}" \
	"github.com/versity/versitygw/cmd/versitygw@${VERSITYGW_VERSION}"

# debian-slim rather than scratch: the compose health check uses bash's /dev/tcp.
FROM debian:bookworm-slim
# /data is created owned by the service user, so that a fresh named volume mounted there
# inherits that ownership. The posix backend stores object metadata in extended attributes:
# the volume's filesystem must support user xattrs (ext4 and xfs do).
RUN useradd --system --uid 10002 --user-group --no-create-home --shell /usr/sbin/nologin \
	versitygw && mkdir /data && chown versitygw:versitygw /data
COPY --from=build /out/versitygw /usr/local/bin/versitygw
USER 10002:10002
EXPOSE 7070
# Flags come from the compose file; credentials from ROOT_ACCESS_KEY_ID/ROOT_SECRET_ACCESS_KEY.
ENTRYPOINT ["versitygw"]
CMD ["--port", ":7070", "--health", "/health", "posix", "/data"]
