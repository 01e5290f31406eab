#!/usr/bin/env bash
# The bare-docker floor of a fleet-wide tag bump, for bench/fleet.bench.ts:
# on every engine at once, what a careful script does to replace one
# container with a new image: pull the new tag, create the new container
# under a temporary name, stop the old one, start the new one, remove the
# old one, rename the new one. Each engine is timed on its own.
#
#   bash bench/fleet-baseline.sh IMAGE NAME DOCKER_HOST...
#
# NAME must already run on every engine. Prints one line per engine,
# `host <i> <ms>` (i = position in the arguments, from 0), then `total <ms>`
# (from the start of the script's work to the last engine done). Exits 1
# if any engine failed; every docker command is bounded by a timeout.
set -euo pipefail

DOCKER=/usr/bin/docker # the engine is 20.10 (API 1.41)
STEP_TIMEOUT=120       # seconds; a healthy step takes well under one

if (($# < 3)); then
  echo "usage: $0 IMAGE NAME DOCKER_HOST..." >&2
  exit 64
fi
image=$1 name=$2
shift 2
unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

now_ms() { echo $(($(date +%s%N) / 1000000)); }

replace_on() { # index docker_host: the six steps, timed
  local i=$1 host=$2 t0 d
  d() { timeout "$STEP_TIMEOUT" "$DOCKER" -H "$host" "$@" >/dev/null; }
  t0=$(now_ms)
  d pull -q "$image"
  d create --name "$name-next" --network none --label gitdock-bench.baseline=1 "$image"
  d stop -t 10 "$name"
  d start "$name-next"
  d rm "$name"
  d rename "$name-next" "$name"
  echo "host $i $(($(now_ms) - t0))"
}

start=$(now_ms)
pids=()
i=0
for host in "$@"; do
  replace_on "$i" "$host" &
  pids+=("$!")
  i=$((i + 1))
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
echo "total $(($(now_ms) - start))"
exit "$failed"
