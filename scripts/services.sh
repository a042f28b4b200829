#!/usr/bin/env bash
# Makes sure Postgres and NATS with JetStream answer where the tests and the demo expect them.
# A service that already answers is used as it is; otherwise a throwaway one is started with
# Debian's binaries, its data under $ARTAUTH_CACHE. The S3 server (versitygw) is not started
# here: each test package and the demo start their own, with their own event subject.
set -euo pipefail

CACHE=${ARTAUTH_CACHE:-$HOME/.cache/artauth}
PGHOST=127.0.0.1
PGPORT=${ARTAUTH_PGPORT:-5432}
NATS_PORT=${ARTAUTH_NATS_PORT:-4222}
log() { printf 'services: %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_port() {
	for _ in $(seq 1 100); do port_open "$1" "$2" && return 0; sleep 0.1; done
	log "nothing answers on $1:$2 after 10 s"
	return 1
}

pg_bin() {
	command -v "$1" 2>/dev/null && return 0
	ls /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -n1
}

start_postgres() {
	if port_open $PGHOST "$PGPORT"; then return 0; fi
	# A cluster installed by Debian's package but not running (for example after a reboot).
	if command -v pg_ctlcluster >/dev/null && [ -n "$(ls /etc/postgresql 2>/dev/null)" ]; then
		log "starting the Debian Postgres cluster"
		pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
		port_open $PGHOST "$PGPORT" && return 0
	fi
	local data="$CACHE/pgdata" initdb pgctl
	initdb=$(pg_bin initdb)
	pgctl=$(pg_bin pg_ctl)
	log "starting a throwaway Postgres in $data"
	local run=()
	if [ "$(id -u)" -eq 0 ]; then
		id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
		mkdir -p "$data" && chown postgres "$data"
		run=(runuser -u postgres --)
	fi
	[ -f "$data/PG_VERSION" ] || "${run[@]}" "$initdb" -D "$data" -U postgres -A trust >/dev/null
	"${run[@]}" "$pgctl" -D "$data" -l "$data/server.log" -w \
		-o "-c listen_addresses=$PGHOST -p $PGPORT -k /tmp" start >/dev/null
	wait_port $PGHOST "$PGPORT"
}

start_nats() {
	if port_open 127.0.0.1 "$NATS_PORT"; then return 0; fi
	local bin
	bin=$(command -v nats-server || echo /usr/sbin/nats-server)
	log "starting nats-server with JetStream on 127.0.0.1:$NATS_PORT"
	mkdir -p "$CACHE/nats"
	start-stop-daemon --start --oknodo --background --exec "$bin" -- \
		-a 127.0.0.1 -p "$NATS_PORT" -js -sd "$CACHE/nats" -l "$CACHE/nats/server.log"
	wait_port 127.0.0.1 "$NATS_PORT"
}

start_postgres
start_nats
