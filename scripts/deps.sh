#!/usr/bin/env bash
# Installs, builds or reuses everything the tests, the demo and the benchmarks need, on a fresh
# Debian machine with Go. Slow outputs go to a cache outside the repository, keyed by version or
# hash: $ARTAUTH_CACHE (default ~/.cache/artauth). Safe to run again: each step is skipped when
# its output is already there and verified.
#
#   scripts/deps.sh [packages] [ort] [versitygw] [models] [services]   (no argument: all of them)
#
# It ends by writing $ARTAUTH_CACHE/env.sh, which exports the paths it produced.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${ARTAUTH_CACHE:-$HOME/.cache/artauth}
ORT_VERSION=1.24.1
ORT_SHA256=53ef1ac028dd1b05554b8da28d9159eb3876f99868193d2aaa6e67f0243c23d4
VERSITYGW_VERSION=v1.8.0
PY=/usr/bin/python3
mkdir -p "$CACHE"

# Where each output lives; the steps below fill these paths.
ORT_LIB="$CACHE/onnxruntime-$ORT_VERSION/libonnxruntime.so.1"
VERSITYGW_BIN="$CACHE/versitygw-$VERSITYGW_VERSION/versitygw"
MODELS_CACHE="$CACHE/models-$(sha256sum "$ROOT/training/export_model.py" | cut -c1-16)"

log() { printf 'deps: %s\n' "$*" >&2; }

apt_install() {
	local missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing Debian packages: ${missing[*]}"
	if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
	$SUDO apt-get update -q >/dev/null
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
		"${missing[@]}" >/dev/null
}

step_packages() {
	local pkgs=(libturbojpeg0-dev libjpeg62-turbo-dev python3-numpy python3-onnx python3-torch python3-torchvision python3-pil ca-certificates curl make)
	command -v npm >/dev/null || pkgs+=(npm)
	command -v pg_ctl >/dev/null || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 ||
		pkgs+=(postgresql)
	command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || pkgs+=(nats-server)
	apt_install "${pkgs[@]}"
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

step_ort() {
	local dir lib=$ORT_LIB
	dir=$(dirname "$lib")
	if [ -f "$lib" ] && [ "$(sha256_of "$lib")" = "$ORT_SHA256" ]; then
		return 0
	fi
	log "fetching ONNX Runtime $ORT_VERSION from the npm package onnxruntime-node"
	mkdir -p "$dir"
	local tmp
	tmp=$(mktemp -d)
	(cd "$tmp" && npm pack --silent "onnxruntime-node@$ORT_VERSION" >/dev/null)
	tar -xzf "$tmp"/onnxruntime-node-*.tgz -C "$tmp" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
	local got
	got=$(sha256_of "$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1")
	if [ "$got" != "$ORT_SHA256" ]; then
		log "ONNX Runtime library sha256 is $got, want $ORT_SHA256: refusing it"
		rm -rf "$tmp"
		exit 1
	fi
	mv "$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$lib"
	rm -rf "$tmp"
}

step_versitygw() {
	[ -x "$VERSITYGW_BIN" ] && return 0
	log "building versitygw $VERSITYGW_VERSION (takes a few minutes, once)"
	GOBIN="$(dirname "$VERSITYGW_BIN")" go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
}

# Models are exported from training/export_model.py with seeded random weights; the cache key is
# the script's hash, so editing the script re-exports them.
step_models() {
	export_one() { # arch artist version set seed
		local out="$MODELS_CACHE/$4/$2/$3"
		[ -f "$out/model.json" ] && return 0
		log "exporting $1 as $2@$3 into $out"
		"$PY" "$ROOT/training/export_model.py" --arch "$1" --artist "$2" --version "$3" \
			--seed "$5" --out "$out.tmp" >/dev/null
		rm -rf "$out" && mv "$out.tmp" "$out"
	}
	export_one resnet101 monet 0.0.0-untrained demo 0
	export_one resnet101 monet 1.0.0 resnet101 0
	export_one tiny monet 1.0.0 tiny 0
	export_one tiny vangogh 1.0.0 tiny 1
}

step_services() {
	"$ROOT/scripts/services.sh"
}

write_env() {
	cat >"$CACHE/env.sh" <<ENV
export ORT_LIB=$ORT_LIB
export VERSITYGW_BIN=$VERSITYGW_BIN
export ARTAUTH_TEST_MODELS=$MODELS_CACHE
ENV
}

steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(packages ort versitygw models services)
for s in packages ort versitygw models; do
	case " ${steps[*]} " in *" $s "*) "step_$s" ;; esac
done
case " ${steps[*]} " in *" services "*) step_services ;; esac
write_env
