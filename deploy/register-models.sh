#!/bin/sh
# Registers the model versions found under a directory laid out <artist>/<version>/ (model.onnx
# + model.json) with `authctl models register`, then activates the highest version (sort -V) of
# each artist that has no active version yet, so that an operator's later `authctl models
# activate` or `rollback` is never undone. Safe to run again: registering the same files changes
# nothing. The compose stack's one-shot `models` job runs it with ./models mounted at /models;
# it needs authctl on PATH and the DATABASE_URL, NATS_URL and S3_* variables.
#
#   register-models.sh [DIR]   (default /models)
set -eu
root=${1:-/models}
for artist_dir in "$root"/*/; do
	[ -d "$artist_dir" ] || continue
	artist=$(basename "$artist_dir")
	last=
	for version in $(ls "$artist_dir" | sort -V); do
		[ -f "$artist_dir$version/model.json" ] || continue
		authctl models register "$artist_dir$version"
		last=$version
	done
	[ -n "$last" ] || continue
	if authctl models list "$artist" |
		awk -v a="$artist" '$1 == a && $3 == "active" { found = 1 } END { exit !found }'; then
		echo "models: $artist has an active version already; not activating $last"
	else
		authctl models activate "$artist@$last"
	fi
done
