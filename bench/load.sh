#!/usr/bin/env bash
# Benchmark: `berth load` of a 200 MB+ multi-layer image archive against
# `docker load` of the same archive. Not a timed test: it prints both
# medians and the ratio; record them in bench/RESULTS.md.
#
#   bench/load.sh [RUNS]      (default 5; run as root)
#   LAYERS=5 LAYER_MIB=45 bench/load.sh 3
#
# Cold runs. berth: every run gets a fresh berthd with an empty root, which is
# deleted afterwards. docker: a private dockerd (own data-root, exec-root,
# socket; no bridge, no iptables) with the image removed between runs. The
# page cache is dropped before every run, so both read the archive from disk.
# docker is skipped, with a message, when dockerd is not installed.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
LAYERS=${LAYERS:-5}
LAYER_MIB=${LAYER_MIB:-45}
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
if [ -f "$HOME/.cargo/env" ]; then
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
cargo build --release --workspace --bins -q
BIN=$PWD/target/release
WORK=$(mktemp -d /var/tmp/berth-bench-XXXXXX)
BERTHD= DOCKERD=
stop() { # pid: SIGTERM, then wait for it
  [ -n "$1" ] || return 0
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 300); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
}
cleanup() {
  stop "$BERTHD"
  stop "$DOCKERD"
  rm -rf "$WORK"
}
trap cleanup EXIT

ARCHIVE=$WORK/bench.tar
"$BIN/make-image" random "$ARCHIVE" --layers "$LAYERS" --layer-mib "$LAYER_MIB" --tag bench:latest
SIZE_MB=$(( $(stat -c %s "$ARCHIVE") / 1000000 ))
echo "archive: $SIZE_MB MB, $LAYERS layers of $LAYER_MIB MiB of random (incompressible) files, $RUNS cold runs each"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
cold() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }

# berth: a fresh daemon and root per run.
B=("$BIN/berth" -H "unix://$WORK/berth.sock")
berth_times=()
for i in $(seq "$RUNS"); do
  rm -rf "$WORK/berth-root" "$WORK/berth-state"
  "$BIN/berthd" --root "$WORK/berth-root" --state "$WORK/berth-state" \
    --address "unix://$WORK/berth.sock" --log-level warn </dev/null >>"$WORK/berthd.log" 2>&1 &
  BERTHD=$!
  for _ in $(seq 200); do "${B[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done
  "${B[@]}" version >/dev/null || { cat "$WORK/berthd.log" >&2; exit 1; }
  cold
  t0=$(now); "${B[@]}" load -q -i "$ARCHIVE" >/dev/null; t1=$(now)
  berth_times+=("$(elapsed "$t0" "$t1")")
  [ "$i" = 1 ] && "${B[@]}" images
  stop "$BERTHD"; BERTHD=
done
rm -rf "$WORK/berth-root" "$WORK/berth-state"
BERTH=$(printf '%s\n' "${berth_times[@]}" | median)
echo "berth load:  runs ${berth_times[*]} s   median ${BERTH} s ($("$BIN/berth" --version 2>/dev/null | head -n1))"

# docker, with a private dockerd.
if command -v dockerd >/dev/null && command -v docker >/dev/null; then
  mkdir -p "$WORK/docker"
  dockerd --data-root "$WORK/docker/root" --exec-root "$WORK/docker/exec" \
    --pidfile "$WORK/docker/dockerd.pid" --host "unix://$WORK/docker.sock" \
    --bridge none --iptables=false --ip6tables=false </dev/null >"$WORK/dockerd.log" 2>&1 &
  DOCKERD=$!
  D=(docker -H "unix://$WORK/docker.sock")
  for _ in $(seq 300); do "${D[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done
  "${D[@]}" version >/dev/null || { echo "private dockerd did not start:" >&2; tail -n 20 "$WORK/dockerd.log" >&2; exit 1; }
  docker_times=()
  for i in $(seq "$RUNS"); do
    cold
    t0=$(now); "${D[@]}" load -q -i "$ARCHIVE" >/dev/null; t1=$(now)
    docker_times+=("$(elapsed "$t0" "$t1")")
    "${D[@]}" rmi bench:latest >/dev/null
  done
  DOCKER=$(printf '%s\n' "${docker_times[@]}" | median)
  echo "docker load: runs ${docker_times[*]} s   median ${DOCKER} s (docker $("${D[@]}" version --format '{{.Server.Version}}'), storage driver $("${D[@]}" info --format '{{.Driver}}'))"
  echo "ratio docker/berth: $(awk -v d="$DOCKER" -v b="$BERTH" 'BEGIN { printf "%.2f", d / b }')x (target: >= 2x)"
else
  echo "docker: dockerd is not installed (apt-get install docker.io) — docker side skipped"
fi
